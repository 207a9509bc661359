package export

import (
	"math"
	"time"
)

// WaitPolicy decides how long the state machine waits between job polls.
// The wait grows with the job's age — a fixed fraction of it, clamped to
// [Min, Max] — so a short job is noticed within seconds while a long one
// costs tens of state transitions rather than thousands. The detection
// delay stays within AgeFactor of the job's age once past Min/AgeFactor.
type WaitPolicy struct {
	Min       time.Duration
	Max       time.Duration
	AgeFactor float64
	// Deadline ends a job that never finishes: past it, the check step
	// fails with JobDeadlineExceededError.
	Deadline time.Duration
}

// DefaultWaitPolicy: first poll after 5 s, waits of a fifth of the job's
// age, at most 5 minutes apart, give up after 6 hours.
var DefaultWaitPolicy = WaitPolicy{Min: 5 * time.Second, Max: 5 * time.Minute, AgeFactor: 0.2, Deadline: 6 * time.Hour}

// Next is the wait before the next poll of a job of the given age. It never
// schedules a poll past the deadline by more than a second, so a job that
// overruns is reported promptly.
func (p WaitPolicy) Next(age time.Duration) time.Duration {
	w := time.Duration(math.Round(float64(age) * p.AgeFactor))
	w = min(max(w, p.Min), p.Max)
	if left := p.Deadline - age; left > 0 && w > left {
		w = left
	}
	// Wait states count whole seconds.
	return max(w.Round(time.Second), time.Second)
}
