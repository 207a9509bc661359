package xlsx

import (
	"archive/zip"
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// files is a workbook's parts by name, for crafting workbooks by hand.
type files map[string]string

// zipFiles writes the parts into a ZIP archive (deflated, in name order).
func zipFiles(t testing.TB, fs files) []byte { return zipFilesMethod(t, fs, zip.Deflate) }

// zipFilesMethod is zipFiles with a compression method (zip.Store keeps
// the XML as it is in the archive, for the fuzzer to mutate).
func zipFilesMethod(t testing.TB, fs files, method uint16) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(fs))
	for n := range fs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(fs[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const (
	nsMain = `http://schemas.openxmlformats.org/spreadsheetml/2006/main`
	nsRel  = `http://schemas.openxmlformats.org/officeDocument/2006/relationships`
	nsPkg  = `http://schemas.openxmlformats.org/package/2006/relationships`
)

// testStyles has these cellXfs: 0 General, 1 built-in 14 (date), 2 custom
// date-time, 3 "0.00", 4 "[Red]0", 5 built-in 22, 6 custom "[h]:mm:ss",
// 7 built-in 2 ("0.00"), 8 custom `0 "days"`, 9 built-in 20 (h:mm).
const testStyles = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="` + nsMain + `"><numFmts count="5">
<numFmt numFmtId="164" formatCode="yyyy\-mm\-dd\ hh:mm:ss"/>
<numFmt numFmtId="165" formatCode="0.00"/>
<numFmt numFmtId="166" formatCode="[Red]0"/>
<numFmt numFmtId="167" formatCode="[h]:mm:ss"/>
<numFmt numFmtId="168" formatCode="0&quot; days&quot;"/>
</numFmts>
<cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs>
<cellXfs count="10"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/><xf numFmtId="164"/><xf numFmtId="165"/><xf numFmtId="166"/><xf numFmtId="22"/><xf numFmtId="167"/><xf numFmtId="2"/><xf numFmtId="168"/><xf numFmtId="20"/></cellXfs>
</styleSheet>`

// book crafts a workbook whose sheets (named S1, S2…) have the given
// <sheetData> content; options change the parts.
func book(t testing.TB, sheetData []string, opts ...func(files)) []byte {
	t.Helper()
	return zipFiles(t, bookFiles(sheetData, opts...))
}

func bookFiles(sheetData []string, opts ...func(files)) files {
	fs := files{
		"[Content_Types].xml": `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/></Types>`,
		"_rels/.rels":         `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="` + nsPkg + `"><Relationship Id="rId1" Type="` + nsRel + `/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/styles.xml":       testStyles,
	}
	var sheets, rels strings.Builder
	for i, sd := range sheetData {
		n := strconv.Itoa(i + 1)
		sheets.WriteString(`<sheet name="S` + n + `" sheetId="` + n + `" r:id="rId` + n + `"/>`)
		rels.WriteString(`<Relationship Id="rId` + n + `" Type="` + nsRel + `/worksheet" Target="worksheets/sheet` + n + `.xml"/>`)
		fs["xl/worksheets/sheet"+n+".xml"] = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
			`<worksheet xmlns="` + nsMain + `" xmlns:r="` + nsRel + `"><dimension ref="A1"/><sheetData>` + sd + `</sheetData><mergeCells count="0"/></worksheet>`
	}
	fs["xl/workbook.xml"] = `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="` + nsMain + `" xmlns:r="` + nsRel + `"><workbookPr/><sheets>` + sheets.String() + `</sheets></workbook>`
	fs["xl/_rels/workbook.xml.rels"] = `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="` + nsPkg + `">` + rels.String() +
		`<Relationship Id="rIdS" Type="` + nsRel + `/styles" Target="styles.xml"/><Relationship Id="rIdT" Type="` + nsRel + `/sharedStrings" Target="sharedStrings.xml"/></Relationships>`
	for _, o := range opts {
		o(fs)
	}
	return fs
}

// withSST adds a shared-string table of the given <si> contents.
func withSST(si ...string) func(files) {
	return func(fs files) {
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><sst xmlns="` + nsMain + `">`)
		for _, s := range si {
			b.WriteString("<si>" + s + "</si>")
		}
		b.WriteString("</sst>")
		fs["xl/sharedStrings.xml"] = b.String()
	}
}

func with1904(fs files) {
	fs["xl/workbook.xml"] = strings.Replace(fs["xl/workbook.xml"], "<workbookPr/>", `<workbookPr date1904="1"/>`, 1)
}

func withFile(name, body string) func(files) { return func(fs files) { fs[name] = body } }

func without(name string) func(files) { return func(fs files) { delete(fs, name) } }

// copied is a row kept past fn.
func copied(r Row) Row {
	return Row{Number: r.Number, Values: slices.Clone(r.Values), Dates: slices.Clone(r.Dates)}
}

// readTable opens b and reads one sheet (the first when sheet is "").
func readTable(t testing.TB, b []byte, sheet string, opts TableOptions) (*Table, []Row, error) {
	t.Helper()
	w, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, nil, err
	}
	if sheet == "" {
		if len(w.Sheets()) == 0 {
			t.Fatal("no sheets")
		}
		sheet = w.Sheets()[0]
	}
	var rows []Row
	tb, err := w.TableWith(context.Background(), sheet, opts, func(r Row) error {
		rows = append(rows, copied(r))
		return nil
	})
	return tb, rows, err
}

func mustTable(t testing.TB, b []byte, sheet string, opts TableOptions) (*Table, []Row) {
	t.Helper()
	tb, rows, err := readTable(t, b, sheet, opts)
	if err != nil {
		t.Fatalf("reading the table: %v", err)
	}
	return tb, rows
}

func columnNames(tb *Table) []string {
	var out []string
	for _, c := range tb.Columns {
		out = append(out, c.Name)
	}
	return out
}

func openBytes(t testing.TB, b []byte) *Workbook {
	t.Helper()
	w, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return w
}

func zipReader(b []byte) (*zip.Reader, error) {
	return zip.NewReader(bytes.NewReader(b), int64(len(b)))
}
