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

// DefaultWaitPolicy: first poll after 5 s, then waits of 9 % of the job's
// age, at most 10 minutes apart, give up after 6 hours.
//
// Why these numbers (BENCHMARKS.md, "Polling cost", has the table): a job
// must be noticed within 10 % of its age. Waits of at most 9 % (rounded
// down to whole seconds) leave a tenth of that for the poll's own latency
// (state transitions, Lambda invoke, status call), so the bound holds from
// a 1-minute job up. The 10-minute cap bounds the absolute delay of very
// long jobs while keeping a 24-hour job at about 200 polls (≈1,800
// history events, under the 2,500 budget and far from Step Functions'
// 25,000 limit); a 5-minute cap would cost about 330 polls (≈3,000
// events). The price of the 10 % bound is ≈60 polls for a 1-hour job
// (≈186 state transitions, $0.005): polls grow geometrically by 1.09, and
// ln(3600/55)/ln(1.09) ≈ 49 of them are needed between 55 s and 1 h.
var DefaultWaitPolicy = WaitPolicy{Min: 5 * time.Second, Max: 10 * time.Minute, AgeFactor: 0.09, Deadline: 6 * time.Hour}

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
