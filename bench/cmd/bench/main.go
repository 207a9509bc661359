// Command bench runs every benchmark of issue 5 and writes BENCHMARKS.md:
//
//  1. cold start — each function's bootstrap (deployment flags, host arch)
//     under the Lambda RIE, launch → first successful response, against a
//     hello-world aws-lambda-go bootstrap in the same run; binary sizes of
//     the arm64 deployment build; no network call at init;
//  2. store streaming — bench/storebench (its own Markdown fragment);
//  3. polling cost — the wait policy priced in Step Functions transitions,
//     history events and detection delay against a fixed 10-second poller,
//     from a model checked against real runs of the ASL;
//  4. `go test -bench` of the client's hot paths, each with a baseline;
//  5. convert — the convert step (internal/xlsx → internal/dataset →
//     Parquet, convert.Converter.Handle) on 10k–2M-row workbooks against
//     excelize's streaming Rows() (bench/convertbench, issue 10);
//  6. scale — PrepareBatch and WriteManifest of one batch run of 5,000
//     and 100,000 users against a local S3 endpoint (bench/scalebench,
//     issue 12);
//  7. cost — the all-in bill per user-export and per daily run at AWS list
//     prices (bench/cost, issue 13).
//
// `make bench` runs it from the repository root:
//
//	go run ./bench/cmd/bench -out BENCHMARKS.md
//
// Every section runs even when an earlier one fails; the document says what
// failed and the command exits 1.
//
// With -sections naming only some sections, the run merges into the -out
// file when it exists (merge.go): the sections that ran replace their
// blocks, summary rows, commands and failures; the others keep what the
// file had, and every section, command, load average and failure says the
// date of the run it comes from. A run of every section writes the whole
// file from scratch.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	out             string
	sections        map[string]bool
	coldRuns        int
	storeArgs       string
	sizeBaselineRev string
	benchCount      int
	benchTime       string
	realPolling     bool
	timeout         time.Duration

	convertSizes          []int
	convertRuns           int
	convertCache          string
	convertFormattedLarge bool
	convertProfile        bool

	scaleSizes []int
	scaleMoto  bool
}

// row is one line of the summary table.
type row struct {
	Section, Figure, Value, Baseline, Ratio, Target, Met string
}

// report collects what the sections produce.
type report struct {
	started  time.Time
	opts     options
	machine  machineInfo
	commands []string
	rows     []row
	sections []section
	failures []string

	// merged holds the dated commands, load averages and failures of a
	// report merged with an earlier one (merge); nil for a whole run.
	merged *mergedLines

	// baseTree is the size-baseline revision extracted once (baselineTree).
	baseTree, baseDir string
	baseErr           error
	baseDone          bool
}

// baselineLabel names the baseline revision in the text by its commit
// date and subject, which stay true whichever revision -size-baseline-rev
// names.
func (r *report) baselineLabel(ctx context.Context) string {
	label := "`" + r.opts.sizeBaselineRev + "`"
	root, err := repoRoot()
	if err != nil {
		return label
	}
	out, err := run(ctx, root, nil, "git", "log", "-1", "--format=%cs %s", r.opts.sizeBaselineRev)
	if err != nil {
		return label
	}
	day, subject, _ := strings.Cut(strings.TrimSpace(out), " ")
	return label + " (" + day + ", “" + shorten(subject, 80) + "”)"
}

// shorten cuts s to at most n runes at a word boundary, marking the cut.
func shorten(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	cut := string(rs[:n])
	if i := strings.LastIndexAny(cut, " ;,"); i > n/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ;,") + " …"
}

// baselineTree extracts revision opts.sizeBaselineRev with git archive
// (read-only for the repository) once per run.
func (r *report) baselineTree(ctx context.Context) (string, error) {
	if r.baseDone {
		return r.baseTree, r.baseErr
	}
	r.baseDone = true
	if r.opts.sizeBaselineRev == "" {
		r.baseErr = errors.New("no baseline revision")
		return "", r.baseErr
	}
	root, err := repoRoot()
	if err == nil {
		r.baseDir, err = os.MkdirTemp("", "bench-baseline-")
	}
	if err == nil {
		r.baseTree = filepath.Join(r.baseDir, "tree")
		err = gitArchive(ctx, root, r.opts.sizeBaselineRev, r.baseTree)
	}
	if err != nil {
		r.baseTree, r.baseErr = "", fmt.Errorf("baseline %s: %w", r.opts.sizeBaselineRev, err)
	}
	return r.baseTree, r.baseErr
}

type section struct {
	order int
	title string
	body  string
	took  time.Duration
	// kept is the section's text (after its heading, ending with its dated
	// took line) from the file a subset run merged into; body and took are
	// then unused.
	kept string
}

var allSections = []string{"sizes", "coldstart", "polling", "gobench", "store", "convert", "scale", "cost", "slots"}

// blocks are the report's sections: the order a step adds one with (tens
// = the numbered heading, see topTitle), its heading and its step. Reading
// an earlier report back (parsePrevious) goes by these headings.
var blocks = []struct {
	order       int
	title, step string
}{
	{11, "1a. Binary sizes", "sizes"},
	{12, "1b. Cold start under the Lambda RIE", "coldstart"},
	{20, "2. Store streaming", "store"},
	{30, "3. Polling cost", "polling"},
	{40, "4. Go benchmarks", "gobench"},
	{50, "5. Convert", "convert"},
	{60, "6. Scale: 100,000 users in one batch run", "scale"},
	{70, "7. The all-in bill", "cost"},
	{80, "8. Slot utilisation", "slots"},
}

// The summary's section column, and the lines each step adds under
// Commands; stepOfRow and stepOfCommand tell the steps apart by them.
const (
	coldStartRows = "1. cold start" // sizes and coldstart rows
	sizeFigure    = " bootstrap size (arm64)"
	storeRows     = "2. store"
	pollingRows   = "3. polling"
	goBenchRows   = "4. go test -bench"
	convertRows   = "5. convert"
	scaleRows     = "6. scale"
	costRows      = "7. cost"

	invocationCommand = "make bench  # = go run ./bench/cmd/bench"
	buildCommand      = "make build   # arm64 deployment bootstraps → dist/*/bootstrap"
	pollingCommand    = "(polling) 3 real executions of statemachine/export.asl.json with real waits, run concurrently"
	goBenchCommand    = "go test "
	storeCommand      = "go run ./bench/storebench"
	convertCommand    = "(convert) bench/convertbench, one bench/cmd/convertchild process per run:"
	scaleCommand      = "(scale) bench/scalebench, one bench/cmd/scalechild process per step and size:"
	costCommand       = "(cost) bench/cost.MeasureExports:"
)

func main() {
	var o options
	var sections string
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "write the report here")
	flag.StringVar(&sections, "sections", strings.Join(allSections, ","), "sections to run: "+strings.Join(allSections, ","))
	flag.IntVar(&o.coldRuns, "coldstart-runs", 20, "cold-start launches per function and request kind (≥ 10)")
	flag.StringVar(&o.storeArgs, "store-args", "", "extra flags for go run ./bench/storebench (e.g. \"-sizes 100MiB,1GiB\")")
	flag.StringVar(&o.sizeBaselineRev, "size-baseline-rev", "6644b55", "git revision whose bootstraps are the size baseline (read with git archive; empty = skip)")
	flag.IntVar(&o.benchCount, "bench-count", 5, "go test -count for the Go benchmarks (medians are reported)")
	flag.StringVar(&o.benchTime, "bench-time", "500ms", "go test -benchtime")
	flag.BoolVar(&o.realPolling, "polling-real", true, "check the polling model against real runs of the ASL (≈ 1.5 min)")
	flag.DurationVar(&o.timeout, "timeout", 40*time.Minute, "give up after this long")
	convertSizes := flag.String("convert-sizes", "10k,200k,2M", "convert: data rows of each generated workbook")
	flag.IntVar(&o.convertRuns, "convert-runs", 3, "convert: runs of each mode per workbook (medians are reported)")
	flag.StringVar(&o.convertCache, "convert-cache", "", "convert: keep the generated workbooks in this folder and reuse them (\"\" = a temp folder, removed)")
	flag.BoolVar(&o.convertFormattedLarge, "convert-formatted-large", false, "convert: also run excelize's formatted Columns() on workbooks of 1M rows or more (minutes a run)")
	flag.BoolVar(&o.convertProfile, "convert-profile", true, "convert: one more converter run on the largest workbook with a CPU profile (\"Where the CPU goes\")")
	scaleSizes := flag.String("scale-sizes", "5k,100k", "scale: users of each batch run, the first the baseline")
	flag.BoolVar(&o.scaleMoto, "scale-moto", true, "scale: also time moto_server's request rate (why the endpoint is not moto)")
	flag.Parse()
	var err error
	if o.convertSizes, err = parseRowCounts(*convertSizes); err != nil {
		fmt.Fprintln(os.Stderr, "bench: -convert-sizes:", err)
		os.Exit(2)
	}
	if o.scaleSizes, err = parseRowCounts(*scaleSizes); err != nil {
		fmt.Fprintln(os.Stderr, "bench: -scale-sizes:", err)
		os.Exit(2)
	}
	o.sections = map[string]bool{}
	for _, s := range strings.Split(sections, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !contains(allSections, s) {
			fmt.Fprintf(os.Stderr, "bench: unknown section %q (want %s)\n", s, strings.Join(allSections, ","))
			os.Exit(2)
		}
		o.sections[s] = true
	}
	if o.coldRuns < 10 && o.sections["coldstart"] {
		fmt.Fprintln(os.Stderr, "bench: -coldstart-runs must be ≥ 10")
		os.Exit(2)
	}
	// Read the file a subset run merges into before spending minutes on
	// the run: one that is not this command's report is refused, not
	// overwritten.
	var old *previous
	if len(o.sections) < len(allSections) {
		text, err := os.ReadFile(o.out)
		switch {
		case err == nil:
			if old, err = parsePrevious(string(text)); err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s: %v; a subset run merges into it (write elsewhere with -out, or run every section)\n", o.out, err)
				os.Exit(2)
			}
		case !errors.Is(err, fs.ErrNotExist):
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	r := &report{started: time.Now().UTC(), opts: o, machine: readMachine()}
	var shown []string
	for _, a := range os.Args[1:] {
		if a == "" || strings.ContainsAny(a, " \t\"'") {
			a = strconv.Quote(a)
		}
		shown = append(shown, a)
	}
	r.commands = append(r.commands, invocationCommand+" "+strings.Join(shown, " "))
	steps := []struct {
		name string
		run  func(context.Context, *report) error
	}{
		{"sizes", runSizes},
		{"coldstart", runColdStart},
		{"polling", runPolling},
		{"gobench", runGoBench},
		{"store", runStore},
		{"convert", runConvert},
		{"scale", runScale},
		{"cost", runCost},
		{"slots", runSlots},
	}
	for _, s := range steps {
		if !o.sections[s.name] {
			continue
		}
		logf("== %s", s.name)
		began := time.Now()
		if err := s.run(ctx, r); err != nil {
			logf("%s failed: %v", s.name, err)
			r.failures = append(r.failures, fmt.Sprintf("%s: %v", s.name, err))
		}
		logf("== %s done in %s", s.name, time.Since(began).Round(time.Second))
	}
	if r.baseDir != "" {
		_ = os.RemoveAll(r.baseDir)
	}
	r.machine.loadAfter = loadAvg()
	if old != nil {
		r.merge(old)
	}
	if err := os.WriteFile(o.out, []byte(r.markdown()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	logf("wrote %s in %s", o.out, time.Since(r.started).Round(time.Second))
	if len(r.failures) > 0 {
		os.Exit(1)
	}
}

func (r *report) add(order int, body string, took time.Duration) {
	r.sections = append(r.sections, section{order: order, title: blockTitle(order), body: body, took: took})
}

func blockTitle(order int) string {
	for _, b := range blocks {
		if b.order == order {
			return b.title
		}
	}
	return topTitle(order)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
