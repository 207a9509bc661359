package xlsx

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// These tests hold the reader to excelize, an independent reader of the
// same files, cell by cell: for every cell of every sheet excelize sees,
// the reader must deliver the same value at the same row and column, or
// (above the header, empty rows) deliberately not deliver it.
//
// What is compared with which excelize value:
//   - strings (shared, inline, rich text), formula strings, errors and t="d"
//     dates: excelize's raw value;
//   - booleans: excelize's formatted value (TRUE/FALSE; its raw one is 1/0);
//   - numbers: excelize's raw value as the shortest round-trip text (the
//     reader's rule: the raw value is the writer's digits, which for Excel
//     can be 17 significant ones where 15 say the same number);
//   - numbers with a date or time format: excelize.ExcelDateToTime of the
//     raw serial, formatted 2006-01-02T15:04:05 (serials below 61, where
//     excelize departs from Excel's calendar, are checked by
//     TestSerialDates instead).
//
// Which cells are dates comes from excelize's parse of styles.xml and a
// second, regexp-based reading of the date rule (oracleDateFormat); for the
// generated workbooks also from what was written (truth).

const isoLayout = "2006-01-02T15:04:05"

// truth maps a sheet's (row, column) to the ISO text a date cell was
// written with.
type truth map[string]map[[2]int]string

type expected struct {
	value string
	date  bool
	skip  bool // excelize and the reader differ here by design (see above)
}

var (
	oracleLiteral = regexp.MustCompile(`"[^"]*"|\\.|_.|\*.|\[[^\]]*\]`)
	oracleElapsed = regexp.MustCompile(`(?i)^\[(h+|m+|s+)\]$`)
	oracleToken   = regexp.MustCompile(`[dmyhsDMYHS]`)
)

func oracleDateFormat(code string) bool {
	rest := oracleLiteral.ReplaceAllStringFunc(code, func(m string) string {
		if oracleElapsed.MatchString(m) {
			return "h"
		}
		return ""
	})
	return oracleToken.MatchString(rest)
}

func oracleBuiltinDate(id int) bool {
	for _, r := range [][2]int{{14, 22}, {27, 36}, {45, 47}, {50, 58}} {
		if id >= r[0] && id <= r[1] {
			return true
		}
	}
	return false
}

type excelizeSheet struct {
	f        *excelize.File
	sheet    string
	raw, fmt [][]string
	date1904 bool
}

func (x *excelizeSheet) at(rows [][]string, row, col int) string {
	if row-1 < len(rows) && col-1 < len(rows[row-1]) {
		return rows[row-1][col-1]
	}
	return ""
}

func (x *excelizeSheet) width(row int) int {
	if row-1 < len(x.raw) {
		return len(x.raw[row-1])
	}
	return 0
}

func (x *excelizeSheet) isDateStyle(t *testing.T, ref string) bool {
	id, err := x.f.GetCellStyle(x.sheet, ref)
	if err != nil {
		t.Fatal(err)
	}
	st, err := x.f.GetStyle(id)
	if err != nil {
		return false // excelize: a style index past cellXfs is General
	}
	if st.CustomNumFmt != nil {
		return oracleDateFormat(*st.CustomNumFmt)
	}
	return oracleBuiltinDate(st.NumFmt)
}

// expect is what the reader must deliver for a cell, from excelize.
func (x *excelizeSheet) expect(t *testing.T, row, col int) expected {
	raw := x.at(x.raw, row, col)
	if raw == "" {
		return expected{}
	}
	ref, _ := excelize.CoordinatesToCellName(col, row)
	typ, err := x.f.GetCellType(x.sheet, ref)
	if err != nil {
		t.Fatal(err)
	}
	switch typ {
	case excelize.CellTypeBool:
		return expected{value: x.at(x.fmt, row, col)}
	case excelize.CellTypeDate:
		return expected{value: strings.TrimSpace(raw), date: true}
	case excelize.CellTypeNumber, excelize.CellTypeUnset:
		v, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			t.Fatalf("%s!%s: excelize's raw number %q: %v", x.sheet, ref, raw, err)
		}
		if x.isDateStyle(t, ref) && v >= 0 && v < 2958466 {
			if !x.date1904 && v < 61 {
				return expected{skip: true}
			}
			tm, err := excelize.ExcelDateToTime(v, x.date1904)
			if err != nil {
				t.Fatal(err)
			}
			return expected{value: tm.Round(time.Second).Format(isoLayout), date: true}
		}
		return expected{value: strconv.FormatFloat(v, 'f', -1, 64)}
	}
	return expected{value: raw} // strings, formula strings, errors
}

// agreeWithExcelize reads every worksheet of b with Table and with excelize
// and compares them cell by cell; truth, when given, also fixes the dates.
func agreeWithExcelize(t *testing.T, b []byte, tr truth) {
	t.Helper()
	w := openBytes(t, b)
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("excelize cannot open the workbook: %v", err)
	}
	defer f.Close()
	props, err := f.GetWorkbookProps()
	if err != nil {
		t.Fatal(err)
	}
	date1904 := props.Date1904 != nil && *props.Date1904
	if date1904 != w.Date1904() {
		t.Fatalf("Date1904() = %v, excelize says %v", w.Date1904(), date1904)
	}
	list := f.GetSheetList()
	for i, sheet := range w.Sheets() {
		if i >= len(list) || list[i] != sheet {
			// excelize lists chart sheets too; ours must be in its order.
			found := false
			for _, s := range list[i:] {
				found = found || s == sheet
			}
			if !found {
				t.Fatalf("sheet %q is not in excelize's list %q", sheet, list)
			}
		}
		x := &excelizeSheet{f: f, sheet: sheet, date1904: date1904}
		if x.raw, err = f.GetRows(sheet, excelize.Options{RawCellValue: true}); err != nil {
			t.Fatal(err)
		}
		if x.fmt, err = f.GetRows(sheet); err != nil {
			t.Fatal(err)
		}
		tb, rows := mustTable(t, b, sheet, TableOptions{})
		compareSheet(t, x, tb, rows, tr[sheet])
	}
}

func compareSheet(t *testing.T, x *excelizeSheet, tb *Table, rows []Row, dates map[[2]int]string) {
	t.Helper()
	where := func(row, col int) string {
		ref, _ := excelize.CoordinatesToCellName(col, row)
		return x.sheet + "!" + ref
	}
	isText := func(row, col int) bool {
		ref, _ := excelize.CoordinatesToCellName(col, row)
		typ, _ := x.f.GetCellType(x.sheet, ref)
		return typ == excelize.CellTypeSharedString || typ == excelize.CellTypeInlineString || typ == excelize.CellTypeFormula
	}
	// The header: the first row of the search range with two text cells.
	header := 0
	for row := 1; row <= min(len(x.raw), HeaderSearchRows) && header == 0; row++ {
		n := 0
		for col := 1; col <= x.width(row); col++ {
			if isText(row, col) && strings.TrimSpace(x.expect(t, row, col).value) != "" {
				n++
			}
		}
		if n >= 2 {
			header = row
		}
	}
	if tb.HeaderRow != header {
		t.Fatalf("%s: header row %d, excelize's cells put it at %d", x.sheet, tb.HeaderRow, header)
	}
	// The preamble: the non-empty rows above the header.
	var pre []string
	for row := 1; row <= len(x.raw) && (header == 0 && row <= HeaderSearchRows || row < header); row++ {
		var line []string
		for col := 1; col <= x.width(row); col++ {
			if v := strings.TrimSpace(x.expect(t, row, col).value); v != "" {
				line = append(line, v)
			}
		}
		if len(line) > 0 {
			pre = append(pre, strings.Join(line, " "))
		}
	}
	if fmt.Sprint(pre) != fmt.Sprint(tb.Preamble) {
		t.Fatalf("%s: preamble %q, excelize's rows give %q", x.sheet, tb.Preamble, pre)
	}
	if header == 0 {
		if len(tb.Columns) != 0 || len(rows) != 0 {
			t.Fatalf("%s: no header, yet %d columns and %d rows", x.sheet, len(tb.Columns), len(rows))
		}
		return
	}
	index, maxPos := map[int]int{}, 0 // position → column index
	for i, c := range tb.Columns {
		index[c.Position], maxPos = i, max(maxPos, c.Position)
		if want := x.expect(t, header, c.Position).value; c.Header != want {
			t.Errorf("%s: column %s header %q, excelize %q", x.sheet, c.Name, c.Header, want)
		}
	}
	byNumber := map[int]Row{}
	for _, r := range rows {
		byNumber[r.Number] = r
	}
	delivered := 0
	for row := header + 1; row <= len(x.raw); row++ {
		nonEmpty := false
		for col := 1; col <= x.width(row); col++ {
			nonEmpty = nonEmpty || x.expect(t, row, col).value != ""
		}
		r, ok := byNumber[row]
		if ok != nonEmpty {
			t.Fatalf("%s: row %d delivered %v, excelize has a value there: %v", x.sheet, row, ok, nonEmpty)
		}
		if !ok {
			continue
		}
		delivered++
		for col := 1; col <= max(x.width(row), maxPos); col++ {
			e := x.expect(t, row, col)
			i, known := index[col]
			got, gotDate := "", false
			if known && i < len(r.Values) {
				got, gotDate = r.Values[i], r.Dates[i]
			} else if e.value != "" {
				t.Fatalf("%s: value %q not delivered (column known: %v)", where(row, col), e.value, known)
			}
			if want, ok := dates[[2]int{row, col}]; ok && (got != want || !gotDate) {
				t.Errorf("%s: %q (date %v), written as the date %s", where(row, col), got, gotDate, want)
			}
			if e.skip {
				continue
			}
			if got != e.value || gotDate != e.date {
				t.Errorf("%s: %q (date %v), excelize %q (date %v)", where(row, col), got, gotDate, e.value, e.date)
			}
		}
	}
	if delivered != len(rows) || tb.Rows != len(rows) {
		t.Fatalf("%s: %d rows delivered (Table.Rows %d), %d match excelize's", x.sheet, len(rows), tb.Rows, delivered)
	}
}

func TestFixturesAgreeWithExcelize(t *testing.T) {
	names, err := filepath.Glob("testdata/*.xlsx")
	if err != nil || len(names) != 5 {
		t.Fatalf("fixtures %q, %v", names, err)
	}
	for _, n := range names {
		t.Run(filepath.Base(n), func(t *testing.T) {
			agreeWithExcelize(t, fixture(t, filepath.Base(n)), nil)
		})
	}
}

// variety is the set of values the generated workbooks hold.
var variety = []any{
	"plain", "Zoë Müller", "日本語のテキスト", "emoji 😀 and ☃", "line one\nline two", `with "quotes"`,
	"comma, separated", "  padded  ", "tab\there", "literal _x000D_ escape", "<angle> & ampersand",
	"crlf\r\nline", "", 0, 1024, -3, 1 << 40, 0.5, 1e-7, 123456.789, 0.1 + 0.2, 1e20, -0.25, true, false,
	"=not a formula", "#N/A as text", "x",
}

// generatedBook writes a workbook with excelize's File API (shared
// strings, styles, rich text, formulas with cached values, merged cells,
// hidden rows), returning it and the date cells it wrote.
func generatedBook(t *testing.T, date1904 bool) ([]byte, truth) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if date1904 {
		if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &date1904}); err != nil {
			t.Fatal(err)
		}
	}
	const sheet = "Activités"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.SetSheetName("Sheet1", sheet))
	style := func(s *excelize.Style) int {
		id, err := f.NewStyle(s)
		must(err)
		return id
	}
	custom := func(code string) int { return style(&excelize.Style{CustomNumFmt: &code}) }
	dateTime, dateOnly, clock := style(&excelize.Style{NumFmt: 22}), style(&excelize.Style{NumFmt: 14}), style(&excelize.Style{NumFmt: 20})
	longDate, isoCustom := custom("d mmmm yyyy hh:mm"), custom(`yyyy\-mm\-dd"T"hh:mm:ss`)
	twoPlaces, red, days := custom("0.00"), custom("[Red]0"), custom(`0" days"`)
	set := func(cell string, v any, s int) {
		t.Helper()
		must(f.SetCellValue(sheet, cell, v))
		if s != 0 {
			must(f.SetCellStyle(sheet, cell, cell, s))
		}
	}
	tr := truth{sheet: {}}
	set("A1", "Export of Zoë's activities", 0)
	must(f.MergeCell(sheet, "A1", "D1"))
	set("A2", "Exported on 2026-11-24", 0)
	headers := []string{"Time (UTC)", "User", "Event Type", "Bytes", "Ratio", "OK", "Note", "Date only", "Long date",
		"ISO custom", "Clock", "Doubled", "Label", "Rich", "IP Address", "IP Address", "", "Ünïcödé Spalte", "Red", "Days"}
	for i, h := range headers {
		c, _ := excelize.CoordinatesToCellName(i+1, 4)
		if h != "" {
			set(c, h, 0)
		}
	}
	base := time.Date(2026, 11, 24, 13, 5, 0, 0, time.UTC)
	row := 5
	for i := 0; i < 60; i++ {
		if i == 20 {
			row++ // a blank row inside the data
		}
		cell := func(col int) string { c, _ := excelize.CoordinatesToCellName(col, row); return c }
		when := base.Add(time.Duration(i*797) * time.Minute)
		date := func(col int, v time.Time, s int, text string) {
			set(cell(col), v, s)
			tr[sheet][[2]int{row, col}] = text
		}
		date(1, when, dateTime, when.Format(isoLayout))
		set(cell(2), variety[i%len(variety)], 0)
		set(cell(3), []string{"FileAccessed", "FileModified", "SharingSet"}[i%3], 0)
		set(cell(4), i*1024, 0)
		set(cell(5), float64(i)/7, twoPlaces)
		set(cell(6), i%2 == 0, 0)
		if i%3 == 0 {
			set(cell(7), variety[(i*7)%len(variety)], 0)
		}
		day := time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC)
		date(8, day, dateOnly, day.Format(isoLayout))
		date(9, when, longDate, when.Format(isoLayout))
		date(10, when, isoCustom, when.Format(isoLayout))
		set(cell(11), float64(i%24)/24+100, clock)               // a time of day (on a day past serial 61)
		day100 := time.Date(1900, 4, 9, i%24, 0, 0, 0, time.UTC) // serial 100
		if date1904 {
			day100 = time.Date(1904, 4, 10, i%24, 0, 0, 0, time.UTC)
		}
		tr[sheet][[2]int{row, 11}] = day100.Format(isoLayout)
		must(f.SetCellFormula(sheet, cell(12), cell(4)+"*2"))
		must(f.SetCellInt(sheet, cell(12), int64(i*2048))) // the cached value
		must(f.SetCellFormula(sheet, cell(13), `"n"&`+cell(4)))
		must(f.SetCellStr(sheet, cell(13), "n"+strconv.Itoa(i*1024)))
		must(f.SetCellRichText(sheet, cell(14), []excelize.RichTextRun{
			{Text: "bold ", Font: &excelize.Font{Bold: true}}, {Text: fmt.Sprintf("and plain %d", i)}}))
		set(cell(15), fmt.Sprintf("192.0.2.%d", i), 0)
		set(cell(16), fmt.Sprintf("2001:db8::%x", i), 0)
		set(cell(17), i, 0)
		set(cell(18), "ü", 0)
		set(cell(19), -i, red)
		set(cell(20), i, days)
		if i%11 == 5 {
			must(f.SetRowVisible(sheet, row, false))
		}
		row++
	}
	// A ragged row: a cell past the header's last column.
	set(fmt.Sprintf("A%d", row), "ragged", 0)
	set(fmt.Sprintf("W%d", row), "beyond the header", 0)

	// More sheets: empty, no header (one column), header only.
	_, err := f.NewSheet("Empty")
	must(err)
	_, err = f.NewSheet("List")
	must(err)
	for i := 1; i <= 5; i++ {
		must(f.SetCellValue("List", fmt.Sprintf("A%d", i), fmt.Sprintf("item %d", i)))
	}
	_, err = f.NewSheet("Header only")
	must(err)
	must(f.SetSheetRow("Header only", "B2", &[]any{"Only", "A", "Header"}))
	buf, err := f.WriteToBuffer()
	must(err)
	return buf.Bytes(), tr
}

// streamedBook writes a workbook with excelize's StreamWriter (inline
// strings, formulas with cached values, styled times).
func streamedBook(t testing.TB, rows int, date1904 bool) ([]byte, truth) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	if date1904 {
		must(f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &date1904}))
	}
	dateTime, err := f.NewStyle(&excelize.Style{NumFmt: 22})
	must(err)
	sw, err := f.NewStreamWriter("Sheet1")
	must(err)
	must(sw.SetRow("A1", []any{"Activity report"}))
	must(sw.SetRow("A3", []any{"Time (UTC)", "User", "Event Type", "Object", "Object URL", "IP Address", "Bytes", "Doubled"}))
	tr := truth{"Sheet1": {}}
	base := time.Date(2026, 11, 24, 13, 5, 0, 0, time.UTC)
	for i := 0; i < rows; i++ {
		r := i + 4
		when := base.Add(time.Duration(i) * 13 * time.Second)
		vals := []any{
			excelize.Cell{StyleID: dateTime, Value: when},
			[]string{"Adele Vance", "Alex Wilber", "Zoë Müller"}[i%3],
			[]string{"FileAccessed", "FileModified", "SharingSet"}[i%3],
			fmt.Sprintf("Doc %d.docx", i),
			fmt.Sprintf("https://contoso.sharepoint.com/sites/hr/Doc%%20%d.docx", i),
			fmt.Sprintf("192.0.2.%d", i%250),
			i * 1024,
			excelize.Cell{Formula: fmt.Sprintf("G%d*2", r), Value: i * 2048},
		}
		if i%1000 == 999 {
			vals = append(vals, "ragged")
		}
		must(sw.SetRow("A"+strconv.Itoa(r), vals))
		if rows <= 1000 {
			tr["Sheet1"][[2]int{r, 1}] = when.Format(isoLayout)
		}
	}
	must(sw.Flush())
	buf, err := f.WriteToBuffer()
	must(err)
	return buf.Bytes(), tr
}

func TestGeneratedWorkbooksAgreeWithExcelize(t *testing.T) {
	for _, date1904 := range []bool{false, true} {
		t.Run(fmt.Sprintf("file API, 1904 %v", date1904), func(t *testing.T) {
			b, tr := generatedBook(t, date1904)
			// The premise: excelize's File API writes shared strings and
			// rich text runs.
			if sst := partText(t, b, "xl/sharedStrings.xml"); !strings.Contains(sst, "Zoë Müller") || !strings.Contains(sst, "<r>") {
				t.Fatal("the generated workbook has no shared strings or no rich text")
			}
			agreeWithExcelize(t, b, tr)
			tb, _ := mustTable(t, b, "Activités", TableOptions{})
			// What the header names came out as, and the ragged column.
			want := []string{"time_utc", "user", "event_type", "bytes", "ratio", "ok", "note", "date_only", "long_date",
				"iso_custom", "clock", "doubled", "label", "rich", "ip_address", "ip_address_2", "column_17",
				"ünïcödé_spalte", "red", "days", "column_23"}
			if got := columnNames(tb); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("columns %q\nwant %q", got, want)
			}
			if tb.HeaderRow != 4 || fmt.Sprint(tb.Preamble) != "[Export of Zoë's activities Exported on 2026-11-24]" {
				t.Fatalf("header row %d, preamble %q", tb.HeaderRow, tb.Preamble)
			}
		})
		t.Run(fmt.Sprintf("stream writer, 1904 %v", date1904), func(t *testing.T) {
			b, tr := streamedBook(t, 2500, date1904)
			if sheet := partText(t, b, "xl/worksheets/sheet1.xml"); !strings.Contains(sheet, `t="inlineStr"`) || !strings.Contains(sheet, "<f>") {
				t.Fatal("the streamed workbook has no inline strings or no formulas")
			}
			agreeWithExcelize(t, b, tr)
		})
	}
}

func TestCraftedWorkbooksAgreeWithExcelize(t *testing.T) {
	// The hand-written cases that excelize reads as well (see
	// sheet_test.go for what each one is about).
	for name, b := range map[string][]byte{
		"types": book(t, []string{typesSheet}, withSST(typesSST...)),
		"prefixed": book(t, []string{`<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>a</x:t></x:is></x:c><x:c r="B1" t="inlineStr"><x:is><x:t>b</x:t></x:is></x:c></x:row>` +
			`<x:row r="2"><x:c r="A2"><x:v>1</x:v></x:c></x:row>`}, func(fs files) {
			fs["xl/worksheets/sheet1.xml"] = strings.NewReplacer(`<worksheet xmlns="`, `<x:worksheet xmlns:x="`, `</worksheet>`, `</x:worksheet>`,
				`<sheetData>`, `<x:sheetData>`, `</sheetData>`, `</x:sheetData>`, `<dimension ref="A1"/>`, ``, `<mergeCells count="0"/>`, ``).Replace(fs["xl/worksheets/sheet1.xml"])
		}),
		"no refs":            book(t, []string{`<row><c t="inlineStr"><is><t>a</t></is></c><c t="inlineStr"><is><t>b</t></is></c></row><row><c><v>1</v></c><c><v>2</v></c></row><row><c r="B3"><v>3</v></c></row>`}),
		"attribute entities": book(t, []string{row(1, istr("A1", "a"), istr("B1", "b")) + `<row r="&#50;"><c r="&#65;2" t="&#115;"><v>0</v></c><c r="B&#x32;" s="&#49;"><v>46350</v></c></row>`}, withSST("<t>shared</t>")),
		"1904":               book(t, []string{`<row r="1"><c r="A1" t="inlineStr"><is><t>t</t></is></c><c r="B1" t="inlineStr"><is><t>u</t></is></c></row><row r="2"><c r="A2" s="2"><v>44888.54513888889</v></c><c r="B2" s="1"><v>0</v></c></row>`}, with1904),
	} {
		t.Run(name, func(t *testing.T) { agreeWithExcelize(t, b, nil) })
	}
}

// typesSheet has one cell of every type and the value forms that need
// decoding; its shared strings are typesSST.
var typesSST = []string{
	`<t>Label</t>`, `<t>Value</t>`,
	`<r><rPr><b/></rPr><t>rich </t></r><r><t xml:space="preserve">text </t></r><r><t>runs</t></r>`,
	`<t>漢字</t><rPh sb="0" eb="2"><t>カンジ</t></rPh><phoneticPr fontId="0"/>`,
	`<t>a_x000D_b_x005F_x000D_c</t>`,
	`<t>&lt;&amp;&gt;&quot;&apos;&#233;&#x1F600;</t>`,
	`<t><![CDATA[<raw> & text]]></t>`,
	`<t></t>`,
	`<t>` + "line\r\nbreak\rand" + `</t>`,
}

const typesSheet = `<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>
<row r="2"><c r="A2" t="inlineStr"><is><t>shared rich</t></is></c><c r="B2" t="s"><v>2</v></c></row>
<row r="3"><c r="A3" t="inlineStr"><is><t>phonetic</t></is></c><c r="B3" t="s"><v>3</v></c></row>
<row r="4"><c r="A4" t="inlineStr"><is><t>escapes</t></is></c><c r="B4" t="s"><v>4</v></c></row>
<row r="5"><c r="A5" t="inlineStr"><is><t>entities</t></is></c><c r="B5" t="s"><v>5</v></c></row>
<row r="6"><c r="A6" t="inlineStr"><is><t>cdata</t></is></c><c r="B6" t="s"><v>6</v></c></row>
<row r="7"><c r="A7" t="inlineStr"><is><t>empty shared</t></is></c><c r="B7" t="s"><v>7</v></c></row>
<row r="8"><c r="A8" t="inlineStr"><is><t>line ends</t></is></c><c r="B8" t="s"><v>8</v></c></row>
<row r="9"><c r="A9" t="inlineStr"><is><t>inline rich</t></is></c><c r="B9" t="inlineStr"><is><r><t>in</t></r><r><rPr><i/></rPr><t>line</t></r></is></c></row>
<row r="10"><c r="A10" t="inlineStr"><is><t>number</t></is></c><c r="B10"><v>1024</v></c></row>
<row r="11"><c r="A11" t="inlineStr"><is><t>float</t></is></c><c r="B11" t="n"><v>0.5</v></c></row>
<row r="12"><c r="A12" t="inlineStr"><is><t>17 digits</t></is></c><c r="B12"><v>0.30000000000000004</v></c></row>
<row r="13"><c r="A13" t="inlineStr"><is><t>exponent</t></is></c><c r="B13"><v>1.5E-3</v></c></row>
<row r="14"><c r="A14" t="inlineStr"><is><t>bool</t></is></c><c r="B14" t="b"><v>1</v></c></row>
<row r="15"><c r="A15" t="inlineStr"><is><t>false</t></is></c><c r="B15" t="b"><v>0</v></c></row>
<row r="16"><c r="A16" t="inlineStr"><is><t>error</t></is></c><c r="B16" t="e"><v>#N/A</v></c></row>
<row r="17"><c r="A17" t="inlineStr"><is><t>formula cached</t></is></c><c r="B17"><f>1+1</f><v>2</v></c></row>
<row r="18"><c r="A18" t="inlineStr"><is><t>formula string</t></is></c><c r="B18" t="str"><f>"a"&amp;"b"</f><v>ab</v></c></row>
<row r="19"><c r="A19" t="inlineStr"><is><t>formula none</t></is></c><c r="B19"><f>1+1</f></c></row>
<row r="20"><c r="A20" t="inlineStr"><is><t>formula empty</t></is></c><c r="B20"><f>1+1</f><v></v></c></row>
<row r="21"><c r="A21" t="inlineStr"><is><t>formula error</t></is></c><c r="B21" t="e"><f>1/0</f><v>#DIV/0!</v></c></row>
<row r="22"><c r="A22" t="inlineStr"><is><t>shared formula</t></is></c><c r="B22"><f t="shared" si="0"/><v>7</v></c></row>
<row r="23"><c r="A23" t="inlineStr"><is><t>date 14</t></is></c><c r="B23" s="1"><v>46350</v></c></row>
<row r="24"><c r="A24" t="inlineStr"><is><t>date custom</t></is></c><c r="B24" s="2"><v>46350.54513888889</v></c></row>
<row r="25"><c r="A25" t="inlineStr"><is><t>0.00</t></is></c><c r="B25" s="3"><v>46350.5</v></c></row>
<row r="26"><c r="A26" t="inlineStr"><is><t>[Red]0</t></is></c><c r="B26" s="4"><v>46350</v></c></row>
<row r="27"><c r="A27" t="inlineStr"><is><t>date 22</t></is></c><c r="B27" s="5"><v>46350.999994</v></c></row>
<row r="28"><c r="A28" t="inlineStr"><is><t>elapsed</t></is></c><c r="B28" s="6"><v>100.5</v></c></row>
<row r="29"><c r="A29" t="inlineStr"><is><t>builtin 2</t></is></c><c r="B29" s="7"><v>3.14159</v></c></row>
<row r="30"><c r="A30" t="inlineStr"><is><t>days</t></is></c><c r="B30" s="8"><v>12</v></c></row>
<row r="31"><c r="A31" t="inlineStr"><is><t>negative date</t></is></c><c r="B31" s="1"><v>-5</v></c></row>
<row r="32"><c r="A32" t="inlineStr"><is><t>t=d</t></is></c><c r="B32" t="d"><v>2026-11-24T13:05:00Z</v></c></row>
<row r="33" hidden="1"><c r="A33" t="inlineStr"><is><t>hidden row</t></is></c><c r="B33" t="inlineStr"><is><t xml:space="preserve">  spaced  </t></is></c></row>
<row r="34"><c r="A34" t="inlineStr"><is><t>comment</t></is></c><c r="B34" t="inlineStr"><is><t>be<!-- c -->fore<?pi x?>after</t></is></c></row>
<row r="35"><c r="A35" t="inlineStr"><is><t>styled empty</t></is></c><c r="B35" s="1"/><c r="C35" s="3"/></row>
<row r="36"><c r="A36" t="inlineStr"><is><t>big</t></is></c><c r="B36"><v>1E+20</v></c></row>
<row r="37"><c r="A37" t="inlineStr"><is><t>negative</t></is></c><c r="B37"><v>-0.25</v></c></row>
<row r="38"><c r="A38" t="inlineStr"><is><t>str entity</t></is></c><c r="B38" t="str"><v>a &amp; b</v></c></row>
<row r="39"><c r="A39" t="inlineStr"><is><t>time only</t></is></c><c r="B39" s="9"><v>0.5451388888888889</v></c></row>`

func TestNumbersAreShortestRoundTrip(t *testing.T) {
	for _, raw := range []string{"0", "1024", "-3", "0.5", "1.5E-3", "1e20", "0.30000000000000004", "46350.545138888891", "123456789012345", "1234567890123456789", "0.000001", "-0", "+5", "5.0", "007"} {
		v, _ := strconv.ParseFloat(raw, 64)
		want := strconv.FormatFloat(v, 'f', -1, 64)
		got, ok := canonicalNumber(nil, []byte(raw))
		if !ok || string(got) != want {
			t.Errorf("canonicalNumber(%q) = %q %v, want %q", raw, got, ok, want)
		}
	}
	for _, bad := range []string{"", "abc", "0x10", "1_000", "inf", "NaN", "1e400", "--1", "1.2.3"} {
		if got, ok := canonicalNumber(nil, []byte(bad)); ok {
			t.Errorf("canonicalNumber(%q) = %q, want a refusal", bad, got)
		}
	}
	// The fast path (copying the text) is only taken where formatting the
	// parsed value gives the same text back.
	for i := 0; i < 200000; i++ {
		v := math.Float64frombits(uint64(i) * 0x9E3779B97F4A7C15)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		for _, s := range []string{strconv.FormatFloat(v, 'f', -1, 64), strconv.FormatFloat(v, 'g', 15, 64), strconv.FormatFloat(float64(i)/1000, 'f', -1, 64)} {
			if isCanonical([]byte(s)) {
				p, _ := strconv.ParseFloat(s, 64)
				if back := strconv.FormatFloat(p, 'f', -1, 64); back != s {
					t.Fatalf("%q is taken as canonical but formats as %q", s, back)
				}
			}
		}
	}
}
