package polling

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/insights-export/insights-export/devstack"
	"github.com/insights-export/insights-export/internal/request"
)

func TestSimulateCountsTheASLLoop(t *testing.T) {
	tests := []struct {
		name                                    string
		policy                                  Policy
		job                                     Job
		polls, transitions, events, invocations int
		delay                                   time.Duration
		outcome                                 string
	}{
		// Polls at 10, 20, …, 60 s: the sixth sees the job finished at
		// once. 3×6+3 transitions, 9×6+14 events, 6+2 invocations.
		{name: "fixed 10 s, 1-minute job", policy: Fixed(10 * time.Second), job: Job{Duration: time.Minute},
			polls: 6, transitions: 21, events: 68, invocations: 8, delay: 0, outcome: Succeeded},
		{name: "latency shifts every later poll", policy: Fixed(10 * time.Second), job: Job{Duration: time.Minute, Latency: time.Second},
			polls: 6, transitions: 21, events: 68, invocations: 8, delay: 6 * time.Second, outcome: Succeeded},
		{name: "job already done at the first poll", policy: Fixed(5 * time.Second), job: Job{Duration: time.Second},
			polls: 1, transitions: 6, events: 23, invocations: 3, delay: 4 * time.Second, outcome: Succeeded},
		// Checks at 10…60 s find it running; the one at 60 s is past the
		// deadline: Wait+Task for that poll, then the Fail state.
		{name: "deadline", policy: Fixed(10 * time.Second), job: Job{Duration: time.Hour, Deadline: time.Minute},
			polls: 6, transitions: 1 + 3*5 + 2 + 1, events: 7 + 9*5 + 7 + 1, invocations: 7, outcome: DeadlineHit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Simulate(tt.policy, tt.job)
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
	r, err := Simulate(Fixed(10*time.Second), Job{Duration: 24 * time.Hour})
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
	r, err := Simulate(p, Job{Duration: 2 * time.Hour, Latency: lat, Deadline: p.Deadline})
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
	if _, err := Simulate(Fixed(0), Job{Duration: time.Minute}); err == nil {
		t.Fatal("a zero wait would loop forever; want an error")
	}
	if _, err := Simulate(Fixed(time.Second), Job{Duration: -time.Second}); err == nil {
		t.Fatal("negative duration accepted")
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
	if !c.Detected.Equal(at(10100)) || c.Latency != 40*time.Millisecond {
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
