package xlsx

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// FuzzTable: no input makes Open or Table panic or fail with anything but
// an *Error, and whatever they accept satisfies the Table contract
// (checkTable). Every input is tried twice: as a workbook (a ZIP archive),
// and as the XML of a worksheet inside a fixed workbook (with shared
// strings and date styles), read with a small buffer, because mutations of
// an archive mostly break its compression or CRCs before any XML is
// reached. The seed corpus (testdata/fuzz/FuzzTable, written by
// TestWriteFuzzSeeds) holds small stored (uncompressed) workbooks, whose
// XML mutations do reach the parsers, and broken ones; the fixtures are
// added too.
func FuzzTable(f *testing.F) {
	names, _ := filepath.Glob("testdata/*.xlsx")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	frame := openBytes(f, book(f, []string{""}, withSST(typesSST...)))
	f.Fuzz(func(t *testing.T, in []byte) {
		if w, err := Open(bytes.NewReader(in), int64(len(in))); err != nil {
			checkFuzzError(t, err)
		} else {
			for _, sheet := range w.Sheets() {
				checkTable(t, func(fn func(Row) error) (*Table, error) {
					return w.TableWith(context.Background(), sheet, TableOptions{Reserved: []string{"upn"}}, fn)
				})
			}
		}
		small := checkTable(t, func(fn func(Row) error) (*Table, error) {
			s := newScannerSize(iotest.OneByteReader(bytes.NewReader(in)), "sheet", 16+len(in)%61)
			return frame.tableFrom(context.Background(), s, "S1", TableOptions{Reserved: []string{"upn"}}, fn)
		})
		// Where the reads and the buffer end must make no difference.
		whole := checkTable(t, func(fn func(Row) error) (*Table, error) {
			s := newScanner(bytes.NewReader(in), "sheet")
			return frame.tableFrom(context.Background(), s, "S1", TableOptions{Reserved: []string{"upn"}}, fn)
		})
		if small != whole {
			t.Fatalf("a small buffer and one-byte reads give\n%s\nthe whole input at once\n%s", small, whole)
		}
	})
}

func checkFuzzError(t *testing.T, err error) {
	t.Helper()
	var xe *Error
	if !errors.As(err, &xe) {
		t.Fatalf("an in-memory input failed with %T %v, not an *Error", err, err)
	}
	if msg := err.Error(); len(msg) > 600 || !utf8.ValidString(msg) {
		t.Fatalf("error message of %d bytes, valid UTF-8 %v", len(msg), utf8.ValidString(msg))
	}
}

// checkTable reads a table and checks the contract: rows in increasing
// sheet order below the header, each as long as the columns known when it
// was read (lengths never shrink, the last row has them all), Values and
// Dates of one length, valid UTF-8, dates never empty; column names
// unique, non-empty, never reserved; positions unique and in range; no
// header, no columns and no rows.
//
// It returns what was read, as text, for comparisons.
func checkTable(t *testing.T, read func(func(Row) error) (*Table, error)) string {
	t.Helper()
	last, width, rows := 0, 0, 0
	var out strings.Builder
	tb, err := read(func(r Row) error {
		fmt.Fprintf(&out, "%d %q %v\n", r.Number, r.Values, r.Dates)
		if r.Number <= last || r.Number > MaxRows {
			t.Fatalf("row %d after row %d", r.Number, last)
		}
		if len(r.Values) != len(r.Dates) || len(r.Values) < width {
			t.Fatalf("row %d: %d values, %d dates, %d columns before", r.Number, len(r.Values), len(r.Dates), width)
		}
		empty := true
		for i, v := range r.Values {
			if !utf8.ValidString(v) {
				t.Fatalf("row %d: a value is not valid UTF-8", r.Number)
			}
			if r.Dates[i] && v == "" {
				t.Fatalf("row %d: an empty date", r.Number)
			}
			empty = empty && v == ""
		}
		if empty {
			t.Fatalf("row %d delivered without a value", r.Number)
		}
		last, width = r.Number, len(r.Values)
		rows++
		return nil
	})
	if err != nil {
		checkFuzzError(t, err)
		return out.String() + err.Error()
	}
	if tb.Rows != rows {
		t.Fatalf("Table.Rows %d, %d delivered", tb.Rows, rows)
	}
	if rows > 0 && width != len(tb.Columns) {
		t.Fatalf("last row has %d values, the table %d columns", width, len(tb.Columns))
	}
	if tb.HeaderRow == 0 && (len(tb.Columns) != 0 || rows != 0) {
		t.Fatalf("no header, yet %d columns and %d rows", len(tb.Columns), rows)
	}
	if tb.HeaderRow > HeaderSearchRows || (rows > 0 && last <= tb.HeaderRow) {
		t.Fatalf("header row %d, last row %d", tb.HeaderRow, last)
	}
	names, positions := map[string]bool{}, map[int]bool{}
	for _, c := range tb.Columns {
		if c.Name == "" || names[c.Name] || c.Name == "upn" {
			t.Fatalf("column name %q empty, repeated or reserved", c.Name)
		}
		if c.Position < 1 || c.Position > MaxColumns || positions[c.Position] {
			t.Fatalf("column position %d", c.Position)
		}
		names[c.Name], positions[c.Position] = true, true
	}
	for _, p := range tb.Preamble {
		if !utf8.ValidString(p) || p == "" || len(p) > maxPreambleBytes {
			t.Fatalf("preamble line of %d bytes", len(p))
		}
	}
	fmt.Fprintf(&out, "%+v", *tb)
	return out.String()
}

// fuzzSeeds are small workbooks, whole and broken, and bare sheet XML.
func fuzzSeeds(t testing.TB) [][]byte {
	small := row(1, istr("A1", "Time (UTC)"), istr("B1", "User"), `<c r="C1" t="s"><v>0</v></c>`) +
		row(2, `<c r="A2" s="2"><v>46350.54513888889</v></c>`, `<c r="B2" t="s"><v>2</v></c>`, `<c r="C2" t="b"><v>1</v></c>`, num("E2", "1.5E-3")) +
		`<row><c t="e"><v>#N/A</v></c><c t="str"><f>x</f><v>a_x000D_b</v></c></row>`
	fs := bookFiles([]string{small}, withSST(typesSST...))
	stored := zipFilesMethod(t, fs, zip.Store)
	deflated := zipFilesMethod(t, fs, zip.Deflate)
	var badCRC []byte
	if i := bytes.Index(stored, []byte("46350.5")); i > 0 {
		badCRC = bytes.Clone(stored)
		badCRC[i] = '9'
	}
	return [][]byte{
		stored,
		deflated,
		zipFilesMethod(t, bookFiles([]string{typesSheet}), zip.Store),
		zipFilesMethod(t, bookFiles([]string{small, ""}, with1904), zip.Store),
		stored[:len(stored)/2],
		deflated[:len(deflated)-30],
		badCRC,
		[]byte(`<worksheet><sheetData>` + small + `</sheetData></worksheet>`),
		[]byte(`<x:worksheet xmlns:x="` + nsMain + `"><x:sheetData>` + strings.ReplaceAll(typesSheet, "<c ", "<x:c ") + `</x:sheetData></x:worksheet>`),
		[]byte("PK\x03\x04"),
		[]byte(""),
	}
}

// TestWriteFuzzSeeds rewrites testdata/fuzz/FuzzTable from fuzzSeeds when
// XLSX_WRITE_FUZZ_SEEDS=1 (run it after changing the seeds).
// TestFuzzSeedsAreCommitted checks that testdata/fuzz/FuzzTable holds the
// seeds fuzzSeeds builds, so the corpus CI fuzzes from is the intended
// one; XLSX_WRITE_FUZZ_SEEDS=1 rewrites it instead.
func TestFuzzSeedsAreCommitted(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzTable")
	write := os.Getenv("XLSX_WRITE_FUZZ_SEEDS") == "1"
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range fuzzSeeds(t) {
		name := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if write {
			if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%v (rewrite the corpus with XLSX_WRITE_FUZZ_SEEDS=1)", err)
		}
		if string(got) != body {
			t.Errorf("%s is not the seed fuzzSeeds builds (rewrite the corpus with XLSX_WRITE_FUZZ_SEEDS=1)", name)
		}
	}
}
