package request

import (
	"math"
	"time"
)

// WaitPolicy decides how long the state machine waits between job polls.
// The wait grows with the job's age — a fixed fraction of it, clamped to
// [Min, Max] — so a short job is noticed within seconds while a long one
// costs tens of polls rather than hundreds. The detection
// delay stays within AgeFactor of the job's age once past Min/AgeFactor.
type WaitPolicy struct {
	Min       time.Duration
	Max       time.Duration
	AgeFactor float64
	// Deadline ends a job that never finishes: past it, the check step
	// fails with JobDeadlineExceededError.
	Deadline time.Duration
}

// DefaultWaitPolicy: first poll after 5 s, then waits of 6 % of the job's
// age, at most 10 minutes apart, give up after 6 hours.
//
// Why: a finished job must be noticed within 10 % of its age, and a
// finished job holds one of AvePoint's five job slots until it is noticed:
// at 6 % (rounded down to whole seconds) a batch's slots stay busy ≥ 95 %
// of the time (BENCHMARKS.md §8) with the rest of the 10 % left for the
// poll's own latency; the extra reads at young ages are taken in-process
// by the check function, where they cost little (§3, §7). The cap bounds
// the delay of very long jobs while keeping a 24-hour job well under Step
// Functions' history quota. BENCHMARKS.md, "Polling cost", has the
// figures (polls, transitions, history events, detection delay) for each
// job length, from the model in bench/polling.
var DefaultWaitPolicy = WaitPolicy{Min: 5 * time.Second, Max: 10 * time.Minute, AgeFactor: 0.06, Deadline: 6 * time.Hour}

// Next is the wait before the next poll of a job of the given age. It never
// schedules a poll past the deadline by more than a second, so a job that
// overruns is reported promptly.
func (p WaitPolicy) Next(age time.Duration) time.Duration {
	// Rounded down to whole seconds (Wait states count seconds), so the
	// wait never exceeds AgeFactor×age; the epsilon keeps 600 s × 0.09
	// from landing on 53.999… and losing a second.
	w := time.Duration(math.Floor(age.Seconds()*p.AgeFactor+1e-6)) * time.Second
	w = min(max(w, p.Min), p.Max)
	if left := p.Deadline - age; left > 0 && w > left {
		w = left
	}
	// Wait states count whole seconds.
	return max(w.Round(time.Second), time.Second)
}
