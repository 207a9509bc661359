package polling

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"
)

// Retrier is one ASL retrier as Step Functions applies it: its k-th retry
// (k = 0, 1, …, counted per retrier over the state's whole run) waits
// Interval × Backoff^k, at most MaxDelay; with FULL jitter a uniformly
// random share of that, between 0 and it. (The Amazon States Language
// fields: IntervalSeconds, BackoffRate, MaxDelaySeconds, MaxAttempts,
// JitterStrategy FULL/NONE; aws-local-stepfunctions computes the same.)
type Retrier struct {
	// Error is the retrier's one ErrorEquals entry.
	Error string
	// Interval is whole seconds, as IntervalSeconds is an integer.
	Interval time.Duration
	Backoff  float64
	// MaxDelay is whole seconds; 0 = none.
	MaxDelay    time.Duration
	MaxAttempts int
	Jitter      bool
}

// Delay is the wait before the retrier's k-th retry, without jitter.
func (r Retrier) Delay(k int) time.Duration {
	d := float64(r.Interval) * math.Pow(r.Backoff, float64(k))
	if r.MaxDelay > 0 && d > float64(r.MaxDelay) {
		d = float64(r.MaxDelay)
	}
	return time.Duration(d)
}

func (r Retrier) check() error {
	switch {
	case r.Error == "":
		return fmt.Errorf("polling: a retrier needs an error name")
	case r.Interval < time.Second || r.Interval%time.Second != 0:
		return fmt.Errorf("polling: retrier %s: IntervalSeconds %s is not a whole number of seconds ≥ 1", r.Error, r.Interval)
	case r.Backoff < 1:
		return fmt.Errorf("polling: retrier %s: BackoffRate %g < 1", r.Error, r.Backoff)
	case r.MaxDelay < 0 || r.MaxDelay%time.Second != 0:
		return fmt.Errorf("polling: retrier %s: MaxDelaySeconds %s is not whole seconds", r.Error, r.MaxDelay)
	case r.MaxAttempts < 1:
		return fmt.Errorf("polling: retrier %s: MaxAttempts %d", r.Error, r.MaxAttempts)
	}
	return nil
}

// RetryStage is a retrier and the ages it covers: the check fails with
// its Error while the job's age is below Until (0 on the last stage: any
// age).
type RetryStage struct {
	Retrier
	Until time.Duration
}

// RetryLoop is the poll loop as Task retries: after the first wait (the
// WaitForJob state the variant keeps: StartExport's waitSeconds), the
// check reads the status; while the job runs it fails with the error of
// the first stage whose Until the job's age has not reached, and that
// stage's retrier decides the wait before the next read. With one stage
// the waits grow with the number of reads (Interval × Backoff^k), not with
// the age; a second stage lets a flat start (the policy's minimum) hand
// over to the proportional part.
type RetryLoop struct {
	First  time.Duration
	Stages []RetryStage
}

// ErrorFor is the error the check fails with at this age.
func (l RetryLoop) ErrorFor(age time.Duration) string { return l.Stages[l.stage(age)].Error }

func (l RetryLoop) stage(age time.Duration) int {
	for i, s := range l.Stages {
		if s.Until == 0 || age < s.Until {
			return i
		}
	}
	return len(l.Stages) - 1
}

func (l RetryLoop) check() error {
	if l.First <= 0 {
		return fmt.Errorf("polling: retry loop: first wait %s", l.First)
	}
	if len(l.Stages) == 0 {
		return fmt.Errorf("polling: retry loop without a retrier")
	}
	seen := map[string]bool{}
	for i, s := range l.Stages {
		if err := s.check(); err != nil {
			return err
		}
		if seen[s.Error] {
			return fmt.Errorf("polling: retry loop: two stages fail with %s (one retrier would count both)", s.Error)
		}
		seen[s.Error] = true
		last := i == len(l.Stages)-1
		if last != (s.Until == 0) || (i > 0 && !last && s.Until <= l.Stages[i-1].Until) {
			return fmt.Errorf("polling: retry loop: stage %d covers ages below %s; only the last covers every age, in rising order", i, s.Until)
		}
	}
	return nil
}

// MaxAttemptsFor is the MaxAttempts that makes the last stage's retries
// run out at the deadline (no jitter, no latency): the deadline expressed
// as retries, for a job still running after the earlier stages end at
// from.
func MaxAttemptsFor(r Retrier, from, deadline time.Duration) int {
	t, k := from, 0
	for t < deadline {
		t += r.Delay(k)
		k++
		if k > 99_999_999 {
			break
		}
	}
	return k
}

// SimulateRetry runs the retry loop of a variant export (RetryVariant)
// against a job: the first read after loop.First, then a retry per read
// while the job runs. rng draws the FULL jitter (nil: no retrier may use
// it).
func SimulateRetry(e *Export, loop RetryLoop, job Job, rng *rand.Rand) (Result, error) {
	if e == nil || !e.RetryPolls {
		return Result{}, fmt.Errorf("polling: SimulateRetry needs an export whose check retries (RetryVariant)")
	}
	if err := loop.check(); err != nil {
		return Result{}, err
	}
	if job.Duration < 0 || job.Latency < 0 || job.Deadline < 0 {
		return Result{}, fmt.Errorf("polling: negative duration in %+v", job)
	}
	attempts := make([]int, len(loop.Stages))
	r := Result{}
	var prev time.Duration
	wait := loop.First
	t := loop.First + job.Latency
	for {
		if done, err := e.read(&r, job, t, prev, wait); done {
			return r, err
		}
		i := loop.stage(t)
		s := loop.Stages[i]
		if attempts[i] >= s.MaxAttempts {
			r.Outcome = AttemptsOut
			return r, e.price(&r, s.Error)
		}
		if e.historyFull(&r, r.Polls) {
			return r, nil
		}
		wait = s.Delay(attempts[i])
		if s.Jitter {
			if rng == nil {
				return Result{}, fmt.Errorf("polling: retrier %s jitters and no random source was given", s.Error)
			}
			wait = time.Duration(rng.Float64() * float64(wait))
		}
		attempts[i]++
		prev = t
		t += wait + job.Latency
	}
}

// RetryStats is a retry loop with jitter over many seeded runs: means and
// the 95th percentile of the worst delay ratio. Reads, transitions and
// events are over every run; the delays over the runs that saw the job
// finished (none: zero).
type RetryStats struct {
	Runs                              int
	Polls, Transitions, HistoryEvents float64
	Delay                             time.Duration
	DelayRatio                        float64
	WorstRatioP95                     float64
	// EndAge is the mean age of the job at the last read (for runs that
	// ran out of attempts: when the retries gave up).
	EndAge time.Duration
	// Outcomes counts the runs by outcome.
	Outcomes map[string]int
}

// ExpectRetry runs SimulateRetry runs times with a PCG seeded by seed:
// the expected value of a jittered loop.
func ExpectRetry(e *Export, loop RetryLoop, job Job, runs int, seed uint64) (RetryStats, error) {
	if runs < 1 {
		return RetryStats{}, fmt.Errorf("polling: %d runs", runs)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	st := RetryStats{Runs: runs, Outcomes: map[string]int{}}
	var worst []float64
	var delay, end float64
	for range runs {
		r, err := SimulateRetry(e, loop, job, rng)
		if err != nil {
			return st, err
		}
		st.Outcomes[r.Outcome]++
		st.Polls += float64(r.Polls)
		st.Transitions += float64(r.Transitions)
		st.HistoryEvents += float64(r.HistoryEvents)
		end += float64(r.PollTimes[len(r.PollTimes)-1])
		if r.Outcome == Succeeded {
			delay += float64(r.Delay)
			st.DelayRatio += r.DelayRatio(job)
			worst = append(worst, r.WorstRatio)
		}
	}
	n := float64(runs)
	st.Polls, st.Transitions, st.HistoryEvents = st.Polls/n, st.Transitions/n, st.HistoryEvents/n
	st.EndAge = time.Duration(end / n)
	if ok := float64(len(worst)); ok > 0 {
		st.Delay, st.DelayRatio = time.Duration(delay/ok), st.DelayRatio/ok
		sort.Float64s(worst)
		st.WorstRatioP95 = worst[min(len(worst)-1, int(math.Ceil(0.95*ok))-1)]
	}
	return st, nil
}

// RetryVariant rewrites an export definition (statemachine/export.asl.json)
// so that the check's own Retry is the poll loop: the loop's Choice state
// goes, the check leads to where "finished" led, and the loop's retriers
// come first in the check's Retry (its service-error retriers stay). The
// WaitForJob state before the check stays: the first read waits as today.
// A bench-only definition: the deployed one is not touched.
func RetryVariant(asl []byte, check string, loop RetryLoop) ([]byte, error) {
	if err := loop.check(); err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(asl, &doc); err != nil {
		return nil, fmt.Errorf("polling: ASL: %w", err)
	}
	states, _ := doc["States"].(map[string]any)
	st, _ := states[check].(map[string]any)
	if st == nil {
		return nil, fmt.Errorf("polling: no state %s", check)
	}
	choiceName, _ := st["Next"].(string)
	choice, _ := states[choiceName].(map[string]any)
	if choice == nil || choice["Type"] != "Choice" {
		return nil, fmt.Errorf("polling: %s leads to %q, not to the loop's Choice state", check, choiceName)
	}
	finished := ""
	rules, _ := choice["Choices"].([]any)
	for _, raw := range rules {
		rule, _ := raw.(map[string]any)
		if rule["Variable"] == statusPath && rule["StringEquals"] == "finished" {
			finished, _ = rule["Next"].(string)
		}
	}
	if finished == "" {
		return nil, fmt.Errorf("polling: %s has no rule for %s = finished", choiceName, statusPath)
	}
	delete(states, choiceName)
	st["Next"] = finished
	st["Comment"] = "Bench variant (bench/polling.RetryVariant): reads the job status once per attempt and fails with a still-running error while the job runs; the retriers below are the poll loop."
	var retry []any
	for _, s := range loop.Stages {
		r := map[string]any{
			"ErrorEquals":     []any{s.Error},
			"IntervalSeconds": int(s.Interval / time.Second),
			"BackoffRate":     s.Backoff,
			"MaxAttempts":     s.MaxAttempts,
			"JitterStrategy":  "NONE",
		}
		if s.MaxDelay > 0 {
			r["MaxDelaySeconds"] = int(s.MaxDelay / time.Second)
		}
		if s.Jitter {
			r["JitterStrategy"] = "FULL"
		}
		retry = append(retry, r)
	}
	if old, ok := st["Retry"].([]any); ok {
		retry = append(retry, old...)
	}
	st["Retry"] = retry
	// Nothing else may still lead to the removed state.
	for name, v := range states {
		s, _ := v.(map[string]any)
		refs := []any{s["Next"], s["Default"]}
		for _, c := range append(asSlice(s["Catch"]), asSlice(s["Choices"])...) {
			m, _ := c.(map[string]any)
			refs = append(refs, m["Next"])
		}
		if slices.Contains(refs, any(choiceName)) {
			return nil, fmt.Errorf("polling: %s still leads to %s", name, choiceName)
		}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
