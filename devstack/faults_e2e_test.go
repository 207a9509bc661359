package devstack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/testing/avesim"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

// The fault matrix: every fault the AvePoint simulator can inject (plus S3
// failing mid-upload, and a rerun), end to end through the real ASL, the
// three real bootstraps under the RIE and S3 on moto_server. Each row is
// one user with its own fault plan, so one stack serves all rows; a row
// that needs other function settings gets a stack of its own.

const (
	faultDeadline = 4        // JOB_DEADLINE_SECONDS of the shared stack
	largeReport   = 18 << 20 // three 8 MiB multipart parts: 8, 8, 2
	slowDelay     = 400 * time.Millisecond
)

// span is an expected number of calls: exactly min when max is 0.
type span struct{ min, max int }

func exactly(n int) span { return span{n, n} }

func (s span) ok(n int) bool { return n >= s.min && n <= s.max }

func (s span) String() string {
	if s.min == s.max {
		return fmt.Sprint(s.min)
	}
	return fmt.Sprintf("%d..%d", s.min, s.max)
}

// faultEnv is a running stack and what rows need of it.
type faultEnv struct {
	st     *Stack
	proxy  *S3FaultProxy
	secret string // client secret or private key PEM the stack's secret holds
}

// rowRun is what a row's checks get.
type rowRun struct {
	email string
	execs []*Execution
	calls []avesim.Call // this row's calls (all endpoints, the token one included)
	took  time.Duration
}

type faultRow struct {
	name string
	plan avesim.JobPlan
	// env, when set, gives the row a stack of its own with these function
	// settings (and secret credentials).
	env   func(t *testing.T) map[string]string
	setup func(t *testing.T, e *faultEnv, email string)
	input func(email string) map[string]any
	runs  int // default 1
	// Expectations.
	status   string // StatusSucceeded or StatusFailed
	errName  string
	cause    string // substring of the Cause
	endState string // the Fail state reached (failures)
	// calls concerning the row's user by endpoint (export, status, file,
	// blob); an endpoint left out must see none. Calls refused before the
	// user is known (a revoked token) and token calls are not counted here.
	calls  map[string]span
	stored bool // one object for the user afterwards; otherwise none
	check  func(t *testing.T, e *faultEnv, r rowRun)
}

var okCalls = map[string]span{avesim.EndpointExport: exactly(1), avesim.EndpointStatus: exactly(2), avesim.EndpointFile: exactly(1), avesim.EndpointBlob: exactly(1)}

// with returns okCalls changed by the given endpoint counts.
func with(kv ...any) map[string]span {
	m := map[string]span{}
	for k, v := range okCalls {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case int:
			m[kv[i].(string)] = exactly(v)
		case span:
			m[kv[i].(string)] = v
		}
	}
	return m
}

// retriedOn counts the state machine's retries of state after errName (a
// StateRetried event carries no error: the StateFailed before it does).
func retriedOn(exec *Execution, state, errName string) int {
	n, lastErr := 0, ""
	for _, e := range exec.Events {
		switch {
		case e.Type == "StateFailed" && e.State == state:
			lastErr = e.Error + " " + e.Cause
		case e.Type == "StateRetried" && e.State == state && strings.Contains(lastErr, errName):
			n++
		}
	}
	return n
}

func s3Count(ops []S3Op, op string) int {
	n := 0
	for _, o := range ops {
		if o.Op == op {
			n++
		}
	}
	return n
}

func faultRows() []faultRow {
	return []faultRow{
		{
			name:   "429 with Retry-After in seconds",
			plan:   avesim.JobPlan{ErrorCalls: 2, ErrorStatus: 429, RetryAfter: time.Second, FaultEndpoints: []string{avesim.EndpointExport}},
			status: StatusSucceeded, calls: with(avesim.EndpointExport, 3), stored: true,
			check: func(t *testing.T, _ *faultEnv, r rowRun) {
				for _, c := range r.calls {
					if c.Status == 429 && c.RetryAfter != "1" {
						t.Errorf("429 answered Retry-After %q", c.RetryAfter)
					}
				}
				if r.took < 2*time.Second {
					t.Errorf("took %s: the client did not wait the 2×1 s it was asked to", r.took)
				}
			},
		},
		{
			name:   "429 with Retry-After as an HTTP date",
			plan:   avesim.JobPlan{ErrorCalls: 2, ErrorStatus: 429, RetryAfter: time.Second, RetryAfterDate: true, FaultEndpoints: []string{avesim.EndpointStatus}},
			status: StatusSucceeded, calls: with(avesim.EndpointStatus, 4), stored: true,
			check: func(t *testing.T, _ *faultEnv, r rowRun) {
				n := 0
				for _, c := range r.calls {
					if c.Status == 429 {
						n++
						if _, err := http.ParseTime(c.RetryAfter); err != nil {
							t.Errorf("Retry-After %q is not an HTTP date", c.RetryAfter)
						}
					}
				}
				if n != 2 {
					t.Errorf("%d throttled answers, want 2", n)
				}
			},
		},
		{
			name: "burst of 500/502/503 outlasting one invocation",
			// The job ends at the first poll answered, so the time the
			// retries take cannot run into the job deadline.
			plan:   avesim.JobPlan{ErrorStatuses: []int{500, 502, 503, 500, 502, 503}, FaultEndpoints: []string{avesim.EndpointStatus}, PollsToFinish: intp(0)},
			status: StatusSucceeded, calls: with(avesim.EndpointStatus, 7), stored: true,
			check: func(t *testing.T, _ *faultEnv, r rowRun) {
				if n := retriedOn(r.execs[0], "CheckJob", "TransientError"); n != 1 {
					t.Errorf("CheckJob retried %d times by the state machine, want 1 (4 client attempts, then 2 more)", n)
				}
			},
		},
		{
			name:   "500 that never clears",
			plan:   avesim.JobPlan{ErrorCalls: 1000, ErrorStatus: 500, FaultEndpoints: []string{avesim.EndpointExport}},
			status: StatusFailed, errName: "TransientError", cause: "HTTP 500", endState: "ExportFailed",
			// 1 invocation + 4 state machine retries, 4 client attempts each.
			calls: map[string]span{avesim.EndpointExport: exactly(20)},
		},
		{
			name:   "401 for a token that was valid a moment ago",
			plan:   avesim.JobPlan{RevokeCalls: 1, FaultEndpoints: []string{avesim.EndpointStatus}},
			status: StatusSucceeded, calls: with(avesim.EndpointStatus, 3), stored: true,
			check: func(t *testing.T, _ *faultEnv, r rowRun) {
				if n := tokenCalls(r.calls, 200); n < 1 {
					t.Errorf("no new token after the revocation")
				}
				if n := retriedOn(r.execs[0], "CheckJob", ""); n != 0 {
					t.Errorf("the client's own refresh should absorb a 401; the state machine retried %d times", n)
				}
			},
		},
		{
			name:   "401 every time",
			plan:   avesim.JobPlan{RevokeCalls: 1000, FaultEndpoints: []string{avesim.EndpointExport}},
			status: StatusFailed, errName: "AuthError", cause: "HTTP 401", endState: "ExportFailed",
			// One call, one refresh, one call: then a clear AuthError, not
			// retried. (The first call is refused before the user is known,
			// and so not counted, when the previous row's revocation already
			// invalidated this function's token.)
			calls: map[string]span{avesim.EndpointExport: {1, 2}},
		},
		{
			name: "token endpoint down (503) when a new token is needed",
			setup: func(t *testing.T, e *faultEnv, _ string) {
				e.st.Sim.Server.RevokeTokens()
				if err := e.st.Sim.Server.SetTokenFault(avesim.TokenFault{Calls: 2, Status: 503}); err != nil {
					t.Fatal(err)
				}
			},
			status: StatusSucceeded, calls: okCalls, stored: true,
			check: func(t *testing.T, _ *faultEnv, r rowRun) {
				if n := tokenCalls(r.calls, 503); n != 2 {
					t.Errorf("%d token calls answered 503, want 2", n)
				}
			},
		},
		{
			name: "token endpoint refusing connections for good",
			env: func(t *testing.T) map[string]string {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				closed := "http://" + ln.Addr().String() + "/connect/token"
				ln.Close()
				return map[string]string{"AVEPOINT_TOKEN_URL": closed}
			},
			status: StatusFailed, errName: "TransientError", cause: "token endpoint unreachable", endState: "ExportFailed",
			calls: map[string]span{}, // not one request reaches AvePoint
			check: func(t *testing.T, _ *faultEnv, r rowRun) {
				if n := retriedOn(r.execs[0], "StartExport", "TransientError"); n != 4 {
					t.Errorf("StartExport retried %d times, want 4", n)
				}
			},
		},
		{
			name:   "job failed (3)",
			plan:   avesim.JobPlan{Outcome: avesim.Fail, Message: "Export failed: mailbox unavailable"},
			status: StatusFailed, errName: "JobFailedError", cause: "mailbox unavailable", endState: "JobFailed",
			calls: map[string]span{avesim.EndpointExport: exactly(1), avesim.EndpointStatus: exactly(2)},
		},
		{
			name:   "job stopped (6)",
			plan:   avesim.JobPlan{Outcome: avesim.Fail, FinalStatus: avesim.JobStopped, Message: "stopped by an administrator"},
			status: StatusFailed, errName: "JobFailedError", cause: "jobStatus 6", endState: "JobFailed",
			calls: map[string]span{avesim.EndpointExport: exactly(1), avesim.EndpointStatus: exactly(2)},
		},
		{
			name:   "job success with exception (4)",
			plan:   avesim.JobPlan{FinalStatus: avesim.JobSucceededException, Message: "2 sites skipped"},
			status: StatusSucceeded, calls: okCalls, stored: true,
			check: func(t *testing.T, e *faultEnv, _ rowRun) {
				if !strings.Contains(e.st.Logs(), "job finished with exceptions") {
					t.Error("no warning logged for a job that finished with exceptions")
				}
			},
		},
		{
			name:   "job status unknown (99)",
			plan:   avesim.JobPlan{FinalStatus: 99},
			status: StatusFailed, errName: "ProtocolError", cause: "unknown jobStatus 99", endState: "ExportFailed",
			calls: map[string]span{avesim.EndpointExport: exactly(1), avesim.EndpointStatus: exactly(2)},
		},
		{
			name:   "job that never finishes",
			plan:   avesim.JobPlan{Outcome: avesim.Never},
			status: StatusFailed, errName: "JobDeadlineExceededError", cause: fmt.Sprintf("deadline is %ds", faultDeadline), endState: "JobDeadlineExceeded",
			calls: map[string]span{avesim.EndpointExport: exactly(1), avesim.EndpointStatus: {3, 1000}},
		},
		{
			name:   "slow responses",
			plan:   avesim.JobPlan{Delay: slowDelay},
			status: StatusSucceeded, calls: okCalls, stored: true,
			check: func(t *testing.T, _ *faultEnv, r rowRun) {
				if min := 5 * slowDelay; r.took < min {
					t.Errorf("took %s; five answers held back %s each take at least %s", r.took, slowDelay, min)
				}
			},
		},
		{
			name:   "connection reset halfway through the report, once",
			plan:   avesim.JobPlan{ReportFault: avesim.ReportCutReset, ReportFaultCalls: 1},
			status: StatusSucceeded, calls: with(avesim.EndpointFile, 2, avesim.EndpointBlob, 2), stored: true,
			check: func(t *testing.T, _ *faultEnv, r rowRun) {
				if n := retriedOn(r.execs[0], "StoreReport", "TransientError"); n != 1 {
					t.Errorf("StoreReport retried %d times, want 1", n)
				}
			},
		},
		{
			name:   "report shorter than its Content-Length, once",
			plan:   avesim.JobPlan{ReportFault: avesim.ReportShort, ReportFaultCalls: 1},
			status: StatusSucceeded, calls: with(avesim.EndpointFile, 2, avesim.EndpointBlob, 2), stored: true,
			check: func(t *testing.T, _ *faultEnv, r rowRun) {
				if n := retriedOn(r.execs[0], "StoreReport", "TransientError"); n != 1 {
					t.Errorf("StoreReport retried %d times, want 1", n)
				}
			},
		},
		{
			name:   "connection reset on every download",
			plan:   avesim.JobPlan{ReportFault: avesim.ReportCutReset},
			status: StatusFailed, errName: "TransientError", cause: "report download interrupted", endState: "ExportFailed",
			// 1 attempt + 3 state machine retries of the store step.
			calls: with(avesim.EndpointFile, 4, avesim.EndpointBlob, 4),
		},
		{
			name:   "corrupt ZIP (starts with PK, CRC broken)",
			plan:   avesim.JobPlan{ReportFault: avesim.ReportCorruptZIP},
			status: StatusFailed, errName: "CorruptReportError", cause: "invalid ZIP archive", endState: "ExportFailed",
			calls: okCalls, // not retried: the same job serves the same bytes
		},
		{
			name:   "corrupt ZIP spanning multipart parts",
			plan:   avesim.JobPlan{ReportFault: avesim.ReportCorruptZIP, ReportSize: largeReport},
			status: StatusFailed, errName: "CorruptReportError", cause: "CRC-32 mismatch", endState: "ExportFailed",
			calls: okCalls,
			check: func(t *testing.T, e *faultEnv, r rowRun) {
				ops := e.proxy.Ops("user=" + r.email)
				if s3Count(ops, "CreateMultipartUpload") != 1 || s3Count(ops, "UploadPart") < 1 ||
					s3Count(ops, "CompleteMultipartUpload") != 0 || s3Count(ops, "AbortMultipartUpload") != 1 {
					t.Errorf("S3 operations %+v: want parts sent, then the upload aborted, never completed", ops)
				}
			},
		},
		{
			name:   "not a ZIP at all",
			plan:   avesim.JobPlan{ReportFault: avesim.ReportNotZIP},
			status: StatusFailed, errName: "CorruptReportError", cause: "does not start with a ZIP signature", endState: "ExportFailed",
			calls: okCalls,
			check: func(t *testing.T, e *faultEnv, r rowRun) {
				if ops := e.proxy.Ops("user=" + r.email); len(ops) != 0 {
					t.Errorf("S3 saw %+v for a report refused before upload", ops)
				}
			},
		},
		{
			name: "S3 fails mid-upload, once",
			plan: avesim.JobPlan{ReportSize: largeReport},
			setup: func(_ *testing.T, e *faultEnv, email string) {
				e.proxy.Fail(S3Fault{KeyContains: "user=" + email, Part: 2, Uploads: 1})
			},
			status: StatusSucceeded, calls: with(avesim.EndpointFile, 2, avesim.EndpointBlob, 2), stored: true,
			check: func(t *testing.T, e *faultEnv, r rowRun) {
				ops := e.proxy.Ops("user=" + r.email)
				injected := 0
				for _, o := range ops {
					if o.Injected {
						injected++
					}
				}
				if injected == 0 || s3Count(ops, "CreateMultipartUpload") != 2 || s3Count(ops, "AbortMultipartUpload") != 1 || s3Count(ops, "CompleteMultipartUpload") != 1 {
					t.Errorf("S3 operations: %d injected failures, %+v", injected, ops)
				}
				if n := retriedOn(r.execs[0], "StoreReport", "StorageError"); n != 1 {
					t.Errorf("StoreReport retried %d times after StorageError, want 1", n)
				}
			},
		},
		{
			name: "S3 fails every upload",
			plan: avesim.JobPlan{ReportSize: largeReport},
			setup: func(_ *testing.T, e *faultEnv, email string) {
				e.proxy.Fail(S3Fault{KeyContains: "user=" + email, Part: 2})
			},
			status: StatusFailed, errName: "StorageError", cause: "UploadPart", endState: "ExportFailed",
			calls: with(avesim.EndpointFile, 4, avesim.EndpointBlob, 4),
			check: func(t *testing.T, e *faultEnv, r rowRun) {
				ops := e.proxy.Ops("user=" + r.email)
				if s3Count(ops, "CreateMultipartUpload") != 4 || s3Count(ops, "AbortMultipartUpload") != 4 || s3Count(ops, "CompleteMultipartUpload") != 0 {
					t.Errorf("S3 operations %+v: want 4 uploads, all aborted", ops)
				}
			},
		},
		{
			name: "rerun of an identical request",
			input: func(email string) map[string]any {
				return map[string]any{"email": email, "startTime": "2026-10-01T00:00:00", "finishTime": "2026-11-01T00:00:00", "eventTypes": []string{"FileAccessed"}}
			},
			runs:   2,
			status: StatusSucceeded, calls: with(avesim.EndpointExport, 2, avesim.EndpointStatus, 4, avesim.EndpointFile, 2, avesim.EndpointBlob, 2), stored: true,
			check: func(t *testing.T, _ *faultEnv, r rowRun) {
				var first, second exportOutput
				_ = json.Unmarshal(r.execs[0].Output, &first)
				_ = json.Unmarshal(r.execs[1].Output, &second)
				if first.Key == "" || first.Key != second.Key || first.JobID == second.JobID {
					t.Errorf("rerun: first %+v, second %+v; want the same key from a new job", first, second)
				}
			},
		},
		// issue 9: AvePoint client
		func() faultRow {
			// The redirect target is a second, working token endpoint: a
			// client that followed would send it the signed assertion (the
			// shared stack's credential) and get a token.
			var target *avesim.Running
			return faultRow{
				name: "token endpoint redirect (307) is not followed",
				setup: func(t *testing.T, e *faultEnv, _ string) {
					var err error
					if target, err = avesim.Start(t.Context(), avesim.Options{ClientID: e2eClientID, ClientSecret: e2eSecret}); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(target.Close)
					e.st.Sim.Server.RevokeTokens() // a warm function needs a new token
					if err := e.st.Sim.Server.SetTokenFault(avesim.TokenFault{Calls: 100, Status: 307, Location: target.TokenURL}); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = e.st.Sim.Server.SetTokenFault(avesim.TokenFault{}) })
				},
				status: StatusFailed, errName: "AuthError", cause: "token endpoint answered HTTP 307 (redirects are not followed)", endState: "ExportFailed",
				calls: map[string]span{}, // no call reaches AvePoint with a token
				check: func(t *testing.T, _ *faultEnv, r rowRun) {
					if n := len(target.Server.Calls()); n != 0 {
						t.Errorf("the redirect target received %d requests", n)
					}
					if n := tokenCalls(r.calls, 307); n != 1 {
						t.Errorf("%d token calls answered 307, want 1 (not retried, credentials not re-read)", n)
					}
				},
			}
		}(),
		{
			name: "report download redirected to plain http",
			// Refused before any connection: the name need not resolve.
			plan:   avesim.JobPlan{FileRedirectBase: "http://reports.example.com"},
			status: StatusFailed, errName: "ProtocolError", cause: "redirect to a non-https URL refused", endState: "ExportFailed",
			calls: map[string]span{avesim.EndpointExport: exactly(1), avesim.EndpointStatus: exactly(2), avesim.EndpointFile: exactly(1)}, // not retried
			check: func(t *testing.T, e *faultEnv, r rowRun) {
				if ops := e.proxy.Ops("user=" + r.email); len(ops) != 0 {
					t.Errorf("S3 saw %+v for a download refused before it began", ops)
				}
			},
		},
		{
			name:   "unusable jobId in the export answer",
			plan:   avesim.JobPlan{ExportJobID: ".."},
			status: StatusFailed, errName: "ProtocolError", cause: "export answer's jobId", endState: "ExportFailed",
			calls: map[string]span{avesim.EndpointExport: exactly(1)}, // no status or file call with it
		},
	}
}

func intp(n int) *int { return &n }

func tokenCalls(calls []avesim.Call, status int) int {
	n := 0
	for _, c := range calls {
		if c.Endpoint == avesim.EndpointToken && c.Status == status {
			n++
		}
	}
	return n
}

func rowEmail(i int) string { return fmt.Sprintf("fault.row%02d@contoso.com", i) }

// startFaultStack starts a stack whose S3 goes through a fault proxy.
// cert selects certificate credentials (the shared stack) over a secret.
func startFaultStack(t *testing.T, sim avesim.Options, env map[string]string, cert bool) *faultEnv {
	t.Helper()
	proxy, err := StartS3FaultProxy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	allEnv := map[string]string{"AWS_ENDPOINT_URL_S3": proxy.URL, "JOB_DEADLINE_SECONDS": fmt.Sprint(faultDeadline), "POLL_MIN_SECONDS": "1"}
	for k, v := range env {
		allEnv[k] = v
	}
	sim.ClientID = e2eClientID
	sim.RedirectFiles = true // downloads go to another host: the bearer token must not follow
	opts := StackOptions{Simulator: &sim, Env: allEnv, Bootstraps: exportBootstraps(t)}
	e := &faultEnv{proxy: proxy}
	if cert {
		bundle, c, err := avesim.NewTestCertificateBundle()
		if err != nil {
			t.Fatal(err)
		}
		sim.Certificate, opts.Certificate = c, bundle
		e.secret = bundle
	} else {
		sim.ClientSecret = e2eSecret
		e.secret = e2eSecret
	}
	if e.st, err = StartStack(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, f := range e.st.Functions {
			closeAndCheck(t, f)
		}
		e.st.Close()
	})
	if err := proxy.SetTarget(e.st.Moto.URL); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestFaultMatrix(t *testing.T) {
	rows := faultRows()
	plans := map[string]avesim.JobPlan{}
	for i, r := range rows {
		if r.env == nil {
			plans[rowEmail(i)] = r.plan
		}
	}
	shared := startFaultStack(t, avesim.Options{PollsToFinish: 1, Plans: plans}, nil, true)
	envs := []*faultEnv{shared}
	emails := []string{}
	began := time.Now()

	for i, row := range rows {
		email := rowEmail(i)
		emails = append(emails, email)
		t.Run(row.name, func(t *testing.T) {
			e := shared
			if row.env != nil {
				e = startFaultStack(t, avesim.Options{PollsToFinish: 1, Plans: map[string]avesim.JobPlan{email: row.plan}}, row.env(t), false)
				envs = append(envs, e)
			}
			if row.setup != nil {
				row.setup(t, e, email)
			}
			input := map[string]any{"email": email}
			if row.input != nil {
				input = row.input(email)
			}
			before := len(e.st.Sim.Server.Calls())
			start := time.Now()
			r := rowRun{email: email}
			for range max(row.runs, 1) {
				r.execs = append(r.execs, run(t, e.st, input))
			}
			r.took = time.Since(start)
			r.calls = e.st.Sim.Server.Calls()[before:]
			exec := r.execs[len(r.execs)-1]
			t.Logf("%s in %s: %s %s", row.name, r.took.Round(time.Millisecond), exec.Status, exec.Error)

			// Terminal state, error name and cause.
			if exec.Status != row.status || exec.Error != row.errName || !strings.Contains(exec.Cause, row.cause) {
				t.Fatalf("got %s %q %q\nwant %s %q cause containing %q\n%s", exec.Status, exec.Error, exec.Cause, row.status, row.errName, row.cause, tail(e.st.Logs(), 3000))
			}
			if row.status == StatusFailed {
				if states := enteredStates(exec.Events); states[len(states)-1] != row.endState {
					t.Errorf("ended in state %s, want %s", states[len(states)-1], row.endState)
				}
			}
			// Upstream calls concerning this user, by endpoint.
			got := map[string]int{}
			for _, c := range r.calls {
				if c.Email == email {
					got[c.Endpoint]++
				}
			}
			for _, ep := range []string{avesim.EndpointExport, avesim.EndpointStatus, avesim.EndpointFile, avesim.EndpointBlob} {
				if want := row.calls[ep]; !want.ok(got[ep]) {
					t.Errorf("%s calls: %d, want %s", ep, got[ep], want)
				}
			}
			// The bearer token never followed a download to the other host.
			for _, c := range r.calls {
				if c.Endpoint == avesim.EndpointBlob && c.Auth != avesim.AuthNone {
					t.Errorf("a redirected download arrived with Authorization (%s)", c.Auth)
				}
			}
			// Bucket: one complete object or none, never an open upload.
			checkBucket(t, e, email, row.stored, exec)
			if row.check != nil {
				row.check(t, e, r)
			}
		})
	}
	t.Logf("%d fault scenarios in %s", len(rows), time.Since(began).Round(time.Second))

	// Nothing secret, and no user address, in any function log line.
	for _, e := range envs {
		assertLogsClean(t, e, emails)
	}
}

// checkBucket asserts the user's objects: exactly one, byte-identical to
// the report the simulator served for the execution's job, or none; and
// no multipart upload left open in the whole bucket.
func checkBucket(t *testing.T, e *faultEnv, email string, stored bool, exec *Execution) {
	t.Helper()
	ctx := t.Context()
	list, err := e.st.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(e.st.Bucket), Prefix: aws.String(e.st.Prefix + "/user=" + email + "/")})
	if err != nil {
		t.Fatal(err)
	}
	uploads, err := e.st.S3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(e.st.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads.Uploads) != 0 {
		t.Errorf("%d multipart uploads left open (first %s)", len(uploads.Uploads), aws.ToString(uploads.Uploads[0].Key))
	}
	if !stored {
		if len(list.Contents) != 0 {
			t.Errorf("a failed export left %d objects (%s)", len(list.Contents), aws.ToString(list.Contents[0].Key))
		}
		return
	}
	if len(list.Contents) != 1 {
		t.Fatalf("%d objects for the user, want exactly 1", len(list.Contents))
	}
	var out exportOutput
	if err := json.Unmarshal(exec.Output, &out); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(list.Contents[0].Key) != out.Key {
		t.Fatalf("object %s, output names %s", aws.ToString(list.Contents[0].Key), out.Key)
	}
	obj, err := e.st.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(e.st.Bucket), Key: aws.String(out.Key)})
	if err != nil {
		t.Fatal(err)
	}
	stored256 := sha256.New()
	n, err := io.Copy(stored256, obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	served256 := sha256.New()
	if _, err := e.st.Sim.Server.WriteReport(out.JobID, served256); err != nil {
		t.Fatal(err)
	}
	got, want := hex.EncodeToString(stored256.Sum(nil)), hex.EncodeToString(served256.Sum(nil))
	if got != want || out.SHA256 != want || out.Bytes != n {
		t.Fatalf("stored %d bytes sha256 %s; served sha256 %s; output %+v", n, got, want, out)
	}
}

var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}`)

// assertLogsClean fails if any function log line holds the client secret,
// the private key, an access token the simulator issued, a signed client
// assertion, or a user's address (local part included) in any spelling:
// raw, url.PathEscape, url.QueryEscape, request.KeyEscape, every byte
// escaped, each encoded twice, lower-case hex (badinput.Spellings). The
// S3 SDK quotes request URLs, keys percent-encoded, in its errors.
func assertLogsClean(t *testing.T, e *faultEnv, emails []string) {
	t.Helper()
	logs := e.st.Logs()
	if logs == "" {
		t.Fatal("no function logs collected")
	}
	secrets := map[string]string{}
	if strings.Contains(e.secret, "PRIVATE KEY") {
		secrets["PEM private key marker"] = "PRIVATE KEY"
		// Every full line of the key's base64 body.
		body := e.secret[strings.Index(e.secret, "-----BEGIN PRIVATE KEY-----"):]
		for i, l := range strings.Split(body, "\n")[1:] {
			if len(l) == 64 {
				secrets[fmt.Sprintf("private key line %d", i)] = l
			}
		}
	} else {
		secrets["client secret"] = e.secret
	}
	tokens := e.st.Sim.Server.IssuedTokens()
	for i, tok := range tokens {
		secrets[fmt.Sprintf("access token %d", i)] = tok
	}
	if len(tokens) != e.st.Sim.Server.TokensIssued() {
		t.Fatalf("IssuedTokens lists %d tokens of %d issued", len(tokens), e.st.Sim.Server.TokensIssued())
	}
	for _, email := range emails {
		local, _, _ := strings.Cut(email, "@")
		for _, sp := range badinput.Spellings(email) {
			secrets["address "+email+" spelled "+sp] = sp
		}
		for _, sp := range badinput.Spellings(local) {
			secrets["address local part "+local+" spelled "+sp] = sp
		}
	}
	for what, s := range secrets {
		if strings.Contains(logs, s) {
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, s) {
					t.Errorf("a function logged the %s: %s", what, line)
					break
				}
			}
		}
	}
	if m := jwtRE.FindString(logs); m != "" {
		t.Errorf("a function logged a JWT (client assertion?): %.40s…", m)
	}
}
