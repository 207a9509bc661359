package xlsx

import (
	"archive/zip"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/xuri/excelize/v2"
)

// Large workbooks are written once per test binary run into bigDir (made
// on first use, removed by TestMain): excelize's StreamWriter takes
// seconds for 200k rows, and both the memory test and the benchmarks need
// them.
var (
	bigMu    sync.Mutex
	bigDir   string
	bigBooks = map[string]string{}
)

func TestMain(m *testing.M) {
	flag.Parse()
	capFuzzMinimize()
	code := m.Run()
	if bigDir != "" {
		os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

// capFuzzMinimize caps the minimization of new fuzzing inputs at 3 s
// unless -fuzzminimizetime is given. Minimizing re-runs an input with
// bytes cut out, for up to 60 s by default; for a ZIP archive, where almost
// every cut breaks a CRC, that takes all of a 30 s fuzzing run (the
// fuzzer stalls at its first interesting input), so FuzzTable would
// hardly fuzz at all.
func capFuzzMinimize() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	if !set {
		_ = flag.Set("test.fuzzminimizetime", "3s")
	}
}

// bigBook returns the path of a generated workbook of rows data rows
// (header on row 3, like streamedBook), with inline strings or, when
// shared, the same cells as shared strings.
func bigBook(tb testing.TB, rows int, shared bool) string {
	tb.Helper()
	bigMu.Lock()
	defer bigMu.Unlock()
	key := fmt.Sprintf("%d-%v", rows, shared)
	if p, ok := bigBooks[key]; ok {
		return p
	}
	if bigDir == "" {
		d, err := os.MkdirTemp("", "xlsx-test-")
		if err != nil {
			tb.Fatal(err)
		}
		bigDir = d
	}
	b, _ := streamedBook(tb, rows, false)
	if shared {
		b = toSharedStrings(tb, b)
	}
	p := filepath.Join(bigDir, key+".xlsx")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	bigBooks[key] = p
	return p
}

// toSharedStrings rewrites a StreamWriter workbook's inline strings as
// shared strings (as Excel and most libraries write them).
func toSharedStrings(tb testing.TB, b []byte) []byte {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		tb.Fatal(err)
	}
	parts := map[string]string{}
	var order []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			tb.Fatal(err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			tb.Fatal(err)
		}
		parts[f.Name] = string(body)
		order = append(order, f.Name)
	}
	const open, mid = `" t="inlineStr"><is><t>`, `</t></is></c>`
	sheet := parts["xl/worksheets/sheet1.xml"]
	var out strings.Builder
	out.Grow(len(sheet))
	index := map[string]int{}
	var sst strings.Builder
	for {
		i := strings.Index(sheet, open)
		if i < 0 {
			out.WriteString(sheet)
			break
		}
		j := strings.Index(sheet[i+len(open):], mid)
		text := sheet[i+len(open) : i+len(open)+j]
		n, ok := index[text]
		if !ok {
			n = len(index)
			index[text] = n
			sst.WriteString("<si><t>" + text + "</t></si>")
		}
		out.WriteString(sheet[:i])
		out.WriteString(`" t="s"><v>` + strconv.Itoa(n) + `</v></c>`)
		sheet = sheet[i+len(open)+j+len(mid):]
	}
	parts["xl/worksheets/sheet1.xml"] = out.String()
	parts["xl/sharedStrings.xml"] = `<?xml version="1.0" encoding="UTF-8"?><sst xmlns="` + nsMain + `" uniqueCount="` + strconv.Itoa(len(index)) + `">` + sst.String() + `</sst>`
	parts["xl/_rels/workbook.xml.rels"] = strings.Replace(parts["xl/_rels/workbook.xml.rels"], `</Relationships>`,
		`<Relationship Id="rIdSST" Target="sharedStrings.xml" Type="`+nsRel+`/sharedStrings"></Relationship></Relationships>`, 1)
	parts["[Content_Types].xml"] = strings.Replace(parts["[Content_Types].xml"], `</Types>`,
		`<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"></Override></Types>`, 1)
	order = append(order, "xl/sharedStrings.xml")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range order {
		w, err := zw.Create(n)
		if err != nil {
			tb.Fatal(err)
		}
		io.WriteString(w, parts[n])
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// streamHeap reads the workbook at path and returns the largest heap in
// use seen while its rows streamed by, above the heap in use before Open.
func streamHeap(t *testing.T, path string, rows int) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	// Twice: what writing the workbook left behind includes objects freed
	// only after their finalizers ran.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	w, err := Open(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	tb, err := w.Table(context.Background(), "Sheet1", func(r Row) error {
		if n++; n%2000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tb.Rows != rows || tb.HeaderRow != 3 {
		t.Fatalf("%d rows, header row %d", tb.Rows, tb.HeaderRow)
	}
	return peak - base
}

// The heap a sheet's reading needs does not grow with its rows: ten times
// the rows may not cost more than a few MiB more (a reader that kept the
// rows, or the sheet's 90 MB of XML, would need tens of MiB more). Not a
// timing assertion.
func TestMemoryDoesNotGrowWithRows(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 200k-row workbook (seconds); skipped under -short")
	}
	smallBook, largeBook := bigBook(t, 20000, false), bigBook(t, 200000, false)
	small := streamHeap(t, smallBook, 20000)
	large := streamHeap(t, largeBook, 200000)
	t.Logf("peak heap in use above the start: %.1f MiB for 20k rows, %.1f MiB for 200k rows", float64(small)/(1<<20), float64(large)/(1<<20))
	if large > small+8<<20 {
		t.Fatalf("heap grew with the rows: %d bytes for 20k rows, %d for 200k", small, large)
	}
}

func benchBytes(b *testing.B, shared bool) []byte {
	data, err := os.ReadFile(bigBook(b, 200000, shared))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkTable: Open and Table over a 200k-row workbook, from memory.
func BenchmarkTable(b *testing.B) {
	for _, shared := range []bool{false, true} {
		b.Run(map[bool]string{false: "inline", true: "shared"}[shared], func(b *testing.B) {
			data := benchBytes(b, shared)
			b.ReportAllocs()
			b.ResetTimer()
			rows := 0
			for i := 0; i < b.N; i++ {
				w, err := Open(bytes.NewReader(data), int64(len(data)))
				if err != nil {
					b.Fatal(err)
				}
				tb, err := w.Table(context.Background(), "Sheet1", func(Row) error { return nil })
				if err != nil {
					b.Fatal(err)
				}
				rows += tb.Rows
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkExcelizeRows: excelize's streaming reader (OpenReader, Rows,
// Columns) over the same workbooks, for the ratio.
func BenchmarkExcelizeRows(b *testing.B) {
	for _, shared := range []bool{false, true} {
		b.Run(map[bool]string{false: "inline", true: "shared"}[shared], func(b *testing.B) {
			data := benchBytes(b, shared)
			b.ReportAllocs()
			b.ResetTimer()
			rows := 0
			for i := 0; i < b.N; i++ {
				f, err := excelize.OpenReader(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				it, err := f.Rows("Sheet1")
				if err != nil {
					b.Fatal(err)
				}
				for it.Next() {
					if _, err := it.Columns(); err != nil {
						b.Fatal(err)
					}
					rows++
				}
				it.Close()
				f.Close()
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
