package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/badinput"
	"github.com/insights-export/insights-export/internal/testing/moto"
)

// The handler runs against moto_server's Step Functions API through the
// real SDK. moto's built-in interpreter is switched on so executions
// really run: the stand-in state machines are made of Pass, Wait and Fail
// states (moto cannot run the Lambda tasks) whose outputs have the shape
// of the real ones, which is all the API reads.
//
// moto 5.2.1's interpreter deep-copies the whole account's backend on
// every StartExecution, and that copy fails (an RLock) once the account
// has run any execution. So every test environment gets an account of its
// own (moto's x-moto-account-id header) and starts at most one new
// execution in it; repeated starts of the same name are answered before
// that copy and work. The idempotency tests, which need several
// executions of one state machine but no progress, use a second
// moto_server without the interpreter, where executions stay RUNNING.

const roleArn = "arn:aws:iam::123456789012:role/insights-export-test"

var (
	motoOnce   sync.Once
	motoErr    error
	plainOnce  sync.Once
	plainMoto  *moto.Server
	plainErr   error
	machineSeq atomic.Int64
	accountSeq atomic.Int64
)

// accountClient sends every request as the given moto account.
type accountClient struct{ account string }

func (c accountClient) Do(r *http.Request) (*http.Response, error) {
	r.Header.Set("x-moto-account-id", c.account)
	return http.DefaultClient.Do(r)
}

// stepFunctions returns a client for a fresh account on the shared,
// interpreting moto_server.
func stepFunctions(t *testing.T) *sfn.Client {
	t.Helper()
	m := moto.Start(t)
	motoOnce.Do(func() {
		// A setting of the whole server, which this test binary has to itself.
		resp, err := http.Post(m.URL+"/moto-api/config", "application/json", strings.NewReader(`{"stepfunctions":{"execute_state_machine":true}}`))
		if err != nil {
			motoErr = err
			return
		}
		resp.Body.Close()
	})
	if motoErr != nil {
		t.Fatalf("moto config: %v", motoErr)
	}
	return accountSFN(m, fmt.Sprintf("%012d", 200000000000+accountSeq.Add(1)))
}

// plainStepFunctions returns a client for a moto_server that does not
// run executions.
func plainStepFunctions(t *testing.T) *sfn.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("needs moto_server: skipped with -short (make unit); make test runs it")
	}
	plainOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		plainMoto, plainErr = moto.StartContext(ctx)
	})
	if plainErr != nil {
		t.Fatalf("second moto_server: %v", plainErr)
	}
	return accountSFN(plainMoto, fmt.Sprintf("%012d", 300000000000+accountSeq.Add(1)))
}

func accountSFN(m *moto.Server, account string) *sfn.Client {
	return sfn.NewFromConfig(m.Config(), func(o *sfn.Options) { o.HTTPClient = accountClient{account: account} })
}

// machine creates a state machine with the given states and returns its ARN.
func machine(t *testing.T, client *sfn.Client, startAt string, states map[string]any) string {
	t.Helper()
	def, _ := json.Marshal(map[string]any{"StartAt": startAt, "States": states})
	return rawMachine(t, client, string(def))
}

func rawMachine(t *testing.T, client *sfn.Client, def string) string {
	t.Helper()
	out, err := client.CreateStateMachine(t.Context(), &sfn.CreateStateMachineInput{
		Name:       aws.String(fmt.Sprintf("test-%d", machineSeq.Add(1))),
		Definition: aws.String(def),
		RoleArn:    aws.String(roleArn),
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.StateMachineArn)
}

// waitForever stands for a job that is still running.
var waitForever = map[string]any{"Type": "Wait", "Seconds": 3600, "End": true}

func passing(result any) map[string]any {
	return map[string]any{"Done": map[string]any{"Type": "Pass", "Result": result, "End": true}}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type apiUnderTest struct {
	h      *Handler
	clock  *clock
	user   string
	batch  string
	client *sfn.Client
}

func newAPI(t *testing.T, client *sfn.Client, userMachine, batchMachine string) *apiUnderTest {
	t.Helper()
	c := &clock{t: time.Now().UTC().Truncate(ContentWindow).Add(time.Minute)}
	h, err := New(client, Config{ExportStateMachineARN: userMachine, BatchStateMachineARN: batchMachine}, slog.New(slog.NewTextHandler(testLog{t}, nil)), c.now)
	if err != nil {
		t.Fatal(err)
	}
	return &apiUnderTest{h: h, clock: c, user: userMachine, batch: batchMachine, client: client}
}

// testLog shows the handler's log lines (the internals that the answers
// must not carry) in the test's output.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

type answer struct {
	code   int
	header http.Header
	body   []byte
}

func (a answer) decode(t *testing.T, into any) {
	t.Helper()
	if err := json.Unmarshal(a.body, into); err != nil {
		t.Fatalf("HTTP %d body %s: %v", a.code, a.body, err)
	}
}

func (a *apiUnderTest) do(t *testing.T, method, path, body string, header map[string]string) answer {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), method, "http://api.test"+path, strings.NewReader(body))
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	return answer{code: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

func (a *apiUnderTest) post(t *testing.T, body string, header map[string]string) (answer, Started) {
	t.Helper()
	ans := a.do(t, http.MethodPost, "/exports", body, header)
	var s Started
	if ans.code == http.StatusAccepted {
		ans.decode(t, &s)
	}
	return ans, s
}

func (a *apiUnderTest) get(t *testing.T, id string) (answer, Status) {
	t.Helper()
	ans := a.do(t, http.MethodGet, "/exports/"+id, "", nil)
	var s Status
	if ans.code == http.StatusOK {
		ans.decode(t, &s)
	}
	return ans, s
}

// waitFor polls GET until the status is want.
func (a *apiUnderTest) waitFor(t *testing.T, id, want string) Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ans, st := a.get(t, id)
		if ans.code != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d %s", id, ans.code, ans.body)
		}
		if st.Status == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %s, want %s", id, st.Status, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (a *apiUnderTest) executions(t *testing.T, machineArn string) int {
	t.Helper()
	out, err := a.client.ListExecutions(t.Context(), &sfn.ListExecutionsInput{StateMachineArn: aws.String(machineArn)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Executions)
}

func runningJob() map[string]any {
	return map[string]any{
		"StartExport": map[string]any{"Type": "Pass", "Next": "CheckJob",
			"Result": map[string]any{"jobId": "4711", "startedAt": "2026-11-25T12:00:00Z", "polls": 0, "status": "running", "waitSeconds": 5}},
		"CheckJob": map[string]any{"Type": "Pass", "Next": "WaitForJob",
			"Result": map[string]any{"jobId": "4711", "startedAt": "2026-11-25T12:00:00Z", "polls": 3, "status": "running", "jobStatus": 1, "waitSeconds": 12}},
		"WaitForJob": waitForever,
	}
}

func TestStartAndDescribeOneUser(t *testing.T) {
	env := stepFunctions(t)
	a := newAPI(t, env, machine(t, env, "StartExport", runningJob()), machine(t, env, "Done", passing(map[string]any{})))
	ans, started := a.post(t, `{"email":"Alice@Contoso.com","startTime":"2026-11-01T00:00:00","eventTypes":["ListViewed","FileAccessed"]}`, nil)
	if ans.code != http.StatusAccepted {
		t.Fatalf("HTTP %d %s", ans.code, ans.body)
	}
	// The input as understood: normalized, the open finish pinned.
	wantInput := fmt.Sprintf(`{"email":"alice@contoso.com","startTime":"2026-11-01T00:00:00","finishTime":"%s","eventTypes":["FileAccessed","ListViewed"]}`,
		request.FormatTime(a.clock.now()))
	if string(started.Input) != wantInput {
		t.Fatalf("input %s\nwant  %s", started.Input, wantInput)
	}
	if started.Kind != KindUser || started.Status != StatusRunning || !validID(started.ID) || started.ID[0] != 'u' ||
		started.StatusURL != "http://api.test/exports/"+started.ID || ans.header.Get("Location") != started.StatusURL ||
		!strings.HasSuffix(started.ExecutionArn, ":"+started.ID) || started.Replayed {
		t.Fatalf("started %+v", started)
	}
	// The execution got exactly that input.
	d, err := a.client.DescribeExecution(t.Context(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(started.ExecutionArn)})
	if err != nil || aws.ToString(d.Input) != wantInput {
		t.Fatalf("execution input %q, %v", aws.ToString(d.Input), err)
	}

	// Running: the job's progress from the last CheckJob output.
	deadline := time.Now().Add(20 * time.Second)
	var st Status
	for {
		_, st = a.get(t, started.ID)
		if st.Progress != nil && st.Progress.Step == "WaitForJob" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := Progress{Step: "WaitForJob", JobID: "4711", JobState: "running", JobStatus: 1, Polls: 3, JobStartedAt: "2026-11-25T12:00:00Z", NextCheckInSeconds: 12}
	if st.Status != StatusRunning || st.Progress == nil || *st.Progress != want || st.Error != nil || st.Reports != nil {
		t.Fatalf("status %+v progress %+v", st, st.Progress)
	}
	if string(st.Input) != wantInput {
		t.Fatalf("status input %s", st.Input)
	}

	t.Run("aborted", func(t *testing.T) {
		if _, err := a.client.StopExecution(t.Context(), &sfn.StopExecutionInput{ExecutionArn: aws.String(started.ExecutionArn)}); err != nil {
			t.Fatal(err)
		}
		st := a.waitFor(t, started.ID, StatusAborted)
		if st.Error == nil || st.Error.Name != "ExecutionAborted" || st.StoppedAt == "" || st.Progress != nil {
			t.Fatalf("aborted status %+v", st)
		}
	})
}

func TestDescribeSucceededFailedTimedOut(t *testing.T) {
	out := request.ExportOutput{Bucket: "reports-bucket", Key: "reports/user=a@x.io/window=earliest--20261101T000000Z/events=all/activities.zip",
		JobID: "77", Bytes: 1234, SHA256: "ab12", Email: "a@x.io", FinishTime: "2026-11-01T00:00:00", ContentType: "application/zip"}
	cases := []struct {
		name, status string
		machine      func(t *testing.T, env *sfn.Client) string
		check        func(t *testing.T, st Status)
	}{
		{"succeeded user", StatusSucceeded, func(t *testing.T, env *sfn.Client) string { return machine(t, env, "Done", passing(out)) },
			func(t *testing.T, st Status) {
				want := Report{Email: "a@x.io", Bucket: out.Bucket, Key: out.Key, URI: "s3://reports-bucket/" + out.Key, Bytes: 1234, SHA256: "ab12", JobID: "77", FinishTime: out.FinishTime}
				if len(st.Reports) != 1 || st.Reports[0] != want || st.Error != nil || st.StoppedAt == "" {
					t.Fatalf("status %+v", st)
				}
			}},
		{"failed user", StatusFailed, func(t *testing.T, env *sfn.Client) string {
			return machine(t, env, "JobFailed", map[string]any{"JobFailed": map[string]any{"Type": "Fail", "Error": "JobFailedError",
				"Cause": `{"errorType":"JobFailedError","errorMessage":"avepoint job 77 failed (status 3): mailbox unavailable"}`}})
		}, func(t *testing.T, st Status) {
			if st.Error == nil || *st.Error != (ErrorInfo{Name: "JobFailedError", Cause: "avepoint job 77 failed (status 3): mailbox unavailable"}) || st.Reports != nil {
				t.Fatalf("status %+v error %+v", st, st.Error)
			}
		}},
		{"timed out user", StatusTimedOut, func(t *testing.T, env *sfn.Client) string {
			return rawMachine(t, env, `{"StartAt":"W","TimeoutSeconds":1,"States":{"W":{"Type":"Wait","Seconds":30,"End":true}}}`)
		}, func(t *testing.T, st Status) {
			if st.Error == nil || st.Error.Name == "" {
				t.Fatalf("status %+v", st)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := stepFunctions(t)
			a := newAPI(t, env, tc.machine(t, env), machine(t, env, "Done", passing(map[string]any{})))
			ans, started := a.post(t, `{"email":"a@x.io","finishTime":"2026-11-01T00:00:00"}`, nil)
			if ans.code != http.StatusAccepted {
				t.Fatalf("HTTP %d %s", ans.code, ans.body)
			}
			tc.check(t, a.waitFor(t, started.ID, tc.status))
		})
	}
}

func TestStartAndDescribeBatch(t *testing.T) {
	env := stepFunctions(t)
	running := machine(t, env, "PrepareBatch", map[string]any{
		"PrepareBatch": map[string]any{"Type": "Pass", "Result": map[string]any{"items": []int{1, 2, 3, 4, 5}}, "Next": "ExportUsers"},
		"ExportUsers": map[string]any{"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "End": true,
			"ItemProcessor": map[string]any{"ProcessorConfig": map[string]any{"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
				"StartAt": "ExportUser", "States": map[string]any{"ExportUser": waitForever}}},
	})
	a := newAPI(t, env, machine(t, env, "Done", passing(map[string]any{})), running)
	body := `{"emails":["B@x.io","a@x.io"],"eventTypes":["FileAccessed"],"window":{"period":"daily","timeZone":"Europe/Berlin"}}`
	ans, started := a.post(t, body, nil)
	if ans.code != http.StatusAccepted {
		t.Fatalf("HTTP %d %s", ans.code, ans.body)
	}
	var in request.Batch
	if err := json.Unmarshal(started.Input, &in); err != nil {
		t.Fatal(err)
	}
	if started.Kind != KindBatch || started.ID[0] != 'b' || strings.Join(in.Emails, ",") != "b@x.io,a@x.io" ||
		in.Window == nil || in.Window.At != a.clock.now().Format(time.RFC3339) || in.Window.Period != "day" {
		t.Fatalf("started %+v input %s", started, started.Input)
	}
	// Running: how many users are done, from the map run.
	deadline := time.Now().Add(20 * time.Second)
	var st Status
	for {
		_, st = a.get(t, started.ID)
		if st.BatchProgress != nil && st.BatchProgress.Running == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Two users at a time (the Map's MaxConcurrency), none done. moto
	// counts only dispatched items in Total and Pending, Step Functions
	// counts all of them: only the running and done counts are compared.
	if p := st.BatchProgress; st.Status != StatusRunning || p == nil || p.Running != 2 || p.Done != 0 || p.Users < 2 {
		t.Fatalf("status %+v progress %+v", st, st.BatchProgress)
	}

	t.Run("succeeded", func(t *testing.T) {
		output := request.BatchOutput{
			Execution: "arn:x", Manifest: request.Location{Bucket: "bk", Key: "reports/runs/2026-11-25/b-1/manifest.json", URI: "s3://bk/reports/runs/2026-11-25/b-1/manifest.json"},
			Counts: request.Counts{Users: 3, Succeeded: 1, Failed: 1, UpToDate: 1},
			Results: []request.Result{
				{Email: "a@x.io", Status: request.StatusSucceeded, Bucket: "bk", Key: "reports/user=a@x.io/k.zip", Bytes: 10},
				{Email: "b@x.io", Status: request.StatusFailed, Error: "JobFailedError", Message: "mailbox unavailable"},
				{Email: "c@x.io", Status: request.StatusUpToDate, Watermark: "2026-11-24T23:00:00"},
			},
		}
		env := stepFunctions(t)
		a := newAPI(t, env, machine(t, env, "Done", passing(map[string]any{})), machine(t, env, "Done", passing(output)))
		_, started := a.post(t, `{"emails":["a@x.io","b@x.io","c@x.io"]}`, nil)
		st := a.waitFor(t, started.ID, StatusSucceeded)
		if st.Manifest == nil || *st.Manifest != output.Manifest || st.Counts == nil || *st.Counts != output.Counts ||
			len(st.Reports) != 1 || st.Reports[0].URI != "s3://bk/reports/user=a@x.io/k.zip" ||
			len(st.Failures) != 1 || st.Failures[0] != (Failure{Email: "b@x.io", Error: "JobFailedError", Message: "mailbox unavailable"}) {
			t.Fatalf("status %+v", st)
		}
	})

	t.Run("skipped", func(t *testing.T) {
		env := stepFunctions(t)
		skipped := map[string]any{"execution": "arn:x", "skipped": true, "reason": "another incremental run of this stack holds the run lock"}
		a := newAPI(t, env, machine(t, env, "Done", passing(map[string]any{})), machine(t, env, "Done", passing(skipped)))
		_, started := a.post(t, `{"emails":["a@x.io"],"window":{"period":"day","incremental":true}}`, nil)
		st := a.waitFor(t, started.ID, StatusSucceeded)
		if st.Skipped != "another incremental run of this stack holds the run lock" || st.Manifest != nil || st.Counts != nil {
			t.Fatalf("status %+v", st)
		}
	})

	t.Run("failed because users failed", func(t *testing.T) {
		output := request.BatchOutput{
			Execution: "arn:x", Manifest: request.Location{Bucket: "bk", Key: "reports/runs/2026-11-25/b-2/manifest.json", URI: "s3://bk/reports/runs/2026-11-25/b-2/manifest.json"},
			Counts: request.Counts{Users: 2, Succeeded: 1, Failed: 1},
			Results: []request.Result{
				{Email: "a@x.io", Status: request.StatusSucceeded, Bucket: "bk", Key: "reports/user=a@x.io/k.zip", Bytes: 10},
				{Email: "b@x.io", Status: request.StatusFailed, Error: "AuthError", Message: "token refused"},
			},
			Failure: &request.RunFailure{Error: "UsersFailedError", Cause: `{"errorType":"UsersFailedError","errorMessage":"1 of 2 users failed"}`},
		}
		env := stepFunctions(t)
		batch := machine(t, env, "WriteManifest", map[string]any{
			"WriteManifest": map[string]any{"Type": "Pass", "Result": output, "Next": "UsersFailed"},
			"UsersFailed":   map[string]any{"Type": "Fail", "Error": "UsersFailedError", "Cause": output.Failure.Cause},
		})
		a := newAPI(t, env, machine(t, env, "Done", passing(map[string]any{})), batch)
		_, started := a.post(t, `{"emails":["a@x.io","b@x.io"]}`, nil)
		st := a.waitFor(t, started.ID, StatusFailed)
		if st.Error == nil || st.Error.Name != "UsersFailedError" || st.Error.Cause != "1 of 2 users failed" ||
			st.Manifest == nil || *st.Manifest != output.Manifest || st.Counts == nil || *st.Counts != output.Counts ||
			len(st.Reports) != 1 || len(st.Failures) != 1 || st.Failures[0].Error != "AuthError" {
			t.Fatalf("status %+v error %+v", st, st.Error)
		}
	})
}

func TestIdempotency(t *testing.T) {
	env := plainStepFunctions(t) // executions stay RUNNING
	a := newAPI(t, env, machine(t, env, "StartExport", runningJob()), machine(t, env, "PrepareBatch", map[string]any{"PrepareBatch": waitForever}))
	body := `{"email":"a@x.io","startTime":"2026-11-01T00:00:00"}`
	key := map[string]string{"Idempotency-Key": "order-4711"}

	_, first := a.post(t, body, key)
	a.clock.add(2 * time.Minute) // the open finishTime now pins differently
	ans, again := a.post(t, body, key)
	if ans.code != http.StatusAccepted || again.ID != first.ID || !again.Replayed || string(again.Input) != string(first.Input) {
		t.Fatalf("repeat: HTTP %d %+v (first %+v)", ans.code, again, first)
	}
	if n := a.executions(t, a.user); n != 1 {
		t.Fatalf("%d executions after a repeated request", n)
	}

	t.Run("same key, different request", func(t *testing.T) {
		ans, _ := a.post(t, `{"email":"someone.else@x.io"}`, key)
		var e apiError
		ans.decode(t, &e)
		if ans.code != http.StatusConflict || e.Name != "IdempotencyConflict" || e.Field != "Idempotency-Key" {
			t.Fatalf("HTTP %d %+v", ans.code, e)
		}
		ans, _ = a.post(t, `{"emails":["a@x.io"]}`, key) // the key was used for a single-user export
		if ans.code != http.StatusConflict {
			t.Fatalf("key reused for a batch: HTTP %d %s", ans.code, ans.body)
		}
		if n := a.executions(t, a.user) + a.executions(t, a.batch); n != 1 {
			t.Fatalf("%d executions", n)
		}
	})

	t.Run("same key after the execution ended", func(t *testing.T) {
		env := plainStepFunctions(t)
		b := newAPI(t, env, machine(t, env, "Done", passing(map[string]any{})), a.batch)
		_, first := b.post(t, body, key)
		// Stopping closes the execution, as finishing would: a closed
		// execution's name answers ExecutionAlreadyExists.
		if _, err := env.StopExecution(t.Context(), &sfn.StopExecutionInput{ExecutionArn: aws.String(first.ExecutionArn)}); err != nil {
			t.Fatal(err)
		}
		ans, again := b.post(t, body, key)
		if ans.code != http.StatusAccepted || again.ID != first.ID || !again.Replayed || again.Status != StatusAborted {
			t.Fatalf("HTTP %d %+v", ans.code, again)
		}
		if n := b.executions(t, b.user); n != 1 {
			t.Fatalf("%d executions", n)
		}
	})

	t.Run("same content without a key", func(t *testing.T) {
		c := newAPI(t, env, a.user, a.batch)
		body := `{"emails":["x@x.io","y@x.io"],"finishTime":"2026-11-01T00:00:00"}`
		_, first := c.post(t, body, nil)
		// Different spelling, same request: still the same export.
		c.clock.add(14 * time.Minute)
		_, again := c.post(t, `{ "finishTime":"2026-11-01T00:00:00", "emails":["X@x.io","y@X.io"] }`, nil)
		if again.ID != first.ID || !again.Replayed {
			t.Fatalf("within the window: %+v (first %s)", again, first.ID)
		}
		c.clock.add(2 * time.Minute) // next slot: the previous one still counts
		_, again = c.post(t, body, nil)
		if again.ID != first.ID {
			t.Fatalf("next slot: %s, first %s", again.ID, first.ID)
		}
		c.clock.add(31 * time.Minute)
		_, later := c.post(t, body, nil)
		if later.ID == first.ID || later.Replayed {
			t.Fatalf("half an hour later the same content must start a new export: %+v", later)
		}
		if n := c.executions(t, c.batch); n != 2 {
			t.Fatalf("%d batch executions, want 2", n)
		}
	})
}

func TestErrors(t *testing.T) {
	env := stepFunctions(t)
	a := newAPI(t, env, machine(t, env, "Done", passing(map[string]any{})), machine(t, env, "Done", passing(map[string]any{})))
	tests := []struct {
		name, method, path, body string
		header                   map[string]string
		code                     int
		errName, field           string
	}{
		{"empty body", "POST", "/exports", "", nil, 400, "ValidationError", ""},
		{"not JSON", "POST", "/exports", "email=a@x.io", nil, 400, "ValidationError", ""},
		{"not an object", "POST", "/exports", `["a@x.io"]`, nil, 400, "ValidationError", ""},
		{"trailing data", "POST", "/exports", `{"email":"a@x.io"} {}`, nil, 400, "ValidationError", ""},
		{"no user", "POST", "/exports", `{}`, nil, 400, "ValidationError", "emails"},
		{"bad email", "POST", "/exports", `{"email":"../admin@x.io"}`, nil, 400, "ValidationError", "email"},
		{"email wrong type", "POST", "/exports", `{"email":7}`, nil, 400, "ValidationError", "email"},
		{"unknown field", "POST", "/exports", `{"email":"a@x.io","bucket":"elsewhere"}`, nil, 400, "ValidationError", "bucket"},
		{"email and emails", "POST", "/exports", `{"email":"a@x.io","emails":["b@x.io"]}`, nil, 400, "ValidationError", "emails"},
		{"empty emails", "POST", "/exports", `{"emails":[]}`, nil, 400, "ValidationError", "emails"},
		{"bad email in list", "POST", "/exports", `{"emails":["a@x.io","b c@x.io"]}`, nil, 400, "ValidationError", "emails[1]"},
		{"duplicate email", "POST", "/exports", `{"emails":["a@x.io","A@X.io"]}`, nil, 400, "ValidationError", "emails[1]"},
		{"zone suffix", "POST", "/exports", `{"email":"a@x.io","startTime":"2026-01-01T00:00:00Z"}`, nil, 400, "ValidationError", "startTime"},
		{"bad finish", "POST", "/exports", `{"email":"a@x.io","finishTime":"2026-02-30T00:00:00"}`, nil, 400, "ValidationError", "finishTime"},
		{"start after finish", "POST", "/exports", `{"email":"a@x.io","startTime":"2026-02-01T00:00:00","finishTime":"2026-01-01T00:00:00"}`, nil, 400, "ValidationError", "startTime"},
		{"future finish", "POST", "/exports", `{"email":"a@x.io","finishTime":"2099-01-01T00:00:00"}`, nil, 400, "ValidationError", "finishTime"},
		{"bad event type", "POST", "/exports", `{"email":"a@x.io","eventTypes":["File Accessed"]}`, nil, 400, "ValidationError", "eventTypes[0]"},
		{"window with times", "POST", "/exports", `{"email":"a@x.io","finishTime":"2026-01-01T00:00:00","window":{"period":"day"}}`, nil, 400, "ValidationError", "window"},
		{"bad period", "POST", "/exports", `{"email":"a@x.io","window":{"period":"yearly"}}`, nil, 400, "ValidationError", "window.period"},
		{"bad time zone", "POST", "/exports", `{"email":"a@x.io","window":{"period":"day","timeZone":"CEST"}}`, nil, 400, "ValidationError", "window.timeZone"},
		{"bad overlap", "POST", "/exports", `{"email":"a@x.io","window":{"period":"day","overlapMinutes":-1}}`, nil, 400, "ValidationError", "window.overlapMinutes"},
		{"bad lookback", "POST", "/exports", `{"email":"a@x.io","window":{"period":"day","lookbackPeriods":2}}`, nil, 400, "ValidationError", "window.lookbackPeriods"},
		{"bad at", "POST", "/exports", `{"email":"a@x.io","window":{"period":"day","at":"yesterday"}}`, nil, 400, "ValidationError", "window.at"},
		{"too large", "POST", "/exports", `{"email":"` + strings.Repeat("a", request.MaxBatchInputBytes) + `"}`, nil, 413, "PayloadTooLarge", ""},
		{"idempotency key with a space", "POST", "/exports", `{"email":"a@x.io"}`, map[string]string{"Idempotency-Key": "two words"}, 400, "ValidationError", "Idempotency-Key"},
		{"idempotency key too long", "POST", "/exports", `{"email":"a@x.io"}`, map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, 400, "ValidationError", "Idempotency-Key"},
		{"unknown id", "GET", "/exports/u-0123456789abcdef0123456789abcdef", "", nil, 404, "NotFoundError", "id"},
		{"unknown batch id", "GET", "/exports/b-0123456789abcdef0123456789abcdef", "", nil, 404, "NotFoundError", "id"},
		{"malformed id", "GET", "/exports/arn:aws:states:us-east-1:1:execution:x:y", "", nil, 404, "NotFoundError", ""},
		{"id with a path", "GET", "/exports/u-0123456789abcdef0123456789abcdef/x", "", nil, 404, "NotFoundError", ""},
		{"unknown route", "GET", "/reports", "", nil, 404, "NotFoundError", ""},
		{"GET on the collection", "GET", "/exports", "", nil, 405, "MethodNotAllowed", ""},
		{"DELETE an export", "DELETE", "/exports/u-0123456789abcdef0123456789abcdef", "", nil, 405, "MethodNotAllowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans := a.do(t, tt.method, tt.path, tt.body, tt.header)
			var e apiError
			ans.decode(t, &e)
			if ans.code != tt.code || e.Name != tt.errName || (tt.field != "" && e.Field != tt.field) || e.Message == "" {
				t.Fatalf("HTTP %d %s; want %d %s field %q", ans.code, ans.body, tt.code, tt.errName, tt.field)
			}
			if tt.field != "" && !strings.Contains(e.Message, tt.field) {
				t.Errorf("message %q does not name the field %s", e.Message, tt.field)
			}
			// No internals: no ARNs, account ids, SDK or Go error text.
			for _, leak := range []string{"arn:", "123456789012", "operation error", "StatusCode", "goroutine", ".go:"} {
				if bytes.Contains(ans.body, []byte(leak)) {
					t.Errorf("body leaks %q: %s", leak, ans.body)
				}
			}
		})
	}
	if n := a.executions(t, a.user) + a.executions(t, a.batch); n != 0 {
		t.Fatalf("%d executions started by refused requests", n)
	}
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	// A state machine that does not exist: Step Functions' error names the
	// ARN and account; the client sees neither.
	a := newAPI(t, stepFunctions(t), "arn:aws:states:us-east-1:123456789012:stateMachine:gone", "arn:aws:states:us-east-1:123456789012:stateMachine:gone-too")
	ans := a.do(t, http.MethodPost, "/exports", `{"email":"a@x.io"}`, nil)
	var e apiError
	ans.decode(t, &e)
	if ans.code != http.StatusInternalServerError || e.Name != "InternalError" || bytes.Contains(ans.body, []byte("arn:")) || bytes.Contains(ans.body, []byte("gone")) {
		t.Fatalf("HTTP %d %s", ans.code, ans.body)
	}
}

func TestLambdaAdapter(t *testing.T) {
	env := stepFunctions(t)
	a := newAPI(t, env, machine(t, env, "StartExport", runningJob()), machine(t, env, "Done", passing(map[string]any{})))
	handle := LambdaHandler(a.h)
	body := base64.StdEncoding.EncodeToString([]byte(`{"email":"a@x.io"}`))
	resp, err := handle(t.Context(), events.APIGatewayProxyRequest{
		HTTPMethod: "POST", Path: "/exports", Body: body, IsBase64Encoded: true,
		MultiValueHeaders: map[string][]string{"Idempotency-Key": {"lambda-1"}, "X-Forwarded-Prefix": {"/evil"}},
		RequestContext:    events.APIGatewayProxyRequestContext{DomainName: "abc123.execute-api.eu-central-1.amazonaws.com", Stage: "Prod"},
	})
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%+v %v", resp, err)
	}
	var s Started
	if err := json.Unmarshal([]byte(resp.Body), &s); err != nil {
		t.Fatal(err)
	}
	want := "https://abc123.execute-api.eu-central-1.amazonaws.com/Prod/exports/" + s.ID
	if s.StatusURL != want || resp.Headers["Location"] != want || resp.Headers["Content-Type"] != "application/json" {
		t.Fatalf("status URL %q, headers %v", s.StatusURL, resp.Headers)
	}
	resp, err = handle(t.Context(), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/exports/" + s.ID,
		RequestContext: events.APIGatewayProxyRequestContext{DomainName: "exports.example.com", Stage: "Prod"}})
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, `"status":"running"`) {
		t.Fatalf("%+v %v", resp, err)
	}
	resp, _ = handle(t.Context(), events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/exports", Body: "%%%", IsBase64Encoded: true})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Body, "ValidationError") {
		t.Fatalf("bad base64: %+v", resp)
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{
		"EXPORT_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:export",
		"BATCH_STATE_MACHINE_ARN":  "arn:aws:states:us-east-1:123456789012:stateMachine:batch",
	}
	if _, err := LoadConfig(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	env["BATCH_STATE_MACHINE_ARN"] = "batch"
	if _, err := LoadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "BATCH_STATE_MACHINE_ARN") {
		t.Fatalf("got %v", err)
	}
}

// TestSharedBadInputTable sends every batch/API case of the shared
// bad-input table (internal/testing/badinput) as a POST /exports body: each
// is refused with the field it names, and no execution starts.
func TestSharedBadInputTable(t *testing.T) {
	env := stepFunctions(t)
	a := newAPI(t, env, machine(t, env, "Done", passing(map[string]any{})), machine(t, env, "Done", passing(map[string]any{})))
	n := 0
	for _, c := range badinput.Cases() {
		if !c.Batch {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			ans := a.do(t, http.MethodPost, "/exports", string(c.Body), nil)
			var e apiError
			ans.decode(t, &e)
			if len(c.Body) > request.MaxBatchInputBytes {
				if ans.code != http.StatusRequestEntityTooLarge || e.Name != "PayloadTooLarge" {
					t.Fatalf("HTTP %d %s; want 413 PayloadTooLarge", ans.code, ans.body)
				}
				return
			}
			if ans.code != http.StatusBadRequest || e.Name != "ValidationError" || e.Field != c.BatchField || e.Message == "" {
				t.Fatalf("HTTP %d %s; want 400 ValidationError field %q", ans.code, ans.body, c.BatchField)
			}
		})
	}
	if n < 40 {
		t.Fatalf("only %d API cases in the shared table", n)
	}
	if got := a.executions(t, a.user) + a.executions(t, a.batch); got != 0 {
		t.Fatalf("%d executions started by refused requests", got)
	}
	t.Logf("%d malformed API bodies refused", n)
}
