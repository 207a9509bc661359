package polling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/insights-export/insights-export/devstack"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// RealRun is one export run for real: the ASL under the interpreter with
// its real Wait durations, the three bootstraps under the RIE, AvePoint
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
}

// RealResult is what the execution history of one real run shows, next to
// the model's prediction for the same job and the latency measured.
type RealResult struct {
	Run           RealRun
	Status        string
	Polls         int
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

// RunReal starts a stack (moto, simulator, three RIEs), runs one export
// with real waits and counts its history. bootstraps are prebuilt binaries
// by function folder (devstack.BuildBootstraps).
func RunReal(ctx context.Context, bootstraps map[string]string, run RealRun) (RealResult, error) {
	st, err := devstack.StartStack(ctx, devstack.StackOptions{
		Simulator:  &avesim.Options{ClientID: simClientID, ClientSecret: simSecret, JobDuration: run.JobDuration},
		Env:        run.Env,
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
	res.Delay = c.Detected.Sub(jobs[0].Created.Add(run.JobDuration))
	res.Model, err = Simulate(run.Policy, Job{Duration: run.JobDuration, Latency: c.Latency, Deadline: run.Deadline})
	return res, err
}

// Counted is an execution history reduced to what polling costs.
type Counted struct {
	Polls, Transitions, HistoryEvents int
	// Detected is when the CheckJob state that saw the job finished exited.
	Detected time.Time
	// Latency is the median of (poll cycle − its wait) over the cycles.
	Latency time.Duration
}

// Count reads interpreter events as a Standard workflow's history: each
// StateEntered is a billed transition and adds its state type's history
// events; each retry adds a transition and the failed attempt's events.
func Count(events []devstack.Event) (Counted, error) {
	var c Counted
	c.HistoryEvents = EventsExecution
	perType := map[string]int{"Task": EventsTask, "Wait": EventsWait, "Choice": EventsChoice, "Succeed": EventsSucceed, "Fail": EventsFail}
	var checks []time.Time // CheckJob StateEntered times
	var waits []int        // waitSeconds given before each poll
	var lastFinished time.Time
	for _, ev := range events {
		switch ev.Type {
		case "StateEntered":
			n, ok := perType[ev.StateType]
			if !ok {
				return c, fmt.Errorf("state %s has type %q, which the model does not price", ev.State, ev.StateType)
			}
			c.Transitions++
			c.HistoryEvents += n
			if ev.State == "CheckJob" {
				c.Polls++
				checks = append(checks, ev.Time)
			}
		case "StateRetried":
			c.Transitions++
			c.HistoryEvents += EventsRetry
		case "StateExited":
			if ev.State != "StartExport" && ev.State != "CheckJob" {
				continue
			}
			var out struct {
				Status      string `json:"status"`
				WaitSeconds int    `json:"waitSeconds"`
			}
			if err := json.Unmarshal(ev.Output, &out); err != nil {
				return c, fmt.Errorf("%s output: %w", ev.State, err)
			}
			if out.Status == "finished" {
				lastFinished = ev.Time
			} else {
				waits = append(waits, out.WaitSeconds)
			}
		}
	}
	if c.Polls == 0 || lastFinished.IsZero() {
		return c, errors.New("the history has no CheckJob that saw the job finished")
	}
	c.Detected = lastFinished
	var over []time.Duration
	for k := 1; k < len(checks) && k < len(waits); k++ {
		over = append(over, checks[k].Sub(checks[k-1])-time.Duration(waits[k])*time.Second)
	}
	if len(over) > 0 {
		slices.Sort(over)
		c.Latency = over[len(over)/2]
	}
	return c, nil
}
