package convert

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/insights-export/insights-export/internal/dataset"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/xlsx"
)

// The workbooks other software wrote (openpyxl, LibreOffice; see
// internal/xlsx/testdata), each zipped as a report and converted by the
// real reader, give what their README says.
func TestConvertFixtureWorkbooks(t *testing.T) {
	first := time.Date(2026, 11, 24, 13, 5, 0, 0, time.UTC)
	tests := []struct {
		file      string
		rows      int64
		columns   []string
		firstTime *time.Time
		summary   bool
		check     func(t *testing.T, rows []dataset.Activity)
	}{
		{file: "dates-1904.xlsx", rows: 40, firstTime: &first,
			columns: []string{"time_utc", "user", "event_type", "object", "object_url", "ip_address"}},
		{file: "summary-and-details.xlsx", rows: 40, firstTime: &first, summary: true,
			columns: []string{"time_utc", "user", "event_type", "object", "object_url", "ip_address"}},
		{file: "summary-and-details-libreoffice.xlsx", rows: 40, firstTime: &first, summary: true,
			columns: []string{"time_utc", "user", "event_type", "object", "object_url", "ip_address"}},
		{file: "text-dates-formulas.xlsx", rows: 31, firstTime: &first,
			columns: []string{"date", "activity", "item", "item_2", "column_5", "bytes", "column_7"},
			check: func(t *testing.T, rows []dataset.Activity) {
				for _, r := range rows {
					if v, has := r.Columns["bytes"]; has && r.SourceRow <= 31 {
						t.Errorf("row %d: a formula without a cached value became %q", r.SourceRow, v)
					}
				}
			}},
		{file: "text-dates-formulas-libreoffice.xlsx", rows: 31, firstTime: &first,
			columns: []string{"date", "activity", "item", "item_2", "column_5", "bytes", "column_7"},
			check: func(t *testing.T, rows []dataset.Activity) {
				got := map[int64]string{}
				for _, r := range rows {
					got[r.SourceRow] = r.Columns["bytes"]
				}
				if got[2] != "0" || got[3] != "1024" {
					t.Errorf("cached formula values %q, %q; want 0, 1024", got[2], got[3])
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := newRig(t, nil)
			r.c.Open, r.c.ParseTextTime = openWorkbook, xlsx.ParseTextTime
			raw, err := os.ReadFile(filepath.Join("..", "xlsx", "testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			in := r.storeReport(t, "UserActivityReport_67890.xlsx", raw)
			out, err := r.c.Handle(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			if open := openUnder(t, r.c.SpoolDir); len(open) > 0 {
				t.Errorf("files left open in the spool after the step: %v (their space stays taken in /tmp)", open)
			}
			ds := out.Dataset
			if ds.Rows != tt.rows {
				t.Errorf("%d rows, want %d", ds.Rows, tt.rows)
			}
			if !slices.Equal(ds.Columns, tt.columns) {
				t.Errorf("columns %v, want %v", ds.Columns, tt.columns)
			}
			if tt.summary && (len(ds.Sheets) != 2 || ds.Sheets[0].Converted || ds.Sheets[0].Rows != 3) {
				t.Errorf("sheets %+v: want the 3-row summary counted, not converted", ds.Sheets)
			}
			rows := r.readRows(t, ds.Objects)
			if int64(len(rows)) != tt.rows {
				t.Fatalf("the files hold %d rows, the output says %d", len(rows), ds.Rows)
			}
			slices.SortFunc(rows, func(a, b dataset.Activity) int { return int(a.SourceRow - b.SourceRow) })
			if tt.firstTime != nil {
				at := rows[0].ActivityTime
				if at == nil || !at.Equal(*tt.firstTime) {
					t.Errorf("first activity_time %v, want %v", at, tt.firstTime)
				}
				if rows[1].ActivityTime == nil || rows[1].ActivityTime.Sub(*at) != 13*time.Minute {
					t.Errorf("second activity_time %v, want +13 min", rows[1].ActivityTime)
				}
			}
			if tt.check != nil {
				tt.check(t, rows)
			}
		})
	}
}

func (r *rig) storeReport(t *testing.T, entry string, workbook []byte) request.ExportOutput {
	t.Helper()
	var buf bytes.Buffer
	r.storeReportBytes(t, &buf, entry, workbook)
	key := "reports/user=adele.vance@contoso.com/window=earliest--20261126T000000Z/events=all/activities.zip"
	if _, err := r.s3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(key), Body: bytes.NewReader(buf.Bytes())}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return request.ExportOutput{Bucket: r.bucket, Key: key, JobID: "67890", SHA256: hex.EncodeToString(sum[:]), Email: "adele.vance@contoso.com",
		FinishTime: "2026-11-26T00:00:00", StoredAt: "2026-11-25T11:00:00Z"}
}

// storeReportBytes zips one entry into buf and returns the bytes.
func (r *rig) storeReportBytes(t *testing.T, buf *bytes.Buffer, entry string, workbook []byte) []byte {
	t.Helper()
	zw := zip.NewWriter(buf)
	w, err := zw.Create(entry)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(workbook); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (r *rig) readRows(t *testing.T, keys []string) []dataset.Activity {
	t.Helper()
	var all []dataset.Activity
	for _, k := range keys {
		obj, err := r.s3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		rows, err := parquet.Read[dataset.Activity](bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		all = append(all, rows...)
	}
	return all
}

// openUnder lists the process's open files below dir (Linux /proc).
func openUnder(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("cannot list open files: %v", err)
	}
	var open []string
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, dir) {
			open = append(open, target)
		}
	}
	return open
}
