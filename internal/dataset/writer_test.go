package dataset

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/parquet-go/parquet-go"
)

var testSource = Source{UPN: "adele.vance@contoso.com", JobID: "67890", ReportKey: "reports/user=adele.vance@contoso.com/window=a--b/events=all/activities.zip",
	ReportSHA256: "fa78", ExportedAt: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}

// writeSample writes two sheets: a detail sheet whose rows span two days
// and one row without a parsable time, and a sheet without a time column.
func writeSample(t *testing.T) []File {
	t.Helper()
	w := NewWriter(t.TempDir(), testSource, Options{MaxBufferedRows: 2}) // tiny budget: exercise flushing
	s := w.Sheet("Details", 3, []string{"User activity report"}, []Column{
		{"user", "User"}, {"date_time_utc", "Date/Time (UTC)"}, {"event_type", "Event Type"}, {"ip_address", "IP Address"},
	})
	rows := [][]string{
		{"Adele", "2026-11-24T13:05:00", "FileAccessed", "192.0.2.1"},
		{"Adele", "2026-11-24T23:59:59", "FileModified", ""},
		{"Adele", "2026-11-25T00:00:00", "SharingSet, \"quoted\"\nnewline ü", "192.0.2.3"},
		{"Adele", "not a time", "FileDeleted", "192.0.2.4"},
	}
	for i, r := range rows {
		if err := s.Write(4+i, r, []bool{false, true, false, false}); err != nil {
			t.Fatal(err)
		}
	}
	s.AddColumn(Column{"column_5", ""})
	if err := s.Write(8, []string{"Adele", "2026-11-25T01:00:00", "FileAccessed", "", "extra"}, []bool{false, true}); err != nil {
		t.Fatal(err)
	}
	if s.TimeColumn() != "date_time_utc" {
		t.Errorf("time column %q", s.TimeColumn())
	}
	sum := w.Sheet("Summary", 1, nil, []Column{{"event_type", "Event Type"}, {"count", "Count"}})
	if err := sum.Write(2, []string{"FileAccessed", "14"}, nil); err != nil {
		t.Fatal(err)
	}
	files, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestWriterPartitionsByUTCDayAndKeepsRowsWithoutTime(t *testing.T) {
	files := writeSample(t)
	var got []string
	var total int64
	for _, f := range files {
		got = append(got, f.Partition)
		total += f.Rows
	}
	if want := []string{NoTimePartition, "2026-11-24", "2026-11-25"}; !slices.Equal(got, want) {
		t.Fatalf("partitions %v, want %v", got, want)
	}
	if total != 6 {
		t.Fatalf("%d rows written, want 6 (5 details + 1 summary): none dropped", total)
	}
	byDT := map[string]int64{}
	for _, f := range files {
		byDT[f.Partition] = f.Rows
	}
	if byDT[NoTimePartition] != 2 || byDT["2026-11-24"] != 2 || byDT["2026-11-25"] != 2 {
		t.Errorf("rows per partition %v", byDT)
	}
}

// The files are read back by an independent implementation (Apache
// Arrow's Go Parquet reader), so the writer is not judged by itself.
func TestWriterFilesReadWithArrow(t *testing.T) {
	files := writeSample(t)
	var details []map[string]any
	for _, f := range files {
		rd, err := os.Open(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := file.NewParquetReader(rd)
		if err != nil {
			t.Fatal(err)
		}
		kv := pf.MetaData().KeyValueMetadata()
		if v := kv.FindValue(MetaReportKey); v == nil || *v != testSource.ReportKey {
			t.Errorf("%s: report key metadata %v", f.Partition, v)
		}
		var sheets []SheetInfo
		if v := kv.FindValue(MetaSheets); v == nil || json.Unmarshal([]byte(*v), &sheets) != nil || len(sheets) != 2 || sheets[0].Columns[1].Header != "Date/Time (UTC)" {
			t.Errorf("%s: sheets metadata %v", f.Partition, v)
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if tbl.NumRows() != f.Rows {
			t.Errorf("%s: arrow reads %d rows, writer says %d", f.Partition, tbl.NumRows(), f.Rows)
		}
		details = append(details, arrowRows(t, tbl)...)
		tbl.Release()
		pf.Close()
	}
	find := func(row int64, sheet string) map[string]any {
		for _, r := range details {
			if r["source_row"] == row && r["sheet"] == sheet {
				return r
			}
		}
		t.Fatalf("no row %d of %s", row, sheet)
		return nil
	}
	r := find(6, "Details")
	cols := r["columns"].(map[string]string)
	if cols["event_type"] != "SharingSet, \"quoted\"\nnewline ü" || cols["ip_address"] != "192.0.2.3" || cols["date_time_utc"] != "2026-11-25T00:00:00" {
		t.Errorf("columns %q", cols)
	}
	if r["event_type"] != "SharingSet, \"quoted\"\nnewline ü" || r["upn"] != testSource.UPN || r["job_id"] != "67890" {
		t.Errorf("fixed columns %v", r)
	}
	if at := r["activity_time"].(time.Time); !at.Equal(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("activity_time %v", at)
	}
	if _, has := find(5, "Details")["columns"].(map[string]string)["ip_address"]; has {
		t.Error("an empty cell became a key; want no key (null)")
	}
	if find(7, "Details")["activity_time"] != nil {
		t.Error("an unparsable time became a value; want null")
	}
	if find(8, "Details")["columns"].(map[string]string)["column_5"] != "extra" {
		t.Error("the ragged row's extra cell is missing")
	}
	if s := find(2, "Summary"); s["activity_time"] != nil || s["event_type"] != "FileAccessed" {
		t.Errorf("summary row %v", s)
	}
	if len(find(4, "Details")["row_id"].(string)) != 64 {
		t.Error("row_id is not hex SHA-256")
	}
}

// arrowRows flattens a table into maps, with the map column as a Go map.
func arrowRows(t *testing.T, tbl arrow.Table) []map[string]any {
	t.Helper()
	n := int(tbl.NumRows())
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{}
	}
	for c := 0; c < int(tbl.NumCols()); c++ {
		col := tbl.Column(c)
		name := col.Name()
		row := 0
		for _, chunk := range col.Data().Chunks() {
			for i := 0; i < chunk.Len(); i, row = i+1, row+1 {
				if chunk.IsNull(i) {
					out[row][name] = nil
					continue
				}
				switch a := chunk.(type) {
				case *array.String:
					out[row][name] = a.Value(i)
				case *array.Int64:
					out[row][name] = a.Value(i)
				case *array.Timestamp:
					unit := a.DataType().(*arrow.TimestampType).Unit
					out[row][name] = a.Value(i).ToTime(unit).UTC()
				case *array.Map:
					keys, items := a.Keys().(*array.String), a.Items().(*array.String)
					start, end := a.ValueOffsets(i)
					m := map[string]string{}
					for j := start; j < end; j++ {
						m[keys.Value(int(j))] = items.Value(int(j))
					}
					out[row][name] = m
				default:
					t.Fatalf("column %s: unexpected arrow type %T", name, chunk)
				}
			}
		}
	}
	return out
}

func TestRowIDIsTheActivityNotTheExport(t *testing.T) {
	a := RowID("u@x", "Details", map[string]string{"a": "1", "b": "2"})
	if b := RowID("u@x", "Details", map[string]string{"b": "2", "a": "1"}); a != b {
		t.Error("row_id depends on map order")
	}
	for _, other := range []string{
		RowID("v@x", "Details", map[string]string{"a": "1", "b": "2"}),
		RowID("u@x", "Other", map[string]string{"a": "1", "b": "2"}),
		RowID("u@x", "Details", map[string]string{"a": "1", "b": "3"}),
		RowID("u@x", "Details", map[string]string{"a": "1b", "": "2"}),
		RowID("u@x", "Details", map[string]string{"a": "1"}),
	} {
		if other == a {
			t.Errorf("different rows share row_id %s", a)
		}
	}
}

func TestSchemaIsTheDocumentedOne(t *testing.T) {
	s := parquet.SchemaOf(Activity{})
	var names []string
	for _, f := range s.Fields() {
		names = append(names, f.Name())
	}
	for _, want := range FixedColumns {
		if want == "dt" {
			continue // the partition, in the path only
		}
		if !slices.Contains(names, want) {
			t.Errorf("schema %v lacks %s", names, want)
		}
	}
	if !strings.Contains(s.String(), "MAP") {
		t.Errorf("columns is not a MAP: %s", s)
	}
}

// The writer's row_id (over the row as it holds it) is RowID's over the
// row's columns map, whatever the column order and empty cells.
func TestWriterRowIDIsRowID(t *testing.T) {
	dir := t.TempDir()
	w := NewWriter(dir, testSource, Options{})
	s := w.Sheet("Details", 1, nil, []Column{{"zeta", "Zeta"}, {"alpha", "Alpha"}, {"mid", "Mid"}})
	rows := [][]string{{"z1", "a1", "m1"}, {"", "a2", ""}, {"z3"}}
	for i, r := range rows {
		if err := s.Write(i+2, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	files, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	got, err := parquet.ReadFile[Activity](files[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range got {
		if want := RowID(a.UPN, a.Sheet, a.Columns); a.RowID != want {
			t.Errorf("row %d: row_id %s, RowID over its columns %s", a.SourceRow, a.RowID, want)
		}
	}
}
