package export

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
)

// clock is a test clock that the Checker's Sleep advances.
type clock struct {
	now    time.Time
	sleeps []time.Duration
	// interruptAt ends the sleep with number interruptAt (1-based) early,
	// half-way, as a cancelled context would.
	interruptAt int
}

func (c *clock) Now() time.Time { return c.now }

func (c *clock) Sleep(_ context.Context, d time.Duration) error {
	c.sleeps = append(c.sleeps, d)
	if len(c.sleeps) == c.interruptAt {
		c.now = c.now.Add(d / 2)
		return context.Canceled
	}
	c.now = c.now.Add(d)
	return nil
}

var (
	running  = avepoint.JobStatus{Code: 1, State: avepoint.JobRunning}
	finished = avepoint.JobStatus{Code: 2, State: avepoint.JobFinished}
)

func TestCheckerWaitsInProcessWhileWaitsAreShort(t *testing.T) {
	secs := func(s ...int) []time.Duration {
		var d []time.Duration
		for _, n := range s {
			d = append(d, time.Duration(n)*time.Second)
		}
		return d
	}
	tests := []struct {
		name      string
		age       time.Duration // of the job at the first read
		budget    time.Duration
		deadline  time.Duration // of the invocation's context, 0 = none
		interrupt int
		answers   []avepoint.JobStatus // one per read; the last repeats
		readErr   map[int]error        // read number (1-based) → error
		wantReads int
		wantSleep []time.Duration
		wantWait  int
		wantState string
		wantErr   string
	}{
		{name: "young job: reads every policy wait until the budget is spent", budget: 20 * time.Second,
			answers: []avepoint.JobStatus{running}, wantReads: 5, wantSleep: secs(5, 5, 5, 5), wantWait: 5, wantState: "running"},
		{name: "the waits are the policy's, at the ages read (6 % past 83 s)", age: 100 * time.Second, budget: 20 * time.Second,
			answers: []avepoint.JobStatus{running}, wantReads: 4, wantSleep: secs(6, 6, 6), wantWait: 7, wantState: "running"},
		{name: "finished on the third read", budget: 20 * time.Second,
			answers: []avepoint.JobStatus{running, running, finished}, wantReads: 3, wantSleep: secs(5, 5), wantWait: 0, wantState: "finished"},
		{name: "failed on the second read", budget: 20 * time.Second,
			answers: []avepoint.JobStatus{running, {Code: 3, State: avepoint.JobFailed, Message: "quota"}}, wantReads: 2, wantSleep: secs(5), wantErr: "JobFailedError"},
		{name: "a failed later read fails the invocation as the first would", budget: 20 * time.Second,
			answers: []avepoint.JobStatus{running}, readErr: map[int]error{3: &failure.TransientError{Status: 503, Reason: "x"}}, wantReads: 3, wantSleep: secs(5, 5), wantErr: "TransientError"},
		{name: "old job: its next wait is over the budget, one read", age: 10 * time.Minute, budget: 20 * time.Second,
			answers: []avepoint.JobStatus{running}, wantReads: 1, wantWait: 36, wantState: "running"},
		{name: "no budget: one read, as before", budget: 0,
			answers: []avepoint.JobStatus{running}, wantReads: 1, wantWait: 5, wantState: "running"},
		{name: "too little of the invocation left for another read", budget: 20 * time.Second, deadline: ReadReserve + 4*time.Second,
			answers: []avepoint.JobStatus{running}, wantReads: 1, wantWait: 5, wantState: "running"},
		{name: "enough left for one more read only", budget: 20 * time.Second, deadline: ReadReserve + 6*time.Second,
			answers: []avepoint.JobStatus{running}, wantReads: 2, wantSleep: secs(5), wantWait: 5, wantState: "running"},
		{name: "a wait cut short hands the rest to the state machine", budget: 20 * time.Second, interrupt: 2,
			answers: []avepoint.JobStatus{running}, wantReads: 2, wantSleep: secs(5, 5), wantWait: 3, wantState: "running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The clock starts at the real time: the invocation's
			// deadline is a real one, and the Checker measures what is
			// left of it on its own clock.
			clk := &clock{now: time.Now(), interruptAt: tt.interrupt}
			started := clk.now.Add(-tt.age)
			reads := 0
			var ages []time.Duration
			api := &fakeAPI{Status: func(string) (avepoint.JobStatus, error) {
				reads++
				ages = append(ages, clk.now.Sub(started))
				if err := tt.readErr[reads]; err != nil {
					return avepoint.JobStatus{}, err
				}
				return tt.answers[min(reads, len(tt.answers))-1], nil
			}}
			c := &Checker{API: api, Policy: request.DefaultWaitPolicy, Log: quiet, Now: clk.Now, Sleep: clk.Sleep, InProcess: tt.budget}
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			got, err := c.Handle(ctx, request.Job{JobID: "7", StartedAt: started, Status: "running", Polls: 2})
			if reads != tt.wantReads || !slices.Equal(clk.sleeps, tt.wantSleep) {
				t.Fatalf("reads %d at ages %v, sleeps %v; want %d reads, sleeps %v", reads, ages, clk.sleeps, tt.wantReads, tt.wantSleep)
			}
			// Each read after the first comes exactly the policy's wait
			// after the one before: the detection delay is unchanged.
			for k := 1; k < len(ages) && k <= len(tt.wantSleep); k++ {
				if want := request.DefaultWaitPolicy.Next(ages[k-1]); ages[k]-ages[k-1] != want && tt.interrupt == 0 {
					t.Errorf("read %d at age %v, %v after the one before; the policy says %v", k+1, ages[k], ages[k]-ages[k-1], want)
				}
			}
			if tt.wantErr != "" {
				if errorName(err) != tt.wantErr {
					t.Fatalf("err = %v (%s), want %s", err, errorName(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.wantState || got.WaitSeconds != tt.wantWait || got.Polls != 2+tt.wantReads {
				t.Fatalf("got status %q wait %d polls %d; want %q, %d, %d", got.Status, got.WaitSeconds, got.Polls, tt.wantState, tt.wantWait, 2+tt.wantReads)
			}
		})
	}
}

// A job past its deadline is refused on the read that finds it so, in
// process or not.
func TestCheckerDeadlineDuringInProcessReads(t *testing.T) {
	p := request.DefaultWaitPolicy
	p.Deadline = 12 * time.Second
	clk := &clock{now: testNow}
	api := &fakeAPI{Status: func(string) (avepoint.JobStatus, error) { return running, nil }}
	c := &Checker{API: api, Policy: p, Log: quiet, Now: clk.Now, Sleep: clk.Sleep, InProcess: 20 * time.Second}
	_, err := c.Handle(context.Background(), request.Job{JobID: "7", StartedAt: testNow, Status: "running"})
	var de *failure.JobDeadlineExceededError
	if !errors.As(err, &de) || api.Calls != 4 {
		t.Fatalf("err %v after %d reads (sleeps %v); want JobDeadlineExceededError on the read at age 15 s", err, api.Calls, clk.sleeps)
	}
}

func TestInProcessSetting(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", DefaultInProcess, false},
		{"0", 0, false},
		{"45", 45 * time.Second, false},
		{"61", 0, true},
		{"-1", 0, true},
		{"ten", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			env := config.NewEnv(func(k string) string {
				switch k {
				case "AVEPOINT_SECRET_ID":
					return "s"
				case "POLL_INPROCESS_SECONDS":
					return tt.value
				}
				return ""
			})
			cfg := LoadConfig(env)
			if err := env.Err(); (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && cfg.InProcess != tt.want {
				t.Fatalf("InProcess = %v, want %v", cfg.InProcess, tt.want)
			}
		})
	}
}
