package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// benchPackages hold the hot-path benchmarks: path encoding and status
// parsing (avepoint), the store handler (report), the upload
// (storage/upload).
var benchPackages = []string{"./internal/avepoint", "./internal/report", "./internal/storage/upload"}

// baselineSuffix pairs a benchmark with the one measuring its stdlib or
// transport floor: BenchmarkX/sub ↔ BenchmarkXBaseline/sub.
const baselineSuffix = "Baseline"

func runGoBench(ctx context.Context, r *report) error {
	began := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", strconv.Itoa(r.opts.benchCount), "-benchtime", r.opts.benchTime}, benchPackages...)
	r.commands = append(r.commands, "go "+strings.Join(args, " "))
	out, runErr := run(ctx, root, nil, "go", args...)
	if runErr != nil {
		// Report what did run; name the failures.
		var failed []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "--- FAIL") || strings.HasPrefix(l, "FAIL\t") {
				failed = append(failed, strings.TrimSpace(l))
			}
		}
		runErr = fmt.Errorf("go test -bench: %w: %s", runErr, strings.Join(failed, "; "))
	}
	results, order, err := parseBench(strings.NewReader(out))
	if err != nil {
		return errors.Join(runErr, err)
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("`go test -bench` (medians of %d runs of %s each). Each hot path has a `…Baseline` twin measuring its floor in the same run: the stdlib single escape for the email path, a bare `json.Unmarshal` for status parsing, the bare HTTP round trip for a status poll, a plain download for the store handler. No benchmark asserts a time.", r.opts.benchCount, r.opts.benchTime)
	p("")
	p("| benchmark | ns/op | MB/s | B/op | allocs/op | baseline ns/op | ratio |")
	p("|---|---:|---:|---:|---:|---:|---:|")
	for _, name := range order {
		if isBaseline(name) {
			continue
		}
		m := results[name]
		bl, ratio := "—", "—"
		if base, ok := results[baselineOf(name)]; ok {
			bl = fmtFloat(base.med("ns/op"))
			ratio = fmt.Sprintf("%.2f", m.med("ns/op")/base.med("ns/op"))
		}
		p("| %s | %s | %s | %s | %s | %s | %s |", name, fmtFloat(m.med("ns/op")), fmtOpt(m, "MB/s"), fmtOpt(m, "B/op"), fmtOpt(m, "allocs/op"), bl, ratio)
		if _, ok := results[baselineOf(name)]; ok {
			r.rows = append(r.rows, row{goBenchRows, name, fmtFloat(m.med("ns/op")) + " ns/op", baselineOf(name) + " " + fmtFloat(results[baselineOf(name)].med("ns/op")) + " ns/op", ratio, "— (no target)", "—"})
		}
	}
	p("")
	p("<details><summary>raw output</summary>")
	p("")
	p("```")
	p("%s", printable(strings.TrimSpace(out)))
	p("```")
	p("</details>")
	r.add(40, b.String(), time.Since(began))
	return runErr
}

type benchResult map[string][]float64 // unit → values, one per run

func (b benchResult) med(unit string) float64 {
	v := append([]float64(nil), b[unit]...)
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parseBench reads `go test -bench` output: every run of every benchmark,
// the first-seen order of names, with the -GOMAXPROCS suffix dropped.
func parseBench(r io.Reader) (map[string]benchResult, []string, error) {
	results := map[string]benchResult{}
	var order []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		name := m[1]
		f := strings.Fields(m[2])
		if len(f)%2 != 0 {
			continue
		}
		res, ok := results[name]
		if !ok {
			res = benchResult{}
			results[name] = res
			order = append(order, name)
		}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, nil, fmt.Errorf("benchmark line %q: %w", sc.Text(), err)
			}
			res[f[i+1]] = append(res[f[i+1]], v)
		}
	}
	if len(results) == 0 {
		return nil, nil, fmt.Errorf("no benchmark results in the output")
	}
	return results, order, sc.Err()
}

func isBaseline(name string) bool {
	head, _, _ := strings.Cut(name, "/")
	return strings.HasSuffix(head, baselineSuffix)
}

func baselineOf(name string) string {
	head, sub, found := strings.Cut(name, "/")
	if found {
		return head + baselineSuffix + "/" + sub
	}
	return head + baselineSuffix
}

func fmtOpt(b benchResult, unit string) string {
	if len(b[unit]) == 0 {
		return "—"
	}
	return fmtFloat(b.med(unit))
}

func fmtFloat(v float64) string {
	switch {
	case v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// printable keeps the raw output readable: benchmark lines are ASCII, a
// failing benchmark's message may not be.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || (r >= 0x20 && r < 0x7f) || (r > 0xa0 && unicode.IsPrint(r)) {
			return r
		}
		return '?'
	}, s)
}
