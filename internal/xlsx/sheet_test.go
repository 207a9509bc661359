package xlsx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// istr is an inline-string cell.
func istr(ref, s string) string {
	return `<c r="` + ref + `" t="inlineStr"><is><t>` + s + `</t></is></c>`
}

func num(ref, v string) string { return `<c r="` + ref + `"><v>` + v + `</v></c>` }

func row(n int, cells ...string) string {
	return fmt.Sprintf(`<row r="%d">%s</row>`, n, strings.Join(cells, ""))
}

func TestCellValues(t *testing.T) {
	tb, rows := mustTable(t, book(t, []string{typesSheet}, withSST(typesSST...)), "", TableOptions{})
	want := map[string]struct {
		v    string
		date bool
	}{
		"shared rich":    {"rich text runs", false},
		"phonetic":       {"漢字", false},
		"escapes":        {"a\rb_x000D_c", false},
		"entities":       {`<&>"'é😀`, false},
		"cdata":          {"<raw> & text", false},
		"empty shared":   {"", false},
		"line ends":      {"line\nbreak\nand", false},
		"inline rich":    {"inline", false},
		"number":         {"1024", false},
		"float":          {"0.5", false},
		"17 digits":      {"0.30000000000000004", false},
		"exponent":       {"0.0015", false},
		"bool":           {"TRUE", false},
		"false":          {"FALSE", false},
		"error":          {"#N/A", false},
		"formula cached": {"2", false},
		"formula string": {"ab", false},
		"formula none":   {"", false},
		"formula empty":  {"", false},
		"formula error":  {"#DIV/0!", false},
		"shared formula": {"7", false},
		"date 14":        {"2026-11-24T00:00:00", true},
		"date custom":    {"2026-11-24T13:05:00", true},
		"0.00":           {"46350.5", false},
		"[Red]0":         {"46350", false},
		"date 22":        {"2026-11-24T23:59:59", true},
		"elapsed":        {"1900-04-09T12:00:00", true},
		"builtin 2":      {"3.14159", false},
		"days":           {"12", false},
		"negative date":  {"-5", false},
		"t=d":            {"2026-11-24T13:05:00Z", true},
		"hidden row":     {"  spaced  ", false},
		"comment":        {"beforeafter", false},
		"styled empty":   {"", false},
		"big":            {"100000000000000000000", false},
		"negative":       {"-0.25", false},
		"str entity":     {"a & b", false},
		"time only":      {"1899-12-31T13:05:00", true},
	}
	if tb.HeaderRow != 1 || !slices.Equal(columnNames(tb), []string{"label", "value"}) {
		t.Fatalf("header row %d, columns %q", tb.HeaderRow, columnNames(tb))
	}
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d", len(rows), len(want))
	}
	for _, r := range rows {
		w, ok := want[r.Values[0]]
		if !ok {
			t.Errorf("unexpected row %d %q", r.Number, r.Values)
			continue
		}
		if r.Values[1] != w.v || r.Dates[1] != w.date || r.Dates[0] {
			t.Errorf("%s (row %d): %q date %v, want %q date %v", r.Values[0], r.Number, r.Values[1], r.Dates[1], w.v, w.date)
		}
	}
}

func TestHeaderRow(t *testing.T) {
	many := func(from, to int, cells func(n int) []string) string {
		var b strings.Builder
		for n := from; n <= to; n++ {
			b.WriteString(row(n, cells(n)...))
		}
		return b.String()
	}
	title := func(n int) []string { return []string{istr(fmt.Sprintf("A%d", n), fmt.Sprintf("line %d", n))} }
	for _, tc := range []struct {
		name     string
		data     string
		header   int
		preamble []string
		columns  []string
		rows     int
	}{
		{name: "empty sheet", data: ``},
		{name: "empty rows only", data: `<row r="1"/><row r="2"><c r="A2" s="1"/></row>`},
		{name: "first row", data: row(1, istr("A1", "A"), istr("B1", "B")) + row(2, num("A2", "1")),
			header: 1, columns: []string{"a", "b"}, rows: 1},
		{name: "titles above", data: row(1, istr("A1", "Report")) + row(3, istr("A3", "Exported on"), num("B3", "46350")) +
			row(5, istr("B5", "x"), istr("C5", "y")) + row(6, num("B6", "1")),
			header: 5, preamble: []string{"Report", "Exported on 46350"}, columns: []string{"x", "y"}, rows: 1},
		{name: "numbers do not make a header", data: row(1, num("A1", "1"), num("B1", "2")) + row(2, istr("A2", "a"), istr("B2", "b")) + row(3, num("A3", "3")),
			header: 2, preamble: []string{"1 2"}, columns: []string{"a", "b"}, rows: 1},
		{name: "spaces do not count", data: row(1, istr("A1", "  "), istr("B1", "x")) + row(2, istr("A2", "a"), istr("B2", "b")),
			header: 2, preamble: []string{"x"}, columns: []string{"a", "b"}},
		{name: "formula strings count", data: row(1, `<c r="A1" t="str"><f>"a"</f><v>a</v></c>`, istr("B1", "b")) + row(2, num("A2", "1")),
			header: 1, columns: []string{"a", "b"}, rows: 1},
		{name: "header is the last row", data: row(1, istr("A1", "Title")) + row(2, istr("A2", "a"), istr("B2", "b")),
			header: 2, preamble: []string{"Title"}, columns: []string{"a", "b"}},
		{name: "header on row 50", data: many(1, 49, title) + row(50, istr("A50", "a"), istr("B50", "b")) + row(51, num("A51", "1")),
			header: 50, preamble: lines(1, 49), columns: []string{"a", "b"}, rows: 1},
		{name: "header on row 51 is too far", data: many(1, 50, title) + row(51, istr("A51", "a"), istr("B51", "b")) + row(52, num("A52", "1")),
			preamble: lines(1, 50)},
		{name: "single column list", data: many(1, 5, title), preamble: lines(1, 5)},
		{name: "columns span the header's cells", data: row(1, istr("C1", "c"), istr("E1", "e")) + row(2, num("C2", "1"), num("D2", "2"), num("E2", "3")),
			header: 1, columns: []string{"c", "column_4", "e"}, rows: 1},
		{name: "blank rows are not data", data: row(1, istr("A1", "a"), istr("B1", "b")) + `<row r="2"/>` + row(3, `<c r="A3" s="3"/>`) + row(4, num("B4", "0")),
			header: 1, columns: []string{"a", "b"}, rows: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb, rows := mustTable(t, book(t, []string{tc.data}), "", TableOptions{})
			if tb.HeaderRow != tc.header || tb.Rows != tc.rows || len(rows) != tc.rows {
				t.Fatalf("header row %d, %d rows (%d delivered), want %d, %d", tb.HeaderRow, tb.Rows, len(rows), tc.header, tc.rows)
			}
			if !slices.Equal(tb.Preamble, tc.preamble) {
				t.Fatalf("preamble %q, want %q", tb.Preamble, tc.preamble)
			}
			if !slices.Equal(columnNames(tb), tc.columns) {
				t.Fatalf("columns %q, want %q", columnNames(tb), tc.columns)
			}
			if tb.Sheet != "S1" {
				t.Fatalf("sheet %q", tb.Sheet)
			}
		})
	}
}

func lines(from, to int) []string {
	var out []string
	for n := from; n <= to; n++ {
		out = append(out, fmt.Sprintf("line %d", n))
	}
	return out
}

func TestColumnNamesFromHeaders(t *testing.T) {
	headers := []string{"Date/Time (UTC)", "IP Address", "Item", "Item", "", "  ", "---", "UPN", "row_id", "Item 2", "Column 12", "Adresse IP", "日付", "Ünïcödé"}
	var cells []string
	for i, h := range headers {
		cells = append(cells, istr(colName(i+1)+"1", h))
	}
	cells = append(cells, istr(colName(len(headers)+1)+"1", "last"))
	data := row(1, cells...) + row(2, num("A2", "1"))
	tb, _ := mustTable(t, book(t, []string{data}), "", TableOptions{Reserved: []string{"upn", "row_id"}})
	want := []string{"date_time_utc", "ip_address", "item", "item_3", "column_5", "column_6", "column_7", "upn_2", "row_id_2",
		"item_2", "column_12", "adresse_ip", "日付", "ünïcödé", "last"}
	if got := columnNames(tb); !slices.Equal(got, want) {
		t.Fatalf("names\n got %q\nwant %q", got, want)
	}
	if tb.Columns[3].Header != "Item" || tb.Columns[4].Header != "" || tb.Columns[0].Position != 1 || tb.Columns[14].Position != 15 {
		t.Fatalf("columns %+v", tb.Columns)
	}
}

func TestRaggedRows(t *testing.T) {
	data := row(1, istr("B1", "a"), istr("C1", "b")) +
		row(2, num("B2", "1"), num("C2", "2")) +
		row(3, num("B3", "3"), num("E3", "5"), num("D3", "4")) + // out of order: placed by reference
		row(4, num("B4", "6")) +
		row(5, num("A5", "7"), num("G5", "8")) +
		row(6, istr("F6", "column_4"))
	tb, rows := mustTable(t, book(t, []string{data}), "", TableOptions{})
	wantCols := []Column{{"a", "a", 2}, {"b", "b", 3}, {"column_4", "", 4}, {"column_5", "", 5}, {"column_1", "", 1}, {"column_7", "", 7}, {"column_6", "", 6}}
	if !slices.Equal(tb.Columns, wantCols) {
		t.Fatalf("columns %+v\nwant %+v", tb.Columns, wantCols)
	}
	want := [][]string{
		{"1", "2"},
		{"3", "", "4", "5"},
		{"6", "", "", ""},
		{"", "", "", "", "7", "8"},
		{"", "", "", "", "", "", "column_4"},
	}
	for i, r := range rows {
		if !slices.Equal(r.Values, want[i]) || len(r.Dates) != len(r.Values) {
			t.Errorf("row %d: %q, want %q", r.Number, r.Values, want[i])
		}
	}
}

func TestPlacementWithoutReferences(t *testing.T) {
	data := `<row><c t="inlineStr"><is><t>a</t></is></c><c t="inlineStr"><is><t>b</t></is></c><c t="inlineStr"><is><t>c</t></is></c></row>` +
		`<row><c><v>1</v></c><c r="C2"><v>3</v></c><c><v>4</v></c></row>` + // after C2 comes D2
		`<row r="5"><c><v>5</v></c></row>` +
		`<row><c r="B9"><v>9</v></c></row>` + // a row without r takes its number from its cells
		`<row><c><v>10</v></c></row>`
	tb, rows := mustTable(t, book(t, []string{data}), "", TableOptions{})
	if !slices.Equal(columnNames(tb), []string{"a", "b", "c", "column_4"}) {
		t.Fatalf("columns %q", columnNames(tb))
	}
	got := ""
	for _, r := range rows {
		got += fmt.Sprintf("%d:%q ", r.Number, r.Values)
	}
	// Row 2's third cell has no reference: it follows C2, so it is D2, a
	// ragged column.
	want := `2:["1" "" "3" "4"] 5:["5" "" "" ""] 9:["" "9" "" ""] 10:["10" "" "" ""] `
	if got != want {
		t.Fatalf("rows %s\nwant %s", got, want)
	}
}

// errorCase is a workbook that must be refused with an *Error.
type errorCase struct {
	name string
	b    []byte
	part string // the part the error must name ("" = any)
	in   string // a word the reason must contain
}

const secret = "adele.vance@contoso.com"

func errorCases(t testing.TB) []errorCase {
	hdr := row(1, istr("A1", secret), istr("B1", "b"))
	sheet := func(rows string) []byte { return book(t, []string{hdr + rows}) }
	replace := func(name, old, new string) func(files) {
		return func(fs files) { fs[name] = strings.Replace(fs[name], old, new, 1) }
	}
	big := strings.Repeat("x", maxTagBytes)
	return []errorCase{
		{"not a zip", []byte("<html>" + secret + "</html>"), "", "not a ZIP"},
		{"empty file", nil, "", "not a ZIP"},
		{"OLE", []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + strings.Repeat("\x00", 600)), "", "OLE"},
		{"no workbook", book(t, []string{hdr}, without("xl/workbook.xml")), "xl/workbook.xml", "missing"},
		{"sheet part missing", book(t, []string{hdr}, without("xl/worksheets/sheet1.xml")), "xl/worksheets/sheet1.xml", "missing"},
		{"sheet without relationship", book(t, []string{hdr}, replace("xl/workbook.xml", `r:id="rId1"`, `r:id="rId9"`)), "xl/workbook.xml", "relationship"},
		{"two sheets one name", book(t, []string{hdr, hdr}, replace("xl/workbook.xml", `name="S2"`, `name="s1"`)), "xl/workbook.xml", "same name"},
		{"malformed workbook", book(t, []string{hdr}, replace("xl/workbook.xml", `</sheets>`, `</sheetz>`)), "xl/workbook.xml", "malformed"},
		{"bad date1904", book(t, []string{hdr}, replace("xl/workbook.xml", `<workbookPr/>`, `<workbookPr date1904="maybe"/>`)), "xl/workbook.xml", "boolean"},
		{"workbook root", book(t, []string{hdr}, replace("xl/workbook.xml", `<workbook `, `<notebook `)), "xl/workbook.xml", "root"},
		{"doctype", book(t, []string{hdr}, replace("xl/workbook.xml", `<workbook `, `<!DOCTYPE workbook [<!ENTITY a "aaaa">]><workbook `)), "xl/workbook.xml", "DOCTYPE"},
		{"malformed styles", book(t, []string{hdr}, replace("xl/styles.xml", `</cellXfs>`, ``)), "xl/styles.xml", "malformed"},
		{"bad numFmtId", book(t, []string{hdr}, replace("xl/styles.xml", `<xf numFmtId="14" applyNumberFormat="1"/>`, `<xf numFmtId="x"/>`)), "xl/styles.xml", "numFmtId"},
		{"malformed sst", book(t, []string{hdr}, withSST(`<t>a</t>`), replace("xl/sharedStrings.xml", `</si>`, `</sx>`)), "xl/sharedStrings.xml", "malformed"},
		{"sst root", book(t, []string{hdr}, withFile("xl/sharedStrings.xml", `<table/>`)), "xl/sharedStrings.xml", "root"},
		{"sst not utf-8", book(t, []string{hdr}, withSST("<t>\xff\xfe</t>")), "xl/sharedStrings.xml", "UTF-8"},
		{"shared-string index out of range", sheet(row(2, `<c r="A2" t="s"><v>3</v></c>`)), "xl/worksheets/sheet1.xml", "out of range"},
		{"shared-string index not a number", sheet(row(2, `<c r="A2" t="s"><v>x</v></c>`)), "xl/worksheets/sheet1.xml", "out of range"},
		{"not a number", sheet(row(2, num("A2", secret))), "xl/worksheets/sheet1.xml", "not a number"},
		{"not a date number", book(t, []string{hdr + row(2, `<c r="A2" s="1"><v>soon</v></c>`)}), "xl/worksheets/sheet1.xml", "not a number"},
		{"not a boolean", sheet(row(2, `<c r="A2" t="b"><v>yes</v></c>`)), "xl/worksheets/sheet1.xml", "boolean"},
		{"unknown cell type", sheet(row(2, `<c r="A2" t="q"><v>1</v></c>`)), "xl/worksheets/sheet1.xml", "unknown type"},
		{"column past XFD", sheet(row(2, num("XFE2", "1"))), "xl/worksheets/sheet1.xml", "XFD1048576"},
		{"row past 1048576", sheet(`<row r="1048577"><c><v>1</v></c></row>`), "xl/worksheets/sheet1.xml", "row number"},
		{"reference past 1048576", sheet(`<row><c r="A1048577"><v>1</v></c></row>`), "xl/worksheets/sheet1.xml", "XFD1048576"},
		{"bad reference", sheet(row(2, num("2A", "1"))), "xl/worksheets/sheet1.xml", "reference"},
		{"cells past XFD without references", sheet(`<row r="2">` + strings.Repeat(`<c/>`, MaxColumns+1) + `</row>`), "xl/worksheets/sheet1.xml", "columns"},
		{"cell in another row", sheet(row(2, num("A3", "1"))), "xl/worksheets/sheet1.xml", "A3 is in another row"},
		{"rows out of order", sheet(row(3, num("A3", "1")) + row(2, num("A2", "1"))), "xl/worksheets/sheet1.xml", "out of order"},
		{"row twice", sheet(row(2, num("A2", "1")) + row(2, num("B2", "1"))), "xl/worksheets/sheet1.xml", "out of order"},
		{"rows out of order by reference", sheet(row(3, num("A3", "1")) + `<row><c r="A2"><v>1</v></c></row>`), "xl/worksheets/sheet1.xml", "out of order"},
		{"two cells in a column", sheet(row(2, num("B2", "1"), num("A2", "1"), num("B2", "2"))), "xl/worksheets/sheet1.xml", "two cells in column B"},
		{"two values", sheet(row(2, `<c r="A2"><v>1</v><v>2</v></c>`)), "xl/worksheets/sheet1.xml", "two values"},
		{"unclosed cell", sheet(row(2, `<c r="A2"><v>1</v>`)), "xl/worksheets/sheet1.xml", "malformed"},
		{"unclosed value", sheet(row(2, `<c r="A2"><v>1</c>`)), "xl/worksheets/sheet1.xml", "malformed"},
		{"truncated sheet", book(t, []string{hdr}, replace("xl/worksheets/sheet1.xml", `</sheetData><mergeCells count="0"/></worksheet>`, `<row r="2"><c r="A2"><v>1`)), "xl/worksheets/sheet1.xml", "malformed"},
		{"unknown entity", sheet(row(2, istr("A2", "&secret;"))), "xl/worksheets/sheet1.xml", "entity"},
		{"NUL reference", sheet(row(2, istr("A2", "&#0;"))), "xl/worksheets/sheet1.xml", "entity"},
		{"surrogate reference", sheet(row(2, istr("A2", "&#xD800;"))), "xl/worksheets/sheet1.xml", "entity"},
		{"inline not utf-8", sheet(row(2, istr("A2", secret+"\xc3("))), "xl/worksheets/sheet1.xml", "UTF-8"},
		{"bad attribute", sheet(`<row r="2"><c r=A2><v>1</v></c></row>`), "xl/worksheets/sheet1.xml", "attribute"},
		{"tag too long", sheet(`<row r="2"><c r="A2" x="` + big + `"/></row>`), "xl/worksheets/sheet1.xml", "longer than"},
		{"chart sheet root", book(t, []string{hdr}, replace("xl/worksheets/sheet1.xml", `<worksheet `, `<chartsheet `)), "xl/worksheets/sheet1.xml", "not a worksheet"},
		{"worksheet unclosed", book(t, []string{hdr}, withFile("xl/worksheets/sheet1.xml", `<worksheet><sheetPr>`)), "xl/worksheets/sheet1.xml", "malformed"},
		{"duplicate part", dupPart(t, book(t, []string{hdr})), "xl/worksheets/sheet1.xml", "more than once"},
		{"corrupt deflate", corrupt(t, book(t, []string{hdr + row(2, istr("A2", strings.Repeat("data ", 400)))})), "xl/worksheets/sheet1.xml", ""},
	}
}

// dupPart appends a second entry named like the sheet part.
func dupPart(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := zipReader(b)
	if err != nil {
		t.Fatal(err)
	}
	fs := files{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		body, _ := io.ReadAll(rc)
		rc.Close()
		fs[f.Name] = string(body)
	}
	fs["XL/worksheets/sheet1.xml"] = fs["xl/worksheets/sheet1.xml"]
	return zipFiles(t, fs)
}

// corrupt flips bytes inside the sheet part's compressed data.
func corrupt(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := zipReader(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name == "xl/worksheets/sheet1.xml" {
			off, err := f.DataOffset()
			if err != nil {
				t.Fatal(err)
			}
			out := bytes.Clone(b)
			for i := off + 20; i < off+int64(f.CompressedSize64)-4; i += 7 {
				out[i] ^= 0x5a
			}
			return out
		}
	}
	t.Fatal("no sheet part")
	return nil
}

func TestRefusesWhatIsNotAReadableWorkbook(t *testing.T) {
	for _, tc := range errorCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			_, rows, err := readTable(t, tc.b, "S1", TableOptions{})
			var xe *Error
			if !errors.As(err, &xe) {
				t.Fatalf("error %v (%T), want an *xlsx.Error; %d rows read", err, err, len(rows))
			}
			if tc.part != "" && xe.Part != tc.part {
				t.Errorf("part %q, want %q (%v)", xe.Part, tc.part, err)
			}
			if !strings.Contains(xe.Reason, tc.in) {
				t.Errorf("reason %q does not say %q", xe.Reason, tc.in)
			}
			checkErrorText(t, err)
		})
	}
}

// checkErrorText: bounded, valid UTF-8, no cell content.
func checkErrorText(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if len(msg) > 400 || !utf8.ValidString(msg) {
		t.Errorf("message of %d bytes, valid UTF-8 %v: %q", len(msg), utf8.ValidString(msg), msg)
	}
	if strings.Contains(msg, secret) || strings.Contains(msg, "adele") {
		t.Errorf("message quotes cell content: %q", msg)
	}
}

func TestSheetsAndParts(t *testing.T) {
	hdr := row(1, istr("A1", "a"), istr("B1", "b")) + row(2, num("A2", "1"))
	// A chart sheet between two worksheets, the second hidden.
	b := book(t, []string{hdr, hdr, hdr}, func(fs files) {
		fs["xl/workbook.xml"] = strings.Replace(fs["xl/workbook.xml"], `name="S3" sheetId="3"`, `name="Hidden" state="hidden" sheetId="3"`, 1)
		fs["xl/_rels/workbook.xml.rels"] = strings.Replace(fs["xl/_rels/workbook.xml.rels"], `/worksheet" Target="worksheets/sheet2.xml"`, `/chartsheet" Target="chartsheets/sheet2.xml"`, 1)
	})
	w := openBytes(t, b)
	if got := w.Sheets(); !slices.Equal(got, []string{"S1", "Hidden"}) {
		t.Fatalf("sheets %q", got)
	}
	if _, err := w.Table(context.Background(), "S2", func(Row) error { return nil }); err == nil {
		t.Fatal("a chart sheet read as a table")
	} else {
		checkErrorText(t, err)
	}
	if tb, _ := mustTable(t, b, "Hidden", TableOptions{}); tb.Rows != 1 {
		t.Fatalf("hidden sheet: %d rows", tb.Rows)
	}

	// No relationships for styles and shared strings, no package .rels:
	// the conventional part names are used.
	b = book(t, []string{row(1, `<c r="A1" t="s"><v>0</v></c>`, istr("B1", "b")) + row(2, `<c r="A2" s="1"><v>46350</v></c>`)},
		withSST(`<t>shared</t>`), without("_rels/.rels"), func(fs files) {
			fs["xl/_rels/workbook.xml.rels"] = strings.NewReplacer(`<Relationship Id="rIdS" Type="`+nsRel+`/styles" Target="styles.xml"/>`, ``,
				`<Relationship Id="rIdT" Type="`+nsRel+`/sharedStrings" Target="sharedStrings.xml"/>`, ``).Replace(fs["xl/_rels/workbook.xml.rels"])
		})
	tb, rows := mustTable(t, b, "S1", TableOptions{})
	if tb.Columns[0].Header != "shared" || rows[0].Values[0] != "2026-11-24T00:00:00" {
		t.Fatalf("columns %+v rows %+v", tb.Columns, rows)
	}

	// Without styles.xml nothing is a date.
	_, rows = mustTable(t, book(t, []string{hdr + row(3, `<c r="A3" s="1"><v>46350</v></c>`)}, without("xl/styles.xml")), "S1", TableOptions{})
	if rows[1].Values[0] != "46350" || rows[1].Dates[0] {
		t.Fatalf("rows %+v", rows)
	}

	// Strict OOXML namespaces and absolute targets in a folder of its own.
	strict := func(s string) string {
		return strings.NewReplacer(nsMain, "http://purl.oclc.org/ooxml/spreadsheetml/main",
			nsRel, "http://purl.oclc.org/ooxml/officeDocument/relationships").Replace(s)
	}
	b = book(t, []string{hdr}, func(fs files) {
		for n, body := range fs {
			fs[n] = strict(body)
		}
		fs["book/wb.xml"] = fs["xl/workbook.xml"]
		fs["book/_rels/wb.xml.rels"] = strings.ReplaceAll(fs["xl/_rels/workbook.xml.rels"], `Target="`, `Target="/xl/`)
		delete(fs, "xl/workbook.xml")
		delete(fs, "xl/_rels/workbook.xml.rels")
		fs["_rels/.rels"] = strings.Replace(fs["_rels/.rels"], "xl/workbook.xml", "/book/wb.xml", 1)
	})
	if tb, _ := mustTable(t, b, "S1", TableOptions{}); tb.Rows != 1 {
		t.Fatalf("strict workbook: %d rows", tb.Rows)
	}

	// An unknown sheet name.
	_, err := w.Table(context.Background(), "nope", func(Row) error { return nil })
	var xe *Error
	if !errors.As(err, &xe) {
		t.Fatalf("unknown sheet: %v", err)
	}
}

func TestCallbackAndContextErrorsReturnedAsIs(t *testing.T) {
	var data strings.Builder
	data.WriteString(row(1, istr("A1", "a"), istr("B1", "b")))
	for n := 2; n <= 5000; n++ {
		data.WriteString(row(n, num(fmt.Sprintf("A%d", n), "1")))
	}
	w := openBytes(t, book(t, []string{data.String()}))
	stop := errors.New("stop")
	tb, err := w.Table(context.Background(), "S1", func(r Row) error {
		if r.Number == 3 {
			return stop
		}
		return nil
	})
	if err != stop || tb != nil {
		t.Fatalf("fn's error came back as %v (table %v)", err, tb)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.Table(ctx, "S1", func(Row) error { return nil }); err != context.Canceled {
		t.Fatalf("cancelled context: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	n := 0
	_, err = w.Table(ctx, "S1", func(Row) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if err != context.Canceled || n > 10+ctxCheckRows {
		t.Fatalf("cancelled mid-sheet: %v after %d rows", err, n)
	}
	// Rows that are not data (no values) are read under the context too.
	var sparse strings.Builder
	sparse.WriteString(row(1, istr("A1", "a"), istr("B1", "b")) + row(2, num("A2", "1")))
	for n := 3; n <= 3*ctxCheckRows; n++ {
		sparse.WriteString(row(n, fmt.Sprintf(`<c r="A%d" s="1"/>`, n)))
	}
	w = openBytes(t, book(t, []string{sparse.String()}))
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	_, err = w.Table(ctx, "S1", func(Row) error {
		calls++
		cancel() // only rows without values follow
		return nil
	})
	if err != context.Canceled || calls != 1 {
		t.Fatalf("cancelled before a run of empty rows: %v after %d calls", err, calls)
	}
}

// failingReaderAt fails every read that touches [from, to).
type failingReaderAt struct {
	b        []byte
	from, to int64
	err      error
}

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < f.to && off+int64(len(p)) > f.from {
		return 0, f.err
	}
	if off >= int64(len(f.b)) {
		return 0, io.EOF
	}
	n := copy(p, f.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func TestReadErrorsOfTheFileReturnedAsIs(t *testing.T) {
	var data strings.Builder
	data.WriteString(row(1, istr("A1", "a"), istr("B1", "b")))
	for n := 2; n <= 3000; n++ {
		data.WriteString(row(n, istr(fmt.Sprintf("A%d", n), fmt.Sprintf("%x", n*7919))))
	}
	b := book(t, []string{data.String()})
	broken := errors.New("connection reset")
	// Failing at the start (Open) and inside the sheet's data (Table).
	zr, _ := zipReader(b)
	var sheetOff, sheetEnd int64
	for _, f := range zr.File {
		if f.Name == "xl/worksheets/sheet1.xml" {
			sheetOff, _ = f.DataOffset()
			sheetEnd = sheetOff + int64(f.CompressedSize64)
		}
	}
	for _, window := range [][2]int64{{0, 1}, {int64(len(b)) - 10, int64(len(b))}, {sheetOff + 100, sheetEnd}} {
		r := failingReaderAt{b: b, from: window[0], to: window[1], err: broken}
		w, err := Open(r, int64(len(b)))
		if err == nil {
			_, err = w.Table(context.Background(), "S1", func(Row) error { return nil })
		}
		if err != broken {
			t.Errorf("failing in %v: %v (%T), want the reader's own error", window, err, err)
		}
	}
}

// TestScannerBoundaries reads the same parts through one-byte reads and a
// 16-byte starting buffer, so every token, entity, CR LF pair and CDATA
// end marker is split across reads somewhere.
func TestScannerBoundaries(t *testing.T) {
	b := book(t, []string{typesSheet}, withSST(typesSST...))
	w := openBytes(t, b)
	sheetXML := partText(t, b, "xl/worksheets/sheet1.xml")
	sstXML := partText(t, b, "xl/sharedStrings.xml")
	read := func(w *Workbook, src io.Reader, size int) []string {
		var out []string
		tb, err := w.tableFrom(context.Background(), newScannerSize(src, "sheet", size), "S1", TableOptions{}, func(r Row) error {
			out = append(out, fmt.Sprintf("%d %q %v", r.Number, r.Values, r.Dates))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return append(out, fmt.Sprint(tb.Columns))
	}
	want := read(w, strings.NewReader(sheetXML), scanBufSize)
	for _, size := range []int{16, 17, 31, 64} {
		for name, mk := range map[string]func(string) io.Reader{
			"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
			"half":     func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
			"data+EOF": func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) },
		} {
			w2 := *w
			if err := w2.sharedStringsFrom(newScannerSize(mk(sstXML), "sst", size), 0); err != nil {
				t.Fatal(err)
			}
			if w2.sst != w.sst || !slices.Equal(w2.sstOff, w.sstOff) {
				t.Fatalf("%s, buffer %d: shared strings differ", name, size)
			}
			if got := read(&w2, mk(sheetXML), size); !slices.Equal(got, want) {
				t.Fatalf("%s, buffer %d:\n got %q\nwant %q", name, size, got, want)
			}
		}
	}
}

func partText(t *testing.T, b []byte, name string) string {
	t.Helper()
	zr, err := zipReader(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name == name {
			rc, _ := f.Open()
			body, _ := io.ReadAll(rc)
			rc.Close()
			return string(body)
		}
	}
	t.Fatalf("no part %s", name)
	return ""
}

func TestConcurrentTables(t *testing.T) {
	b := book(t, []string{typesSheet, typesSheet}, withSST(typesSST...))
	w := openBytes(t, b)
	var wg sync.WaitGroup
	counts := make([]int, 8)
	for i := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tb, err := w.Table(context.Background(), []string{"S1", "S2"}[i%2], func(Row) error { return nil })
			if err == nil {
				counts[i] = tb.Rows
			}
		}()
	}
	wg.Wait()
	for _, c := range counts {
		if c != counts[0] || c == 0 {
			t.Fatalf("rows per concurrent read: %v", counts)
		}
	}
}

func TestLimits(t *testing.T) {
	hdr := row(1, istr("A1", "a"), istr("B1", "b"))
	defer func(b, c, r int) { sstLimitBytes, sstLimitCount, rowLimitBytes = b, c, r }(sstLimitBytes, sstLimitCount, rowLimitBytes)
	sstLimitBytes, sstLimitCount, rowLimitBytes = 20, 3, 30
	for _, tc := range []struct {
		name string
		b    []byte
		ok   bool
		in   string
	}{
		{"shared strings at the byte limit", book(t, []string{hdr}, withSST("<t>0123456789</t>", "<t>0123456789</t>")), true, ""},
		{"shared strings past the byte limit", book(t, []string{hdr}, withSST("<t>0123456789</t>", "<t>0123456789x</t>")), false, "limit of 20 bytes"},
		{"shared strings at the count limit", book(t, []string{hdr}, withSST("<t>a</t>", "<t>b</t>", "<t>c</t>")), true, ""},
		{"shared strings past the count limit", book(t, []string{hdr}, withSST("<t>a</t>", "<t>b</t>", "<t>c</t>", "<t>d</t>")), false, "limit of 3 shared strings"},
		{"a row at the text limit", book(t, []string{hdr + row(2, istr("A2", strings.Repeat("x", 15)), istr("B2", strings.Repeat("y", 15)))}), true, ""},
		{"a row past the text limit", book(t, []string{hdr + row(2, istr("A2", strings.Repeat("x", 15)), istr("B2", strings.Repeat("y", 16)))}), false, "row 2: its cells hold more than the limit of 30 bytes"},
		{"a directory part past 32 MiB", book(t, []string{hdr}, withFile("xl/styles.xml", "<styleSheet>"+strings.Repeat(" ", maxDirectoryPart)+"</styleSheet>")), false, "larger than 32 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readTable(t, tc.b, "S1", TableOptions{})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var xe *Error
			if !errors.As(err, &xe) || !strings.Contains(xe.Reason, tc.in) || xe.Err != nil {
				t.Fatalf("error %v, want an *Error saying %q (not wrapping another)", err, tc.in)
			}
		})
	}
}

// Excel's _xHHHH_ escapes: decoded in every string (shared, inline, and a
// formula's string result, where excelize leaves them), surrogate pairs
// joined, lone surrogates U+FFFD (excelize drops both), anything that is
// not four hex digits between "_x" and "_" left as it is.
func TestEscapes(t *testing.T) {
	for _, tc := range []struct{ cell, want string }{
		{istr("B2", "a_x000D_b"), "a\rb"},
		{istr("B2", "_x005F_x000D_"), "_x000D_"},
		{istr("B2", "_x005f_"), "_"},
		{istr("B2", "caf_x00e9_"), "café"},
		{istr("B2", "_xD83D__xDE00_"), "😀"},
		{istr("B2", "_xD83D_x"), "\uFFFDx"},
		{istr("B2", "_xDE00_"), "\uFFFD"},
		{istr("B2", "_xZZZZ_ _x12_ _x1234"), "_xZZZZ_ _x12_ _x1234"},
		{istr("B2", "_x0000_"), "\x00"},
		{`<c r="B2" t="str"><f>A1</f><v>a_x000A_b</v></c>`, "a\nb"},
		{`<c r="B2" t="e"><v>#N/A</v></c>`, "#N/A"},
	} {
		_, rows := mustTable(t, book(t, []string{row(1, istr("A1", "a"), istr("B1", "b")) + row(2, istr("A2", "x"), tc.cell)}), "", TableOptions{})
		if len(rows) != 1 || rows[0].Values[1] != tc.want {
			t.Errorf("%s: %+v, want %q", tc.cell, rows, tc.want)
		}
	}
}

func TestAttributeEntities(t *testing.T) {
	data := row(1, istr("A1", "a"), istr("B1", "b")) + `<row r="&#50;"><c r="&#65;2" t="&#115;"><v>0</v></c><c r="B&#x32;" s="&#49;"><v>46350</v></c></row>`
	_, rows := mustTable(t, book(t, []string{data}, withSST("<t>shared</t>")), "", TableOptions{})
	if len(rows) != 1 || rows[0].Number != 2 || !slices.Equal(rows[0].Values, []string{"shared", "2026-11-24T00:00:00"}) {
		t.Fatalf("rows %+v", rows)
	}
}
