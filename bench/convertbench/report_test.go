package convertbench

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestShareCells(t *testing.T) {
	tests := []struct {
		name, in, want string
		turned         int64
	}{{
		name:   "number cells become shared strings, date cells stay",
		in:     `<row r="2"><c r="A2" s="2"><v>46326.5</v></c><c r="B2"><v>8</v></c><c r="C2" s="1"><v>18</v></c></row>`,
		want:   `<row r="2"><c r="A2" s="2"><v>46326.5</v></c><c r="B2" t="s"><v>8</v></c><c r="C2" s="1" t="s"><v>18</v></c></row>`,
		turned: 2,
	}, {
		name:   "cells with a type are copied",
		in:     `<c r="A1" t="inlineStr"><is><t>x</t></is></c><c r="B1" t="b"><v>1</v></c>`,
		want:   `<c r="A1" t="inlineStr"><is><t>x</t></is></c><c r="B1" t="b"><v>1</v></c>`,
		turned: 0,
	}, {
		name:   "a style id that only starts like the date style is not it",
		in:     `<c r="A1" s="22"><v>3</v></c>`,
		want:   `<c r="A1" s="22" t="s"><v>3</v></c>`,
		turned: 1,
	}, {
		name:   "other elements pass through",
		in:     `<?xml version="1.0"?><worksheet><cols><col min="1" max="1"/></cols><sheetData></sheetData></worksheet>`,
		want:   `<?xml version="1.0"?><worksheet><cols><col min="1" max="1"/></cols><sheetData></sheetData></worksheet>`,
		turned: 0,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			n, err := shareCells(&out, strings.NewReader(tt.in), 2)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want || n != tt.turned {
				t.Errorf("got %d cells\n%s\nwant %d\n%s", n, out.String(), tt.turned, tt.want)
			}
		})
	}
	if _, err := shareCells(&bytes.Buffer{}, strings.NewReader(`<c r="A1"/>`), 2); err == nil {
		t.Error("an empty cell was accepted")
	}
}

func TestParseVmHWM(t *testing.T) {
	status := "Name:\tconvertchild\nVmPeak:\t 1234 kB\nVmHWM:\t  524288 kB\nVmRSS:\t 1000 kB\n"
	if got := parseVmHWM([]byte(status)); got != 524288 {
		t.Errorf("got %d", got)
	}
	for _, bad := range []string{"", "VmHWM: x kB\n", "VmHWM: 12 MB\n"} {
		if got := parseVmHWM([]byte(bad)); got != 0 {
			t.Errorf("%q: got %d", bad, got)
		}
	}
}

func TestParseGCTrace(t *testing.T) {
	stderr := strings.Join([]string{
		"gc 1 @0.006s 4%: 0.047+1.2+0.054 ms clock, 0.095+0.081/0.46/0.66+0.10 ms cpu, 82->82->80 MB, 82 MB goal, 0 MB stacks, 0 MB globals, 2 P",
		"some log line",
		"gc 2 @0.398s 0%: 0.048+314+0.054 ms clock, 0.097+0/0.72/313+0.10 ms cpu, 210->296->106 MB, 210 MB goal, 0 MB stacks, 0 MB globals, 2 P",
		"gc 3 @1.2s 1%: 0.05+16+0.03 ms clock, 0.1+0/15/0+0.06 ms cpu, 230->231->165 MB, 232 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)",
	}, "\n")
	got := parseGCTrace([]byte(stderr))
	if want := (GCTrace{GCs: 3, PeakHeapMB: 296, LastLiveMB: 165, LastGoalMB: 232}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := parseGCTrace(nil); got != (GCTrace{}) {
		t.Errorf("no lines: %+v", got)
	}
}

func TestSpreadOf(t *testing.T) {
	tests := []struct {
		in   []float64
		want spread
	}{
		{nil, spread{}},
		{[]float64{5}, spread{5, 5, 5, 1}},
		{[]float64{9, 1, 5}, spread{5, 1, 9, 3}},
		{[]float64{4, 1, 2, 10}, spread{3, 1, 10, 4}},
	}
	for _, tt := range tests {
		if got := spreadOf(tt.in); got != tt.want {
			t.Errorf("spreadOf(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	if got := spreadOf([]float64{1, 2, 3}).format(f0); got != "2 [1–3]" {
		t.Errorf("format %q", got)
	}
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int]string{10_000: "10k", 200_000: "200k", 2_000_000: "2M", 2_500_000: "2.5M", 1_234_567: "1.2M", 1500: "1.5k", 999: "999"} {
		if got := short(n); got != want {
			t.Errorf("short(%d) = %q, want %q", n, got, want)
		}
	}
	for v, want := range map[float64]string{7132: "7132", 31_700: "31.7k", 458_000: "458k", 1_234_000: "1.23M"} {
		if got := rate(v); got != want {
			t.Errorf("rate(%v) = %q, want %q", v, got, want)
		}
	}
	if got := thousands(2241658); got != "2,241,658" {
		t.Errorf("thousands %q", got)
	}
	for _, tt := range []struct {
		v    float64
		step int
		want int
	}{{1, 512, 512}, {512, 512, 512}, {513, 512, 1024}, {0, 64, 64}, {1700, 64, 1728}} {
		if got := roundUp(tt.v, tt.step); got != tt.want {
			t.Errorf("roundUp(%v, %d) = %d, want %d", tt.v, tt.step, got, tt.want)
		}
	}
}

func TestRunsOf(t *testing.T) {
	o := Options{Runs: 3}
	o.defaults()
	for _, tt := range []struct {
		mode string
		rows int
		want int
	}{
		{ModeBaseline, 200_000, 3}, {ModeRaw, 200_000, 3}, {ModeConvert, 200_000, 3},
		{ModeBaseline, 2_000_000, 0}, {ModeRaw, 2_000_000, 1}, {ModeConvert, 2_000_000, 3}, {ModeReader, 1_000_000, 3},
	} {
		if got := o.runsOf(tt.mode, tt.rows); got != tt.want {
			t.Errorf("runsOf(%s, %d) = %d, want %d", tt.mode, tt.rows, got, tt.want)
		}
	}
	o.FormattedLarge = true
	if got := o.runsOf(ModeBaseline, 2_000_000); got != 1 {
		t.Errorf("formatted large: %d runs", got)
	}
}

func TestChildEnv(t *testing.T) {
	got := childEnv([]string{"PATH=/bin", "GOGC=50", "GOMEMLIMIT=1GiB", "GODEBUG=x=1", "HOME=/root", "GOMAXPROCS=1"})
	if want := []string{"PATH=/bin", "HOME=/root"}; !slices.Equal(got, want) {
		t.Errorf("got %q", got)
	}
}

// fakeResult is a run with made-up figures: two sizes, the converter
// twice as fast as raw excelize on the small one.
func fakeResult() *Result {
	r := &Result{Opts: Options{Sizes: []int{10_000, 2_000_000}, Runs: 3}, Books: map[int]Book{
		10_000:    {Rows: 10_000, ZIPBytes: 400_000, XLSXBytes: 410_000, SSTXMLBytes: 1 << 20, SSTTextBytes: 800_000},
		2_000_000: {Rows: 2_000_000, ZIPBytes: 80_000_000, XLSXBytes: 82_000_000, SSTXMLBytes: 161 << 20, SSTTextBytes: 130_000_000},
	}}
	r.Opts.defaults()
	add := func(mode string, rows int, secs, cpu float64, rssMiB int64, parquet int64) {
		r.Samples = append(r.Samples, Sample{Mode: mode, Rows: rows, CPUSeconds: cpu, MaxRSSKiB: rssMiB << 10,
			Child: ChildResult{Rows: int64(rows), Seconds: secs, ParquetBytes: parquet}})
	}
	for i := range 3 {
		d := float64(i) * 0.01
		add(ModeBaseline, 10_000, 1+d, 0.9, 35, 0)
		add(ModeRaw, 10_000, 0.3+d, 0.2, 40, 0)
		add(ModeConvert, 10_000, 0.15+d, 0.16, 48+int64(i), 1_000_000)
		add(ModeConvert, 2_000_000, 20+d, 18, 480+int64(10*i), 200_000_000)
	}
	add(ModeRaw, 2_000_000, 60, 50, 300, 0)
	return r
}

func TestSummary(t *testing.T) {
	rows := fakeResult().Summary()
	find := func(prefix string) Row {
		t.Helper()
		for _, x := range rows {
			if strings.HasPrefix(x.Figure, prefix) {
				return x
			}
		}
		t.Fatalf("no row %q in %+v", prefix, rows)
		return Row{}
	}
	// 10k: converter 10k/0.16 = 62.5k rows/s; the faster excelize is raw
	// at 10k/0.31 = 32.3k: 1.94×.
	floor := find("10k rows: converter vs excelize Rows(), rows/s, issue 10 floor")
	if floor.Ratio != "1.94" || floor.Met != "yes" || !strings.Contains(floor.Figure, "excelize raw") {
		t.Errorf("floor row %+v", floor)
	}
	// Issue 13's 2× is judged at 2M rows; at 10k the ratio is shown only.
	if target := find("10k rows: converter vs excelize Rows(), rows/s, issue 13 target"); target.Met != "—" || !strings.Contains(target.Target, "judged at 2M rows") {
		t.Errorf("target row %+v", target)
	}
	// 2M: only raw was measured, at 33.3k; the converter at 2M/20.01 s.
	if x := find("2M rows: converter vs excelize Rows(), rows/s, issue 13 target"); x.Ratio != "3.00" || x.Met != "yes" || x.Baseline != "excelize raw 33.3k" {
		t.Errorf("2M row %+v", x)
	}
	// Peak RSS: the max of the runs against 256 + the table.
	if x := find("2M rows: converter peak RSS"); x.Value != "500 MiB" || x.Met != "**no**" || !strings.Contains(x.Target, "= 417 MiB") {
		t.Errorf("2M RSS row %+v", x)
	}
	if x := find("10k rows: converter peak RSS"); x.Value != "50 MiB" || x.Met != "yes" {
		t.Errorf("10k RSS row %+v", x)
	}
	// Flat: (500 − 50) − (161 − 1) = +290.
	if x := find("converter peak RSS flat"); x.Value != "+290 MiB" || x.Met != "**no**" {
		t.Errorf("flat row %+v", x)
	}
	if x := find("converter CPU-s per million rows"); x.Value != "10k: 16.0; 2M: 9.0" || x.Baseline != "excelize 2M: 25.0" {
		t.Errorf("cpu row %+v", x)
	}
}

// The allowance is inclusive: 417 MiB meets ≤ 256 + 161 MiB, 418 does not.
func TestSummaryRSSAllowance(t *testing.T) {
	for rss, want := range map[int64]string{417: "yes", 418: "**no**"} {
		r := fakeResult()
		for i := range r.Samples {
			if r.Samples[i].Mode == ModeConvert && r.Samples[i].Rows == 2_000_000 {
				r.Samples[i].MaxRSSKiB = rss << 10
			}
		}
		for _, x := range r.Summary() {
			if strings.HasPrefix(x.Figure, "2M rows: converter peak RSS") && x.Met != want {
				t.Errorf("%d MiB: %+v", rss, x)
			}
		}
	}
}

func TestSizing(t *testing.T) {
	s, ok := fakeResult().SizingOf()
	if !ok {
		t.Fatal("no sizing")
	}
	// Line through (1 MiB, 50) and (161 MiB, 500): slope 450/160.
	if math.Abs(s.RSSPerSST-450.0/160) > 1e-9 || math.Abs(s.RSSBase-(500-450.0/160*161)) > 1e-9 {
		t.Errorf("fit %v + %v×", s.RSSBase, s.RSSPerSST)
	}
	if math.Abs(s.RSSAt(2_000_000)-500) > 1e-6 {
		t.Errorf("RSS at 2M %v", s.RSSAt(2_000_000))
	}
	// 500 MiB / 0.75 < 1769: one vCPU.
	if s.MemoryMB != 1769 {
		t.Errorf("memory %d", s.MemoryMB)
	}
	if got := s.RSSAt(s.RowsAtMemory); math.Abs(got-1769*rssHeadroom) > 1e-6 {
		t.Errorf("rows at memory %v project to %v MiB", s.RowsAtMemory, got)
	}
	if want := roundUp(s.SpoolPerRow*s.RowsAtMemory*spoolMargin/1e6, 512); s.EphemeralMB != want || s.SpoolPerRow != float64(80_000_000+82_000_000+200_000_000)/2_000_000 {
		t.Errorf("ephemeral %d (spool %v a row)", s.EphemeralMB, s.SpoolPerRow)
	}
	if math.Abs(s.RowsAtSSTLimit-float64(512<<20)/65) > 1 {
		t.Errorf("rows at the table limit %v", s.RowsAtSSTLimit)
	}
	if mb, _ := proposeMemory(1500, func(int) float64 { return 0 }); mb != 2048 {
		t.Errorf("1500 MiB peak: %d MB", mb)
	}
}

func TestParsePprofTop(t *testing.T) {
	out := `File: convertchild
Type: cpu
Duration: 24.05s, Total samples = 17.91s (74.46%)
Showing nodes accounting for 14.70s, 82.08% of 17.91s total
      flat  flat%   sum%        cum   cum%
         0     0%     0%     17.04s 95.14%  github.com/insights-export/insights-export/internal/convert.(*Converter).Handle
     0.08s  0.45%  1.62%     10.68s 59.63%  github.com/insights-export/insights-export/internal/dataset.(*SheetWriter).Write
         0     0%  1.84%      5.56s 31.04%  github.com/parquet-go/parquet-go.(*GenericWriter[go.shape.77988e74]).Write
         0     0%  1.84%      5.55s 30.99%  github.com/parquet-go/parquet-go.(*GenericWriter[go.shape.77988e74]).Write.func1
     0.14s  0.78%  5.42%      2.91s 16.25%  github.com/insights-export/insights-export/internal/dataset.rowID
     0.12s  0.67%  7.82%      1.96s 10.94%  github.com/insights-export/insights-export/internal/dataset.rowID.func1
      10ms  0.05%  7.90%      530ms  2.96%  runtime.gcBgMarkWorker
`
	total, cum, err := parsePprofTop(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"handle": 17.04, "write": 10.68, "parquet": 5.56, "rowid": 2.91, "gc": 0.53}
	if total != 17.91 || len(cum) != len(want) {
		t.Fatalf("total %v, parts %v", total, cum)
	}
	for k, v := range want {
		if math.Abs(cum[k]-v) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, cum[k], v)
		}
	}
	if _, _, err := parsePprofTop("no profile here"); err == nil {
		t.Error("accepted output without a total")
	}
}
