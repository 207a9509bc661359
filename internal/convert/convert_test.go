package convert

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/dataset"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/testing/moto"
)

// fakeBook is a workbook given as tables: sheet → header row (names) and
// data rows. Row numbers start below the header.
type fakeBook struct {
	order  []string
	sheets map[string][][]string
}

func (f *fakeBook) Sheets() []string { return f.order }

func (f *fakeBook) Close() error { return nil }

func (f *fakeBook) Read(ctx context.Context, sheet string, onHeader func(header) error, onRow func(row) error) (int64, error) {
	rows := f.sheets[sheet]
	if len(rows) == 0 {
		return 0, nil
	}
	var cols []dataset.Column
	for _, h := range rows[0] {
		cols = append(cols, dataset.Column{Name: strings.ToLower(strings.ReplaceAll(h, " ", "_")), Header: h})
	}
	if err := onHeader(header{Row: 1, Columns: cols}); err != nil {
		return 0, err
	}
	var n int64
	for i, r := range rows[1:] {
		var added []dataset.Column
		for p := len(cols); p < len(r); p++ {
			c := dataset.Column{Name: "column_" + string(rune('0'+p+1))}
			cols = append(cols, c)
			added = append(added, c)
		}
		dates := make([]bool, len(r))
		for j := range r {
			dates[j] = strings.Contains(cols[j].Name, "time") && len(r[j]) == 19
		}
		if err := onRow(row{Number: i + 2, Values: r, Dates: dates, Added: added}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

type rig struct {
	c      *Converter
	s3     *s3.Client
	bucket string
}

func newRig(t *testing.T, book workbook) *rig {
	t.Helper()
	client := moto.Start(t).S3Client(t)
	bucket := "convert-" + strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(bucket) > 60 {
		bucket = bucket[:60]
	}
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return &rig{s3: client, bucket: bucket, c: &Converter{
		Files:   &storage.Files{Client: client, Bucket: bucket},
		Records: &storage.Objects{Client: client, Bucket: bucket},
		Bucket:  bucket, Prefix: "reports", Layout: dataset.Layout{Prefix: "dataset"},
		Open:     func(string) (workbook, error) { return book, nil },
		SpoolDir: t.TempDir(),
		Log:      slog.New(slog.DiscardHandler),
		Now:      func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) },
	}}
}

// storeZIP puts a report ZIP with the given entries and returns the store
// step's output for it.
func (r *rig) storeZIP(t *testing.T, entries ...string) request.ExportOutput {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range entries {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte("workbook bytes of " + name))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	key := "reports/user=adele.vance@contoso.com/window=20261124T000000Z--20261126T000000Z/events=all/activities.zip"
	if _, err := r.s3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(key), Body: bytes.NewReader(buf.Bytes())}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return request.ExportOutput{Bucket: r.bucket, Key: key, JobID: "67890", Bytes: int64(buf.Len()), SHA256: hex.EncodeToString(sum[:]),
		Email: "adele.vance@contoso.com", FinishTime: "2026-11-26T00:00:00", StoredAt: "2026-11-25T11:00:00Z"}
}

func (r *rig) keys(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := r.s3.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func detailsAndSummary() *fakeBook {
	return &fakeBook{order: []string{"Summary", "Details"}, sheets: map[string][][]string{
		"Summary": {{"Event Type", "Count"}, {"FileAccessed", "2"}, {"SharingSet", "1"}},
		"Details": {
			{"Time", "User", "Event Type", "IP Address"},
			{"2026-11-24T13:05:00", "Adele", "FileAccessed", "192.0.2.1"},
			{"2026-11-24T23:00:00", "Adele", "FileAccessed", "192.0.2.2"},
			{"2026-11-25T08:00:00", "Adele", "SharingSet", "192.0.2.3", "ragged"},
		},
	}}
}

func TestConvertWritesOneFilePerDayAndSkipsTheSummary(t *testing.T) {
	r := newRig(t, detailsAndSummary())
	in := r.storeZIP(t, "UserActivityReport_67890.xlsx")
	out, err := r.c.Handle(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	ds := out.Dataset
	if ds == nil || ds.Rows != 3 {
		t.Fatalf("dataset %+v, want 3 rows", ds)
	}
	id := dataset.ReportID(in.Key)
	want := []string{"dataset/activities/dt=2026-11-24/" + id + ".parquet", "dataset/activities/dt=2026-11-25/" + id + ".parquet"}
	if !slices.Equal(ds.Objects, want) {
		t.Errorf("objects %v, want %v", ds.Objects, want)
	}
	if got := r.keys(t, "dataset/activities/"); !slices.Equal(got, want) {
		t.Errorf("bucket holds %v, want %v", got, want)
	}
	if !slices.Equal(ds.Columns, []string{"time", "user", "event_type", "ip_address", "column_5"}) {
		t.Errorf("columns %v", ds.Columns)
	}
	if len(ds.Sheets) != 2 || ds.Sheets[0].Converted || ds.Sheets[0].Rows != 2 || !ds.Sheets[1].Converted || ds.Sheets[1].TimeColumn != "time" {
		t.Errorf("sheets %+v: want the summary counted, not converted", ds.Sheets)
	}
	if out.Key != in.Key || out.SHA256 != in.SHA256 {
		t.Errorf("the store step's output is not passed through: %+v", out)
	}
}

// A rerun writes the same names (no duplicate rows), and one that now
// spans fewer days removes the files of the days it lost.
func TestConvertRerunReplacesAndRemovesStaleDays(t *testing.T) {
	book := detailsAndSummary()
	r := newRig(t, book)
	in := r.storeZIP(t, "r.xlsx")
	if _, err := r.c.Handle(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	first := r.keys(t, "dataset/")
	if _, err := r.c.Handle(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if again := r.keys(t, "dataset/"); !slices.Equal(first, again) {
		t.Fatalf("rerun left %v, first run %v", again, first)
	}
	book.sheets["Details"] = book.sheets["Details"][:3] // only 2026-11-24 now
	out, err := r.c.Handle(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.keys(t, "dataset/activities/"); !slices.Equal(got, out.Dataset.Objects) || len(got) != 1 {
		t.Errorf("after a shorter rerun the bucket holds %v, the conversion wrote %v", got, out.Dataset.Objects)
	}
	var rec Record
	if found, err := r.c.Records.GetJSON(t.Context(), "", r.c.Layout.RecordKey(dataset.ReportID(in.Key)), &rec); err != nil || !found || rec.Status != "done" || !slices.Equal(rec.Objects, out.Dataset.Objects) {
		t.Errorf("record %+v found=%v err=%v", rec, found, err)
	}
}

func TestConvertFailuresAreNamedAndLeaveNoFiles(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		book    workbook
		mutate  func(*request.ExportOutput)
		want    string
	}{
		{name: "no workbook in the ZIP", entries: []string{"../../evil.txt", "readme.txt"}, book: detailsAndSummary(), want: "ConversionError"},
		{name: "unreadable workbook", entries: []string{"a.xlsx"}, book: nil, want: "ConversionError"},
		{name: "replaced since (sha256 differs)", entries: []string{"a.xlsx"}, book: detailsAndSummary(),
			mutate: func(o *request.ExportOutput) { o.SHA256 = strings.Repeat("0", 64) }, want: "ConversionError"},
		{name: "not this stack's report key", entries: []string{"a.xlsx"}, book: detailsAndSummary(),
			mutate: func(o *request.ExportOutput) { o.Key = "other/thing.zip" }, want: "ValidationError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.book)
			if tt.book == nil {
				r.c.Open = func(string) (workbook, error) { return nil, errors.New("not an XLSX: zip: not a valid zip file") }
			}
			in := r.storeZIP(t, tt.entries...)
			if tt.mutate != nil {
				tt.mutate(&in)
			}
			_, err := r.c.Handle(t.Context(), in)
			got := failure.ForLambda(err)
			if name := strings.TrimPrefix(strings.TrimPrefix(typeName(got), "*"), "failure."); name != tt.want {
				t.Fatalf("err = %v (%s), want %s", err, name, tt.want)
			}
			if strings.Contains(err.Error(), "adele") {
				t.Errorf("error names the user: %v", err)
			}
			if keys := r.keys(t, "dataset/"); len(keys) != 0 {
				t.Errorf("a failed conversion wrote %v", keys)
			}
			if got := r.keys(t, "reports/"); len(got) != 1 {
				t.Errorf("the raw report is gone or doubled: %v", got)
			}
		})
	}
}

func typeName(err error) string {
	switch err.(type) {
	case *failure.ConversionError:
		return "ConversionError"
	case *failure.ValidationError:
		return "ValidationError"
	case *failure.StorageError:
		return "StorageError"
	}
	return "other"
}
