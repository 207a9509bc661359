package convertbench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	benchstats "github.com/insights-export/insights-export/bench/stats"
	"github.com/insights-export/insights-export/internal/convert"
	"github.com/insights-export/insights-export/internal/xlsx"
)

// Targets (issue 10's floors, issue 13's target).
const (
	FloorRatio   = 0.8 // converter rows/s against excelize's, Parquet included
	TargetRatio  = 2.0 // issue 13, on the TargetRows workbook
	TargetRows   = 2_000_000
	RSSAllowance = 256 // MiB of peak RSS besides the shared-string table
	FlatMargin   = 32  // MiB: RSS growth 2M vs 10k beyond the shared strings' own

	// lambdaFullVCPU is the memory size at which Lambda gives a function
	// one full vCPU; CPU is proportional to memory below it.
	lambdaFullVCPU = 1769
	// rssHeadroom is the share of the function's memory the projected peak
	// RSS may take: the rest is for what a benchmark workbook does not
	// have (longer strings, more columns) and for the runtime's spikes.
	rssHeadroom = 0.75
	// spoolMargin multiplies the spool of the largest report the memory
	// holds: reports with fewer distinct strings have more rows, and so
	// more spool, for the same memory.
	spoolMargin = 2
)

// spread is a median with its range.
type spread struct {
	med, lo, hi float64
	n           int
}

func spreadOf(vs []float64) spread {
	med, lo, hi, n := benchstats.MedianRange(vs)
	return spread{med: med, lo: lo, hi: hi, n: n}
}

// format renders the median, and the range when there are several runs,
// with f formatting one value.
func (s spread) format(f func(float64) string) string {
	switch s.n {
	case 0:
		return "—"
	case 1:
		return f(s.med)
	}
	return f(s.med) + " [" + f(s.lo) + "–" + f(s.hi) + "]"
}

// stats are one mode's figures on one workbook.
type stats struct {
	n          int
	rowsPerSec spread
	seconds    spread
	cpuPerM    spread // CPU-s (user+sys) per million rows
	rssMiB     spread // rusage maxrss
	parquet    int64  // bytes the converter wrote (last run)
	files      int
}

func (r *Result) stats(mode string, rows int) stats {
	var rps, secs, cpu, rss []float64
	st := stats{}
	for _, s := range r.Samples {
		if s.Mode != mode || s.Rows != rows {
			continue
		}
		st.n++
		secs = append(secs, s.Child.Seconds)
		if s.Child.Seconds > 0 {
			rps = append(rps, float64(rows)/s.Child.Seconds)
		}
		cpu = append(cpu, s.CPUSeconds/float64(rows)*1e6)
		rss = append(rss, float64(s.MaxRSSKiB)/1024)
		st.parquet, st.files = s.Child.ParquetBytes, s.Child.ParquetFiles
	}
	st.rowsPerSec, st.seconds, st.cpuPerM, st.rssMiB = spreadOf(rps), spreadOf(secs), spreadOf(cpu), spreadOf(rss)
	return st
}

// baseline is the faster of the two excelize modes measured on a
// workbook: the targets are judged against it, which is the stricter
// choice (a converter faster than the faster baseline is faster than
// both).
func (r *Result) baseline(rows int) (string, stats) {
	best, bestMode := stats{}, ""
	for _, m := range []string{ModeBaseline, ModeRaw} {
		if st := r.stats(m, rows); st.n > 0 && (bestMode == "" || st.rowsPerSec.med > best.rowsPerSec.med) {
			best, bestMode = st, m
		}
	}
	return bestMode, best
}

// ratio of two medians; NaN when either is missing.
func ratio(a, b spread) float64 {
	if a.n == 0 || b.n == 0 || b.med == 0 {
		return math.NaN()
	}
	return a.med / b.med
}

// Row is a summary row for bench/cmd/bench.
type Row struct{ Figure, Value, Baseline, Ratio, Target, Met string }

// Summary is the section's rows of the report's summary table.
func (r *Result) Summary() []Row {
	var rows []Row
	for _, n := range r.Opts.Sizes {
		conv := r.stats(ModeConvert, n)
		bmode, base := r.baseline(n)
		if conv.n == 0 || base.n == 0 {
			continue
		}
		q := ratio(conv.rowsPerSec, base.rowsPerSec)
		bl := r.baselineCell(n)
		for _, t := range []struct {
			v    float64
			what string
		}{{FloorRatio, "issue 10 floor"}, {TargetRatio, "issue 13 target"}} {
			row := Row{
				Figure:   fmt.Sprintf("%s rows: converter vs excelize Rows(), rows/s, %s (Handle incl. Parquet; against the faster excelize: %s)", short(n), t.what, modeName(bmode)),
				Value:    rate(conv.rowsPerSec.med) + " rows/s",
				Baseline: bl,
				Ratio:    fmt.Sprintf("%.2f", q),
				Target:   fmt.Sprintf("≥ %.1f×", t.v),
				Met:      yesNo(q >= t.v),
			}
			// Issue 13 sets its 2× at 2M rows: on smaller workbooks
			// the ratio is shown, not judged (the fixed cost of a
			// Parquet file per day weighs more there).
			if t.v == TargetRatio && n < TargetRows {
				row.Target, row.Met = fmt.Sprintf("(diagnostic: ≥ %.1f× is judged at %s rows)", t.v, short(TargetRows)), "—"
			}
			rows = append(rows, row)
		}
		limit := RSSAllowance + mib(r.Books[n].SSTXMLBytes)
		rows = append(rows, Row{
			Figure:   fmt.Sprintf("%s rows: converter peak RSS (max of %d runs)", short(n), conv.n),
			Value:    fmt.Sprintf("%.0f MiB", conv.rssMiB.hi),
			Baseline: fmt.Sprintf("%s %.0f MiB", modeName(bmode), base.rssMiB.hi),
			Ratio:    fmt.Sprintf("%.2f", conv.rssMiB.hi/base.rssMiB.hi),
			Target:   fmt.Sprintf("≤ 256 MiB + shared strings %.0f MiB = %.0f MiB", mib(r.Books[n].SSTXMLBytes), limit),
			Met:      yesNo(conv.rssMiB.hi <= limit),
		})
	}
	if g, ok := r.flatness(); ok {
		rows = append(rows, Row{
			Figure:   fmt.Sprintf("converter peak RSS flat: %s vs %s rows, less the shared-string difference", short(g.big), short(g.small)),
			Value:    fmt.Sprintf("%+.0f MiB", g.growth),
			Baseline: fmt.Sprintf("%.0f → %.0f MiB; shared strings %.1f → %.1f MiB", g.rssSmall, g.rssBig, g.sstSmall, g.sstBig),
			Ratio:    "—",
			Target:   fmt.Sprintf("≤ +%d MiB", FlatMargin),
			Met:      yesNo(g.growth <= FlatMargin),
		})
	}
	var cpu []string
	for _, n := range r.Opts.Sizes {
		if st := r.stats(ModeConvert, n); st.n > 0 {
			cpu = append(cpu, fmt.Sprintf("%s: %.1f", short(n), st.cpuPerM.med))
		}
	}
	if len(cpu) > 0 {
		last := r.Opts.Sizes[len(r.Opts.Sizes)-1]
		_, base := r.baseline(last)
		rows = append(rows, Row{
			Figure:   "converter CPU-s per million rows (user+sys)",
			Value:    strings.Join(cpu, "; "),
			Baseline: fmt.Sprintf("excelize %s: %.1f", short(last), base.cpuPerM.med),
			Ratio:    fmt.Sprintf("%.2f", ratio(r.stats(ModeConvert, last).cpuPerM, base.cpuPerM)),
			Target:   "(diagnostic)",
			Met:      "—",
		})
	}
	return rows
}

func (r *Result) baselineCell(n int) string {
	var parts []string
	for _, m := range []string{ModeBaseline, ModeRaw} {
		if st := r.stats(m, n); st.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", modeName(m), rate(st.rowsPerSec.med)))
		}
	}
	return strings.Join(parts, "; ")
}

type flat struct {
	small, big                         int
	rssSmall, rssBig, sstSmall, sstBig float64
	growth                             float64
}

// flatness compares the converter's peak RSS (max of the runs) on the
// smallest and the largest workbook, less the growth of the shared-string
// table (sharedStrings.xml, uncompressed) between them.
func (r *Result) flatness() (flat, bool) {
	if len(r.Opts.Sizes) < 2 {
		return flat{}, false
	}
	small, big := slices.Min(r.Opts.Sizes), slices.Max(r.Opts.Sizes)
	a, b := r.stats(ModeConvert, small), r.stats(ModeConvert, big)
	if a.n == 0 || b.n == 0 {
		return flat{}, false
	}
	g := flat{small: small, big: big, rssSmall: a.rssMiB.hi, rssBig: b.rssMiB.hi,
		sstSmall: mib(r.Books[small].SSTXMLBytes), sstBig: mib(r.Books[big].SSTXMLBytes)}
	g.growth = (g.rssBig - g.rssSmall) - (g.sstBig - g.sstSmall)
	return g, true
}

// Markdown is the section's text (without its heading).
func (r *Result) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	o := r.Opts
	p("The convert step (`internal/convert`: the report ZIP spooled, its workbook read by `internal/xlsx`, rows written by `internal/dataset` as Parquet, one file per UTC day) on generated activity workbooks, against excelize's own streaming `Rows()` + `Columns()` reading the same workbook in the same run. Every figure is one child process (`bench/cmd/convertchild`, built like the Lambda bootstraps: `CGO_ENABLED=0 -trimpath -ldflags \"-s -w\"`, Go runtime defaults as deployed: no GOGC or GOMEMLIMIT), so each peak RSS (rusage `ru_maxrss`) is that process's own; CPU is the child's user+sys. Runs are interleaved (each round runs every size's modes once, in an order rotated from round to round); medians, with the [min–max] of the runs. %d runs per cell, except as the runs column says.", o.Runs)
	p("")
	p("Modes:")
	p("")
	p("- **excelize** — the baseline the issue names: `excelize.OpenFile` (defaults: worksheets over 16 MiB are extracted to temp files, not held), then `f.Rows(sheet)` and `rows.Columns()` over every row of every sheet. `Columns()` renders each cell through its number format, as the converter renders dates (ISO-8601).")
	p("- **excelize raw** — the same with `Columns(excelize.Options{RawCellValue: true})`: no number formats, so the date column is its serial number. excelize's date rendering goes through its number-format engine per cell (most of its CPU in the formatted mode: profile with `CONVERTCHILD_CPUPROFILE`), so this is the faster excelize; targets are judged against whichever excelize mode was faster on that workbook.")
	p("- **reader** — `internal/xlsx` alone: `xlsx.Open` and `TableWith` over every sheet, rows discarded.")
	p("- **converter** — `convert.Converter.Handle` as `functions/convertreport` builds it (`convert.LoadConverter`: the real workbook opener, text-time parser, dataset layout and limits), with its two S3 dependencies replaced by local ones: the report is \"downloaded\" from a local file through the same copy-and-SHA-256 as `storage.Files.Download`, and each Parquet file is stat'ed instead of uploaded. Everything between is Handle's own code: spooling, ZIP extraction, the 50-row probe of each sheet, xlsx → dataset → Parquet (zstd), the row-count checks.")
	p("- **spool** — the part of Handle before the workbook is opened (report copied with its SHA-256, ZIP opened, workbook extracted), to tell the conversion proper from the spooling: \"converter less spool\" below is rows ÷ (converter − spool seconds).")
	p("")
	if !o.FormattedLarge {
		p("On workbooks of %s rows or more excelize takes minutes a run (it reads 10–25k rows/s formatted, 25–40k raw on this machine), so there the raw mode runs %d time(s) and the formatted one not at all (`-convert-formatted-large` runs it); the other modes run %d times.", short(o.LargeRows), o.LargeBaselineRuns, o.Runs)
	} else {
		p("On workbooks of %s rows or more each excelize mode runs %d time(s); the other modes %d times.", short(o.LargeRows), o.LargeBaselineRuns, o.Runs)
	}
	p("")

	p("#### Workbooks")
	p("")
	p("Generated with excelize's StreamWriter like the AvePoint simulator's report (`internal/testing/avesim`: sheet \"User Activities\", the same eight columns), but with Excel's shared-string table, which the StreamWriter does not write (it writes inline strings): the rows are streamed with each string's table index as a number cell, and the worksheets are then rewritten with those cells as `t=\"s\"` and a `sharedStrings.xml` added. Time (UTC) is a date cell (format `%s`) over a 30-day window, sorted; User is the report's one user; Event Type, Site, IP Address and Client come from small pools (10, 24, 762, 5 values); Object and Object URL name a file: a file event (8 of 10 event types) touches a file seen before with probability %.1f, else a new one with its own name and URL, so the table grows by about 1.1 strings a row, nearly all names and URLs. A sheet holds at most %s data rows (Excel's limit is 1,048,575), so a larger report continues on \"User Activities (2)\". Each workbook is wrapped in a report ZIP (deflated) as AvePoint delivers it. Generated once per run (or found in `-convert-cache`), in a child.", timeFormat, DefaultRepeat, short(or(o.SheetRows, 1_000_000)))
	p("")
	p("| rows | sheets | report ZIP | XLSX | worksheets XML | sharedStrings.xml | shared strings | their text | string cells repeating one | generated in |")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, n := range o.Sizes {
		bk := r.Books[n]
		gen := fmt.Sprintf("%.0f s", bk.GenerateSecond)
		if r.Cached[n] {
			gen += " (cached)"
		}
		p("| %s | %d | %.1f MiB | %.1f MiB | %.0f MiB | %.1f MiB | %s | %.1f MiB | %s | %s |", short(n), bk.Sheets, mib(bk.ZIPBytes), mib(bk.XLSXBytes), mib(bk.SheetXMLBytes), mib(bk.SSTXMLBytes), thousands(bk.SharedStrings), mib(bk.SSTTextBytes), bk.RepeatedShare, gen)
	}
	p("")

	p("#### Results")
	p("")
	p("| rows | mode | runs | rows/s | × excelize | × excelize raw | CPU-s per M rows | peak RSS MiB | cores busy |")
	p("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, n := range o.Sizes {
		fb, rw := r.stats(ModeBaseline, n), r.stats(ModeRaw, n)
		for _, m := range []string{ModeBaseline, ModeRaw, ModeReader, ModeConvert} {
			st := r.stats(m, n)
			if st.n == 0 {
				if m == ModeBaseline {
					p("| %s | %s | 0 | (not run) | | | | | |", short(n), modeName(m))
				}
				continue
			}
			busy := st.cpuPerM.med / 1e6 * float64(n) / st.seconds.med
			p("| %s | %s | %d | %s | %s | %s | %.2f | %s | %.2f |", short(n), modeName(m), st.n, st.rowsPerSec.format(rate), times(ratio(st.rowsPerSec, fb.rowsPerSec)), times(ratio(st.rowsPerSec, rw.rowsPerSec)), st.cpuPerM.med, st.rssMiB.format(f0), busy)
		}
		conv, sp := r.stats(ModeConvert, n), r.stats(ModeSpool, n)
		if conv.n > 0 && sp.n > 0 && conv.seconds.med > sp.seconds.med {
			proper := spread{med: float64(n) / (conv.seconds.med - sp.seconds.med), n: 1}
			p("| %s | converter less spool | — | %s | %s | %s | | | |", short(n), rate(proper.med), times(ratio(proper, fb.rowsPerSec)), times(ratio(proper, rw.rowsPerSec)))
			p("| %s | spool (copy + SHA-256 + extract) | %d | %.2f s | | | | %s | |", short(n), sp.n, sp.seconds.med, sp.rssMiB.format(f0))
		}
	}
	p("")
	p("\"cores busy\" is CPU ÷ wall time of the work (above 1: the process used the second core, the GC's background workers mostly). The machine is shared, so rows/s carry its load (see the load average): CPU-s per M rows is the steadier figure.")
	p("")
	for _, n := range o.Sizes {
		if st := r.stats(ModeConvert, n); st.n > 0 {
			p("- %s rows → %d Parquet files (one per UTC day), %.1f MiB.", short(n), st.files, mib(st.parquet))
		}
	}
	p("")

	r.cpu(p)
	p("#### Targets")
	p("")
	p("| figure | value | baseline | ratio | target | met? |")
	p("|---|---|---|---|---|---|")
	for _, x := range r.Summary() {
		p("| %s | %s | %s | %s | %s | %s |", x.Figure, x.Value, x.Baseline, x.Ratio, x.Target, x.Met)
	}
	p("")
	p("Peak RSS is judged on the largest of the runs (a function must hold its worst run), against 256 MiB plus the size of `sharedStrings.xml` uncompressed (the issue's allowance); \"flat\" is the growth from the smallest to the largest workbook beyond the shared-string table's own growth.")
	p("")
	r.memory(p)
	r.sizing(p)
	return b.String()
}

// cpu renders the profiled run: where the converter's CPU went.
func (r *Result) cpu(p func(string, ...any)) {
	pr := r.Profile
	if pr == nil || pr.TotalSeconds <= 0 {
		return
	}
	c := pr.Cum
	share := func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v/pr.TotalSeconds) }
	p("#### Where the CPU goes")
	p("")
	p("One more converter run on the %s-row workbook, with a CPU profile (`CONVERTCHILD_CPUPROFILE`; not one of the measured runs), read with `go tool pprof -top -cum`: %.1f CPU-s sampled. Parts nest (\"of which\"); shares are of the process's sampled CPU.", short(pr.Rows), pr.TotalSeconds)
	p("")
	p("| part | CPU-s | share |")
	p("|---|---:|---:|")
	line := func(label, key string) {
		if v, ok := c[key]; ok {
			p("| %s | %.2f | %s |", label, v, share(v))
		}
	}
	line("the step: `convert.Converter.Handle`", "handle")
	if rd, ok := c["read"]; ok {
		if wr, ok := c["write"]; ok && rd >= wr {
			p("| reading the sheets: `xlsx.sheetReader.run` less the rows' writing | %.2f | %s |", rd-wr, share(rd-wr))
		}
	}
	line("… inflating: `compress/flate` (the sheets, and the workbook out of the report ZIP)", "inflate")
	line("loading the shared strings: `xlsx.Workbook.readSharedStrings`", "sst")
	line("writing the rows: `dataset.SheetWriter.Write`", "write")
	line("… of which row_id: `dataset.rowID` (SHA-256 of each row over one reused buffer)", "rowid")
	line("… of which parquet-go `GenericWriter.Write` (column buffers, page flushes)", "parquet")
	line("… … of which zstd: `zstd.Encoder.EncodeAll`", "zstd")
	line("closing the files: `dataset.Writer.Close`", "close")
	line("all SHA-256 (row_id, and the report's hash as it is spooled)", "sha256")
	line("allocation: `runtime.mallocgc` (everywhere)", "malloc")
	line("the GC's background marking: `runtime.gcBgMarkWorker`", "gc")
	p("")
}

// memory explains the peak RSS on the largest workbook from the children's
// own figures: the reader's peak right after xlsx.Open, and the
// converter's Go heap from its gctrace lines.
func (r *Result) memory(p func(string, ...any)) {
	n := slices.Max(r.Opts.Sizes)
	bk := r.Books[n]
	var atOpen, open, peak, live []float64
	for _, s := range r.Samples {
		if s.Rows != n {
			continue
		}
		switch s.Mode {
		case ModeReader:
			atOpen = append(atOpen, float64(s.Child.VmHWMAtOpenKiB)/1024)
			open = append(open, s.Child.OpenSeconds)
		case ModeConvert:
			if s.GC.GCs > 0 {
				peak = append(peak, float64(s.GC.PeakHeapMB))
				live = append(live, float64(s.GC.LastLiveMB))
			}
		}
	}
	rd, conv := r.stats(ModeReader, n), r.stats(ModeConvert, n)
	if rd.n == 0 || conv.n == 0 || len(peak) == 0 {
		return
	}
	text, xmlSize := mib(bk.SSTTextBytes), mib(bk.SSTXMLBytes)
	p("#### Where the memory goes")
	p("")
	p("On the %s-row workbook the shared-string table is %.0f MiB of XML holding %.0f MiB of text (%.0f%%). The reader alone peaks at %s MiB, %s MiB of it already when `xlsx.Open` returns (%.1f s: the table loaded, no row read yet). `readSharedStrings` reserves the part's XML size for the text up front (believed up to 20× the compressed size), so the buffer is never regrown and copied.",
		short(n), xmlSize, text, 100*text/xmlSize, rd.rssMiB.format(f0), spreadOf(atOpen).format(f0), spreadOf(open).med)
	p("")
	p("The converter peaks at %s MiB. Its Go heap (GODEBUG=gctrace=1) reached %s MiB at a GC, with %s MiB live after its last GC: the table (%.0f MiB of text and its offsets) and what the dataset writer holds (parquet-go's column buffers and zstd encoders for each open day file). With GOGC=100 alone the runtime would let the heap grow to twice what was live at the last GC; the converter sets a soft memory limit per workbook (256 MiB + its shared strings, never above GOMEMLIMIT), so the garbage collector works harder instead. What remains above the table is the writer's live memory, which grows with the number of day files open: this is what the \"flat\" figure measures.",
		conv.rssMiB.format(f0), spreadOf(peak).format(f0), spreadOf(live).format(f0), text)
	p("")
}

// Sizing is the arithmetic behind the proposed MemorySize and
// EphemeralStorage, from a run's figures.
type Sizing struct {
	Rows                       int     // the largest workbook measured
	RSSBase, RSSPerSST         float64 // peak RSS ≈ RSSBase + RSSPerSST × sharedStrings.xml MiB
	SSTPerRow, TextPerRow      float64 // bytes per row (XML, text)
	SpoolPerRow                float64 // ZIP + XLSX + Parquet bytes per row
	CPUPerM                    float64 // converter CPU-s per million rows
	RowsAtSSTLimit             float64 // rows of this shape at xlsx.MaxSharedStringBytes
	MemoryMB                   int     // proposed MemorySize
	RowsAtMemory               float64 // rows of this shape whose projected RSS fits MemoryMB × rssHeadroom
	EphemeralMB                int     // proposed EphemeralStorage
	ParquetPerXLSX, XLSXPerZIP float64
}

// fit is the line through the converter's peak RSS (max of the runs) on
// the two largest workbooks, against their shared-string table sizes.
func (r *Result) fit() (base, slope float64, ok bool) {
	sizes := slices.Sorted(slices.Values(r.Opts.Sizes))
	if len(sizes) < 2 {
		return 0, 0, false
	}
	a, b := sizes[len(sizes)-2], sizes[len(sizes)-1]
	sa, sb := r.stats(ModeConvert, a), r.stats(ModeConvert, b)
	xa, xb := mib(r.Books[a].SSTXMLBytes), mib(r.Books[b].SSTXMLBytes)
	if sa.n == 0 || sb.n == 0 || xb <= xa {
		return 0, 0, false
	}
	slope = (sb.rssMiB.hi - sa.rssMiB.hi) / (xb - xa)
	return sb.rssMiB.hi - slope*xb, slope, true
}

// SizingOf works out the proposal; ok is false without two sizes.
func (r *Result) SizingOf() (Sizing, bool) {
	base, slope, ok := r.fit()
	if !ok {
		return Sizing{}, false
	}
	n := slices.Max(r.Opts.Sizes)
	bk, conv := r.Books[n], r.stats(ModeConvert, n)
	s := Sizing{Rows: n, RSSBase: base, RSSPerSST: slope, CPUPerM: conv.cpuPerM.med}
	s.SSTPerRow = float64(bk.SSTXMLBytes) / float64(n)
	s.TextPerRow = float64(bk.SSTTextBytes) / float64(n)
	s.SpoolPerRow = float64(bk.ZIPBytes+bk.XLSXBytes+conv.parquet) / float64(n)
	s.RowsAtSSTLimit = float64(xlsx.MaxSharedStringBytes) / s.TextPerRow
	s.ParquetPerXLSX = float64(conv.parquet) / float64(bk.XLSXBytes)
	s.XLSXPerZIP = float64(bk.XLSXBytes) / float64(bk.ZIPBytes)
	s.MemoryMB, s.RowsAtMemory = proposeMemory(s.RSSAt(float64(n)), func(mb int) float64 { return s.rowsFitting(mb) })
	s.EphemeralMB = roundUp(s.SpoolPerRow*s.RowsAtMemory*spoolMargin/1e6, 512)
	return s, true
}

// RSSAt is the projected converter peak RSS (MiB) for rows rows of the
// measured shape.
func (s Sizing) RSSAt(rows float64) float64 {
	return s.RSSBase + s.RSSPerSST*rows*s.SSTPerRow/(1<<20)
}

// rowsFitting is how many rows of this shape keep the projected RSS
// within rssHeadroom of mb megabytes (Lambda's MB are MiB).
func (s Sizing) rowsFitting(mb int) float64 {
	if s.RSSPerSST <= 0 || s.SSTPerRow <= 0 {
		return math.Inf(1)
	}
	return (float64(mb)*rssHeadroom - s.RSSBase) / s.RSSPerSST * (1 << 20) / s.SSTPerRow
}

// proposeMemory picks the MemorySize: one full vCPU (1769 MB) unless the
// measured largest workbook's peak RSS needs more. Below 1769 MB a
// CPU-bound single-threaded step costs the same GB-seconds and only runs
// slower (Lambda's CPU is proportional to memory); above it, it gets a
// second vCPU it can barely use. It returns the size and the rows it
// holds.
func proposeMemory(rssLargest float64, rowsFitting func(int) float64) (int, float64) {
	mb := lambdaFullVCPU
	if need := roundUp(rssLargest/rssHeadroom, 64); need > mb {
		mb = need
	}
	return mb, rowsFitting(mb)
}

// roundUp rounds v up to a multiple of step.
func roundUp(v float64, step int) int {
	if v <= 0 {
		return step
	}
	return int(math.Ceil(v/float64(step))) * step
}

func (r *Result) sizing(p func(string, ...any)) {
	s, ok := r.SizingOf()
	if !ok {
		return
	}
	p("#### Sizing ConvertReportFunction")
	p("")
	p("From the figures above (template.yaml took MemorySize 1769 from them, and keeps EphemeralStorage 4096: the converter's own limits, a 1 GiB report and a 2 GiB workbook, fit it with the Parquet files; nothing here edits the template):")
	p("")
	p("- **Memory grows with the shared-string table.** Through the two largest workbooks the converter's peak RSS is ≈ %.0f MiB + %.2f × sharedStrings.xml (MiB). This shape has %.0f bytes of table XML (%.0f of text) a row, so the %s-row workbook peaks at %.0f MiB. `internal/xlsx` refuses a table over %d MiB of text (`MaxSharedStringBytes`): %s rows of this shape, projected at %.0f MiB.", s.RSSBase, s.RSSPerSST, s.SSTPerRow, s.TextPerRow, short(s.Rows), s.RSSAt(float64(s.Rows)), xlsx.MaxSharedStringBytes>>20, short(int(s.RowsAtSSTLimit)), s.RSSAt(s.RowsAtSSTLimit))
	p("- **CPU:** %.1f CPU-s per million rows. Lambda gives CPU in proportion to memory, one vCPU at 1769 MB: a %s-row report needs ≈ %.0f s at 1024 MB (%.2f vCPU) and ≈ %.0f s at 1769 MB, and the 900 s timeout allows ≈ %s rows at 1769 MB. (Measured on this machine's x86 cores; the function runs on arm64, whose per-core speed differs: treat the seconds as an estimate.)", s.CPUPerM, short(s.Rows), s.CPUPerM*float64(s.Rows)/1e6/(1024.0/lambdaFullVCPU), 1024.0/lambdaFullVCPU, s.CPUPerM*float64(s.Rows)/1e6, short(int(900/(s.CPUPerM/1e6))))
	p("- **Spool** (ephemeral storage) holds the report ZIP, the extracted XLSX and the Parquet files at once (the workbook is removed only after its rows are written): %.0f bytes a row here (Parquet is %.2f× the XLSX: the fixed columns and the 64-hex-digit row_id of every row), so %.0f MiB for %s rows. Handle's own limits (`DefaultMaxReportBytes` %d MiB ZIP, `DefaultMaxWorkbookBytes` %d MiB XLSX) admit about %.1f GiB of spool (a 1 GiB ZIP, the XLSX inside it %.2f× that, Parquet %.2f× the XLSX); for this shape the shared-string limit stops a report well before that.", s.SpoolPerRow, s.ParquetPerXLSX, s.SpoolPerRow*float64(s.Rows)/(1<<20), short(s.Rows), convert.DefaultMaxReportBytes>>20, convert.DefaultMaxWorkbookBytes>>20, limitSpoolGiB(s), s.XLSXPerZIP, s.ParquetPerXLSX)
	p("")
	p("**Proposal: `MemorySize: %d`, `EphemeralStorage: %d`.** %s Holding the projected RSS within %.0f%% of it (the rest for longer strings, more columns and the runtime's spikes), %d MB takes reports up to ≈ %s rows of this shape. The spool of that report is ≈ %.0f MB; %d× that, rounded up to 512 MB, is %d MB (reports with fewer distinct strings have more rows, and so more spool, for the same memory). Ephemeral storage above 512 MB is priced per GB-second at a small fraction of memory's price, so keeping the current 4096 MB is also defensible; lowering it saves little.",
		s.MemoryMB, s.EphemeralMB, memoryReason(s), rssHeadroom*100, s.MemoryMB, short(int(s.RowsAtMemory)), s.SpoolPerRow*s.RowsAtMemory/1e6, spoolMargin, s.EphemeralMB)
	p("")
}

func memoryReason(s Sizing) string {
	if s.MemoryMB == lambdaFullVCPU {
		return fmt.Sprintf("The step is CPU-bound and mostly single-threaded, so below 1769 MB it costs the same GB-seconds and only runs slower (the %s-row report ≈ %.0f s instead of %.0f s at 1024 MB); above 1769 MB it would pay for a second vCPU it barely uses. The %s-row peak (%.0f MiB) fits 1769 MB with room.",
			short(s.Rows), s.CPUPerM*float64(s.Rows)/1e6, s.CPUPerM*float64(s.Rows)/1e6/(1024.0/lambdaFullVCPU), short(s.Rows), s.RSSAt(float64(s.Rows)))
	}
	return fmt.Sprintf("The %s-row peak (%.0f MiB) needs more than 1769 MB allows at %.0f%% headroom.", short(s.Rows), s.RSSAt(float64(s.Rows)), rssHeadroom*100)
}

// limitSpoolGiB is the spool of a report at Handle's ZIP limit: the ZIP,
// the XLSX inside it (bounded by the workbook limit) and its Parquet.
func limitSpoolGiB(s Sizing) float64 {
	zip := float64(convert.DefaultMaxReportBytes)
	book := min(zip*s.XLSXPerZIP, float64(convert.DefaultMaxWorkbookBytes))
	return (zip + book + book*s.ParquetPerXLSX) / (1 << 30)
}

func modeName(m string) string {
	switch m {
	case ModeBaseline:
		return "excelize"
	case ModeRaw:
		return "excelize raw"
	case ModeReader:
		return "reader (internal/xlsx)"
	case ModeConvert:
		return "converter (Handle)"
	case ModeSpool:
		return "spool"
	}
	return m
}

// short writes a row count as 10k, 200k, 2M.
func short(n int) string {
	switch {
	case n >= 1_000_000 && n%100_000 == 0:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + "M"
	case n >= 1_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	case n >= 1000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + "k"
	}
	return strconv.Itoa(n)
}

// rate writes rows/s with three significant digits: 12.3k, 456k, 1.23M.
func rate(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e5:
		return strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func times(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "×"
}

func f0(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func or(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
