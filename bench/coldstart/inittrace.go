package coldstart

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// InitTrace sums one process start's GODEBUG=inittrace=1 lines: the Go
// runtime prints one per package init function that ran, with its clock
// time and heap allocation.
type InitTrace struct {
	Packages int
	Clock    time.Duration
	Bytes    int64
	// ByPackage is each package's clock time.
	ByPackage map[string]time.Duration
	// BytesByPackage is each package's heap bytes.
	BytesByPackage map[string]int64
}

// ParseInitTrace reads the "init <pkg> @<t> ms, <c> ms clock, <b> bytes,
// <a> allocs" lines of a process's stderr; other lines are ignored.
func ParseInitTrace(stderr string) InitTrace {
	tr := InitTrace{ByPackage: map[string]time.Duration{}, BytesByPackage: map[string]int64{}}
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// init PKG @T ms, C ms clock, B bytes, A allocs
		if len(f) != 11 || f[0] != "init" || !strings.HasPrefix(f[2], "@") || f[5] != "ms" || f[6] != "clock," || f[8] != "bytes," {
			continue
		}
		clock, err1 := strconv.ParseFloat(f[4], 64)
		bytes, err2 := strconv.ParseInt(f[7], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		d := time.Duration(clock * float64(time.Millisecond))
		tr.Packages++
		tr.Clock += d
		tr.Bytes += bytes
		tr.ByPackage[f[1]] += d
		tr.BytesByPackage[f[1]] += bytes
	}
	return tr
}

// InitCost is package init over several process starts.
type InitCost struct {
	Runs, Packages int
	// Clock is the median total; Bytes the median heap bytes.
	Clock time.Duration
	Bytes int64
	// Dearest is the package (the runtime's own init aside, which every
	// binary has) with the largest median clock time, and that time.
	Dearest      string
	DearestClock time.Duration
	DearestBytes int64
	// GroupClock and GroupBytes are the medians of the per-start sums over
	// the packages SummariseInit's group selects.
	GroupClock time.Duration
	GroupBytes int64
}

// SummariseInit takes the medians over traces; group (nil: none) picks
// the packages GroupClock and GroupBytes add up.
func SummariseInit(traces []InitTrace, group func(pkg string) bool) InitCost {
	c := InitCost{Runs: len(traces)}
	if len(traces) == 0 {
		return c
	}
	var clocks, groupClocks []time.Duration
	var bytes, groupBytes []int64
	perPkg := map[string][]time.Duration{}
	for _, t := range traces {
		clocks = append(clocks, t.Clock)
		bytes = append(bytes, t.Bytes)
		var gc time.Duration
		var gb int64
		for pkg, d := range t.ByPackage {
			if group != nil && group(pkg) {
				gc += d
				gb += t.BytesByPackage[pkg]
			}
		}
		groupClocks, groupBytes = append(groupClocks, gc), append(groupBytes, gb)
		c.Packages = max(c.Packages, t.Packages)
		for pkg, d := range t.ByPackage {
			perPkg[pkg] = append(perPkg[pkg], d)
		}
	}
	slices.Sort(clocks)
	slices.Sort(bytes)
	slices.Sort(groupClocks)
	slices.Sort(groupBytes)
	c.Clock = Quantile(clocks, 0.5)
	c.Bytes = bytes[len(bytes)/2]
	c.GroupClock = Quantile(groupClocks, 0.5)
	c.GroupBytes = groupBytes[len(groupBytes)/2]
	pkgs := make([]string, 0, len(perPkg))
	for pkg := range perPkg {
		pkgs = append(pkgs, pkg)
	}
	slices.Sort(pkgs) // ties go to the first name
	for _, pkg := range pkgs {
		if pkg == "runtime" {
			continue
		}
		ds := perPkg[pkg]
		for len(ds) < len(traces) {
			ds = append(ds, 0) // absent from a run: no time
		}
		slices.Sort(ds)
		if m := Quantile(ds, 0.5); m > c.DearestClock {
			c.Dearest, c.DearestClock = pkg, m
		}
	}
	if c.Dearest != "" {
		c.DearestBytes = traces[0].BytesByPackage[c.Dearest]
	}
	return c
}

// String is the table cell: "1.9 ms, 832 KiB (pkg 0.13 ms, 9 KiB)".
func (c InitCost) String() string {
	if c.Runs == 0 {
		return "—"
	}
	s := fmt.Sprintf("%.1f ms, %.0f KiB", float64(c.Clock)/1e6, float64(c.Bytes)/1024)
	if c.Dearest != "" {
		s += fmt.Sprintf(" (%s %.2f ms, %.0f KiB)", c.Dearest, float64(c.DearestClock)/1e6, float64(c.DearestBytes)/1024)
	}
	return s
}

// MeasureInit starts bin runs times (group: see SummariseInit) with GODEBUG=inittrace=1 and nothing
// else in its environment: the package inits run and print, then main
// stops at its missing configuration (or lambda.Start at the missing
// runtime API), so nothing is called.
func MeasureInit(ctx context.Context, bin string, runs int, group func(pkg string) bool) (InitCost, error) {
	var traces []InitTrace
	for range runs {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cmd := exec.CommandContext(cctx, bin)
		cmd.Env = []string{"GODEBUG=inittrace=1"}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		_ = cmd.Run() // it exits 1 by design
		cancel()
		tr := ParseInitTrace(stderr.String())
		if tr.Packages == 0 {
			return InitCost{}, fmt.Errorf("coldstart: %s printed no init trace: %s", bin, tail(stderr.String()))
		}
		traces = append(traces, tr)
	}
	return SummariseInit(traces, group), nil
}
