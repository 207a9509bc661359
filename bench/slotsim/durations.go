package slotsim

import (
	"errors"
	"math"
	"math/rand/v2"
	"time"
)

// Spread is how job durations are drawn between their bounds.
type Spread int

const (
	// LogUniform draws the logarithm uniformly: every doubling of the
	// duration is as likely as the next. One user's activity and so one
	// report's size span orders of magnitude across a tenant, a few heavy
	// users and many light ones, which this shape has and a uniform draw
	// (as many 9-minute jobs as 1-minute ones) has not; and the short jobs
	// it favours are the hard case for utilisation, since the fixed costs
	// around a job (start, store, convert, the 5-second minimum waits)
	// weigh most against them.
	LogUniform Spread = iota
	// Uniform draws the duration itself uniformly.
	Uniform
)

func (s Spread) String() string {
	if s == Uniform {
		return "uniform"
	}
	return "log-uniform"
}

// Durations draws n job durations in [lo, hi] from seed, in milliseconds:
// the same arguments give the same list on every machine (math/rand/v2's
// PCG is specified, not platform-dependent).
func Durations(n int, lo, hi time.Duration, spread Spread, seed uint64) ([]time.Duration, error) {
	if n < 1 || lo <= 0 || hi < lo {
		return nil, errors.New("slotsim: want n ≥ 1 and 0 < lo ≤ hi")
	}
	rng := rand.New(rand.NewPCG(seed, 0x13_04)) // issue 13, item 4
	out := make([]time.Duration, n)
	for i := range out {
		u := rng.Float64()
		var d float64
		switch spread {
		case Uniform:
			d = float64(lo) + u*float64(hi-lo)
		default:
			d = float64(lo) * math.Pow(float64(hi)/float64(lo), u)
		}
		out[i] = time.Duration(d).Round(time.Millisecond)
	}
	return out, nil
}

// Noisy returns estimates of durations off by a log-normal factor
// exp(N(0, sigma)): a previous run's job times, which follow this run's
// only roughly (sigma 0.5: within ×0.6–×1.6 two times in three).
func Noisy(durations []time.Duration, sigma float64, seed uint64) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, 0x13_04))
	out := make([]time.Duration, len(durations))
	for i, d := range durations {
		out[i] = time.Duration(float64(d) * math.Exp(sigma*rng.NormFloat64()))
	}
	return out
}
