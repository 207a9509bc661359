package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/insights-export/insights-export/devstack"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// faultSpec is a named fault for `make run ARGS="-fault NAME"`: a plan for
// the input's users in the simulator, a token endpoint fault, function
// settings, or an S3 failure. The same faults run in devstack's
// TestFaultMatrix, which says what each ends in.
type faultSpec struct {
	desc  string
	plan  avesim.JobPlan
	token avesim.TokenFault
	env   map[string]string
	s3    *devstack.S3Fault
}

const bigReport = 18 << 20 // three multipart parts

var faultSpecs = map[string]faultSpec{
	"throttled":         {desc: "429 with Retry-After: 1 (seconds), twice, on the export call", plan: avesim.JobPlan{ErrorCalls: 2, ErrorStatus: 429, RetryAfter: time.Second, FaultEndpoints: []string{avesim.EndpointExport}}},
	"throttled-date":    {desc: "429 with Retry-After as an HTTP date, twice, on status", plan: avesim.JobPlan{ErrorCalls: 2, ErrorStatus: 429, RetryAfter: time.Second, RetryAfterDate: true, FaultEndpoints: []string{avesim.EndpointStatus}}},
	"burst":             {desc: "500, 502, 503, 500, 502, 503 on status", plan: avesim.JobPlan{ErrorStatuses: []int{500, 502, 503, 500, 502, 503}, FaultEndpoints: []string{avesim.EndpointStatus}}},
	"unavailable":       {desc: "500 on every export call (fails after the retries)", plan: avesim.JobPlan{ErrorCalls: 1 << 30, ErrorStatus: 500, FaultEndpoints: []string{avesim.EndpointExport}}},
	"revoked":           {desc: "401 once for a token that was valid a moment ago", plan: avesim.JobPlan{RevokeCalls: 1, FaultEndpoints: []string{avesim.EndpointStatus}}},
	"unauthorized":      {desc: "401 on every call (fails: AuthError)", plan: avesim.JobPlan{RevokeCalls: 1 << 30, FaultEndpoints: []string{avesim.EndpointExport}}},
	"token-down":        {desc: "token endpoint answers 503 twice", token: avesim.TokenFault{Calls: 2, Status: 503}},
	"token-unreachable": {desc: "token endpoint drops every connection (fails after the retries)", token: avesim.TokenFault{Calls: 1 << 30}},
	"job-failed":        {desc: "job ends with jobStatus 3", plan: avesim.JobPlan{Outcome: avesim.Fail, Message: "Export failed: mailbox unavailable"}},
	"job-stopped":       {desc: "job ends with jobStatus 6", plan: avesim.JobPlan{Outcome: avesim.Fail, FinalStatus: avesim.JobStopped, Message: "stopped by an administrator"}},
	"job-exception":     {desc: "job ends with jobStatus 4 (success with exception)", plan: avesim.JobPlan{FinalStatus: avesim.JobSucceededException, Message: "2 sites skipped"}},
	"job-unknown":       {desc: "job ends with an undocumented jobStatus 99", plan: avesim.JobPlan{FinalStatus: 99}},
	"job-never":         {desc: "job never finishes (deadline set to 20 s)", plan: avesim.JobPlan{Outcome: avesim.Never}, env: map[string]string{"JOB_DEADLINE_SECONDS": "20", "POLL_MIN_SECONDS": "1"}},
	"slow":              {desc: "every answer held back 2 s", plan: avesim.JobPlan{Delay: 2 * time.Second}},
	"reset-once":        {desc: "report download reset halfway, once", plan: avesim.JobPlan{ReportFault: avesim.ReportCutReset, ReportFaultCalls: 1}},
	"short-once":        {desc: "report shorter than its Content-Length, once", plan: avesim.JobPlan{ReportFault: avesim.ReportShort, ReportFaultCalls: 1}},
	"reset":             {desc: "report download reset halfway, every time", plan: avesim.JobPlan{ReportFault: avesim.ReportCutReset}},
	"corrupt-zip":       {desc: "report is a ZIP with a flipped byte", plan: avesim.JobPlan{ReportFault: avesim.ReportCorruptZIP}},
	"corrupt-zip-large": {desc: "18 MiB report (multipart) with a flipped byte", plan: avesim.JobPlan{ReportFault: avesim.ReportCorruptZIP, ReportSize: bigReport}},
	"not-zip":           {desc: "report is an HTML error page", plan: avesim.JobPlan{ReportFault: avesim.ReportNotZIP}},
	"s3-once":           {desc: "S3 fails part 2 of the first multipart upload (18 MiB report)", plan: avesim.JobPlan{ReportSize: bigReport}, s3: &devstack.S3Fault{Part: 2, Uploads: 1}},
	"s3-down":           {desc: "S3 fails part 2 of every multipart upload (18 MiB report)", plan: avesim.JobPlan{ReportSize: bigReport}, s3: &devstack.S3Fault{Part: 2}},
}

func printFaults() {
	fmt.Println("faults for -fault NAME (the simulator, for the input's users):")
	for _, name := range slices.Sorted(maps.Keys(faultSpecs)) {
		fmt.Printf("  %-18s %s\n", name, faultSpecs[name].desc)
	}
}

// inputUsers lists the addresses an input names ("email" or "emails").
func inputUsers(input json.RawMessage) []string {
	var in struct {
		Email  string   `json:"email"`
		Emails []string `json:"emails"`
	}
	_ = json.Unmarshal(input, &in)
	if in.Email != "" {
		return []string{in.Email}
	}
	return in.Emails
}

// setupFault arms the named fault in opts. afterStart finishes the set-up
// once the stack runs; stop releases what it started.
func setupFault(ctx context.Context, name string, opts *devstack.StackOptions, inputs []json.RawMessage) (afterStart func(*devstack.Stack) error, stop func(), err error) {
	afterStart, stop = func(*devstack.Stack) error { return nil }, func() {}
	if name == "" {
		return afterStart, stop, nil
	}
	spec, ok := faultSpecs[name]
	switch {
	case !ok:
		return nil, nil, fmt.Errorf("unknown fault %q (-fault list shows them)", name)
	case opts.Simulator == nil:
		return nil, nil, errors.New("-fault needs the simulator, not -real")
	}
	var users []string
	for _, in := range inputs {
		users = append(users, inputUsers(in)...)
	}
	if len(users) == 0 {
		return nil, nil, errors.New("-fault: the input names no user")
	}
	sim := opts.Simulator
	if sim.Plans == nil {
		sim.Plans = map[string]avesim.JobPlan{}
	}
	for _, u := range users {
		sim.Plans[u] = spec.plan
	}
	sim.TokenFault = spec.token
	if opts.Env == nil {
		opts.Env = map[string]string{}
	}
	maps.Copy(opts.Env, spec.env)
	if spec.s3 != nil {
		proxy, err := devstack.StartS3FaultProxy(ctx)
		if err != nil {
			return nil, nil, err
		}
		opts.Env["AWS_ENDPOINT_URL_S3"] = proxy.URL
		for _, u := range users {
			f := *spec.s3
			f.KeyContains = "user=" + strings.ToLower(u)
			proxy.Fail(f)
		}
		afterStart = func(st *devstack.Stack) error { return proxy.SetTarget(st.Moto.URL) }
		stop = func() { _ = proxy.Close() }
	}
	fmt.Printf("fault %q: %s\n", name, spec.desc)
	return afterStart, stop, nil
}
