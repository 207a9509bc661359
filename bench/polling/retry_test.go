package polling

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/insights-export/insights-export/devstack"
)

func TestRetrierDelay(t *testing.T) {
	r := Retrier{Error: "JobRunningError", Interval: 5 * time.Second, Backoff: 1.09, MaxDelay: 600 * time.Second, MaxAttempts: 100}
	tests := []struct {
		k    int
		want time.Duration
	}{
		{0, 5 * time.Second},
		{1, 5450 * time.Millisecond},
		{2, 5940500 * time.Microsecond},
		{55, 600 * time.Second}, // 5 × 1.09^55 ≈ 570 s: under the cap
		{56, 600 * time.Second},
	}
	for _, tt := range tests {
		got := r.Delay(tt.k)
		if tt.k == 55 {
			if got < 560*time.Second || got > 600*time.Second {
				t.Errorf("Delay(55) = %s, want ≈ 570 s", got)
			}
			continue
		}
		if d := got - tt.want; d > time.Microsecond || d < -time.Microsecond {
			t.Errorf("Delay(%d) = %s, want %s", tt.k, got, tt.want)
		}
	}
	if got := MaxAttemptsFor(Retrier{Interval: 5 * time.Second, Backoff: 1}, 0, time.Minute); got != 12 {
		t.Fatalf("MaxAttemptsFor 60 s of 5 s waits = %d, want 12", got)
	}
}

// variant is the deployed export ASL rewritten so that the check's Retry
// polls.
func variant(t *testing.T, loop RetryLoop) *Export {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "statemachine", "export.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := RetryVariant(src, CheckState, loop)
	if err != nil {
		t.Fatal(err)
	}
	def, err := ParseDefinition(b)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewExport(def, CheckState)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func oneStage(interval time.Duration, backoff float64, maxDelay time.Duration, attempts int) RetryLoop {
	return RetryLoop{First: 5 * time.Second, Stages: []RetryStage{{Retrier: Retrier{Error: "JobRunningError",
		Interval: interval, Backoff: backoff, MaxDelay: maxDelay, MaxAttempts: attempts}}}}
}

func TestRetryVariantRewritesTheLoop(t *testing.T) {
	loop := oneStage(time.Second, 2, 4*time.Second, 9)
	e := variant(t, loop)
	if !e.RetryPolls {
		t.Fatal("the variant still loops through a Choice")
	}
	if _, ok := e.Def.States["IsJobFinished"]; ok {
		t.Fatal("the loop's Choice state is still there")
	}
	check := e.Def.States[CheckState]
	if check.Next != "ReleaseJobSlot" || len(check.Retry) < 2 || check.Retry[0].ErrorEquals[0] != "JobRunningError" ||
		*check.Retry[0].IntervalSeconds != 1 || *check.Retry[0].MaxAttempts != 9 || *check.Retry[0].MaxDelaySeconds != 4 {
		t.Fatalf("check: next %s, retry %+v", check.Next, check.Retry)
	}
	// Same path as the deployed machine after one read, less its Choice.
	got, err := e.Success(5)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := loadExport(t).Success(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(orig)-1 {
		t.Fatalf("variant %s, deployed %s", names(got), names(orig))
	}
	tr, ev := e.PerRead()
	if tr != 1 || ev != EventsRetry {
		t.Fatalf("a read of the variant costs %d transitions, %d events; want 1 and %d", tr, ev, EventsRetry)
	}
	if _, err := RetryVariant([]byte(toyASL), "A", loop); err == nil {
		t.Fatal("a definition without the status Choice after the check was rewritten")
	}
}

func TestSimulateRetryCounts(t *testing.T) {
	// Variant path: AcquireJobSlot, StartExport, RecordJobOnSlot,
	// WaitForJob, CheckJob, ReleaseJobSlot, WakeJobSlotWaiter,
	// StoreReport, ConvertReport, AnnounceReport, Done: 11 states, 9
	// Tasks, 49 + 2 events. A failure's path has the wake too.
	tests := []struct {
		name                                           string
		loop                                           RetryLoop
		job                                            Job
		outcome                                        string
		polls, transitions, events, invocations, delay int // delay in ms
	}{
		// Reads at 5, 6, 8, 12 s (waits 1, 2, 4): the fourth sees it done.
		{"success", oneStage(time.Second, 2, 4*time.Second, 9), Job{Duration: 10 * time.Second},
			Succeeded, 4, 11 + 3, 51 + 3*3, 5 + 3, 2000},
		// Reads at 5, 6, 8, 12, 16: the cap holds the wait at 4 s.
		{"capped", oneStage(time.Second, 2, 4*time.Second, 9), Job{Duration: 15 * time.Second},
			Succeeded, 5, 11 + 4, 51 + 4*3, 5 + 4, 1000},
		// Two retries allowed: the third read still sees it running and
		// the catcher ends the export through ReleaseJobSlotAfterFailure,
		// RouteFailure (JobRunningError: the Default) and ExportFailed.
		{"attempts run out", oneStage(time.Second, 2, 4*time.Second, 2), Job{Duration: time.Hour},
			AttemptsOut, 3, 9 + 2, 2 + 5*4 + 2 + 5 + 5 + 2 + 1 + 2*3, 3 + 2, 0},
		// The check's own deadline (JOB_DEADLINE_SECONDS) still applies.
		{"deadline", oneStage(time.Second, 1, 0, 99), Job{Duration: time.Hour, Deadline: 8 * time.Second},
			DeadlineHit, 4, 9 + 3, 2 + 5*4 + 2 + 5 + 5 + 2 + 1 + 3*3, 3 + 3, 0},
		// Latency shifts every later read, as in the Choice loop.
		{"latency", oneStage(time.Second, 2, 4*time.Second, 9), Job{Duration: 10 * time.Second, Latency: 500 * time.Millisecond},
			Succeeded, 4, 14, 60, 8, 4000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := SimulateRetry(variant(t, tt.loop), tt.loop, tt.job, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Outcome != tt.outcome || r.Polls != tt.polls || r.Transitions != tt.transitions || r.HistoryEvents != tt.events ||
				r.Invocations != tt.invocations || (tt.outcome == Succeeded && r.Delay != time.Duration(tt.delay)*time.Millisecond) {
				t.Fatalf("got %s, %d reads, %d transitions, %d events, %d invocations, delay %s; want %s, %d, %d, %d, %d, %d ms",
					r.Outcome, r.Polls, r.Transitions, r.HistoryEvents, r.Invocations, r.Delay,
					tt.outcome, tt.polls, tt.transitions, tt.events, tt.invocations, tt.delay)
			}
		})
	}
}

// Two stages: flat waits while the job is young, then waits that grow;
// each retrier counts its own retries.
func TestSimulateRetryStages(t *testing.T) {
	loop := RetryLoop{First: 5 * time.Second, Stages: []RetryStage{
		{Retrier: Retrier{Error: "JobRunningYoungError", Interval: 5 * time.Second, Backoff: 1, MaxAttempts: 20}, Until: 20 * time.Second},
		{Retrier: Retrier{Error: "JobRunningError", Interval: 5 * time.Second, Backoff: 2, MaxAttempts: 20}},
	}}
	if loop.ErrorFor(19*time.Second) != "JobRunningYoungError" || loop.ErrorFor(20*time.Second) != "JobRunningError" {
		t.Fatal("stage boundaries")
	}
	r, err := SimulateRetry(variant(t, loop), loop, Job{Duration: 60 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 5, 10, 15, 20 (flat), then 5, 10, 20, 40 s: 25, 35, 55, 95.
	want := []time.Duration{5, 10, 15, 20, 25, 35, 55, 95}
	if len(r.PollTimes) != len(want) {
		t.Fatalf("reads at %v", r.PollTimes)
	}
	for i, w := range want {
		if r.PollTimes[i] != w*time.Second {
			t.Fatalf("reads at %v, want %v s", r.PollTimes, want)
		}
	}
	bad := []RetryLoop{
		{First: time.Second},
		{First: time.Second, Stages: []RetryStage{{Retrier: Retrier{Error: "E", Interval: 1500 * time.Millisecond, Backoff: 1, MaxAttempts: 1}}}},
		{First: time.Second, Stages: []RetryStage{{Retrier: Retrier{Error: "E", Interval: time.Second, Backoff: 0.5, MaxAttempts: 1}}}},
		{First: time.Second, Stages: []RetryStage{{Retrier: Retrier{Error: "E", Interval: time.Second, Backoff: 1, MaxAttempts: 1}, Until: time.Minute}}},
		{First: time.Second, Stages: []RetryStage{
			{Retrier: Retrier{Error: "E", Interval: time.Second, Backoff: 1, MaxAttempts: 1}, Until: time.Minute},
			{Retrier: Retrier{Error: "E", Interval: time.Second, Backoff: 1, MaxAttempts: 1}}}},
	}
	for i, l := range bad {
		if _, err := SimulateRetry(variant(t, oneStage(time.Second, 1, 0, 1)), l, Job{Duration: time.Minute}, nil); err == nil {
			t.Errorf("bad loop %d accepted", i)
		}
	}
}

// FULL jitter draws each wait between 0 and the computed one: half on
// average, so about twice the reads; the same seed gives the same runs.
func TestExpectRetryWithJitter(t *testing.T) {
	loop := oneStage(10*time.Second, 1, 0, 10000)
	loop.Stages[0].Jitter = true
	e := variant(t, loop)
	job := Job{Duration: 3000 * time.Second}
	a, err := ExpectRetry(e, loop, job, 200, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ExpectRetry(e, loop, job, 200, 7)
	if err != nil {
		t.Fatal(err)
	}
	if a.Polls != b.Polls || a.WorstRatioP95 != b.WorstRatioP95 {
		t.Fatal("the same seed gave different runs")
	}
	// Without jitter: 300 reads of 10 s; with it ≈ 600.
	if a.Polls < 560 || a.Polls > 640 || a.Outcomes[Succeeded] != 200 {
		t.Fatalf("mean reads %.0f, outcomes %v; want ≈ 600, all succeeded", a.Polls, a.Outcomes)
	}
	if _, err := SimulateRetry(e, loop, job, nil); err == nil {
		t.Fatal("jitter without a random source accepted")
	}
}

// Count reads a retry loop's history: each retry after a still-running
// error is a read whose wait is the time between failure and retry.
func TestCountReadsARetryLoop(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	fin, _ := json.Marshal(map[string]any{"status": "finished"})
	start, _ := json.Marshal(map[string]any{"status": "running", "waitSeconds": 5})
	ev := []devstack.Event{
		{Type: "StateEntered", State: "StartExport", StateType: "Task", Time: at(0)},
		{Type: "StateExited", State: "StartExport", StateType: "Task", Time: at(30), Output: start},
		{Type: "StateEntered", State: "WaitForJob", StateType: "Wait", Time: at(31)},
		{Type: "StateEntered", State: CheckState, StateType: "Task", Time: at(5040)},
		{Type: "StateFailed", State: CheckState, StateType: "Task", Time: at(5070), Error: "JobRunningError"},
		{Type: "StateRetried", State: CheckState, StateType: "Task", Time: at(6070)},
		{Type: "StateFailed", State: CheckState, StateType: "Task", Time: at(6110), Error: "TransientError"},
		{Type: "StateRetried", State: CheckState, StateType: "Task", Time: at(16110)},
		{Type: "StateFailed", State: CheckState, StateType: "Task", Time: at(16140), Error: "JobRunningError"},
		{Type: "StateRetried", State: CheckState, StateType: "Task", Time: at(18140)},
		{Type: "StateExited", State: CheckState, StateType: "Task", Time: at(18170), Output: fin},
		{Type: "StateEntered", State: "Done", StateType: "Succeed", Time: at(18200)},
	}
	c, err := Count(ev, "JobRunningError")
	if err != nil {
		t.Fatal(err)
	}
	// 4 states + 3 retries; the TransientError retry is no read.
	if c.Polls != 3 || c.Transitions != 7 || c.HistoryEvents != 2+5+2+5+2+3*3 || !c.Detected.Equal(at(18170)) {
		t.Fatalf("got %+v", c)
	}
	// Read 2 started 1,030 ms after read 1, 1 s of it the wait: 30 ms.
	// Read 3 started 12,070 ms after read 2 less its 2 s wait: the
	// transient retry's 10 s count as that cycle's latency. Median of two:
	// the larger.
	if c.Latency != 10070*time.Millisecond {
		t.Fatalf("latency %s", c.Latency)
	}
	if _, err := Count(ev[:9], "JobRunningError"); err == nil {
		t.Fatal("a history without a finished read was accepted")
	}
}
