package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/insights-export/insights-export/bench/convertbench"
)

// runConvert is section 5: the convert step against excelize's streaming
// reader (bench/convertbench; its children are bench/cmd/convertchild).
func runConvert(ctx context.Context, r *report) error {
	began := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	o := convertbench.Options{
		Sizes:          r.opts.convertSizes,
		Runs:           r.opts.convertRuns,
		FormattedLarge: r.opts.convertFormattedLarge,
		NoProfile:      !r.opts.convertProfile,
		Dir:            r.opts.convertCache,
		Root:           root,
		Log:            logf,
	}
	var sizes []string
	for _, n := range o.Sizes {
		sizes = append(sizes, strconv.Itoa(n))
	}
	cmd := fmt.Sprintf("%s -convert-sizes %s -convert-runs %d", convertCommand, strings.Join(sizes, ","), o.Runs)
	if o.FormattedLarge {
		cmd += " -convert-formatted-large"
	}
	if o.NoProfile {
		cmd += " -convert-profile=false"
	}
	r.commands = append(r.commands, cmd)
	res, err := convertbench.Run(ctx, o)
	if err != nil {
		return fmt.Errorf("convertbench: %w", err)
	}
	for _, x := range res.Summary() {
		r.rows = append(r.rows, row{convertRows, x.Figure, x.Value, x.Baseline, x.Ratio, x.Target, x.Met})
	}
	r.add(50, res.Markdown(), time.Since(began))
	return nil
}

// parseRowCounts reads -convert-sizes: row counts separated by commas,
// each a number with an optional k or M suffix (10k, 200000, 2M).
func parseRowCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		mult := 1
		switch {
		case strings.HasSuffix(f, "k"):
			mult, f = 1000, strings.TrimSuffix(f, "k")
		case strings.HasSuffix(f, "M"):
			mult, f = 1_000_000, strings.TrimSuffix(f, "M")
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 || v*float64(mult) > 1e9 {
			return nil, fmt.Errorf("row count %q: want a positive number, optionally with k or M (e.g. 10k,200k,2M)", f)
		}
		n := int(v * float64(mult))
		if float64(n) != v*float64(mult) {
			return nil, fmt.Errorf("row count %q is not a whole number of rows", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no row counts in %q", s)
	}
	return out, nil
}
