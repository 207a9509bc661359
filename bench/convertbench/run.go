// Package convertbench measures the convert step (issue 10, "make bench
// gains a convert section"): rows/s, CPU per million rows and peak RSS of
// internal/xlsx alone and of the whole step (convert.Converter.Handle,
// S3 replaced by local files) on generated 10k, 200k and 2M-row activity
// workbooks, against excelize's own streaming Rows() reading the same
// workbooks in the same run. Every measurement is a child process
// (bench/cmd/convertchild, built like the Lambda bootstraps), so each peak
// RSS is that process's own; runs are interleaved across modes and sizes,
// and medians are reported.
//
// bench/cmd/bench runs it as its "convert" section (Run, then Markdown and
// Summary).
package convertbench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/insights-export/insights-export/bench/gobuild"
)

// Options tune Run; zero values take the defaults.
type Options struct {
	Sizes []int // data rows of each workbook (default 10k, 200k, 2M)
	Runs  int   // runs of each mode per workbook (default 3)
	// LargeRows: workbooks of at least this many rows are large (default
	// 1M). excelize reads them at 12–25k rows/s (formatted) or ~25–40k
	// (raw) on this machine, 1.5–3 minutes a run, so there the raw
	// baseline runs LargeBaselineRuns times (default 1) and the formatted
	// one not at all unless FormattedLarge.
	LargeRows         int
	LargeBaselineRuns int
	FormattedLarge    bool
	// NoProfile skips the extra converter run with a CPU profile on the
	// largest workbook (for "Where the CPU goes").
	NoProfile bool
	SheetRows int    // data rows per sheet (default 1,000,000)
	Dir       string // where workbooks are kept between runs ("" = a temp folder, removed)
	Root      string // the module's root, for go build
	Log       func(format string, args ...any)
}

func (o *Options) defaults() {
	if len(o.Sizes) == 0 {
		o.Sizes = []int{10_000, 200_000, 2_000_000}
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.LargeRows <= 0 {
		o.LargeRows = 1_000_000
	}
	if o.LargeBaselineRuns <= 0 {
		o.LargeBaselineRuns = 1
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
}

// runsOf is how many times mode runs on a workbook of rows rows.
func (o *Options) runsOf(mode string, rows int) int {
	if rows < o.LargeRows {
		return o.Runs
	}
	switch mode {
	case ModeBaseline:
		if !o.FormattedLarge {
			return 0
		}
		return min(o.LargeBaselineRuns, o.Runs)
	case ModeRaw:
		return min(o.LargeBaselineRuns, o.Runs)
	}
	return o.Runs
}

// Sample is one child run.
type Sample struct {
	Mode        string      `json:"mode"`
	Rows        int         `json:"rows"` // the workbook's size
	Run         int         `json:"run"`
	Child       ChildResult `json:"child"`
	CPUSeconds  float64     `json:"cpuSeconds"` // user+sys of the child (rusage)
	MaxRSSKiB   int64       `json:"maxRssKiB"`  // rusage ru_maxrss
	WallSeconds float64     `json:"wallSeconds"`
	GC          GCTrace     `json:"gc"` // reader and converter (GODEBUG=gctrace=1)
}

// GCTrace sums up a child's GODEBUG=gctrace=1 lines.
type GCTrace struct {
	GCs        int `json:"gcs"`
	PeakHeapMB int `json:"peakHeapMB"` // the largest heap a GC saw (at its start or end)
	LastLiveMB int `json:"lastLiveMB"` // the heap the last GC left live
	LastGoalMB int `json:"lastGoalMB"` // the heap goal of the last GC
}

var gcLine = regexp.MustCompile(`^gc \d+ @[0-9.]+s .*?, (\d+)->(\d+)->(\d+) MB, (\d+) MB goal`)

// parseGCTrace reads the gctrace lines in a child's stderr.
func parseGCTrace(stderr []byte) GCTrace {
	var t GCTrace
	for _, l := range strings.Split(string(stderr), "\n") {
		m := gcLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		var v [4]int
		for i := range v {
			v[i], _ = strconv.Atoi(m[i+1])
		}
		t.GCs++
		t.PeakHeapMB = max(t.PeakHeapMB, v[0], v[1])
		t.LastLiveMB, t.LastGoalMB = v[2], v[3]
	}
	return t
}

// Result is a whole run.
type Result struct {
	Opts    Options
	Books   map[int]Book
	Samples []Sample
	Took    time.Duration
	// Cached lists the sizes whose workbook was found in Opts.Dir.
	Cached map[int]bool
	// Profile is the extra profiled converter run (nil: none).
	Profile *Profile
}

// Run builds the child, generates (or finds) the workbooks, and measures.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	began := time.Now()
	res := &Result{Opts: o, Books: map[int]Book{}, Cached: map[int]bool{}}
	tmp, err := os.MkdirTemp("", "bench-convert-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	child := filepath.Join(tmp, "convertchild")
	if err := gobuild.Host(ctx, o.Root, "./bench/cmd/convertchild", child); err != nil {
		return nil, err
	}
	books := o.Dir
	if books == "" {
		books = filepath.Join(tmp, "books")
	}
	for _, n := range o.Sizes {
		b, cached, err := ensureBook(ctx, child, books, n, o.SheetRows)
		if err != nil {
			return nil, fmt.Errorf("workbook of %d rows: %w", n, err)
		}
		res.Books[n], res.Cached[n] = b, cached
		o.Log("convert: %d-row workbook: %.1f MiB ZIP, %d shared strings (%s)", n, mib(b.ZIPBytes), b.SharedStrings, map[bool]string{true: "cached", false: fmt.Sprintf("generated in %.0fs", b.GenerateSecond)}[cached])
	}
	spool := filepath.Join(tmp, "spool")
	if err := os.Mkdir(spool, 0o700); err != nil {
		return nil, err
	}
	// Interleaved: every round runs each size's modes once, in an order
	// rotated from round to round, so that no mode always follows the same
	// neighbour or always meets the same moment of the machine's load.
	for round := 0; round < o.Runs; round++ {
		for _, n := range o.Sizes {
			for i := range Modes {
				mode := Modes[(i+round)%len(Modes)]
				if round >= o.runsOf(mode, n) {
					continue
				}
				b := res.Books[n]
				s, err := runSample(ctx, child, Job{Mode: mode, XLSX: b.XLSX, ZIP: b.ZIP, ZIPSHA256: b.ZIPSHA256, Spool: spool})
				if err != nil {
					return res, fmt.Errorf("%s on %d rows: %w", mode, n, err)
				}
				s.Rows, s.Run = n, round+1
				if want := int64(n); mode != ModeSpool && s.Child.Rows != want {
					return res, fmt.Errorf("%s on %d rows delivered %d rows", mode, n, s.Child.Rows)
				}
				res.Samples = append(res.Samples, s)
				o.Log("convert: %-12s %8d rows, run %d: %6.2fs, %5.1f CPU-s, %4.0f MiB", mode, n, round+1, s.Child.Seconds, s.CPUSeconds, float64(s.MaxRSSKiB)/1024)
			}
		}
	}
	if !o.NoProfile {
		n := slices.Max(o.Sizes)
		pr, err := profileConverter(ctx, child, tmp, res.Books[n], spool)
		if err != nil {
			return res, fmt.Errorf("profiled converter run: %w", err)
		}
		res.Profile = &pr
		o.Log("convert: profiled converter run on %d rows: %.1f CPU-s sampled", n, pr.TotalSeconds)
	}
	res.Took = time.Since(began)
	return res, nil
}

// ensureBook finds dir/<rows>/book.json (a cached workbook of this
// generator's version) or generates the workbook in a child.
func ensureBook(ctx context.Context, child, dir string, rows, sheetRows int) (Book, bool, error) {
	d := filepath.Join(dir, fmt.Sprintf("v%d-%d-%d", generatorVersion, rows, sheetRows))
	meta := filepath.Join(d, "book.json")
	if b, err := os.ReadFile(meta); err == nil {
		var book Book
		if json.Unmarshal(b, &book) == nil && fileSize(book.ZIP) == book.ZIPBytes && fileSize(book.XLSX) == book.XLSXBytes {
			return book, true, nil
		}
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return Book{}, false, err
	}
	args := []string{"gen", d, strconv.Itoa(rows)}
	if sheetRows > 0 {
		args = append(args, strconv.Itoa(sheetRows))
	}
	cmd := exec.CommandContext(ctx, child, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Book{}, false, fmt.Errorf("%v: %s", err, tail(stderr.Bytes()))
	}
	var book Book
	if err := json.Unmarshal(stdout.Bytes(), &book); err != nil {
		return Book{}, false, fmt.Errorf("generator output: %w", err)
	}
	if err := os.WriteFile(meta, stdout.Bytes(), 0o644); err != nil {
		return Book{}, false, err
	}
	return book, false, nil
}

// generatorVersion names the workbooks a cache folder holds: bump it when
// Generate writes different bytes.
const generatorVersion = 1

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return st.Size()
}

// runSample runs one job in a child and takes its rusage. The child's
// environment is this process's less any GOGC or GOMEMLIMIT, so that the
// Go runtime runs with its defaults, as the function does (its template
// sets neither). The reader and the converter run with GODEBUG=gctrace=1,
// which only prints a line per GC, to tell where their memory goes.
func runSample(ctx context.Context, child string, job Job) (Sample, error) {
	return runSampleEnv(ctx, child, job)
}

// runSampleEnv is runSample with extra environment variables.
func runSampleEnv(ctx context.Context, child string, job Job, extra ...string) (Sample, error) {
	in, err := json.Marshal(job)
	if err != nil {
		return Sample{}, err
	}
	cmd := exec.CommandContext(ctx, child, "run")
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = childEnv(os.Environ())
	if job.Mode == ModeReader || job.Mode == ModeConvert {
		cmd.Env = append(cmd.Env, "GODEBUG=gctrace=1")
	}
	cmd.Env = append(cmd.Env, extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	s := Sample{Mode: job.Mode, WallSeconds: time.Since(start).Seconds()}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			s.MaxRSSKiB = ru.Maxrss // KiB on Linux
			s.CPUSeconds = tv(ru.Utime) + tv(ru.Stime)
		}
	}
	if err != nil {
		return s, fmt.Errorf("%v: %s", err, tail(stderr.Bytes()))
	}
	// The child's result is its last line: the converter writes its
	// metrics (CloudWatch EMF) to stdout before it, as in Lambda.
	out := bytes.TrimSpace(stdout.Bytes())
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	if err := json.Unmarshal(out, &s.Child); err != nil {
		return s, fmt.Errorf("child output: %w", err)
	}
	s.GC = parseGCTrace(stderr.Bytes())
	return s, nil
}

// childEnv drops the Go runtime's tuning variables from env.
func childEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOGC", "GOMEMLIMIT", "GODEBUG", "GOMAXPROCS", "CONVERTCHILD_CPUPROFILE":
			continue
		}
		out = append(out, kv)
	}
	return out
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func tail(b []byte) string {
	const n = 2000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
