package slotsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/insights-export/insights-export/devstack"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// RealRun is one batch run for real on the local stack: the batch and
// export ASL under the interpreter with their real waits, the bootstraps
// under the RIE, the ledger on moto's DynamoDB, AvePoint simulated. The
// simulator gives every job the same wall-clock duration (its JobDuration
// is the server's; a job plan can end a job after so many polls, not after
// so long), so every user's job lasts JobDuration.
type RealRun struct {
	Name           string
	Users          int
	JobDuration    time.Duration
	MaxConcurrency int
	// Poll is the poll policy the functions get (POLL_MIN_SECONDS,
	// POLL_MAX_SECONDS, POLL_AGE_FACTOR: whole seconds, as the
	// environment takes them); the slot wait has no setting and is
	// slots.DefaultWaitPolicy.
	Poll request.WaitPolicy
}

// RealResult is what the run's events and the simulator's job list show,
// next to the model's prediction for the same users with the latencies
// measured in the run.
type RealResult struct {
	Run     RealRun
	Status  string
	Records []Record
	Util    Utilisation
	// Transitions, WaitTransitions and WaitRounds are counted as Result's.
	Transitions, WaitTransitions, WaitRounds int
	Lat                                      Latencies
	PollCycle                                time.Duration
	Model                                    Result
	// PeakJobs is the simulator's own count of jobs running at once.
	PeakJobs int
	Wall     time.Duration
}

const (
	simClientID = "bench-slots"
	simSecret   = "bench-slots-secret"
)

// RunReal starts a batch stack, runs one batch of run.Users users and
// reads their timelines back. bootstraps are prebuilt binaries by
// function folder (devstack.BuildBootstraps and BuildBatchBootstraps).
func RunReal(ctx context.Context, bootstraps map[string]string, run RealRun) (RealResult, error) {
	res := RealResult{Run: run}
	if run.Users < 1 || run.JobDuration <= 0 || run.MaxConcurrency < 1 {
		return res, errors.New("slotsim: a real run needs users, a job duration and MaxConcurrency")
	}
	for _, d := range []time.Duration{run.Poll.Min, run.Poll.Max} {
		if d < time.Second || d%time.Second != 0 {
			return res, fmt.Errorf("slotsim: poll bounds must be whole seconds, got %s", d)
		}
	}
	env := map[string]string{
		"MAX_CONCURRENCY":  strconv.Itoa(run.MaxConcurrency),
		"POLL_MIN_SECONDS": strconv.Itoa(int(run.Poll.Min / time.Second)),
		"POLL_MAX_SECONDS": strconv.Itoa(int(run.Poll.Max / time.Second)),
		"POLL_AGE_FACTOR":  strconv.FormatFloat(run.Poll.AgeFactor, 'f', -1, 64),
	}
	st, err := devstack.StartStack(ctx, devstack.StackOptions{
		Simulator:  &avesim.Options{ClientID: simClientID, ClientSecret: simSecret, JobDuration: run.JobDuration},
		Env:        env,
		Bootstraps: bootstraps,
		Batch:      true,
	})
	if err != nil {
		return res, fmt.Errorf("slots %s: %w", run.Name, err)
	}
	defer st.Close()
	var emails []string
	for i := range run.Users {
		emails = append(emails, fmt.Sprintf("slots.user%02d@contoso.com", i))
	}
	began := time.Now()
	exe, err := st.RunBatch(ctx, devstack.RunOptions{Input: map[string]any{
		"emails": emails, "startTime": "2026-10-01T00:00:00", "finishTime": "2026-10-02T00:00:00",
	}})
	if err != nil {
		return res, fmt.Errorf("slots %s: %w", run.Name, err)
	}
	res.Wall, res.Status = time.Since(began), exe.Status
	if exe.Status != devstack.StatusSucceeded {
		return res, fmt.Errorf("slots %s: batch %s: %s %s", run.Name, exe.Status, exe.Error, exe.Cause)
	}
	starts := map[string]time.Time{}
	for _, j := range st.Sim.Server.Jobs() {
		if _, dup := starts[strings.ToLower(j.Email)]; dup {
			return res, fmt.Errorf("slots %s: %s got two jobs", run.Name, j.Email)
		}
		starts[strings.ToLower(j.Email)] = j.Created
	}
	res.PeakJobs = st.Sim.Server.PeakConcurrentJobs()
	tl, err := Timelines(exe.Events, starts, run.JobDuration)
	if err != nil {
		return res, fmt.Errorf("slots %s: %w", run.Name, err)
	}
	if len(tl.Records) != run.Users {
		return res, fmt.Errorf("slots %s: %d users in the events, want %d", run.Name, len(tl.Records), run.Users)
	}
	res.Records, res.Lat, res.PollCycle = tl.Records, tl.Lat, tl.PollCycle
	for _, r := range tl.Records {
		res.Transitions += r.Transitions
		res.WaitTransitions += r.WaitTransitions
		res.WaitRounds += r.WaitRounds
	}
	if res.Util, err = Measure(devstack.DefaultJobSlots, tl.Records); err != nil {
		return res, fmt.Errorf("slots %s: %w", run.Name, err)
	}
	// As deployed (a release wakes the oldest waiter), but the list's
	// order: a fixed-window run is not reordered.
	cfg := Defaults()
	cfg.Slots, cfg.MaxConcurrency, cfg.Poll, cfg.Lat, cfg.Order = devstack.DefaultJobSlots, run.MaxConcurrency, run.Poll, tl.Lat, AsListed
	cfg.WakePoll = -1 // the local stack's waker does not long-poll (devstack.StartStack)
	durations := slices.Repeat([]time.Duration{run.JobDuration}, run.Users)
	res.Model, err = Simulate(cfg, durations)
	return res, err
}

// Timeline is a batch run's users, read from its events.
type Timeline struct {
	Records []Record
	// Lat are what the steps took (see Timelines).
	Lat Latencies
	// PollCycle is the mean poll cycle beyond its wait, as measured (Lat
	// gives the model 3 × State + Invoke, at least 3 × State).
	PollCycle time.Duration
}

// Timelines reads every user's Record from a batch execution's events
// (the Map's iterations and the export executions they ran) and the
// AvePoint jobs' start times by email; each job lasts duration. Times are
// offsets from the batch's first event. Lat is measured as the model
// spends it, each a mean (queueing on the local stack, where each
// function serves one invocation at a time, shows in means, not in
// medians): State is the time from a Choice or DynamoDB state's entry to
// the next state's; Invoke is a poll cycle's time beyond its wait (from
// one CheckJob's entry to the next's) less 3 × State; Store and Convert
// their tasks beyond State; ChildStart from the Map's ExportUser to the
// export's first state, ChildEnd from AnnounceReport to UserSucceeded's
// end, each beyond the states' time the model adds.
func Timelines(events []devstack.Event, jobStarts map[string]time.Time, duration time.Duration) (Timeline, error) {
	var tl Timeline
	if len(events) == 0 {
		return tl, errors.New("no events")
	}
	t0 := events[0].Time
	at := func(t time.Time) time.Duration { return t.Sub(t0) }

	// The Map's iterations, by index; the export executions, by name.
	type item struct {
		launched, exportEntered, finished time.Time
		execution, email                  string
		transitions                       int
	}
	items := map[int]*item{}
	children := map[string][]devstack.Event{}
	for _, e := range events {
		if e.Execution != "" {
			children[e.Execution] = append(children[e.Execution], e)
			continue
		}
		if e.Index == nil || e.Type != "StateEntered" && e.Type != "StateExited" {
			continue
		}
		it := items[*e.Index]
		if it == nil {
			it = &item{}
			items[*e.Index] = it
		}
		switch {
		case e.Type == "StateEntered":
			it.transitions++
			switch e.State {
			case "HowManyWindows":
				it.launched = e.Time
			case "ExportUser":
				it.exportEntered = e.Time
			}
		case e.State == "UserSucceeded":
			var out struct{ Email, ExecutionArn string }
			if err := json.Unmarshal(e.Output, &out); err != nil {
				return tl, fmt.Errorf("UserSucceeded output: %w", err)
			}
			it.finished, it.email = e.Time, strings.ToLower(out.Email)
			it.execution = out.ExecutionArn[strings.LastIndex(out.ExecutionArn, ":")+1:]
		}
	}
	var state, cycle, store, convert, childStart, childEnd, wakeStep []time.Duration
	simple := map[string]bool{"IsJobFinished": true, "RecordJobOnSlot": true, "ReleaseJobSlot": true}
	for _, idx := range slices.Sorted(maps.Keys(items)) {
		it := items[idx]
		evs := children[it.execution]
		if it.finished.IsZero() || len(evs) == 0 {
			return tl, fmt.Errorf("map item %d did not succeed (or its export's events are missing)", idx)
		}
		js, ok := jobStarts[it.email]
		if !ok {
			return tl, fmt.Errorf("map item %d: no AvePoint job for its user", idx)
		}
		r := Record{User: idx, Launched: at(it.launched), Transitions: it.transitions, JobStart: at(js), JobEnd: at(js.Add(duration))}
		var entered []devstack.Event
		var started, ended, lastCheck time.Time
		var wait time.Duration // the wait before the next poll
		asked := false
		for _, e := range evs {
			switch e.Type {
			case "ExecutionStarted":
				started = e.Time
			case "ExecutionSucceeded":
				ended = e.Time
			case "StateRetried":
				r.Transitions++
			case "StateEntered":
				entered = append(entered, e)
				r.Transitions++
				switch e.State {
				case "CheckJobSlots":
					r.WaitRounds++
					r.WaitTransitions++
				case "WaitForJobSlot", "AcquireJobSlotAfterWait":
					r.WaitTransitions++
				case "CheckJob":
					r.Polls++
					if !lastCheck.IsZero() {
						cycle = append(cycle, e.Time.Sub(lastCheck)-wait)
					}
					lastCheck = e.Time
				}
			case "StateExited", "StateFailed", "StateCaught":
				if e.Type == "StateExited" && e.State == "CheckJob" {
					var out struct{ WaitSeconds int }
					if err := json.Unmarshal(e.Output, &out); err != nil {
						return tl, fmt.Errorf("CheckJob output: %w", err)
					}
					wait = time.Duration(out.WaitSeconds) * time.Second
				}
				switch e.State {
				case "AcquireJobSlot", "AcquireJobSlotAfterWait":
					if !asked {
						asked, r.Asked = true, at(e.Time)
					}
					if e.Type == "StateExited" {
						r.Acquired = at(e.Time)
					}
				case "ReleaseJobSlot":
					if e.Type == "StateExited" {
						r.Released = at(e.Time)
					}
				}
			}
		}
		if started.IsZero() || ended.IsZero() || !asked || r.Released == 0 {
			return tl, fmt.Errorf("map item %d: its export's events lack a start, an end, an acquisition or a release", idx)
		}
		r.Ended, r.Finished = at(ended), at(it.finished)
		tl.Records = append(tl.Records, r)

		childStart = append(childStart, started.Sub(it.exportEntered))
		for i, e := range entered {
			if e.State == "AnnounceReport" {
				childEnd = append(childEnd, it.finished.Sub(e.Time)) // → UserSucceeded's end
			}
			if i+1 >= len(entered) {
				break
			}
			took := entered[i+1].Time.Sub(e.Time)
			switch {
			case simple[e.State]:
				state = append(state, took)
			case e.State == "StoreReport":
				store = append(store, took)
			case e.State == "ConvertReport":
				convert = append(convert, took)
			case e.State == "WakeJobSlotWaiter":
				wakeStep = append(wakeStep, took)
			}
		}
	}
	s := mean(state)
	tl.PollCycle = mean(cycle)
	tl.Lat = Latencies{
		State: s, Invoke: max(mean(cycle)-3*s, 0),
		Store: max(mean(store)-s, 0), Convert: max(mean(convert)-s, 0),
		// The model adds a state's time to each: ExportUser's; and
		// AnnounceReport's, Done's and UserSucceeded's.
		ChildStart: max(mean(childStart)-s, 0), ChildEnd: max(mean(childEnd)-3*s, 0),
		Wake: mean(wakeStep),
	}
	return tl, nil
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return (sum / time.Duration(len(ds))).Round(time.Millisecond)
}
