package coldstart

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/insights-export/insights-export/devstack"
	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/avesim"
	"github.com/insights-export/insights-export/internal/testing/moto"
)

const (
	clientID     = "coldstart-client"
	clientSecret = "coldstart-secret"
	secretID     = "insights-export/coldstart"
	bucket       = "coldstart-reports"
	runningEmail = "running.user@contoso.com"
	// finishedEmail's job ends at its first status poll.
	finishedEmail = "finished.user@contoso.com"
)

// Env is what the functions need to answer a real request locally: the
// AvePoint simulator, moto_server for Secrets Manager and S3, a running job
// (for checkjob) and a finished one (for storereport).
type Env struct {
	Sim  *avesim.Running
	Moto *moto.Server
	// FunctionEnv is the deployment environment pointed at them.
	FunctionEnv map[string]string
	Running     request.Job
	Finished    request.Job
	backing     *devstack.Backing
}

// StartEnv starts the simulator and moto and prepares the two jobs.
func StartEnv(ctx context.Context) (_ *Env, err error) {
	e := &Env{}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	zero := 0
	e.backing, err = devstack.StartBacking(ctx, devstack.BackingOptions{
		Simulator: &avesim.Options{
			ClientID: clientID, ClientSecret: clientSecret,
			// Jobs keep running unless their plan says otherwise, so every
			// check-job sample reads a running job.
			PollsToFinish: 1 << 30,
			// Every startexport sample starts a job that keeps running:
			// the tenant's concurrent-job limit would refuse the sixth.
			MaxConcurrentJobs: -1,
			Plans:             map[string]avesim.JobPlan{finishedEmail: {PollsToFinish: &zero}},
		},
		Bucket: bucket, SecretID: secretID,
	})
	if err != nil {
		return nil, err
	}
	e.Sim, e.Moto, e.FunctionEnv = e.backing.Sim, e.backing.Moto, e.backing.Env

	client, err := avepoint.New(avepoint.Config{
		Endpoints:   avepoint.Endpoints{APIURL: e.Sim.URL, TokenURL: e.Sim.TokenURL},
		Credentials: avepoint.StaticCredentials(avepoint.Credentials{ClientID: clientID, ClientSecret: clientSecret}),
	})
	if err != nil {
		return nil, err
	}
	if e.Running, err = startJob(ctx, client, runningEmail); err != nil {
		return nil, err
	}
	if e.Finished, err = startJob(ctx, client, finishedEmail); err != nil {
		return nil, err
	}
	st, err := client.JobStatus(ctx, e.Finished.JobID)
	if err != nil {
		return nil, err
	}
	if st.State != avepoint.JobFinished {
		return nil, fmt.Errorf("coldstart: job %s is %s after one poll, want finished", e.Finished.JobID, st.State)
	}
	e.Finished.Status, e.Finished.JobStatus = string(st.State), st.Code
	return e, nil
}

func startJob(ctx context.Context, client *avepoint.Client, email string) (request.Job, error) {
	now := time.Now().UTC()
	q, err := request.ParseRequest(json.RawMessage(`{"email":"`+email+`"}`), now)
	if err != nil {
		return request.Job{}, err
	}
	start, finish := q.Window()
	id, err := client.StartExport(ctx, avepoint.ExportRequest{Email: q.Email, Start: start, Finish: finish})
	if err != nil {
		return request.Job{}, err
	}
	return request.Job{Request: q, JobID: id, StartedAt: now, Status: string(avepoint.JobRunning), WaitSeconds: 5}, nil
}

// Close stops the simulator and moto.
func (e *Env) Close() {
	if e.backing != nil {
		e.backing.Close()
	}
}

// Functions are the deployed functions (the Makefile's FUNCTIONS, in its
// order): every one is measured.
var Functions = []string{
	"startexport", "checkjob", "storereport", "convertreport", "backfillreports", "preparebatch", "writemanifest", "api",
	"checkjobslots", "releasejobslot", "wakejobslotwaiter", "discoverusers", "advancemark",
}

// Extra environment beyond the local stack's, by function: what the
// loader requires and the backing does not set.
var extraEnv = map[string]map[string]string{
	// One status read for the diagnostic first success: deployed, the
	// check sleeps through a running job's next waits and reads again
	// (POLL_INPROCESS_SECONDS), which would time that sleep, not the cold
	// start. The refused input never reaches it.
	"checkjob": {"POLL_INPROCESS_SECONDS": "0"},
	"api": {
		"EXPORT_STATE_MACHINE_ARN": devstack.ExportStateMachineArn,
		"BATCH_STATE_MACHINE_ARN":  "arn:aws:states:us-east-1:123456789012:stateMachine:insights-export-Batch",
	},
}

// Targets are the hello-world baseline and every function, each with an
// input its handler refuses before any network call and the expected
// refusal. The three export steps also have their cheapest successful
// request (a diagnostic: it includes the first calls' network work):
//   - startexport: a valid input → secret (moto), token and export call
//     (simulator); result: a running job.
//   - checkjob: a running job → secret, token, one status call; result:
//     the job with its next wait.
//   - storereport: a finished job → secret, token, report download (a
//     ~10 KB ZIP) and PutObject into moto; result: bucket/key/sha256.
//
// Connects, for the network check, is an input that must reach a service
// (it need not succeed: nothing answers there).
func (e *Env) Targets(hello string, bootstraps map[string]string) ([]Target, error) {
	for _, fn := range Functions {
		if bootstraps[fn] == "" {
			return nil, fmt.Errorf("coldstart: no bootstrap for %s", fn)
		}
	}
	wantJob := func(status string) Answer {
		return Succeeds(func(raw json.RawMessage) error {
			var j request.Job
			if err := json.Unmarshal(raw, &j); err != nil || j.JobID == "" || j.Status != status {
				return fmt.Errorf("unexpected result %s (want a %s job)", raw, status)
			}
			return nil
		})
	}
	env := func(fn string) map[string]string {
		m := maps.Clone(e.FunctionEnv)
		if m == nil {
			m = map[string]string{}
		}
		maps.Copy(m, extraEnv[fn])
		return m
	}
	prefix := strings.Trim(e.FunctionEnv["REPORT_PREFIX"], "/")
	reportKey := path.Join(prefix, "user=cold.start@contoso.com", "date=2026-11-25", "job=1", "activities.zip")
	execution := request.Execution{ID: devstack.ExportStateMachineArn + ":cold-start", Name: "cold-start", StartTime: "2026-11-25T12:00:00Z"}
	fns := map[string]Target{
		"startexport": {
			Success: map[string]any{"email": "cold.start@contoso.com"}, Succeeded: wantJob("running"),
			Refused: map[string]any{"email": "not-an-address"}, Refusal: FailsWith("ValidationError", "email"),
		},
		"checkjob": {
			Success: e.Running, Succeeded: wantJob("running"),
			Refused: map[string]any{}, Refusal: FailsWith("ValidationError", ""),
		},
		"storereport": {
			Success: e.Finished,
			Succeeded: Succeeds(func(raw json.RawMessage) error {
				var o request.ExportOutput
				if err := json.Unmarshal(raw, &o); err != nil || o.Key == "" || o.SHA256 == "" || o.Bytes <= 0 {
					return fmt.Errorf("unexpected store result %s", raw)
				}
				return nil
			}),
			Refused: map[string]any{}, Refusal: FailsWith("ValidationError", ""),
		},
		// The store step's output without its key; a real one reads the
		// report from S3.
		"convertreport": {
			Refused:  map[string]any{"bucket": e.FunctionEnv["REPORT_BUCKET"], "email": "cold.start@contoso.com"},
			Refusal:  FailsWith("ValidationError", "key"),
			Connects: map[string]any{"bucket": e.FunctionEnv["REPORT_BUCKET"], "key": reportKey, "email": "cold.start@contoso.com"},
		},
		// A prefix outside the reports; the default one lists them.
		"backfillreports": {
			Refused: map[string]any{"prefix": "elsewhere/"}, Refusal: FailsWith("ValidationError", "prefix"),
			Connects: map[string]any{},
		},
		// An execution name that cannot be a run folder; a real input
		// writes the run's files.
		"preparebatch": {
			Refused:  map[string]any{"input": map[string]any{"emails": []string{"cold.start@contoso.com"}}, "execution": map[string]any{"name": ".."}},
			Refusal:  FailsWith("ValidationError", "execution.name"),
			Connects: map[string]any{"input": map[string]any{"emails": []string{"cold.start@contoso.com"}}, "execution": execution},
		},
		// PrepareBatch's output without its plan; with one it reads
		// plan.json.
		"writemanifest": {
			Refused: map[string]any{"bucket": e.FunctionEnv["REPORT_BUCKET"]}, Refusal: FailsWith("ValidationError", "planKey"),
			Connects: map[string]any{"bucket": e.FunctionEnv["REPORT_BUCKET"], "planKey": "runs/cold-start/plan.json", "manifestKey": "runs/cold-start/manifest.json"},
		},
		// API Gateway's REST proxy event (the function's integration) of
		// POST /exports with a bad address: a 400 naming the field, as the
		// API answers refusals. A good one starts an execution.
		"api": {
			Refused:  apiEvent(`{"email":"not-an-address"}`),
			Refusal:  APIRefuses(400, "ValidationError", "email"),
			Connects: apiEvent(`{"email":"cold.start@contoso.com"}`),
		},
		// The AcquireJobSlot Catch's input without the state's Parameters;
		// with them it reads the ledger.
		"checkjobslots": {
			Refused: map[string]any{"input": map[string]any{"email": "cold.start@contoso.com"}}, Refusal: FailsWith("ValidationError", "executionId"),
			Connects: map[string]any{"executionId": execution.ID, "executionStartTime": "2026-11-25T12:00:00Z",
				"input": map[string]any{"email": "cold.start@contoso.com"}, "slots": 5,
				"acquireError": map[string]any{"Error": "DynamoDB.ConditionalCheckFailedException", "Cause": "full"}},
		},
		// EventBridge's Step Functions status change of an execution still
		// RUNNING (the rule forwards only ended ones); a FAILED one
		// reads the ledger.
		"releasejobslot": {
			Refused: statusChange(execution.ID, "RUNNING"), Refusal: FailsWith("ValidationError", "detail.status"),
			Connects: statusChange(execution.ID, "FAILED"),
		},
		// Who released the slot is a string; a real wake receives from
		// the waiters' queue.
		"wakejobslotwaiter": {
			Refused: map[string]any{"releasedBy": 5}, Refusal: FailsWith("ValidationError", "releasedBy"),
			Connects: map[string]any{"releasedBy": execution.ID},
		},
		// An execution name that cannot be a run folder; a real input
		// lists the tenant's users (the secret first).
		"discoverusers": {
			Refused:  map[string]any{"input": map[string]any{"allUsers": map[string]any{}}, "execution": map[string]any{"name": ".."}},
			Refusal:  FailsWith("ValidationError", "execution.name"),
			Connects: map[string]any{"input": map[string]any{"allUsers": map[string]any{}}, "execution": execution},
		},
		// An item without its user; a real one (the report of its only
		// window) moves the user's mark in S3.
		"advancemark": {
			Refused: map[string]any{"windows": []any{}}, Refusal: FailsWith("ValidationError", "email"),
			Connects: map[string]any{
				"email": "cold.start@contoso.com", "windows": []request.Window{{StartTime: "2026-11-24T12:00:00", FinishTime: "2026-11-25T12:00:00"}},
				"progress": map[string]any{"windows": 1, "stored": 0}, "execution": execution.ID,
				"report": map[string]any{"bucket": e.FunctionEnv["REPORT_BUCKET"], "key": reportKey, "email": "cold.start@contoso.com",
					"startTime": "2026-11-24T12:00:00", "finishTime": "2026-11-25T12:00:00", "bytes": 1},
			},
		},
	}
	targets := []Target{{
		Name: "hello", Bootstrap: hello, Env: map[string]string{},
		Success: map[string]string{"name": "cold"},
		Succeeded: Succeeds(func(raw json.RawMessage) error {
			var r struct{ Greeting string }
			if err := json.Unmarshal(raw, &r); err != nil || r.Greeting == "" {
				return fmt.Errorf("unexpected hello result %s", raw)
			}
			return nil
		}),
	}}
	for _, fn := range Functions {
		t, ok := fns[fn]
		if !ok || t.Refused == nil || t.Refusal == nil {
			return nil, fmt.Errorf("coldstart: %s has no refused input", fn)
		}
		t.Name, t.Bootstrap, t.Env = fn, bootstraps[fn], env(fn)
		if t.Connects == nil {
			t.Connects = t.Success
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// apiEvent is API Gateway's REST (v1) proxy event for POST /exports.
func apiEvent(body string) map[string]any {
	return map[string]any{
		"resource": "/exports", "path": "/exports", "httpMethod": "POST",
		"headers":        map[string]string{"Content-Type": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com"},
		"requestContext": map[string]any{"stage": "prod", "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "httpMethod": "POST", "path": "/prod/exports"},
		"body":           body, "isBase64Encoded": false,
	}
}

// statusChange is the EventBridge event of a Step Functions execution
// status change, as the JobSlotCleanup rule forwards it.
func statusChange(executionArn, status string) map[string]any {
	return map[string]any{
		"version": "0", "id": "315c1398-40ff-a850-213b-158f73e60175", "detail-type": "Step Functions Execution Status Change",
		"source": "aws.states", "account": "123456789012", "time": "2026-11-25T12:00:00Z", "region": "us-east-1",
		"resources": []string{executionArn},
		"detail": map[string]any{
			"executionArn": executionArn, "stateMachineArn": devstack.ExportStateMachineArn, "name": "cold-start", "status": status,
			"startDate": 1764072000000, "stopDate": nil, "input": `{"email":"cold.start@contoso.com"}`, "output": nil, "error": nil, "cause": nil,
		},
	}
}

// BuildFunctions builds every function's bootstrap into outDir/<function>
// with devstack.BuildBootstrap (the deployment flags, host architecture),
// as the hello-world baseline is built.
func BuildFunctions(ctx context.Context, outDir string) (map[string]string, error) {
	dir, err := devstack.Dir()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, fn := range Functions {
		if out[fn], err = devstack.BuildBootstrap(ctx, filepath.Join(filepath.Dir(dir), "functions", fn), filepath.Join(outDir, fn)); err != nil {
			return nil, err
		}
	}
	return out, nil
}
