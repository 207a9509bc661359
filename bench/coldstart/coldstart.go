package coldstart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/insights-export/insights-export/devstack"
)

// Target is one bootstrap and the invocations that measure it.
type Target struct {
	Name      string
	Bootstrap string
	Env       map[string]string
	// Success, if set, is the cheapest invocation that succeeds against
	// the local services; Succeeded checks its answer.
	Success   any
	Succeeded Answer
	// Refused is an invocation the handler refuses before any network
	// call (launch → that answer is init and dispatch without the first
	// call's round trips); Refusal checks that it was refused, and how.
	Refused any
	Refusal Answer
	// Connects is an invocation that must open a connection: the network
	// check's proof that its recorder is in the path (nil: Success).
	Connects any
}

// ErrEmulator marks a launch that failed in the emulator or the harness
// (the RIE not starting, an invoke answered 502 with no function error)
// rather than in the function: such a sample may be repeated.
var ErrEmulator = errors.New("emulator error")

// Sample is one launch.
type Sample struct {
	// First: launch → first response. Warm: the same request again on
	// the warm instance.
	First, Warm time.Duration
	// Init and Invoke are the emulator's own REPORT figures for the first
	// invocation, zero when it printed no REPORT line in time. In this RIE
	// version "Duration" runs from starting the runtime through its init
	// and the handler (everything but the emulator's own start), while
	// "Init Duration" only times an asynchronous call and reads ~0.
	Init, Invoke time.Duration
}

// Launch starts the RIE with t's bootstrap, invokes payload once (the
// cold start) and once more (warm), and stops it. want checks both
// answers.
func Launch(ctx context.Context, t Target, payload any, want Answer) (Sample, error) {
	if want == nil {
		return Sample{}, fmt.Errorf("coldstart: %s: no answer check", t.Name)
	}
	start := time.Now()
	f, err := devstack.StartFunction(ctx, devstack.FunctionSpec{Name: "coldstart-" + t.Name, Bootstrap: t.Bootstrap, Env: t.Env, Timeout: 60 * time.Second})
	if err != nil {
		return Sample{}, fmt.Errorf("%w: %w", ErrEmulator, err)
	}
	defer f.Close()
	check := func(out json.RawMessage, fnErr *devstack.FunctionError) error {
		if err := want(out, fnErr); err != nil {
			return fmt.Errorf("%s: %w\n%s", t.Name, err, tail(f.Logs()))
		}
		return nil
	}
	out, fnErr, err := f.Invoke(ctx, payload)
	var s Sample
	s.First = time.Since(start)
	if err != nil {
		return s, fmt.Errorf("%w: %w\n%s", ErrEmulator, err, tail(f.Logs()))
	}
	if err := check(out, fnErr); err != nil {
		return s, err
	}
	warmStart := time.Now()
	out, fnErr, err = f.Invoke(ctx, payload)
	s.Warm = time.Since(warmStart)
	if err != nil {
		return s, fmt.Errorf("%w: %w\n%s", ErrEmulator, err, tail(f.Logs()))
	}
	// The first REPORT line is printed around the first answer; by the end
	// of the second invocation it is in the log, or very nearly.
	for wait := 0; wait < 20; wait++ {
		if s.Init, s.Invoke = ParseReport(f.Logs()); s.Init > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s, check(out, fnErr)
}

var (
	reInit     = regexp.MustCompile(`Init Duration: ([0-9.]+) ms`)
	reDuration = regexp.MustCompile(`\tDuration: ([0-9.]+) ms`)
)

// ParseReport reads the first REPORT line of an RIE log: its Init
// Duration and Duration (zero when absent).
func ParseReport(logs string) (initDur, invoke time.Duration) {
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, "REPORT RequestId:") {
			continue
		}
		if m := reInit.FindStringSubmatch(line); m != nil {
			initDur = msDuration(m[1])
		}
		if m := reDuration.FindStringSubmatch(line); m != nil {
			invoke = msDuration(m[1])
		}
		return initDur, invoke
	}
	return 0, 0
}

func msDuration(v string) time.Duration {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0
	}
	return time.Duration(f * float64(time.Millisecond))
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// Stats summarises samples.
type Stats struct {
	N                int
	Median, Min, Max time.Duration
	P25, P75         time.Duration
	MedianWarm       time.Duration
	// Medians of the emulator's Init Duration and first-invoke Duration,
	// over the samples that have them (InitN).
	MedianInit, MedianInvoke time.Duration
	InitN                    int
	Samples, WarmTimes       []time.Duration
}

// Summarise computes the order statistics (nearest-rank quartiles).
func Summarise(samples []Sample) Stats {
	st := Stats{N: len(samples)}
	if st.N == 0 {
		return st
	}
	for _, s := range samples {
		st.Samples = append(st.Samples, s.First)
		st.WarmTimes = append(st.WarmTimes, s.Warm)
	}
	first := slices.Clone(st.Samples)
	warm := slices.Clone(st.WarmTimes)
	slices.Sort(first)
	slices.Sort(warm)
	st.Min, st.Max = first[0], first[len(first)-1]
	st.Median = Quantile(first, 0.5)
	st.P25, st.P75 = Quantile(first, 0.25), Quantile(first, 0.75)
	st.MedianWarm = Quantile(warm, 0.5)
	var inits, invokes []time.Duration
	for _, s := range samples {
		if s.Init > 0 {
			inits = append(inits, s.Init)
			invokes = append(invokes, s.Invoke)
		}
	}
	slices.Sort(inits)
	slices.Sort(invokes)
	st.InitN = len(inits)
	st.MedianInit, st.MedianInvoke = Quantile(inits, 0.5), Quantile(invokes, 0.5)
	return st
}

// Quantile of sorted values by linear interpolation between closest ranks.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := pos - float64(lo)
	return sorted[lo] + time.Duration(frac*float64(sorted[lo+1]-sorted[lo]))
}
