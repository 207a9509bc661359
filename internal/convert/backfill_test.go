package convert

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/xlsx"
)

// The backfill walks the stored reports in key order, converts each
// (metadata from the object, as the store step wrote it), counts what it
// could not convert and what is not a report, and resumes from where a
// call stopped.
func TestBackfillConvertsStoredReportsAndResumes(t *testing.T) {
	r := newRig(t, nil)
	r.c.Open, r.c.ParseTextTime = openWorkbook, xlsx.ParseTextTime
	good, err := os.ReadFile(filepath.Join("..", "xlsx", "testdata", "dates-1904.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte, meta map[string]string) {
		t.Helper()
		if _, err := r.s3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(key), Body: bytes.NewReader(body), Metadata: meta}); err != nil {
			t.Fatal(err)
		}
	}
	zipOf := func(entry string, data []byte) []byte {
		var buf bytes.Buffer
		in := r.storeReportBytes(t, &buf, entry, data)
		return in
	}
	keyA := "reports/user=adele.vance@contoso.com/window=earliest--20261126T000000Z/events=all/activities.zip"
	keyB := "reports/user=alex.wilber@contoso.com/window=earliest--20261126T000000Z/events=all/activities.zip"
	keyC := "reports/user=bad.book@contoso.com/window=earliest--20261126T000000Z/events=all/activities.zip"
	put(keyA, zipOf("a.xlsx", good), map[string]string{"email": "adele.vance@contoso.com", "job-id": "1"})
	put(keyB, zipOf("b.xlsx", good), nil) // no metadata: the user comes from the key
	put(keyC, zipOf("notes.txt", []byte("no workbook")), map[string]string{"email": "bad.book@contoso.com", "job-id": "3"})
	put("reports/user=adele.vance@contoso.com/readme.txt", []byte("not a report"), nil)
	put("reports/runs/2026-11-25/b-1/manifest.json", []byte("{}"), nil) // outside the prefix

	b := &Backfiller{Converter: r.c, Reports: r.c.Files.(*storage.Files)}
	// A call with less time left than a report may need starts nothing.
	short, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st, err := b.Handle(short, Backfill{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Done || st.Converted+st.Failed+st.Skipped != 0 {
		t.Fatalf("a call without time converted %+v", st)
	}
	st, err = b.Handle(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Done || st.Converted != 2 || st.Failed != 1 || st.Skipped != 1 || st.Rows != 80 {
		t.Fatalf("backfill %+v, want 2 converted (80 rows), 1 failed, 1 skipped, done", st)
	}
	if len(st.Failures) != 1 || !strings.Contains(st.Failures[0].Error, "no .xlsx") || strings.Contains(st.Failures[0].Error, "bad.book") {
		t.Errorf("failures %+v", st.Failures)
	}
	objects := r.keys(t, "dataset/activities/")
	// Idempotent: running it again converts the same reports to the same files.
	again, err := b.Handle(t.Context(), Backfill{})
	if err != nil || again.Converted != 2 {
		t.Fatalf("second backfill %+v %v", again, err)
	}
	if got := r.keys(t, "dataset/activities/"); !slices.Equal(got, objects) {
		t.Errorf("a second backfill left %v, the first %v", got, objects)
	}
	if _, err := b.Handle(t.Context(), Backfill{Prefix: "reports/runs/"}); err == nil {
		t.Error("a prefix outside the reports was accepted")
	}
}
