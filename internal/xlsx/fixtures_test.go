package xlsx

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// The fixtures were written by openpyxl and LibreOffice (see
// /work/shared/fixtures/xlsx/README.md, copied here as testdata); these
// tests hold them to what that README says a converter must get.

var fixtureBase = time.Date(2026, 11, 24, 13, 5, 0, 0, time.UTC)

var activityColumns = []string{"time_utc", "user", "event_type", "object", "object_url", "ip_address"}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// activityRow is row i of make-fixtures.py's rows().
func activityRow(i int) []string {
	return []string{
		fixtureBase.Add(time.Duration(13*i) * time.Minute).Format("2006-01-02T15:04:05"),
		[]string{"Adele Vance", "Alex Wilber"}[i%2],
		[]string{"FileAccessed", "FileModified", "SharingSet"}[i%3],
		fmt.Sprintf("Doc %d.docx", i),
		fmt.Sprintf("https://contoso.sharepoint.com/sites/hr/Doc%%20%d.docx", i),
		fmt.Sprintf("192.0.2.%d", i%250),
	}
}

// checkActivities: 40 activity rows from sheet row first on, the time a
// date cell (ISO text) and nothing else one.
func checkActivities(t *testing.T, tb *Table, rows []Row, first int) {
	t.Helper()
	if got := columnNames(tb); !slices.Equal(got, activityColumns) {
		t.Fatalf("columns %q, want %q", got, activityColumns)
	}
	if tb.Rows != 40 || len(rows) != 40 {
		t.Fatalf("%d rows (Table.Rows %d), want 40", len(rows), tb.Rows)
	}
	for i, r := range rows {
		if r.Number != first+i {
			t.Fatalf("row %d has Number %d, want %d", i, r.Number, first+i)
		}
		if want := activityRow(i); !slices.Equal(r.Values, want) {
			t.Fatalf("row %d = %q, want %q", r.Number, r.Values, want)
		}
		if want := []bool{true, false, false, false, false, false}; !slices.Equal(r.Dates, want) {
			t.Fatalf("row %d dates %v, want %v", r.Number, r.Dates, want)
		}
	}
	if rows[0].Values[0] != "2026-11-24T13:05:00" {
		t.Fatalf("first time %q", rows[0].Values[0])
	}
}

func TestFixtureDates1904(t *testing.T) {
	b := fixture(t, "dates-1904.xlsx")
	w := openBytes(t, b)
	if !w.Date1904() {
		t.Fatal("Date1904() = false for a workbook with date1904=\"1\"")
	}
	if got := w.Sheets(); !slices.Equal(got, []string{"Activities"}) {
		t.Fatalf("sheets %q", got)
	}
	tb, rows := mustTable(t, b, "Activities", TableOptions{})
	if tb.HeaderRow != 1 || len(tb.Preamble) != 0 {
		t.Fatalf("header row %d, preamble %q", tb.HeaderRow, tb.Preamble)
	}
	checkActivities(t, tb, rows, 2)
}

func TestFixtureSummaryAndDetails(t *testing.T) {
	for _, name := range []string{"summary-and-details.xlsx", "summary-and-details-libreoffice.xlsx"} {
		t.Run(name, func(t *testing.T) {
			b := fixture(t, name)
			w := openBytes(t, b)
			if w.Date1904() {
				t.Fatal("1904 system reported for a 1900 workbook")
			}
			if got := w.Sheets(); !slices.Equal(got, []string{"Summary", "Details"}) {
				t.Fatalf("sheets %q", got)
			}
			// The summary is a table too (Event Type, Count): whether it is
			// activity is the caller's decision (it has no time column).
			tb, rows := mustTable(t, b, "Summary", TableOptions{})
			if tb.HeaderRow != 1 || !slices.Equal(columnNames(tb), []string{"event_type", "count"}) || tb.Rows != 3 {
				t.Fatalf("summary: header row %d, columns %q, %d rows", tb.HeaderRow, columnNames(tb), tb.Rows)
			}
			want := [][]string{{"FileAccessed", "14"}, {"FileModified", "13"}, {"SharingSet", "13"}}
			for i, r := range rows {
				if !slices.Equal(r.Values, want[i]) || r.Number != i+2 {
					t.Fatalf("summary row %d: %d %q, want %q", i, r.Number, r.Values, want[i])
				}
			}
			// Details: merged title row, blank row, header on row 3.
			tb, rows = mustTable(t, b, "Details", TableOptions{})
			if tb.HeaderRow != 3 {
				t.Fatalf("header row %d, want 3", tb.HeaderRow)
			}
			if !slices.Equal(tb.Preamble, []string{"User activity report for Adele Vance"}) {
				t.Fatalf("preamble %q", tb.Preamble)
			}
			checkActivities(t, tb, rows, 4)
		})
	}
}

func TestFixtureTextDatesFormulas(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cached bool // LibreOffice computed and cached the formulas
	}{
		{"text-dates-formulas.xlsx", false},
		{"text-dates-formulas-libreoffice.xlsx", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb, rows := mustTable(t, fixture(t, tc.name), "Report", TableOptions{})
			wantCols := []string{"date", "activity", "item", "item_2", "column_5", "bytes", "column_7"}
			if got := columnNames(tb); !slices.Equal(got, wantCols) {
				t.Fatalf("columns %q, want %q", got, wantCols)
			}
			for i, c := range tb.Columns {
				if c.Position != i+1 {
					t.Fatalf("column %s at position %d", c.Name, c.Position)
				}
			}
			if h := tb.Columns[3].Header; h != "Item" {
				t.Fatalf("duplicate's original header %q", h)
			}
			if tb.HeaderRow != 1 || tb.Rows != 31 || len(rows) != 31 {
				t.Fatalf("header row %d, %d rows", tb.HeaderRow, tb.Rows)
			}
			for i, r := range rows[:30] {
				src := activityRow(i)
				when := fixtureBase.Add(time.Duration(13*i) * time.Minute)
				note := ""
				if i%4 == 0 {
					note = "note"
				}
				bytes := ""
				if tc.cached {
					bytes = strconv.Itoa(i * 1024)
				}
				want := []string{when.Format("01/02/2006 03:04:05 PM"), src[2], src[3], src[4], note, bytes}
				// The ragged column appears on the last row: earlier rows
				// have the six columns known when they were read.
				if !slices.Equal(r.Values, want) || r.Number != i+2 {
					t.Fatalf("row %d: %q, want %q", r.Number, r.Values, want)
				}
				if slices.Contains(r.Dates, true) {
					t.Fatalf("row %d: text cells flagged as dates", r.Number)
				}
				got, ok := ParseTextTime(r.Values[0])
				if !ok || !got.Equal(when) {
					t.Fatalf("row %d: ParseTextTime(%q) = %v %v, want %v", r.Number, r.Values[0], got, ok, when)
				}
			}
			last := rows[30]
			want := []string{"11/26/2026 09:00:00 AM", "FileDeleted", "x.txt", "", "", "1", "an extra cell"}
			if !slices.Equal(last.Values, want) || last.Number != 32 {
				t.Fatalf("last row %d %q, want %q", last.Number, last.Values, want)
			}
		})
	}
}
