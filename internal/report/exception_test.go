package report

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/storage/upload"
)

// A report of a job that ended with exception is stored and says so in
// the step's output (issue 9, item 10).
func TestStorerReportsAJobWithException(t *testing.T) {
	zipBytes := []byte("PK\x05\x06" + string(make([]byte, 18)))
	st := &fakeStore{put: func(o upload.Object, r io.Reader) (upload.Result, error) {
		n, _ := io.Copy(io.Discard, r)
		return upload.Result{Bucket: "b", Key: o.Key, Bytes: n, SHA256: "abc"}, nil
	}}
	api := &fakeAPI{File: func(string) (*avepoint.Report, error) {
		return report(bytes.NewReader(zipBytes), int64(len(zipBytes))), nil
	}}
	job := finishedJob()
	job.WithException = true
	s := &Storer{API: api, Store: st, Prefix: "reports", Log: quiet, Now: fixedNow(testNow)}
	out, err := s.Handle(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if !out.WithException {
		t.Fatalf("output %+v does not say the report may be incomplete", out)
	}
}
