package avesim

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// TestShapePlainBytesUnchanged pins ShapePlain to the bytes the simulator
// produced before report shapes existed (SHA-256 recorded at commit
// 7eec947, excelize v2.11.1): tests elsewhere that compare stored reports
// with served ones, or sizes, must not see a difference. A new excelize
// version may change these bytes legitimately; re-record them then, from
// the code before any change of the simulator's own.
func TestShapePlainBytesUnchanged(t *testing.T) {
	tests := []struct {
		sp            reportSpec
		wantXLSX      string
		wantZIP       string
		alsoEmptyName bool
	}{
		{sp: reportSpec{jobID: "67890", email: "alex.wilber@contoso.onmicrosoft.com", rows: 50,
			start: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), finish: time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)},
			wantXLSX: "cf95200df6463cf97f4379d66b3f09ea4ea7ffc5df04eafdc00a35d1e13c4099",
			wantZIP:  "0cd21c9ee3ec2ae152dbceddea148b460b114c930ab9e1df72e2f6dffdad5c7f"},
		{sp: reportSpec{jobID: "67891", email: "guest@t.example", rows: 7, eventTypes: []string{"SharingSet", "FileAccessed", "ListViewed"},
			start: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), finish: time.Date(2023, 1, 8, 0, 0, 0, 0, time.UTC)},
			wantXLSX: "e895b36f48019674cfafe2d1bf4c16243131d1e3ec8c44e7fab4947a1ba915d7",
			wantZIP:  "6c626c245913c714ae0f2058199c748c92ddf7a0a1f8fd1dc8819f22ecb75290"},
		{sp: reportSpec{jobID: "67892", email: "bob@fabrikam.com", rows: 0,
			start: time.Date(2025, 11, 24, 13, 5, 0, 0, time.UTC), finish: time.Date(2025, 11, 25, 13, 5, 0, 0, time.UTC)},
			wantXLSX: "a5b5c79ba7b44e6aa411cd10472827101f22864331d384e0ef9d5939cc4793e5",
			wantZIP:  "7175ace61c700a1f3156dd1554045db18d864cbe1954d1d1a2e50db5d0a56abf"},
	}
	for _, tc := range tests {
		for _, shape := range []ReportShape{"", ShapePlain} {
			t.Run(tc.sp.jobID+"/"+string(shape), func(t *testing.T) {
				sp := tc.sp
				sp.shape = shape
				x, err := buildXLSX(sp)
				if err != nil {
					t.Fatal(err)
				}
				z, err := buildReportZIP(sp)
				if err != nil {
					t.Fatal(err)
				}
				if got := sha256Hex(x); got != tc.wantXLSX {
					t.Errorf("workbook sha256 %s, want %s", got, tc.wantXLSX)
				}
				if got := sha256Hex(z); got != tc.wantZIP {
					t.Errorf("zip sha256 %s, want %s", got, tc.wantZIP)
				}
			})
		}
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// shapeWorkbook is a served report opened twice: by excelize, as a
// consumer would, and as raw parts, to check the package itself.
type shapeWorkbook struct {
	f     *excelize.File
	parts map[string]string
}

func openShapeReport(t *testing.T, jobID string, body []byte) shapeWorkbook {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("archive/zip cannot open the report: %v", err)
	}
	if len(zr.File) != 1 || zr.File[0].Name != ReportXLSXName(jobID) {
		t.Fatalf("report has %d entries, want one %s", len(zr.File), ReportXLSXName(jobID))
	}
	xb, err := readZipFile(zr.File[0])
	if err != nil {
		t.Fatal(err)
	}
	return openWorkbook(t, xb)
}

func openWorkbook(t *testing.T, xb []byte) shapeWorkbook {
	t.Helper()
	pr, err := zip.NewReader(bytes.NewReader(xb), int64(len(xb)))
	if err != nil {
		t.Fatalf("the workbook is not a ZIP package: %v", err)
	}
	parts := map[string]string{}
	for _, p := range pr.File {
		b, err := readZipFile(p)
		if err != nil {
			t.Fatalf("part %s: %v", p.Name, err)
		}
		parts[p.Name] = string(b)
	}
	f, err := excelize.OpenReader(bytes.NewReader(xb))
	if err != nil {
		t.Fatalf("excelize cannot open the workbook: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return shapeWorkbook{f: f, parts: parts}
}

func (w shapeWorkbook) sheetXML() string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(w.parts)) {
		if strings.HasPrefix(name, "xl/worksheets/") {
			b.WriteString(w.parts[name])
		}
	}
	return b.String()
}

var date1904RE = regexp.MustCompile(`<workbookPr\b[^>]*\bdate1904="(1|true)"`)

// TestReportShapes downloads one job's report in every shape and checks
// it against the shape's Layout and against ActivityRows: the same rows
// in every shape, where the shape says, in the cell types it says.
func TestReportShapes(t *testing.T) {
	from := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 11, 24, 13, 5, 0, 0, time.UTC)
	query := "startTime=" + from.Format(TimeLayout) + "&finishTime=" + to.Format(TimeLayout) +
		"&eventTypes=FileAccessed&eventTypes=ListViewed&eventTypes=SharingSet"
	const rows = 40
	want := ActivityRows(strconv.Itoa(FirstJobID), guestEmail, from, to, []string{"FileAccessed", "ListViewed", "SharingSet"}, rows)
	if len(want) != rows {
		t.Fatalf("ActivityRows gave %d rows", len(want))
	}
	serials := map[ReportShape][]float64{} // raw serials of the date shapes, by shape

	for _, shape := range ReportShapes() {
		t.Run(string(shape), func(t *testing.T) {
			lay := shape.Layout()
			e := newEnv(t, Options{ReportRows: rows, PollsToFinish: -1, ReportShape: shape})
			tok := e.token(t)
			id, r := finishedJob(t, e, tok, guestSegment, query)
			if got := e.srv.Jobs()[0].ReportShape; got != shape {
				t.Errorf("JobInfo.ReportShape %q", got)
			}
			got, err := e.srv.ReportRows(id)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("Server.ReportRows differs from ActivityRows")
			}
			w := openShapeReport(t, id, r.body)

			if sheets := w.f.GetSheetList(); !slices.Equal(sheets, lay.Sheets) {
				t.Fatalf("sheets %q, want %q", sheets, lay.Sheets)
			}
			cells, err := w.f.GetRows(lay.ActivitySheet, excelize.Options{RawCellValue: true})
			if err != nil {
				t.Fatal(err)
			}
			shown, err := w.f.GetRows(lay.ActivitySheet) // as Excel shows them (number formats applied)
			if err != nil {
				t.Fatal(err)
			}
			if len(cells) != lay.HeaderRow+rows {
				t.Fatalf("%d rows in the activity sheet, want header at %d and %d data rows", len(cells), lay.HeaderRow, rows)
			}
			if h := cells[lay.HeaderRow-1]; !slices.Equal(h, lay.Header) {
				t.Fatalf("row %d is %q, want the header %q", lay.HeaderRow, h, lay.Header)
			}
			checkPreamble(t, w.f, lay, cells[:lay.HeaderRow-1])

			props, err := w.f.GetWorkbookProps()
			if err != nil {
				t.Fatal(err)
			}
			date1904 := props.Date1904 != nil && *props.Date1904
			if date1904 != lay.Date1904 || date1904RE.MatchString(w.parts["xl/workbook.xml"]) != lay.Date1904 {
				t.Fatalf("date1904: excelize %v, workbook.xml %v, want %v", date1904, date1904RE.MatchString(w.parts["xl/workbook.xml"]), lay.Date1904)
			}

			for i, row := range cells[lay.HeaderRow:] {
				wr := want[i]
				var at time.Time
				if lay.DateCells {
					serial, err := strconv.ParseFloat(row[0], 64)
					if err != nil {
						t.Fatalf("data row %d: time cell %q is not a serial", i, row[0])
					}
					serials[shape] = append(serials[shape], serial)
					if at, err = excelize.ExcelDateToTime(serial, date1904); err != nil {
						t.Fatal(err)
					}
					// The number format must make it a date for Excel too.
					if s := shown[lay.HeaderRow+i][0]; s != wr.Time.Format(ReportTimeLayout) {
						t.Errorf("data row %d: date cell shows %q, want %q", i, s, wr.Time.Format(ReportTimeLayout))
					}
				} else {
					if shape == ShapeLocalized && row[0] != wr.Time.Format("02/01/2006 15:04:05") {
						t.Errorf("data row %d: time %q is not day-first", i, row[0])
					}
					if at, err = time.Parse(lay.TimeLayout, row[0]); err != nil {
						t.Fatalf("data row %d: time %q in layout %q: %v", i, row[0], lay.TimeLayout, err)
					}
				}
				if !at.Equal(wr.Time) {
					t.Errorf("data row %d: time %v, want %v", i, at, wr.Time)
				}
				if rest, wantRest := row[1:], wr.cells(ReportTimeLayout)[1:]; !slices.Equal(rest, wantRest) {
					t.Errorf("data row %d: %q, want %q", i, rest, wantRest)
				}
			}

			xml := w.sheetXML()
			_, hasSST := w.parts["xl/sharedStrings.xml"]
			inline, shared := strings.Contains(xml, `t="inlineStr"`), strings.Contains(xml, `t="s"`)
			if lay.SharedStrings != hasSST || lay.SharedStrings != shared || lay.SharedStrings == inline {
				t.Fatalf("sharedStrings part %v, t=\"s\" cells %v, inline cells %v; want shared strings %v",
					hasSST, shared, inline, lay.SharedStrings)
			}
			if hasSST {
				checkSSTCounts(t, w.parts[sstPart], xml)
			}
			ct, rels := w.parts["[Content_Types].xml"], w.parts["xl/_rels/workbook.xml.rels"]
			if strings.Contains(ct, "sharedStrings") != lay.SharedStrings || strings.Contains(rels, "sharedStrings") != lay.SharedStrings {
				t.Errorf("content types or workbook relationships disagree with the sharedStrings part:\n%s\n%s", ct, rels)
			}

			if lay.SummarySheet != "" {
				checkSummary(t, w.f, lay.SummarySheet, want)
			}
		})
	}

	// Same instants, other date system: the serials differ by the 1462
	// days between the systems' epochs.
	d1900, d1904 := serials[ShapeDateCells], serials[ShapeDates1904]
	if len(d1900) != rows || len(d1904) != rows {
		t.Fatalf("serials: %d 1900, %d 1904", len(d1900), len(d1904))
	}
	for i := range d1900 {
		if diff := d1900[i] - d1904[i]; diff < 1462-1e-6 || diff > 1462+1e-6 {
			t.Errorf("row %d: 1900 serial %v, 1904 serial %v", i, d1900[i], d1904[i])
		}
	}
}

var sstCountsRE = regexp.MustCompile(`<sst [^>]*count="([0-9]+)" uniqueCount="([0-9]+)"`)

// checkSSTCounts checks the table's counts, which excelize ignores but
// other readers may size their tables by.
func checkSSTCounts(t *testing.T, sst, sheets string) {
	t.Helper()
	m := sstCountsRE.FindStringSubmatch(sst)
	if m == nil {
		t.Fatalf("no counts in the sst element: %.200s", sst)
	}
	cells, items := strings.Count(sheets, ` t="s"`), strings.Count(sst, "<si>")
	if m[1] != strconv.Itoa(cells) || m[2] != strconv.Itoa(items) {
		t.Errorf("sst count=%s uniqueCount=%s, want %d string cells and %d items", m[1], m[2], cells, items)
	}
}

// checkPreamble checks the rows above the header: none, or the title rows
// and a blank row.
func checkPreamble(t *testing.T, f *excelize.File, lay ShapeLayout, pre [][]string) {
	t.Helper()
	if lay.HeaderRow == 1 {
		return
	}
	if len(pre) != 3 || len(pre[0]) == 0 || len(pre[1]) == 0 || len(pre[2]) != 0 {
		t.Fatalf("rows above the header %q, want two title rows and a blank one", pre)
	}
	if pre[0][0] != "User activity report for "+guestEmail || !strings.HasPrefix(pre[1][0], "Exported on 2026-11-24 13:05:00") {
		t.Errorf("title rows %q", pre[:2])
	}
	merged, err := f.GetMergeCells(lay.ActivitySheet)
	if err != nil {
		t.Fatal(err)
	}
	last, _ := excelize.CoordinatesToCellName(len(lay.Header), 1)
	if len(merged) != 1 || merged[0].GetStartAxis() != "A1" || merged[0].GetEndAxis() != last {
		t.Errorf("merged cells %v, want A1:%s", merged, last)
	}
}

func checkSummary(t *testing.T, f *excelize.File, sheet string, want []ReportRow) {
	t.Helper()
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], []string{"Event Type", "Count"}) {
		t.Fatalf("summary header %q", rows[:min(len(rows), 1)])
	}
	wantCounts := map[string]int{}
	for _, r := range want {
		wantCounts[r.EventType]++
	}
	got, total := map[string]int{}, 0
	for _, row := range rows[1:] {
		if len(row) != 2 {
			t.Fatalf("summary row %q", row)
		}
		n, err := strconv.Atoi(row[1])
		if err != nil {
			t.Fatalf("summary count %q", row[1])
		}
		got[row[0]] = n
		total += n
	}
	if total != len(want) || !maps.Equal(got, wantCounts) {
		t.Errorf("summary counts %v (total %d), want %v (total %d)", got, total, wantCounts, len(want))
	}
}

// TestReportShapePerPlan: a plan's shape wins over the server's, which
// wins over ShapePlain, and only that user's jobs change.
func TestReportShapePerPlan(t *testing.T) {
	const other = "b@t.onmicrosoft.com"
	tests := []struct {
		name       string
		server     ReportShape
		plan       ReportShape
		wantGuest  ReportShape
		wantOthers ReportShape
	}{
		{name: "defaults", wantGuest: ShapePlain, wantOthers: ShapePlain},
		{name: "server only", server: ShapeLocalized, wantGuest: ShapeLocalized, wantOthers: ShapeLocalized},
		{name: "plan only", plan: ShapeDates1904, wantGuest: ShapeDates1904, wantOthers: ShapePlain},
		{name: "plan over server", server: ShapeLocalized, plan: ShapeMixed, wantGuest: ShapeMixed, wantOthers: ShapeLocalized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{ReportRows: 5, PollsToFinish: -1, ReportShape: tc.server,
				Plans: map[string]JobPlan{strings.ToUpper(guestEmail): {ReportShape: tc.plan}}})
			tok := e.token(t)
			gid, gr := finishedJob(t, e, tok, guestSegment, "")
			oid, or := finishedJob(t, e, tok, "b%2540t.onmicrosoft.com", "")
			for _, c := range []struct {
				id    string
				body  []byte
				shape ReportShape
			}{{gid, gr.body, tc.wantGuest}, {oid, or.body, tc.wantOthers}} {
				w := openShapeReport(t, c.id, c.body)
				if sheets := w.f.GetSheetList(); !slices.Equal(sheets, c.shape.Layout().Sheets) {
					t.Errorf("job %s: sheets %q, want %s's %q", c.id, sheets, c.shape, c.shape.Layout().Sheets)
				}
			}
			jobs := e.srv.Jobs()
			if jobs[0].ReportShape != tc.wantGuest || jobs[1].ReportShape != tc.wantOthers || jobs[1].Email != other {
				t.Errorf("jobs: %s %q, %s %q", jobs[0].Email, jobs[0].ReportShape, jobs[1].Email, jobs[1].ReportShape)
			}
		})
	}
}

func TestReportShapeInvalid(t *testing.T) {
	long := strings.Repeat("é", 100) + "\xff"
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "server", opts: Options{ReportShape: "Plain"}, want: `avesim: ReportShape: unknown report shape "Plain"`},
		{name: "plan", opts: Options{Plans: map[string]JobPlan{"a@b.c": {ReportShape: "csv"}}}, want: `ReportShape: unknown report shape "csv"`},
		{name: "long, not UTF-8", opts: Options{ReportShape: ReportShape(long)}, want: "unknown report shape"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.ClientID, tc.opts.ClientSecret = testClientID, testSecret
			_, err := New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
			if msg := err.Error(); len(msg) > 300 || !utf8.ValidString(msg) {
				t.Errorf("error is %d bytes, valid UTF-8 %v: %q", len(msg), utf8.ValidString(msg), msg)
			}
		})
	}
	for _, sh := range ReportShapes() {
		if got, err := ParseReportShape(string(sh)); err != nil || got != sh {
			t.Errorf("ParseReportShape(%q) = %q, %v", sh, got, err)
		}
		if sh.Layout().Description == "" {
			t.Errorf("%s has no description", sh)
		}
	}
	if got, err := ParseReportShape(""); err != nil || got != ShapePlain {
		t.Errorf(`ParseReportShape("") = %q, %v`, got, err)
	}
	if l := ReportShape("nope").Layout(); l.HeaderRow != 0 || l.Sheets != nil {
		t.Errorf("unknown shape's layout %+v", l)
	}
	if _, err := (&Server{jobs: map[string]*job{}}).ReportRows("1"); err == nil {
		t.Errorf("ReportRows of an unknown job: no error")
	}
}

// TestToSharedStrings proves the rewrite loses nothing: excelize reads
// every sheet of the rewritten workbook exactly as the original, for every
// shape and for strings that need escaping or xml:space.
func TestToSharedStrings(t *testing.T) {
	awkward := func() []byte {
		f := excelize.NewFile()
		defer f.Close()
		bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
		if err != nil {
			t.Fatal(err)
		}
		sw, err := f.NewStreamWriter("Sheet1")
		if err != nil {
			t.Fatal(err)
		}
		if err := sw.SetRow("A1", []any{" leading", "trailing ", "a&b<c>\"d'", "é ü 日本", "two\nlines", "tab\tin", 42, "repeat"}); err != nil {
			t.Fatal(err)
		}
		if err := sw.SetRow("A3", []any{"repeat", nil, " leading", excelize.Cell{Value: "styled", StyleID: bold}}); err != nil {
			t.Fatal(err)
		}
		if err := sw.Flush(); err != nil {
			t.Fatal(err)
		}
		b, err := f.WriteToBuffer()
		if err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	inputs := map[string][]byte{"awkward strings": awkward()}
	for _, sh := range ReportShapes() {
		sp := reportSpec{jobID: "67890", email: guestEmail, rows: 12, shape: sh,
			start: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), finish: time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)}
		if sh.Layout().SharedStrings {
			continue // already rewritten
		}
		b, err := buildXLSX(sp)
		if err != nil {
			t.Fatal(err)
		}
		inputs[string(sh)] = b
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			out, err := toSharedStrings(in)
			if err != nil {
				t.Fatal(err)
			}
			before, after := openWorkbook(t, in), openWorkbook(t, out)
			if _, ok := after.parts[sstPart]; !ok || strings.Contains(after.sheetXML(), "inlineStr") {
				t.Fatalf("rewrite left inline strings or no table")
			}
			sheets := before.f.GetSheetList()
			if got := after.f.GetSheetList(); !slices.Equal(got, sheets) {
				t.Fatalf("sheets %q, want %q", got, sheets)
			}
			for _, sheet := range sheets {
				for _, raw := range []bool{false, true} {
					want, err := before.f.GetRows(sheet, excelize.Options{RawCellValue: raw})
					if err != nil {
						t.Fatal(err)
					}
					got, err := after.f.GetRows(sheet, excelize.Options{RawCellValue: raw})
					if err != nil {
						t.Fatal(err)
					}
					if !slices.EqualFunc(got, want, slices.Equal) {
						t.Fatalf("sheet %s (raw %v) reads\n%q\nwant\n%q", sheet, raw, got, want)
					}
				}
			}
			if _, err := toSharedStrings(out); err == nil {
				t.Errorf("a second rewrite was accepted")
			}
		})
	}
}

// TestReportShapeSized: a sized report (Options.ReportSize) carries the
// shape's workbook as its first entry.
func TestReportShapeSized(t *testing.T) {
	const size = 1 << 20
	e := newEnv(t, Options{ReportSize: size, ReportRows: 4, PollsToFinish: -1, ReportShape: ShapeMixed})
	tok := e.token(t)
	id := e.startJob(t, tok, guestSegment, "")
	e.poll(t, tok, id)
	ra, n, err := e.srv.ReportReaderAt(id)
	if err != nil || n != size {
		t.Fatalf("ReportReaderAt: %d, %v", n, err)
	}
	zr, err := zip.NewReader(ra, n)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	xb, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	w := openWorkbook(t, xb)
	if sheets := w.f.GetSheetList(); !slices.Equal(sheets, ShapeMixed.Layout().Sheets) {
		t.Fatalf("sheets %q", sheets)
	}
	if _, ok := w.parts[sstPart]; !ok {
		t.Errorf("no shared-string table")
	}
}
