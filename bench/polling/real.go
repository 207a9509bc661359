package polling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/insights-export/insights-export/devstack"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// RealRun is one export run for real: the ASL under the interpreter with
// its real Wait durations, the bootstraps under the RIE, AvePoint
// simulated with a wall-clock job duration.
type RealRun struct {
	Name        string
	JobDuration time.Duration
	// Env is given to the functions (POLL_MIN_SECONDS, POLL_MAX_SECONDS,
	// POLL_AGE_FACTOR, JOB_DEADLINE_SECONDS).
	Env map[string]string
	// Policy is the same policy as Env, for the model's prediction.
	Policy   Policy
	Deadline time.Duration
	// InProcess is the check's in-process waiting, given to the functions
	// as POLL_INPROCESS_SECONDS and to the model.
	InProcess time.Duration
}

// RealResult is what the execution history of one real run shows, next to
// the model's prediction for the same job and the latency measured.
type RealResult struct {
	Run    RealRun
	Status string
	// Polls is the check invocations (poll cycles) the history shows;
	// Reads the status reads AvePoint (the simulator) answered.
	Polls, Reads  int
	Transitions   int
	HistoryEvents int
	// Delay runs from the job's end (simulator: creation + JobDuration) to
	// the end of the CheckJob state that reported it finished.
	Delay time.Duration
	// Latency is the median poll cycle minus its wait.
	Latency time.Duration
	Wall    time.Duration
	Model   Result
}

const (
	simClientID = "bench-polling"
	simSecret   = "bench-polling-secret"
)

// RepoFile is a file of the repository, found from the devstack folder.
func RepoFile(rel ...string) (string, error) {
	dir, err := devstack.Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(append([]string{filepath.Dir(dir)}, rel...)...), nil
}

// ExportASL is statemachine/export.asl.json.
func ExportASL() (string, error) { return RepoFile("statemachine", "export.asl.json") }

// RunReal starts a stack (moto, simulator, the functions' RIEs), runs one
// export with real waits and counts its history. bootstraps are prebuilt
// binaries by function folder (devstack.BuildBootstraps).
func RunReal(ctx context.Context, bootstraps map[string]string, run RealRun) (RealResult, error) {
	asl, err := ExportASL()
	if err != nil {
		return RealResult{}, err
	}
	export, err := LoadExport(asl)
	if err != nil {
		return RealResult{}, err
	}
	env := maps.Clone(run.Env)
	if env == nil {
		env = map[string]string{}
	}
	env["POLL_INPROCESS_SECONDS"] = fmt.Sprint(int(run.InProcess / time.Second))
	st, err := devstack.StartStack(ctx, devstack.StackOptions{
		Simulator:  &avesim.Options{ClientID: simClientID, ClientSecret: simSecret, JobDuration: run.JobDuration},
		Env:        env,
		Bootstraps: bootstraps,
	})
	if err != nil {
		return RealResult{}, fmt.Errorf("polling %s: %w", run.Name, err)
	}
	defer st.Close()
	began := time.Now()
	exe, err := st.Run(ctx, devstack.RunOptions{Input: map[string]any{"email": "polling.bench@contoso.com"}})
	if err != nil {
		return RealResult{}, fmt.Errorf("polling %s: %w", run.Name, err)
	}
	res := RealResult{Run: run, Status: exe.Status, Wall: time.Since(began)}
	if exe.Status != devstack.StatusSucceeded {
		return res, fmt.Errorf("polling %s: execution %s: %s %s", run.Name, exe.Status, exe.Error, exe.Cause)
	}
	jobs := st.Sim.Server.Jobs()
	if len(jobs) != 1 {
		return res, fmt.Errorf("polling %s: simulator saw %d jobs, want 1", run.Name, len(jobs))
	}
	c, err := Count(exe.Events)
	if err != nil {
		return res, fmt.Errorf("polling %s: %w", run.Name, err)
	}
	res.Polls, res.Transitions, res.HistoryEvents, res.Latency = c.Polls, c.Transitions, c.HistoryEvents, c.Latency
	for _, call := range st.Sim.Server.Calls() {
		if call.Endpoint == avesim.EndpointStatus {
			res.Reads++
		}
	}
	res.Delay = c.Detected.Sub(jobs[0].Created.Add(run.JobDuration))
	res.Model, err = Simulate(export, run.Policy, Job{Duration: run.JobDuration, Latency: c.Latency, Deadline: run.Deadline, InProcess: run.InProcess})
	return res, err
}

// Counted is an execution history reduced to what polling costs.
type Counted struct {
	Polls, Transitions, HistoryEvents int
	// Detected is when the CheckJob state that saw the job finished exited.
	Detected time.Time
	// Latency is the median of (poll cycle − its wait) over the cycles: a
	// cycle through the Wait state from a check's exit to the next check's
	// entry, a retry from the failed attempt's start to the retry.
	Latency time.Duration
}

// Count reads interpreter events as a Standard workflow's history: each
// StateEntered is a billed transition and adds its state type's history
// events; each retry adds a transition and the failed attempt's events. A
// retry of CheckJob after one of the running errors (a retry loop's
// still-running errors) is a status read, so a poll, whose wait is the
// time between the failure and the retry. The history must have a check
// that saw the job finished.
func Count(events []devstack.Event, running ...string) (Counted, error) {
	c, err := count(events, running)
	if err == nil && c.Detected.IsZero() {
		err = errors.New("the history has no CheckJob that saw the job finished")
	}
	return c, err
}

// count is Count without insisting on a finished check (Detected zero).
func count(events []devstack.Event, running []string) (Counted, error) {
	var c Counted
	c.HistoryEvents = EventsExecution
	var over []time.Duration  // each poll cycle's time besides its wait
	var pending time.Duration // the wait the last answer or retry scheduled
	var lastFailed, lastExit, lastStart time.Time
	lastError := ""
	// A cycle through a Wait state runs from the check's exit to the next
	// check's entry (the check may have read several times in between,
	// sleeping in-process: those reads are not part of the cycle); a retry
	// runs from the failed attempt's start to the retry.
	read := func(at, from time.Time) {
		c.Polls++
		if !from.IsZero() {
			over = append(over, at.Sub(from)-pending)
		}
		lastStart = at
	}
	for _, ev := range events {
		switch ev.Type {
		case "StateEntered":
			n, ok := stateEvents(ev.StateType)
			if !ok {
				return c, fmt.Errorf("state %s has type %q, which the model does not price", ev.State, ev.StateType)
			}
			c.Transitions++
			c.HistoryEvents += n
			if ev.State == CheckState {
				read(ev.Time, lastExit)
			}
		case "StateFailed":
			lastFailed, lastError = ev.Time, ev.Error
		case "StateRetried":
			c.Transitions++
			c.HistoryEvents += EventsRetry
			if ev.State == CheckState && slices.Contains(running, lastError) {
				pending = ev.Time.Sub(lastFailed)
				read(ev.Time, lastStart)
			}
		case "StateExited":
			if ev.State != "StartExport" && ev.State != CheckState {
				continue
			}
			if ev.State == CheckState {
				lastExit = ev.Time
			}
			var out struct {
				Status      string `json:"status"`
				WaitSeconds int    `json:"waitSeconds"`
			}
			if err := json.Unmarshal(ev.Output, &out); err != nil {
				return c, fmt.Errorf("%s output: %w", ev.State, err)
			}
			if out.Status == "finished" {
				c.Detected = ev.Time
			} else {
				pending = time.Duration(out.WaitSeconds) * time.Second
			}
		}
	}
	if c.Polls == 0 {
		return c, errors.New("the history has no CheckJob")
	}
	if len(over) > 0 {
		slices.Sort(over)
		c.Latency = over[len(over)/2]
	}
	return c, nil
}

// RetryRun is one execution of the retry-loop variant.
type RetryRun struct {
	Name string
	Loop RetryLoop
	// Deadline is JOB_DEADLINE_SECONDS as the stack's functions have it.
	Deadline time.Duration
}

// RetryRealResult is one retry-loop execution's history next to the
// model's prediction.
type RetryRealResult struct {
	Run           RetryRun
	Status        string
	Outcome       string
	Polls         int
	Transitions   int
	HistoryEvents int
	Delay         time.Duration
	Latency       time.Duration
	Wall          time.Duration
	Model         Result
}

// RunRealRetry runs the retry-loop variant of statemachine/export.asl.json
// (RetryVariant, written to a temporary file) for real: one stack, the
// runs at once, each its own job of jobDuration. The check Task goes to a
// stand-in in front of the real checkjob function: it passes the
// function's answer through when the job is finished and turns "running"
// into the loop's still-running error, as a check function of that design
// would fail. env is given to every function (POLL_MIN_SECONDS sets the
// first wait).
func RunRealRetry(ctx context.Context, bootstraps map[string]string, jobDuration time.Duration, env map[string]string, runs []RetryRun) ([]RetryRealResult, error) {
	asl, err := ExportASL()
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(asl)
	if err != nil {
		return nil, err
	}
	// A check of the retry design reads once per attempt: the stand-in
	// turns each "running" answer into the loop's error.
	env = maps.Clone(env)
	if env == nil {
		env = map[string]string{}
	}
	env["POLL_INPROCESS_SECONDS"] = "0"
	st, err := devstack.StartStack(ctx, devstack.StackOptions{
		Simulator:  &avesim.Options{ClientID: simClientID, ClientSecret: simSecret, JobDuration: jobDuration},
		Env:        env,
		Bootstraps: bootstraps,
	})
	if err != nil {
		return nil, fmt.Errorf("polling retry runs: %w", err)
	}
	defer st.Close()
	tmp, err := os.MkdirTemp("", "bench-polling-retry-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	// The functions' invocations, serialized per emulator across the
	// interpreter processes (Function.ServeHTTP), and one stand-in per run.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	region, account, err := regionAccount()
	if err != nil {
		return nil, err
	}
	subs := st.Substitutions()
	tasks := map[string]string{}
	checkARN := ""
	for _, fn := range devstack.Functions {
		f := st.Functions[fn.Dir]
		if fn.Substitution == "" || f == nil {
			continue
		}
		arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, account, fn.Name)
		subs[fn.Substitution] = arn
		mux.Handle("/"+fn.Dir+"/invoke", f)
		tasks[arn] = base + "/" + fn.Dir + "/invoke"
		if fn.Dir == "checkjob" {
			checkARN = arn
		}
	}
	if checkARN == "" {
		return nil, errors.New("polling retry runs: no checkjob function in the stack")
	}
	export := map[int]*Export{}
	files := map[int]string{}
	for i, run := range runs {
		b, err := RetryVariant(src, CheckState, run.Loop)
		if err != nil {
			return nil, fmt.Errorf("polling %s: %w", run.Name, err)
		}
		files[i] = filepath.Join(tmp, fmt.Sprintf("export-retry-%d.asl.json", i))
		if err := os.WriteFile(files[i], b, 0o644); err != nil {
			return nil, err
		}
		def, err := ParseDefinition(b)
		if err != nil {
			return nil, err
		}
		if export[i], err = NewExport(def, CheckState); err != nil {
			return nil, fmt.Errorf("polling %s: %w", run.Name, err)
		}
		mux.Handle(fmt.Sprintf("/stand-in-%d/invoke", i), standIn(st.Functions["checkjob"], run.Loop))
	}

	out := make([]RetryRealResult, len(runs))
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := maps.Clone(tasks)
			t[checkARN] = fmt.Sprintf("%s/stand-in-%d/invoke", base, i)
			began := time.Now()
			email := fmt.Sprintf("polling.retry.%d@contoso.com", i)
			exe, err := devstack.RunStateMachine(ctx, devstack.RunSpec{
				DefinitionFile: files[i], Substitutions: subs, Tasks: t,
				Input:            map[string]any{"email": email},
				DynamoDBEndpoint: st.Moto.URL, EventsEndpoint: st.Moto.URL, SQSEndpoint: st.Moto.URL, TokenBroker: st.TokenBrokerURL(),
				StateMachineArn: devstack.ExportStateMachineArn, ExecutionName: fmt.Sprintf("bench-retry-%d-%d", i, began.UnixNano()),
			})
			if err != nil {
				errs[i] = fmt.Errorf("polling %s: %w", run.Name, err)
				return
			}
			out[i], errs[i] = countRetry(st, export[i], run, exe, email, jobDuration, time.Since(began))
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func countRetry(st *devstack.Stack, e *Export, run RetryRun, exe *devstack.Execution, email string, jobDuration, wall time.Duration) (RetryRealResult, error) {
	res := RetryRealResult{Run: run, Status: exe.Status, Wall: wall}
	var created time.Time
	for _, j := range st.Sim.Server.Jobs() {
		if strings.EqualFold(j.Email, email) {
			created = j.Created
		}
	}
	if created.IsZero() {
		return res, fmt.Errorf("polling %s: the simulator has no job for %s", run.Name, email)
	}
	var running []string
	for _, s := range run.Loop.Stages {
		running = append(running, s.Error)
	}
	// A loop that ran out of attempts never saw the job finished.
	c, err := count(exe.Events, running)
	if err != nil {
		return res, fmt.Errorf("polling %s: %w", run.Name, err)
	}
	finished := !c.Detected.IsZero()
	res.Polls, res.Transitions, res.HistoryEvents, res.Latency = c.Polls, c.Transitions, c.HistoryEvents, c.Latency
	if finished {
		res.Delay = c.Detected.Sub(created.Add(jobDuration))
	}
	res.Model, err = SimulateRetry(e, run.Loop, Job{Duration: jobDuration, Latency: c.Latency, Deadline: run.Deadline}, nil)
	res.Outcome = res.Model.Outcome
	switch {
	case err != nil:
		return res, fmt.Errorf("polling %s: %w", run.Name, err)
	case finished && exe.Status != devstack.StatusSucceeded:
		return res, fmt.Errorf("polling %s: execution %s although the job was seen finished: %s %s", run.Name, exe.Status, exe.Error, exe.Cause)
	case !finished && exe.Status != devstack.StatusFailed:
		return res, fmt.Errorf("polling %s: execution %s without seeing the job finished", run.Name, exe.Status)
	}
	return res, nil
}

// regionAccount reads the emulated region and account from the export
// state machine's ARN.
func regionAccount() (string, string, error) {
	parts := strings.Split(devstack.ExportStateMachineArn, ":")
	if len(parts) < 5 {
		return "", "", fmt.Errorf("polling: unexpected state machine ARN %s", devstack.ExportStateMachineArn)
	}
	return parts[3], parts[4], nil
}

// standIn is the check of the retry-loop design in front of the real
// checkjob function: the function's answer when the job is finished or it
// failed, the loop's still-running error while the job runs.
func standIn(f *devstack.Function, loop RetryLoop) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, fnErr, err := f.InvokeBytes(context.WithoutCancel(r.Context()), body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if fnErr != nil {
			_ = json.NewEncoder(w).Encode(map[string]string{"errorType": fnErr.Type, "errorMessage": fnErr.Message})
			return
		}
		var job struct {
			Status    string    `json:"status"`
			StartedAt time.Time `json:"startedAt"`
		}
		if err := json.Unmarshal(out, &job); err != nil || job.Status == "finished" {
			_, _ = w.Write(out)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"errorType": loop.ErrorFor(time.Since(job.StartedAt)), "errorMessage": "the export job is still running"})
	})
}
