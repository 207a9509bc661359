package convertbench

import (
	"archive/zip"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/insights-export/insights-export/internal/xlsx"
)

// The generated workbook is what the benchmark claims: every sheet has the
// header and its share of rows, strings are shared (no inline string
// left), the time column is a date cell, and excelize and internal/xlsx
// read the same values from it.
func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	b, err := Generate(dir, Spec{Rows: 250, SheetRows: 100, Repeat: 0.3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if b.Sheets != 3 || b.Rows != 250 {
		t.Fatalf("sheets %d rows %d", b.Sheets, b.Rows)
	}
	if want := int64(3*8 + 250*7); b.StringCells != want {
		t.Errorf("string cells %d, want %d", b.StringCells, want)
	}
	if b.SharedStrings <= int64(len(newPool().strs)) || b.SSTXMLBytes <= b.SSTTextBytes || b.ZIPBytes == 0 || len(b.ZIPSHA256) != 64 {
		t.Errorf("book %+v", b)
	}

	zr, err := zip.OpenReader(b.XLSX)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range zr.File {
		if !strings.HasPrefix(e.Name, "xl/worksheets/") {
			continue
		}
		rc, _ := e.Open()
		var sb strings.Builder
		_, _ = sbCopy(&sb, rc)
		rc.Close()
		if strings.Contains(sb.String(), "inlineStr") {
			t.Errorf("%s holds inline strings", e.Name)
		}
	}
	zr.Close()

	f, err := excelize.OpenFile(b.XLSX)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ef, err := os.Open(b.XLSX)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	st, _ := ef.Stat()
	wb, err := xlsx.Open(ef, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	sheets := wb.Sheets()
	if want := []string{SheetName, SheetName + " (2)", SheetName + " (3)"}; !slices.Equal(sheets, want) || !slices.Equal(f.GetSheetList(), want) {
		t.Fatalf("sheets %q / %q", sheets, f.GetSheetList())
	}
	total := 0
	var last time.Time
	for _, sheet := range sheets {
		rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rows[0], header) {
			t.Fatalf("%s header %q", sheet, rows[0])
		}
		i := 0
		_, err = wb.TableWith(context.Background(), sheet, xlsx.TableOptions{}, func(r xlsx.Row) error {
			i++
			want := rows[i]
			if !r.Dates[0] || slices.Contains(r.Dates[1:], true) {
				t.Fatalf("%s row %d dates %v", sheet, r.Number, r.Dates)
			}
			at, err := time.Parse("2006-01-02T15:04:05", r.Values[0])
			if err != nil || at.Before(last) || at.Before(WindowEnd.Add(-window)) || !at.Before(WindowEnd) {
				t.Fatalf("%s row %d time %q (after %s): %v", sheet, r.Number, r.Values[0], last, err)
			}
			last = at
			if !slices.Equal(r.Values[1:], want[1:]) || r.Values[1] != ReportUser {
				t.Fatalf("%s row %d: xlsx %q, excelize %q", sheet, r.Number, r.Values, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if i != len(rows)-1 {
			t.Errorf("%s: xlsx read %d rows, excelize %d", sheet, i, len(rows)-1)
		}
		total += i
	}
	if total != 250 {
		t.Errorf("%d data rows", total)
	}

	// The report ZIP holds the workbook, byte for byte.
	rz, err := zip.OpenReader(b.ZIP)
	if err != nil {
		t.Fatal(err)
	}
	defer rz.Close()
	if len(rz.File) != 1 || !strings.HasSuffix(rz.File[0].Name, ".xlsx") || int64(rz.File[0].UncompressedSize64) != b.XLSXBytes {
		t.Errorf("report ZIP entries %v", rz.File)
	}
}

func sbCopy(sb *strings.Builder, rc interface{ Read([]byte) (int, error) }) (int64, error) {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := rc.Read(buf)
		sb.Write(buf[:k])
		n += int64(k)
		if err != nil {
			return n, nil
		}
	}
}
