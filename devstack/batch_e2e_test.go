package devstack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/batch"
	"github.com/insights-export/insights-export/internal/metrics"
	"github.com/insights-export/insights-export/internal/metrics/emftest"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/schedule"
	"github.com/insights-export/insights-export/internal/testing/avesim"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

// End-to-end runs of statemachine/batch.asl.json: PrepareBatch and
// WriteManifest on their real bootstraps, the Distributed Map's children
// running statemachine/export.asl.json with the three export bootstraps,
// S3 on moto_server, AvePoint simulated. The interpreter runs the Map
// inline and reads its ItemReader from moto (see interpreter/run.mjs).

var (
	batchBootOnce sync.Once
	batchBoots    map[string]string
	batchBootErr  error
)

func batchBootstraps(t *testing.T) map[string]string {
	t.Helper()
	export := exportBootstraps(t)
	batchBootOnce.Do(func() {
		batchBoots, batchBootErr = BuildBatchBootstraps(context.Background(), artefacts+"/batch")
	})
	if batchBootErr != nil {
		t.Fatal(batchBootErr)
	}
	all := maps.Clone(export)
	maps.Copy(all, batchBoots)
	return all
}

func startBatchStack(t *testing.T, sim avesim.Options, env map[string]string) *Stack {
	t.Helper()
	return startTestStack(t, sim, StackOptions{Env: env, Bootstraps: batchBootstraps(t), Batch: true})
}

func runBatch(t *testing.T, st *Stack, input any) (*Execution, request.BatchOutput) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	exec, err := st.RunBatch(ctx, RunOptions{Input: input, WaitOverride: 50 * time.Millisecond, RetryOverride: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	out, ok := BatchOutputOf(exec)
	if exec.Status == StatusSucceeded && !ok {
		t.Fatalf("output %s is no batch output", exec.Output)
	}
	return exec, out
}

func getObject(t *testing.T, st *Stack, key string) []byte {
	t.Helper()
	obj, err := st.S3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(st.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// childExecutions groups the events of nested executions by name.
func childExecutions(events []Event) map[string][]Event {
	out := map[string][]Event{}
	for _, e := range events {
		if e.Execution != "" {
			out[e.Execution] = append(out[e.Execution], e)
		}
	}
	return out
}

func TestBatchTwentyUsersWithinTheConcurrencyCap(t *testing.T) {
	const concurrency = 5
	failing := "failing.user07@contoso.com"
	rejected := "rejected.user13@contoso.com"
	var users []string
	for i := range 20 {
		switch i {
		case 7:
			users = append(users, failing)
		case 13:
			users = append(users, rejected)
		default:
			users = append(users, fmt.Sprintf("user%02d@contoso.com", i))
		}
	}
	st := startBatchStack(t, avesim.Options{
		// Jobs last long enough that five of them overlap: the cap, not
		// the speed of the machine, is what bounds the peak.
		JobDuration: 1500 * time.Millisecond,
		Plans: map[string]avesim.JobPlan{
			failing:  {Outcome: avesim.Fail, Message: "Export failed: mailbox unavailable"},
			rejected: {Outcome: avesim.RejectExport, FinalStatus: 403, Message: "user is not licensed for Insights"},
		},
	}, map[string]string{"MAX_CONCURRENCY": fmt.Sprint(concurrency), "POLL_MIN_SECONDS": "1"})

	events, err := st.CaptureEvents(t.Context(), "batch-twenty")
	if err != nil {
		t.Fatal(err)
	}
	input := map[string]any{"emails": users, "startTime": "2026-10-01T00:00:00", "finishTime": "2026-11-01T00:00:00", "eventTypes": []string{"FileAccessed"}}
	started := time.Now()
	exec, out := runBatch(t, st, input)
	// Two users failed: after the manifest, the run fails with the counts.
	if exec.Status != StatusFailed || exec.Error != "UsersFailedError" {
		t.Fatalf("execution %s: %s %s\n%s", exec.Status, exec.Error, exec.Cause, st.Logs())
	}
	var cause struct {
		Counts   request.Counts
		Manifest request.Location
	}
	if err := json.Unmarshal([]byte(exec.Cause), &cause); err != nil || cause.Counts != out.Counts || cause.Manifest != out.Manifest || out.Failure == nil {
		t.Errorf("cause %s (%v), output counts %+v, manifest %+v", exec.Cause, err, out.Counts, out.Manifest)
	}
	// The events: a Report Stored per stored report, one Batch Finished.
	published, err := events.Received(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	stored, finished := 0, 0
	for _, e := range published {
		switch e.DetailType {
		case "Report Stored":
			stored++
		case "Batch Finished":
			finished++
			var d struct {
				Counts   request.Counts
				Manifest request.Location
			}
			if err := json.Unmarshal(e.Detail, &d); err != nil || d.Counts != out.Counts || d.Manifest != out.Manifest {
				t.Errorf("Batch Finished detail %s", e.Detail)
			}
		}
	}
	if stored != 18 || finished != 1 || len(published) != 19 {
		t.Errorf("%d Report Stored, %d Batch Finished of %d events; want 18, 1, 19", stored, finished, len(published))
	}
	t.Logf("20 users in %s, peak %d concurrent AvePoint jobs", time.Since(started).Round(time.Millisecond), st.Sim.Server.PeakConcurrentJobs())

	// The cap, observed by AvePoint itself: never above it, and reached.
	if peak := st.Sim.Server.PeakConcurrentJobs(); peak != concurrency {
		t.Errorf("peak concurrent jobs = %d, want exactly the cap %d", peak, concurrency)
	}

	if out.Counts != (request.Counts{Users: 20, Succeeded: 18, Failed: 2}) || out.ResultsOmitted != 0 || len(out.Results) != 20 {
		t.Fatalf("counts %+v, %d results (%d omitted)", out.Counts, len(out.Results), out.ResultsOmitted)
	}
	keys := map[string]bool{}
	for _, k := range bucketKeys(t, st) {
		keys[k] = true
	}
	for i, r := range out.Results {
		if r.Email != users[i] {
			t.Fatalf("result %d is %s, want %s (request order)", i, r.Email, users[i])
		}
		switch r.Email {
		case failing:
			if r.Status != request.StatusFailed || r.Error != "JobFailedError" || !strings.Contains(r.Message, "mailbox unavailable") || r.ExecutionArn == "" {
				t.Errorf("failing user: %+v", r)
			}
		case rejected:
			if r.Status != request.StatusFailed || r.Error != "AuthError" || !strings.Contains(r.Message, "not licensed") {
				t.Errorf("rejected user: %+v", r)
			}
		default:
			want := request.ObjectKey(st.Prefix, request.Query{Email: r.Email, StartTime: "2026-10-01T00:00:00", FinishTime: "2026-11-01T00:00:00", EventTypes: []string{"FileAccessed"}})
			if r.Status != request.StatusSucceeded || r.Key != want || !keys[r.Key] || r.DurationSeconds <= 0 {
				t.Errorf("user %s: %+v (want key %s, stored: %v)", r.Email, r, want, keys[r.Key])
				continue
			}
			// Byte for byte what AvePoint served for that user's job.
			served, err := st.Sim.Server.ReportZIP(r.JobID)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(served)
			if r.SHA256 != hex.EncodeToString(sum[:]) || r.Bytes != int64(len(served)) {
				t.Errorf("user %s: stored sha %s (%d bytes), served %x (%d bytes)", r.Email, r.SHA256, r.Bytes, sum, len(served))
			}
		}
	}

	// Every user ran as its own export execution: 20 children, the two
	// failures among them, each linked to the parent.
	children := childExecutions(exec.Events)
	if len(children) != 20 {
		t.Fatalf("%d child executions, want 20", len(children))
	}
	failedChildren := 0
	for name, evs := range children {
		last := evs[len(evs)-1]
		if last.Type == "ExecutionFailed" {
			failedChildren++
			continue
		}
		var in map[string]any
		_ = json.Unmarshal(evs[0].Input, &in)
		if last.Type != "ExecutionSucceeded" || in["AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"] == nil {
			t.Errorf("child %s: last event %s, input %s", name, last.Type, evs[0].Input)
		}
	}
	if failedChildren != 2 {
		t.Errorf("%d failed child executions, want 2", failedChildren)
	}
	if jobs := len(st.Sim.Server.Jobs()); jobs != 19 {
		t.Errorf("%d AvePoint jobs, want 19 (the rejected export started none)", jobs)
	}

	// The manifest sits beside the reports and accounts for everybody.
	if !strings.HasPrefix(out.Manifest.Key, st.Prefix+"/runs/") || out.Manifest.Bucket != st.Bucket {
		t.Fatalf("manifest at %+v", out.Manifest)
	}
	var man batch.Manifest
	if err := json.Unmarshal(getObject(t, st, out.Manifest.Key), &man); err != nil {
		t.Fatal(err)
	}
	if man.Counts != out.Counts || len(man.Results) != 20 || man.MaxConcurrency != concurrency ||
		!slices.Equal(man.Request.Emails, users) || man.Request.FinishTime != "2026-11-01T00:00:00" || man.DurationSeconds <= 0 {
		t.Fatalf("manifest %+v", man)
	}
	run := strings.TrimSuffix(out.Manifest.Key, "/manifest.json")
	for _, k := range []string{run + "/plan.json", run + "/items.json"} {
		if !keys[k] {
			t.Errorf("%s missing", k)
		}
	}
	reports := 0
	for k := range keys {
		if strings.HasSuffix(k, "/activities.zip") {
			reports++
		}
	}
	if reports != 18 {
		t.Errorf("%d reports stored, want 18", reports)
	}
}

// Three scheduled incremental runs: the first exports the lookback, the
// second (two days later) catches up from each user's mark with no gap,
// the third finds the users up to date. A user whose export fails keeps
// no mark and is retried from the lookback every time.
func TestBatchIncrementalCatchesUpFromMarks(t *testing.T) {
	failing := "always.failing@contoso.com"
	// FAIL_ON_USER_FAILURES off: runs whose users failed still succeed
	// (TestBatchTwentyUsersWithinTheConcurrencyCap has it on).
	st := startBatchStack(t, avesim.Options{PollsToFinish: 1, Plans: map[string]avesim.JobPlan{failing: {Outcome: avesim.Fail}}},
		map[string]string{"STATE_PREFIX": "state", "FAIL_ON_USER_FAILURES": "false"})
	users := []string{"a@contoso.com", "b@contoso.com", failing}
	spec := schedule.Spec{Period: schedule.Day, Location: mustZone(t, "Europe/Berlin")}
	now := time.Now().UTC()
	at1, at2 := now.Add(-72*time.Hour), now.Add(-24*time.Hour)
	input := func(at time.Time) map[string]any {
		return map[string]any{"emails": users, "window": map[string]any{
			"period": "day", "timeZone": "Europe/Berlin", "incremental": true, "lookbackPeriods": 2, "at": at.Format(time.RFC3339)}}
	}
	windows := func(from int) map[string]string { // email -> jobs' windows since job number from
		out := map[string]string{}
		for _, j := range st.Sim.Server.Jobs()[from:] {
			out[j.Email] = j.StartTime + "--" + j.FinishTime
		}
		return out
	}
	fmtW := func(start, finish time.Time) string {
		return request.FormatTime(start) + "--" + request.FormatTime(finish)
	}
	end1, end2 := spec.Floor(at1), spec.Floor(at2)
	lookback1 := spec.Prev(spec.Prev(end1))
	lookback2 := spec.Prev(spec.Prev(end2))

	before := time.Now()
	exec, out := runBatch(t, st, input(at1))
	if exec.Status != StatusSucceeded || out.Counts != (request.Counts{Users: 3, Succeeded: 2, Failed: 1}) {
		t.Fatalf("run 1: %s %s %s %+v", exec.Status, exec.Error, exec.Cause, out.Counts)
	}
	// WriteManifest's EMF line, on its stdout as CloudWatch Logs would
	// read it (the RIE passes the function's stdout and stderr to its own
	// stdout; its own log goes to stderr, which Logs also holds).
	emf := emftest.One(t, st.Functions["writemanifest"].Logs(), metrics.BatchRuns)
	if emf.Values[metrics.UsersSucceeded] != 2 || emf.Values[metrics.UsersFailed] != 1 || emf.Dims[metrics.Stack] != metrics.DefaultStack {
		t.Errorf("run 1 metrics %v %v", emf.Values, emf.Dims)
	}
	// a and b's marks moved to end1; the failing user has none.
	stale, ok := emf.Values[metrics.MarkStalenessSeconds]
	if lo, hi := before.Sub(end1).Seconds()-1, time.Since(end1).Seconds(); !ok || stale < lo || stale > hi {
		t.Errorf("run 1 MarkStalenessSeconds %v (present %v), want the age of %s: %.0f to %.0f", stale, ok, end1, lo, hi)
	}
	if leak := badinput.Leaks(emf.Raw, users...); leak != "" {
		t.Errorf("the metric line holds %q", leak)
	}
	got := windows(0)
	for _, u := range users {
		if got[u] != fmtW(lookback1, end1) {
			t.Errorf("run 1 %s exported %s, want the 2-day lookback %s", u, got[u], fmtW(lookback1, end1))
		}
	}

	jobs := len(st.Sim.Server.Jobs())
	exec, out = runBatch(t, st, input(at2))
	if exec.Status != StatusSucceeded || out.Counts != (request.Counts{Users: 3, Succeeded: 2, Failed: 1}) {
		t.Fatalf("run 2: %s %s %+v", exec.Status, exec.Error, out.Counts)
	}
	got = windows(jobs)
	for _, u := range users[:2] {
		if got[u] != fmtW(end1, end2) {
			t.Errorf("run 2 %s exported %s, want the catch-up from its mark %s", u, got[u], fmtW(end1, end2))
		}
	}
	if got[failing] != fmtW(lookback2, end2) {
		t.Errorf("run 2 failing user exported %s, want the lookback %s (no mark)", got[failing], fmtW(lookback2, end2))
	}

	jobs = len(st.Sim.Server.Jobs())
	exec, out = runBatch(t, st, input(at2))
	if exec.Status != StatusSucceeded || out.Counts != (request.Counts{Users: 3, UpToDate: 2, Failed: 1}) {
		t.Fatalf("run 3: %s %s %+v", exec.Status, exec.Error, out.Counts)
	}
	if got := windows(jobs); len(got) != 1 || got[failing] == "" {
		t.Errorf("run 3 exported %v, want only the failing user", got)
	}
	if r := out.Results[0]; r.Status != request.StatusUpToDate || r.Watermark != request.FormatTime(end2) {
		t.Errorf("run 3 result %+v", r)
	}
	// The marks are where the last stored reports end.
	var mark batch.Mark
	if err := json.Unmarshal(getObject(t, st, "state/watermarks/user=a@contoso.com/events=all.json"), &mark); err != nil {
		t.Fatal(err)
	}
	if mark.FinishTime != request.FormatTime(end2) || mark.ReportKey == "" {
		t.Errorf("mark %+v", mark)
	}
	keys := bucketKeys(t, st)
	if slices.Contains(keys, "state/watermarks/user="+failing+"/events=all.json") {
		t.Error("the failing user has a mark")
	}

	t.Run("invalid input fails the run before AvePoint is called", func(t *testing.T) {
		calls := len(st.Sim.Server.Calls())
		exec, _ := runBatch(t, st, map[string]any{"emails": []string{"a@contoso.com", "A@Contoso.com"}})
		if exec.Status != StatusFailed || exec.Error != "ValidationError" || !strings.Contains(exec.Cause, "emails[1]") {
			t.Fatalf("got %s %s %s", exec.Status, exec.Error, exec.Cause)
		}
		if n := len(st.Sim.Server.Calls()); n != calls {
			t.Fatalf("%d calls reached AvePoint", n-calls)
		}
	})
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
