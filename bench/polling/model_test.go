package polling

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/insights-export/insights-export/devstack"
	"github.com/insights-export/insights-export/internal/request"
)

// loadExport is statemachine/export.asl.json as the model walks it.
func loadExport(t *testing.T) *Export {
	t.Helper()
	e, err := LoadExport(filepath.Join("..", "..", "statemachine", "export.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSimulateCountsTheASLLoop(t *testing.T) {
	e := loadExport(t)
	// The deployed ASL around the loop: AcquireJobSlot, StartExport,
	// RecordJobOnSlot before it; ReleaseJobSlot, WakeJobSlotWaiter,
	// StoreReport, ConvertReport, AnnounceReport, Done after it (all Tasks
	// but Done). A success after n reads: 3n+9 transitions, 9n+44 events,
	// n+4 Lambda invocations (StartExport, the reads, WakeJobSlotWaiter,
	// StoreReport, ConvertReport).
	tests := []struct {
		name                                    string
		policy                                  Policy
		job                                     Job
		polls, transitions, events, invocations int
		delay                                   time.Duration
		outcome                                 string
	}{
		// Polls at 10, 20, …, 60 s: the sixth sees the job finished at
		// once.
		{name: "fixed 10 s, 1-minute job", policy: Fixed(10 * time.Second), job: Job{Duration: time.Minute},
			polls: 6, transitions: 3*6 + 9, events: 9*6 + 44, invocations: 6 + 4, delay: 0, outcome: Succeeded},
		{name: "latency shifts every later poll", policy: Fixed(10 * time.Second), job: Job{Duration: time.Minute, Latency: time.Second},
			polls: 6, transitions: 3*6 + 9, events: 9*6 + 44, invocations: 6 + 4, delay: 6 * time.Second, outcome: Succeeded},
		{name: "job already done at the first poll", policy: Fixed(5 * time.Second), job: Job{Duration: time.Second},
			polls: 1, transitions: 12, events: 53, invocations: 5, delay: 4 * time.Second, outcome: Succeeded},
		// Checks at 10…60 s find it running; the one at 60 s is past the
		// deadline: the three states before the loop, five whole polls,
		// Wait and the failing CheckJob, then ReleaseJobSlotAfterFailure,
		// its waiter's wake, RouteFailure and the JobDeadlineExceeded Fail
		// state.
		{name: "deadline", policy: Fixed(10 * time.Second), job: Job{Duration: time.Hour, Deadline: time.Minute},
			polls: 6, transitions: 3 + 3*5 + 2 + 4, events: 2 + 15 + 9*5 + 7 + 5 + 5 + 2 + 1, invocations: 1 + 6 + 1, outcome: DeadlineHit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Simulate(e, tt.policy, tt.job)
			if err != nil {
				t.Fatal(err)
			}
			if r.Outcome != tt.outcome || r.Polls != tt.polls || r.Transitions != tt.transitions || r.HistoryEvents != tt.events || r.Invocations != tt.invocations {
				t.Fatalf("got %s, %d polls, %d transitions, %d events, %d invocations; want %s, %d, %d, %d, %d",
					r.Outcome, r.Polls, r.Transitions, r.HistoryEvents, r.Invocations, tt.outcome, tt.polls, tt.transitions, tt.events, tt.invocations)
			}
			if tt.outcome == Succeeded && r.Delay != tt.delay {
				t.Fatalf("delay %s, want %s", r.Delay, tt.delay)
			}
		})
	}
}

// A fixed 10-second poller cannot see a 24-hour job through: its history
// would pass Step Functions' 25,000 events after ~2,776 polls (7.7 h).
func TestSimulateStopsAtTheHistoryQuota(t *testing.T) {
	r, err := Simulate(loadExport(t), Fixed(10*time.Second), Job{Duration: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != HistoryLimit || r.HistoryEvents > HistoryQuota || r.HistoryEvents < HistoryQuota-20 {
		t.Fatalf("outcome %s with %d events after %d polls", r.Outcome, r.HistoryEvents, r.Polls)
	}
}

// The model asks the real policy, so its poll ages are exactly the loop
// the check function runs: t(k+1) = t(k) + Next(t(k)) + latency.
func TestSimulateFollowsTheWaitPolicy(t *testing.T) {
	p := request.DefaultWaitPolicy
	lat := 200 * time.Millisecond
	r, err := Simulate(loadExport(t), p, Job{Duration: 2 * time.Hour, Latency: lat, Deadline: p.Deadline})
	if err != nil {
		t.Fatal(err)
	}
	var at time.Duration
	w := p.Next(0)
	for i, got := range r.PollTimes {
		at += w + lat
		if got != at {
			t.Fatalf("poll %d at %s, want %s", i, got, at)
		}
		w = p.Next(at)
	}
	if last := r.PollTimes[len(r.PollTimes)-1]; last < 2*time.Hour || r.PollTimes[len(r.PollTimes)-2] >= 2*time.Hour {
		t.Fatalf("the last poll (%s) is not the first one at or past the job's end", last)
	}
	// Geometric growth bounds the count from below.
	if min := PollsBound(time.Minute, 2*time.Hour, p.AgeFactor); float64(r.Polls) < min {
		t.Fatalf("%d polls, fewer than the bound %.1f", r.Polls, min)
	}
	if r.WorstRatio > 0.1 {
		t.Fatalf("worst delay ratio %.3f over 10 %%", r.WorstRatio)
	}
}

func TestSimulateRejectsBadInput(t *testing.T) {
	e := loadExport(t)
	if _, err := Simulate(e, Fixed(0), Job{Duration: time.Minute}); err == nil {
		t.Fatal("a zero wait would loop forever; want an error")
	}
	if _, err := Simulate(e, Fixed(time.Second), Job{Duration: -time.Second}); err == nil {
		t.Fatal("negative duration accepted")
	}
	if _, err := Simulate(nil, Fixed(time.Second), Job{Duration: time.Minute}); err == nil {
		t.Fatal("no export accepted")
	}
}

func TestPollsBound(t *testing.T) {
	if got := PollsBound(10*time.Second, 1210*time.Second, 0.1); got < 50.3 || got > 50.4 {
		t.Fatalf("ln(121)/ln(1.1) = %.2f, want ≈ 50.3", got)
	}
	if got := PollsBound(time.Minute, time.Second, 0.1); got != 0 {
		t.Fatalf("empty range gave %.1f", got)
	}
}

// Count reads interpreter events the way the model counts.
func TestCountReadsAnExecution(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	out := func(status string, wait int) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"status": status, "waitSeconds": wait})
		return b
	}
	ev := []devstack.Event{
		{Type: "StateEntered", State: "StartExport", StateType: "Task", Time: at(0)},
		{Type: "StateExited", State: "StartExport", StateType: "Task", Time: at(30), Output: out("running", 5)},
		{Type: "StateEntered", State: "WaitForJob", StateType: "Wait", Time: at(31)},
		{Type: "StateEntered", State: "CheckJob", StateType: "Task", Time: at(5040)},
		{Type: "StateRetried", State: "CheckJob", StateType: "Task", Time: at(5050)},
		{Type: "StateExited", State: "CheckJob", StateType: "Task", Time: at(5060), Output: out("running", 5)},
		{Type: "StateEntered", State: "IsJobFinished", StateType: "Choice", Time: at(5061)},
		{Type: "StateEntered", State: "WaitForJob", StateType: "Wait", Time: at(5062)},
		{Type: "StateEntered", State: "CheckJob", StateType: "Task", Time: at(10080)},
		{Type: "StateExited", State: "CheckJob", StateType: "Task", Time: at(10100), Output: out("finished", 0)},
		{Type: "StateEntered", State: "IsJobFinished", StateType: "Choice", Time: at(10101)},
		{Type: "StateEntered", State: "StoreReport", StateType: "Task", Time: at(10102)},
		{Type: "StateEntered", State: "Done", StateType: "Succeed", Time: at(10200)},
	}
	c, err := Count(ev)
	if err != nil {
		t.Fatal(err)
	}
	// 9 states entered + 1 retry; events 2 + Task 5×4 + Wait 2×2 + Choice
	// 2×2 + Succeed 2 + retry 3.
	if c.Polls != 2 || c.Transitions != 10 || c.HistoryEvents != 2+20+4+4+2+3 {
		t.Fatalf("got %+v", c)
	}
	// The cycle from the first check's exit (5060) to the next check's
	// entry (10080), less its 5 s wait; the check's own time is left out
	// (a check that read in-process spent most of it asleep).
	if !c.Detected.Equal(at(10100)) || c.Latency != 20*time.Millisecond {
		t.Fatalf("detected %s, latency %s", c.Detected, c.Latency)
	}
	if _, err := Count(ev[:6]); err == nil {
		t.Fatal("a history without a finished check was accepted")
	}
	bad := append([]devstack.Event{{Type: "StateEntered", State: "M", StateType: "Map"}}, ev...)
	if _, err := Count(bad); err == nil {
		t.Fatal("a Map state was priced silently")
	}
}

// Reads inside one invocation while their waits fit the budget: the same
// reads at the same ages, fewer cycles through Step Functions.
func TestSimulateInProcessReads(t *testing.T) {
	e := loadExport(t)
	perT, _ := e.PerRead()
	fixedT, _ := e.Fixed()
	p := request.DefaultWaitPolicy
	tests := []struct {
		name   string
		job    Job
		polls  int
		cycles int
		inside time.Duration
	}{
		// Waits of 5 s until 66 s of age. Reads at 5 s (a cycle), 10, 15,
		// 20, 25 (in the invocation: 20 s), 30 (a cycle), 35 … 50, 55 (a
		// cycle), 60: seen finished.
		{"1 min job", Job{Duration: time.Minute, InProcess: 20 * time.Second}, 12, 3, 45 * time.Second},
		{"1 min job, one read per invocation", Job{Duration: time.Minute}, 12, 12, 0},
		// A budget below the first wait changes nothing.
		{"budget under the shortest wait", Job{Duration: time.Minute, InProcess: 4 * time.Second}, 12, 12, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Simulate(e, p, tt.job)
			if err != nil {
				t.Fatal(err)
			}
			if r.Polls != tt.polls || r.Cycles != tt.cycles || r.Inside != tt.inside {
				t.Fatalf("polls %d, cycles %d, inside %s; want %d, %d, %s (reads at %v)", r.Polls, r.Cycles, r.Inside, tt.polls, tt.cycles, tt.inside, r.PollTimes)
			}
			if r.Transitions != fixedT+perT*tt.cycles {
				t.Errorf("transitions %d, want %d + %d × %d cycles", r.Transitions, fixedT, perT, tt.cycles)
			}
		})
	}
	// With latency the reads come at the same ages as the one-read loop
	// would have them, less the Step Functions latency of the cycles saved.
	one, _ := Simulate(e, p, Job{Duration: 10 * time.Minute, Latency: 250 * time.Millisecond})
	in, _ := Simulate(e, p, Job{Duration: 10 * time.Minute, Latency: 250 * time.Millisecond, InProcess: 20 * time.Second})
	if in.Polls < one.Polls-1 || in.Polls > one.Polls+1 || in.WorstRatio > 0.10 || in.Cycles >= one.Cycles {
		t.Fatalf("in-process: %d reads in %d cycles, worst delay %.3f; one read a cycle: %d reads", in.Polls, in.Cycles, in.WorstRatio, one.Polls)
	}
}
