package devstack

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/testing/avesim"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

// End-to-end runs of statemachine/export.asl.json: the real ASL under the
// interpreter, the three real bootstraps under the RIE, S3 and Secrets
// Manager on moto_server, AvePoint simulated.

const (
	e2eClientID = "e2e-client"
	e2eSecret   = "e2e-Secret-value-0123456789"
)

var (
	bootOnce sync.Once
	boots    map[string]string
	bootErr  error
)

func exportBootstraps(t *testing.T) map[string]string {
	t.Helper()
	bootOnce.Do(func() {
		boots, bootErr = BuildBootstraps(context.Background(), artefacts+"/export")
	})
	if bootErr != nil {
		t.Fatal(bootErr)
	}
	return boots
}

func startExportStack(t *testing.T, sim avesim.Options, env map[string]string) *Stack {
	t.Helper()
	return startTestStack(t, sim, StackOptions{Env: env, Bootstraps: exportBootstraps(t)})
}

// startTestStack starts a stack on the simulator with the e2e credentials
// and registers a cleanup that stops it, proves its processes are gone and
// scans its logs for secrets.
func startTestStack(t *testing.T, sim avesim.Options, opts StackOptions) *Stack {
	t.Helper()
	sim.ClientID, sim.ClientSecret = e2eClientID, e2eSecret
	opts.Simulator = &sim
	st, err := StartStack(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, f := range st.Functions {
			closeAndCheck(t, f)
		}
		st.Close()
		assertNoSecretsLogged(t, st)
	})
	return st
}

// assertNoSecretsLogged scans every function log line for the client
// secret in any spelling (a form body percent-encodes it).
func assertNoSecretsLogged(t *testing.T, st *Stack) {
	t.Helper()
	logs := st.Logs()
	if logs == "" {
		t.Error("no function logs collected")
	}
	if sp := badinput.Leaks(logs, e2eSecret); sp != "" {
		t.Errorf("a function logged the client secret (as %q)", sp)
	}
}

func run(t *testing.T, st *Stack, input any) *Execution {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	exec, err := st.Run(ctx, RunOptions{Input: input, WaitOverride: 50 * time.Millisecond, RetryOverride: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return exec
}

// reportKeys lists the raw reports (not the dataset's files).
func reportKeys(t *testing.T, st *Stack) []string {
	t.Helper()
	var out []string
	for _, k := range bucketKeys(t, st) {
		if strings.HasPrefix(k, st.Prefix+"/") {
			out = append(out, k)
		}
	}
	return out
}

func bucketKeys(t *testing.T, st *Stack) []string {
	t.Helper()
	out, err := st.S3.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(st.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	mp, err := st.S3.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(st.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(mp.Uploads) != 0 {
		t.Errorf("%d multipart uploads left open", len(mp.Uploads))
	}
	return keys
}

func apiCalls(st *Stack, endpoint string) int {
	n := 0
	for _, c := range st.Sim.Server.Calls() {
		if c.Endpoint == endpoint {
			n++
		}
	}
	return n
}

// statusReadGaps is the time between successive status reads.
func statusReadGaps(st *Stack) []time.Duration {
	var gaps []time.Duration
	var last time.Time
	for _, c := range st.Sim.Server.Calls() {
		if c.Endpoint != avesim.EndpointStatus {
			continue
		}
		if !last.IsZero() {
			gaps = append(gaps, c.At.Sub(last))
		}
		last = c.At
	}
	return gaps
}

type exportOutput struct {
	Bucket, Key, JobID, SHA256, Email, FinishTime string
	Bytes                                         int64
}

func TestExportSucceeds(t *testing.T) {
	st := startExportStack(t, avesim.Options{PollsToFinish: 2}, nil)
	events, err := st.CaptureEvents(t.Context(), "export-succeeds")
	if err != nil {
		t.Fatal(err)
	}
	guest := "megan_fabrikam.com#EXT#@contoso.onmicrosoft.com"
	input := map[string]any{"email": guest, "startTime": "2026-10-01T00:00:00", "finishTime": "2026-11-01T00:00:00", "eventTypes": []string{"FileAccessed", "ListViewed"}}
	exec := run(t, st, input)
	if exec.Status != StatusSucceeded {
		t.Fatalf("execution %s: %s %s\n%s", exec.Status, exec.Error, exec.Cause, st.Logs())
	}
	// slot → start → slot records the job → wait → check → choice → slot
	// given back → a waiter woken (none here) → store → convert → event →
	// succeed. The job answers "running" twice before "finished": the one
	// check reads all three times, waiting the policy's 5 s between its
	// reads itself (POLL_INPROCESS_SECONDS, deployed default), so the poll
	// loop runs once instead of three times.
	want := []string{"AcquireJobSlot", "StartExport", "RecordJobOnSlot", "WaitForJob", "CheckJob", "IsJobFinished", "ReleaseJobSlot", "WakeJobSlotWaiter", "StoreReport", "ConvertReport", "AnnounceReport", "Done"}
	if got := enteredStates(exec.Events); !slices.Equal(got, want) {
		t.Fatalf("states %v\nwant   %v", got, want)
	}
	if reads := apiCalls(st, avesim.EndpointStatus); reads != 3 {
		t.Fatalf("%d status reads, want 3 (two running, one finished)", reads)
	}
	if gap := statusReadGaps(st); len(gap) != 2 || gap[0] < 5*time.Second || gap[1] < 5*time.Second || gap[0] > 7*time.Second || gap[1] > 7*time.Second {
		t.Fatalf("status reads %v apart; want the policy's 5 s (waited in the check function)", gap)
	}
	var out exportOutput
	if err := json.Unmarshal(exec.Output, &out); err != nil {
		t.Fatal(err)
	}
	wantKey := "reports/user=megan_fabrikam.com%23ext%23@contoso.onmicrosoft.com/window=20261001T000000Z--20261101T000000Z/events=FileAccessed+ListViewed/activities.zip"
	if out.Bucket != st.Bucket || out.Key != wantKey || out.JobID == "" || out.Email != strings.ToLower(guest) {
		t.Fatalf("output %s", exec.Output)
	}
	// One Report Stored event, delivered through a rule to a queue, whose
	// report is the execution's output.
	published, err := events.Received(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(published) != 1 || published[0].Source != "insights-export" || published[0].DetailType != "Report Stored" {
		t.Fatalf("events %+v", published)
	}
	var detail struct {
		UPN, URI, Execution string
		Report              json.RawMessage
	}
	if err := json.Unmarshal(published[0].Detail, &detail); err != nil {
		t.Fatal(err)
	}
	if detail.UPN != out.Email || detail.URI != "s3://"+out.Bucket+"/"+out.Key || !strings.HasPrefix(detail.Execution, strings.Replace(ExportStateMachineArn, ":stateMachine:", ":execution:", 1)+":") {
		t.Errorf("event detail %s", published[0].Detail)
	}
	var evReport map[string]any
	var outAll map[string]any
	_ = json.Unmarshal(detail.Report, &evReport)
	_ = json.Unmarshal(exec.Output, &outAll)
	if !reflect.DeepEqual(evReport, outAll) || evReport["dataset"] == nil {
		t.Errorf("event report %s\nexecution output %s", detail.Report, exec.Output)
	}
	// The stored object is byte for byte the report AvePoint served.
	obj, err := st.S3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: &out.Bucket, Key: &out.Key})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	served, err := st.Sim.Server.ReportZIP(out.JobID)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if !bytes.Equal(body, served) || out.Bytes != int64(len(body)) || out.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("stored %d bytes (sha %s), served %d, output %+v", len(body), hex.EncodeToString(sum[:]), len(served), out)
	}
	if _, err := zip.NewReader(bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatalf("stored report is not a ZIP: %v", err)
	}
	if obj.Metadata["job-id"] != out.JobID || obj.Metadata["event-types"] != "FileAccessed,ListViewed" || obj.ServerSideEncryption != "AES256" {
		t.Fatalf("metadata %v, sse %q", obj.Metadata, obj.ServerSideEncryption)
	}
	// The simulator saw the guest UPN double-encoded and decoded it back.
	jobs := st.Sim.Server.Jobs()
	if len(jobs) != 1 || jobs[0].Email != strings.ToLower(guest) || jobs[0].StartTime != "2026-10-01T00:00:00" {
		t.Fatalf("jobs %+v", jobs)
	}
	// Three functions, one secret read and one token each: cold starts only.
	if n := st.Sim.Server.TokensIssued(); n != 3 {
		t.Errorf("tokens issued = %d, want 3 (one per function container)", n)
	}
	for _, line := range strings.Split(st.Logs(), "\n") {
		if strings.Contains(line, "megan_fabrikam") {
			t.Errorf("an email was logged in clear at info level: %s", line)
		}
	}

	t.Run("rerun replaces, never duplicates", func(t *testing.T) {
		again := run(t, st, input)
		if again.Status != StatusSucceeded {
			t.Fatalf("rerun %s: %s %s", again.Status, again.Error, again.Cause)
		}
		var out2 exportOutput
		_ = json.Unmarshal(again.Output, &out2)
		if out2.Key != out.Key || out2.JobID == out.JobID {
			t.Fatalf("rerun output %+v (first %+v)", out2, out)
		}
		if keys := reportKeys(t, st); len(keys) != 1 || keys[0] != out.Key {
			t.Fatalf("bucket holds %v", keys)
		}
		// Warm containers reuse their tokens.
		if n := st.Sim.Server.TokensIssued(); n != 3 {
			t.Errorf("tokens issued after a warm rerun = %d, want 3", n)
		}
	})
}

func TestExportFailedJob(t *testing.T) {
	email := "failing.user@contoso.com"
	st := startExportStack(t, avesim.Options{Plans: map[string]avesim.JobPlan{email: {Outcome: avesim.Fail, Message: "Export failed: mailbox unavailable"}}}, nil)
	exec := run(t, st, map[string]any{"email": email})
	if exec.Status != StatusFailed || exec.Error != "JobFailedError" || !strings.Contains(exec.Cause, "mailbox unavailable") {
		t.Fatalf("got %s %s %s", exec.Status, exec.Error, exec.Cause)
	}
	if last := enteredStates(exec.Events); last[len(last)-1] != "JobFailed" {
		t.Fatalf("states %v", last)
	}
	if keys := bucketKeys(t, st); len(keys) != 0 {
		t.Fatalf("bucket holds %v", keys)
	}
	if n := apiCalls(st, avesim.EndpointFile); n != 0 {
		t.Fatalf("%d report downloads for a failed job", n)
	}
}

func TestExportDeadlineExceeded(t *testing.T) {
	email := "endless@contoso.com"
	st := startExportStack(t, avesim.Options{Plans: map[string]avesim.JobPlan{email: {Outcome: avesim.Never}}},
		map[string]string{"JOB_DEADLINE_SECONDS": "2", "POLL_MIN_SECONDS": "1"})
	exec := run(t, st, map[string]any{"email": email})
	if exec.Status != StatusFailed || exec.Error != "JobDeadlineExceededError" || !strings.Contains(exec.Cause, "deadline is 2s") {
		t.Fatalf("got %s %s %s", exec.Status, exec.Error, exec.Cause)
	}
	if polls := apiCalls(st, avesim.EndpointStatus); polls < 2 {
		t.Fatalf("only %d polls before the deadline", polls)
	}
	if keys := bucketKeys(t, st); len(keys) != 0 {
		t.Fatalf("bucket holds %v", keys)
	}
}

// An event that cannot be published fails the export after the retries,
// with EventBridge's error, although the report and its dataset rows are
// stored: nobody is told an event went out that did not. The slot was
// given back before the store step.
func TestExportWhoseEventCannotBePublishedFails(t *testing.T) {
	st := startTestStack(t, avesim.Options{PollsToFinish: 1}, StackOptions{Bootstraps: exportBootstraps(t), EventBus: "no-such-bus"})
	exec := run(t, st, map[string]any{"email": "event.lost@contoso.com", "startTime": "2026-10-01T00:00:00", "finishTime": "2026-11-01T00:00:00"})
	if exec.Status != StatusFailed || exec.Error != "EventBridge.ResourceNotFoundException" || !strings.Contains(exec.Cause, "no-such-bus") {
		t.Fatalf("got %s %s %s", exec.Status, exec.Error, exec.Cause)
	}
	states := enteredStates(exec.Events)
	if states[len(states)-1] != "EventNotSent" || !slices.Contains(states, "ConvertReport") {
		t.Fatalf("states %v", states)
	}
	if n := retriedOn(exec, "AnnounceReport", "EventBridge."); n != 6 {
		t.Errorf("AnnounceReport retried %d times, want 6", n)
	}
	if keys := reportKeys(t, st); len(keys) != 1 {
		t.Errorf("reports stored %v, want the one", keys)
	}
	if holders, err := st.SlotHolders(t.Context()); err != nil || len(holders) != 0 {
		t.Errorf("slot holders %+v (%v), want none", holders, err)
	}
}
