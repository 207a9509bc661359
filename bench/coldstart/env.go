package coldstart

import (
	"context"
	"encoding/json"
	"fmt"
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
			Plans:         map[string]avesim.JobPlan{finishedEmail: {PollsToFinish: &zero}},
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

// Targets are the hello-world baseline and the three functions with their
// cheapest successful request:
//   - startexport: a valid input → secret (moto), token and export call
//     (simulator); result: a running job.
//   - checkjob: a running job → secret, token, one status call; result:
//     the job with its next wait.
//   - storereport: a finished job → secret, token, report download (a
//     ~10 KB ZIP) and PutObject into moto; result: bucket/key/sha256.
//
// Refused requests fail validation before any network call.
func (e *Env) Targets(hello string, bootstraps map[string]string) ([]Target, error) {
	for _, fn := range []string{"startexport", "checkjob", "storereport"} {
		if bootstraps[fn] == "" {
			return nil, fmt.Errorf("coldstart: no bootstrap for %s", fn)
		}
	}
	wantJob := func(status string) func(json.RawMessage) error {
		return func(raw json.RawMessage) error {
			var j request.Job
			if err := json.Unmarshal(raw, &j); err != nil || j.JobID == "" || j.Status != status {
				return fmt.Errorf("unexpected result %s (want a %s job)", raw, status)
			}
			return nil
		}
	}
	return []Target{
		{
			Name: "hello", Bootstrap: hello, Env: map[string]string{},
			Success: map[string]string{"name": "cold"},
			Check: func(raw json.RawMessage) error {
				var r struct{ Greeting string }
				if err := json.Unmarshal(raw, &r); err != nil || r.Greeting == "" {
					return fmt.Errorf("unexpected hello result %s", raw)
				}
				return nil
			},
		},
		{
			Name: "startexport", Bootstrap: bootstraps["startexport"], Env: e.FunctionEnv,
			Success: map[string]any{"email": "cold.start@contoso.com"},
			Check:   wantJob("running"),
			Refused: map[string]any{"email": "not-an-address"},
		},
		{
			Name: "checkjob", Bootstrap: bootstraps["checkjob"], Env: e.FunctionEnv,
			Success: e.Running, Check: wantJob("running"),
			Refused: map[string]any{},
		},
		{
			Name: "storereport", Bootstrap: bootstraps["storereport"], Env: e.FunctionEnv,
			Success: e.Finished,
			Check: func(raw json.RawMessage) error {
				var o request.ExportOutput
				if err := json.Unmarshal(raw, &o); err != nil || o.Key == "" || o.SHA256 == "" || o.Bytes <= 0 {
					return fmt.Errorf("unexpected store result %s", raw)
				}
				return nil
			},
			Refused: map[string]any{},
		},
	}, nil
}
