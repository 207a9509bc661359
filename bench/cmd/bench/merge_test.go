package main

import (
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

var (
	oldStart = time.Date(2026, 11, 25, 20, 45, 0, 0, time.UTC)
	newStart = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
)

const (
	oldDate = "2026-11-25 20:45 UTC"
	newDate = "2026-12-01 10:00 UTC"
)

// wholeRun is a small report as a run of every section writes it: §1a
// and §1b, §2 (a fragment's row), §3, and a failed §4 with no block.
func wholeRun() *report {
	r := &report{started: oldStart, machine: machineInfo{nproc: 2, cpu: "cpu", loadBefore: "1.00 1.10 1.20", loadAfter: "2.00 2.10 2.20"}}
	r.opts.sections = all()
	r.commands = []string{invocationCommand + " -out BENCHMARKS.md", buildCommand, pollingCommand, storeCommand}
	r.rows = []row{
		{coldStartRows, "startexport" + sizeFigure, "11.00 MiB", "9.00 MiB (6644b55)", "1.22", "≤ 10 MiB", "**no**"},
		{coldStartRows, "checkjob" + sizeFigure, "7.63 MiB", "—", "—", "≤ 10 MiB", "yes"},
		{coldStartRows, "startexport: launch → first successful response (median of 20)", "35.3 ms", "hello 26.4 ms", "1.33", "≤ 1.25", "**no**"},
		{coldStartRows, "network connections during init (3 functions)", "startexport 0", "—", "—", "0", "yes"},
		{Section: storeRows, Figure: " 1 GiB store throughput vs `curl \\| aws s3 cp -` | 291 MiB/s | 149 MiB/s | 2.0 | ≥ 3 | **no** "},
		{pollingRows, "1 h job: state transitions / cost", "183 / $0.0046", "fixed 10 s: 1059", "0.17", "≤ 60", "**no**"},
		{pollingRows, "24 h job: history events", "1814", "fixed 10 s: 24991", "0.07", "≤ 2,500", "yes"},
	}
	// The fence holds a line that looks like a heading of the report.
	r.add(11, "OLD SIZES\n\n```\n## 3. Polling cost\n```", 5*time.Second)
	r.add(12, "OLD COLD START", time.Minute)
	r.add(20, "OLD STORE\n\n#### Targets\n\n| figure | value |\n|---|---|\n| x | y |", 5*time.Minute)
	r.add(30, "OLD POLLING", 65*time.Second)
	r.failures = []string{"gobench: go test -bench: exit status 1: FAIL x"}
	return r
}

func all() map[string]bool {
	m := map[string]bool{}
	for _, s := range allSections {
		m[s] = true
	}
	return m
}

// subsetRun is a run of the given sections as its steps would fill it.
func subsetRun(sections ...string) *report {
	r := &report{started: newStart, machine: machineInfo{nproc: 2, cpu: "cpu", loadBefore: "3.00 3.10 3.20", loadAfter: "4.00 4.10 4.20"}}
	r.opts.sections = map[string]bool{}
	for _, s := range sections {
		r.opts.sections[s] = true
	}
	r.commands = []string{invocationCommand + " -out BENCHMARKS.md -sections " + strings.Join(sections, ",")}
	return r
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name string
		ran  []string
		// fill adds what the steps that ran wrote.
		fill func(r *report)
		// want appear in the merged report, in this order; absent do not.
		want, absent []string
		// unmet are the figures the Not-met list must name.
		unmet []string
	}{{
		name: "sizes replaces 1a and its rows, keeps 1b, 2 and 3",
		ran:  []string{"sizes"},
		fill: func(r *report) {
			r.commands = append(r.commands, buildCommand)
			r.rows = append(r.rows,
				row{coldStartRows, "startexport" + sizeFigure, "7.50 MiB", "8.00 MiB (b9e7bb4)", "0.94", "≤ 10 MiB", "yes"},
				row{coldStartRows, "checkjob" + sizeFigure, "7.40 MiB", "8.00 MiB (b9e7bb4)", "0.93", "≤ 10 MiB", "yes"})
			r.add(11, "NEW SIZES", 6*time.Second)
		},
		want: []string{
			"on " + newDate + ", in ", "for the sections sizes; the other sections are kept",
			"| load average (1/5/15 min), run of " + oldDate + " | 1.00 1.10 1.20 at start, 2.00 2.10 2.20 at end |",
			"| load average (1/5/15 min), run of " + newDate + " | 3.00 3.10 3.20 at start,",
			"- `" + invocationCommand + " -out BENCHMARKS.md` (run of " + oldDate + ")",
			"- `" + invocationCommand + " -out BENCHMARKS.md -sections sizes` (run of " + newDate + ")",
			"- `" + buildCommand + "` (run of " + newDate + ")",
			"- `" + pollingCommand + "` (run of " + oldDate + ")",
			"- `" + storeCommand + "` (run of " + oldDate + ")",
			// Sizes' new rows first, then cold start's kept ones, as a whole run orders them.
			"| 1. cold start | startexport bootstrap size (arm64) | 7.50 MiB | 8.00 MiB (b9e7bb4) | 0.94 | ≤ 10 MiB | yes |",
			"| 1. cold start | checkjob bootstrap size (arm64) | 7.40 MiB |",
			"| 1. cold start | startexport: launch → first successful response (median of 20) | 35.3 ms |",
			"| 2. store | 1 GiB store throughput vs `curl \\| aws s3 cp -` | 291 MiB/s | 149 MiB/s | 2.0 | ≥ 3 | **no** |",
			"| 3. polling | 1 h job: state transitions / cost | 183 / $0.0046 |",
			"| 3. polling | 24 h job: history events | 1814 |",
			"**Sections that failed, by run:**",
			"- gobench: go test -bench: exit status 1: FAIL x (run of " + oldDate + ")",
			"## 1. Cold start and binary size\n\n### 1a. Binary sizes\n\nNEW SIZES\n\n_(6s; run of " + newDate + ")_",
			"### 1b. Cold start under the Lambda RIE\n\nOLD COLD START\n\n_(1m0s; run of " + oldDate + ")_",
			"## 2. Store streaming\n\nOLD STORE\n\n#### Targets",
			"_(5m0s; run of " + oldDate + ")_",
			"## 3. Polling cost\n\nOLD POLLING\n\n_(1m5s; run of " + oldDate + ")_",
			"## Not met, and why",
		},
		absent: []string{"OLD SIZES", "11.00 MiB", "9.00 MiB (6644b55)", "| 7.63 MiB |"},
		unmet:  []string{"startexport: launch → first successful response", "1 GiB store throughput", "1 h job: state transitions"},
	}, {
		name: "polling replaces 3, keeps both halves of 1",
		ran:  []string{"polling"},
		fill: func(r *report) {
			r.commands = append(r.commands, pollingCommand)
			r.rows = append(r.rows, row{pollingRows, "1 h job: state transitions / cost", "55 / $0.0014", "fixed 10 s: 1059", "0.05", "≤ 60", "yes"})
			r.add(30, "NEW POLLING", 70*time.Second)
		},
		want: []string{
			"- `" + buildCommand + "` (run of " + oldDate + ")",
			"- `" + pollingCommand + "` (run of " + newDate + ")",
			"| 1. cold start | startexport bootstrap size (arm64) | 11.00 MiB |",
			"| 3. polling | 1 h job: state transitions / cost | 55 / $0.0014 |",
			"OLD SIZES\n\n```\n## 3. Polling cost\n```\n\n_(5s; run of " + oldDate + ")_",
			"OLD COLD START",
			"## 3. Polling cost\n\nNEW POLLING\n\n_(1m10s; run of " + newDate + ")_",
		},
		absent: []string{"OLD POLLING", "183 / $0.0046", "24 h job: history events"},
		unmet:  []string{"startexport bootstrap size", "startexport: launch → first successful response", "1 GiB store throughput"},
	}, {
		name: "convert adds 5 to a report that had none, keeps every other section",
		ran:  []string{"convert"},
		fill: func(r *report) {
			r.commands = append(r.commands, convertCommand+" -convert-sizes 10000 -convert-runs 3")
			r.rows = append(r.rows, row{convertRows, "converter peak RSS flat: 2M vs 10k rows", "+12 MiB", "—", "—", "≤ +32 MiB", "yes"})
			r.add(50, "NEW CONVERT", 5*time.Minute)
		},
		want: []string{
			"for the sections convert; the other sections are kept",
			"- `" + pollingCommand + "` (run of " + oldDate + ")",
			"- `" + storeCommand + "` (run of " + oldDate + ")",
			"- `" + convertCommand + " -convert-sizes 10000 -convert-runs 3` (run of " + newDate + ")",
			"| 1. cold start | startexport bootstrap size (arm64) | 11.00 MiB |",
			"| 3. polling | 24 h job: history events | 1814 |",
			"| 5. convert | converter peak RSS flat: 2M vs 10k rows | +12 MiB |",
			"- gobench: go test -bench: exit status 1: FAIL x (run of " + oldDate + ")",
			"OLD SIZES", "OLD COLD START", "OLD STORE", "OLD POLLING",
			"## 5. Convert\n\nNEW CONVERT\n\n_(5m0s; run of " + newDate + ")_",
		},
		unmet: []string{"startexport bootstrap size", "startexport: launch", "1 GiB store throughput", "1 h job: state transitions"},
	}, {
		name: "sizes failed before writing 1a: the old 1a, its rows and command stay",
		ran:  []string{"sizes"},
		fill: func(r *report) {
			r.commands = append(r.commands, buildCommand)
			r.failures = append(r.failures, "sizes: make build: exit status 2")
		},
		want: []string{
			"- `" + buildCommand + "` (run of " + oldDate + ")",
			"| 1. cold start | startexport bootstrap size (arm64) | 11.00 MiB |",
			"- gobench: go test -bench: exit status 1: FAIL x (run of " + oldDate + ")",
			"- sizes: make build: exit status 2 (run of " + newDate + ")",
			"OLD SIZES",
		},
		absent: []string{"`" + buildCommand + "` (run of " + newDate + ")"},
		unmet:  []string{"startexport bootstrap size", "startexport: launch", "1 GiB store throughput", "1 h job: state transitions"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, err := parsePrevious(wholeRun().markdown())
			if err != nil {
				t.Fatal(err)
			}
			r := subsetRun(tt.ran...)
			tt.fill(r)
			r.merge(old)
			md := r.markdown()
			at := 0
			for _, w := range tt.want {
				i := strings.Index(md[at:], w)
				if i < 0 {
					t.Fatalf("missing, or out of order after byte %d: %q\n%s", at, w, md)
				}
				at += i + len(w)
			}
			for _, a := range tt.absent {
				if strings.Contains(md, a) {
					t.Errorf("kept what this run replaced: %q", a)
				}
			}
			// The Not-met list has one line for each unmet row of the
			// merged summary and no other.
			notMet, unmet := notMetLines(t, md), unmetRows(t, md)
			if len(notMet) != len(unmet) || len(unmet) != len(tt.unmet) {
				t.Errorf("Not-met list %q for the unmet rows %q, want %d", notMet, unmet, len(tt.unmet))
			}
			for _, u := range unmet {
				found := false
				for _, n := range notMet {
					found = found || strings.HasPrefix(n, u+": ")
				}
				if !found {
					t.Errorf("Not-met list %q lacks the summary's unmet %q", notMet, u)
				}
			}
			for _, u := range tt.unmet {
				found := false
				for _, n := range notMet {
					found = found || strings.Contains(n, u)
				}
				if !found {
					t.Errorf("Not-met list %q lacks %q", notMet, u)
				}
			}
		})
	}
}

// notMetLines are the items of the Not-met list, without the "- ".
func notMetLines(t *testing.T, md string) []string {
	t.Helper()
	_, list, ok := strings.Cut(md, "## Not met, and why\n")
	if !ok {
		t.Fatalf("no Not-met list:\n%s", md)
	}
	var out []string
	for _, l := range strings.Split(list, "\n") {
		if item, ok := strings.CutPrefix(l, "- "); ok {
			out = append(out, item)
		}
	}
	return out
}

// unmetRows are the summary rows of md whose last cell is **no**, as
// "section — figure".
func unmetRows(t *testing.T, md string) []string {
	t.Helper()
	p, err := parsePrevious(md)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range p.rows {
		cells := splitCells("|" + x.Figure + "|")
		fig, met := x.Figure, x.Met
		if x.Value == "" {
			fig, met = cells[0], cells[len(cells)-1]
		}
		if met == "**no**" {
			out = append(out, x.Section+" — "+fig)
		}
	}
	sort.Strings(out)
	return out
}

// A merged report read back keeps each section's own date, so merging
// into it again moves none of them to the header's.
func TestMergeTwice(t *testing.T) {
	old, err := parsePrevious(wholeRun().markdown())
	if err != nil {
		t.Fatal(err)
	}
	first := subsetRun("sizes")
	first.add(11, "NEW SIZES", time.Second)
	first.merge(old)
	again, err := parsePrevious(first.markdown())
	if err != nil {
		t.Fatal(err)
	}
	second := subsetRun("polling")
	second.started = newStart.Add(24 * time.Hour)
	second.add(30, "NEWER POLLING", time.Second)
	second.merge(again)
	md := second.markdown()
	for _, w := range []string{
		"NEW SIZES\n\n_(1s; run of " + newDate + ")_",
		"OLD COLD START\n\n_(1m0s; run of " + oldDate + ")_",
		"NEWER POLLING\n\n_(1s; run of 2026-12-02 10:00 UTC)_",
		"| load average (1/5/15 min), run of " + oldDate + " |",
		"| load average (1/5/15 min), run of " + newDate + " |",
		"-sections sizes` (run of " + newDate + ")",
		"-sections polling` (run of 2026-12-02 10:00 UTC)",
	} {
		if !strings.Contains(md, w) {
			t.Errorf("missing %q\n%s", w, md)
		}
	}
	if strings.Contains(md, "OLD POLLING") {
		t.Error("kept the replaced polling section")
	}
}

// A whole run writes no run dates but the header's, and what it writes
// reads back as written: blocks, rows, commands, load average, failures.
func TestWholeRunReadsBack(t *testing.T) {
	r := wholeRun()
	md := r.markdown()
	if regexp.MustCompile(`run of \d`).MatchString(md) {
		t.Fatalf("a whole run dates its lines:\n%s", md)
	}
	p, err := parsePrevious(md)
	if err != nil {
		t.Fatal(err)
	}
	if p.date != oldDate {
		t.Errorf("date %q", p.date)
	}
	wantRows := append([]row(nil), r.rows...) // markdown sorted r.rows
	if !reflect.DeepEqual(p.rows, wantRows) {
		t.Errorf("rows\n%q\nwant\n%q", p.rows, wantRows)
	}
	var cmds []string
	for _, c := range p.commands {
		cmds = append(cmds, c.text)
		if c.date != oldDate {
			t.Errorf("command %q dated %q", c.text, c.date)
		}
	}
	if !reflect.DeepEqual(cmds, r.commands) {
		t.Errorf("commands %q", cmds)
	}
	if len(p.loads) != 1 || p.loads[0].text != r.loadText() || len(p.failures) != 1 || p.failures[0].text != r.failures[0] {
		t.Errorf("loads %q, failures %q", p.loads, p.failures)
	}
	want := map[int]string{
		11: "OLD SIZES\n\n```\n## 3. Polling cost\n```\n\n_(5s; run of " + oldDate + ")_",
		12: "OLD COLD START\n\n_(1m0s; run of " + oldDate + ")_",
		20: "OLD STORE\n\n#### Targets\n\n| figure | value |\n|---|---|\n| x | y |\n\n_(5m0s; run of " + oldDate + ")_",
		30: "OLD POLLING\n\n_(1m5s; run of " + oldDate + ")_",
	}
	for o, w := range want {
		if p.blocks[o].text != w || p.blocks[o].date != oldDate {
			t.Errorf("block %d = %q (%s), want %q", o, p.blocks[o].text, p.blocks[o].date, w)
		}
	}
	if len(p.blocks) != len(want) {
		t.Errorf("%d blocks", len(p.blocks))
	}
}

func TestParsePreviousRefuses(t *testing.T) {
	whole := wholeRun().markdown()
	tests := []struct{ name, md string }{
		{"another document", "# Notes\n\n## Summary\n"},
		{"empty", ""},
		{"no run date", strings.Replace(whole, "Generated by", "Written by", 1)},
		{"no summary", strings.Replace(whole, "## Summary\n", "## Overview\n", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parsePrevious(tt.md); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestStepOf(t *testing.T) {
	for _, b := range blocks {
		if !contains(allSections, b.step) || stepOfOrder(b.order) != b.step {
			t.Errorf("block %d → %q", b.order, b.step)
		}
	}
	for c, want := range map[string]string{
		invocationCommand + " -out BENCHMARKS.md": invocation,
		buildCommand:   "sizes",
		pollingCommand: "polling",
		"go test -run ^$ -bench . ./internal/avepoint": "gobench",
		storeCommand + " -sizes 100MiB":                "store",
		convertCommand + " -convert-runs 3":            "convert",
		scaleCommand + " -scale-sizes 5000,100000":     "scale",
		costCommand + " 3 exports":                     "cost",
		"something else":                               "",
	} {
		if got := stepOfCommand(c); got != want {
			t.Errorf("stepOfCommand(%q) = %q, want %q", c, got, want)
		}
	}
	for f, want := range map[string]string{
		"size baseline: build":       "sizes",
		"cold-start baseline: build": "coldstart",
		"store: go run":              "store",
		"other: x":                   "",
	} {
		if got := stepOfFailure(f); got != want {
			t.Errorf("stepOfFailure(%q) = %q, want %q", f, got, want)
		}
	}
}
