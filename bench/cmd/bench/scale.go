package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/insights-export/insights-export/bench/scalebench"
)

// runScale is section 6: PrepareBatch and WriteManifest with 5,000 and
// 100,000 users against a local S3 endpoint (bench/scalebench; its
// children are bench/cmd/scalechild).
func runScale(ctx context.Context, r *report) error {
	began := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	o := scalebench.Options{Sizes: r.opts.scaleSizes, Moto: r.opts.scaleMoto, Root: root, Log: logf}
	var sizes []string
	for _, n := range o.Sizes {
		sizes = append(sizes, strconv.Itoa(n))
	}
	r.commands = append(r.commands, fmt.Sprintf("%s -scale-sizes %s", scaleCommand, strings.Join(sizes, ",")))
	res, err := scalebench.Run(ctx, o)
	if err != nil {
		return fmt.Errorf("scalebench: %w", err)
	}
	for _, x := range res.Summary() {
		r.rows = append(r.rows, row{scaleRows, x.Figure, x.Value, x.Baseline, x.Ratio, x.Target, x.Met})
	}
	r.add(60, res.Markdown(), time.Since(began))
	return nil
}
