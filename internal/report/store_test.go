package report

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage/upload"
	"github.com/insights-export/insights-export/internal/testing/fakes"
)

type fakeAPI = fakes.AvePoint

var quiet = slog.New(slog.DiscardHandler)

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

var errorName = fakes.ErrorName

type fakeStore struct {
	put func(upload.Object, io.Reader) (upload.Result, error)
}

func (f *fakeStore) Put(_ context.Context, o upload.Object, r io.Reader) (upload.Result, error) {
	return f.put(o, r)
}

func finishedJob() request.Job {
	return request.Job{Request: request.Query{Email: "a@b.co", StartTime: "2026-11-01T00:00:00", FinishTime: "2026-11-02T00:00:00", EventTypes: []string{"FileAccessed"}},
		JobID: "9", StartedAt: testNow, Status: "finished"}
}

func report(body io.Reader, n int64) *avepoint.Report {
	return &avepoint.Report{Body: io.NopCloser(body), ContentLength: n, ContentType: "application/zip"}
}

func TestStorer(t *testing.T) {
	zipBytes := []byte("PK\x03\x04 rest of a zip")
	t.Run("streams the report under the query's key", func(t *testing.T) {
		var gotObj upload.Object
		var gotBody []byte
		st := &fakeStore{put: func(o upload.Object, r io.Reader) (upload.Result, error) {
			gotObj = o
			gotBody, _ = io.ReadAll(r)
			return upload.Result{Bucket: "b", Key: o.Key, Bytes: int64(len(gotBody)), SHA256: "abc"}, nil
		}}
		api := &fakeAPI{File: func(string) (*avepoint.Report, error) {
			return report(bytes.NewReader(zipBytes), int64(len(zipBytes))), nil
		}}
		s := &Storer{API: api, Store: st, Prefix: "reports", Log: quiet, Now: fixedNow(testNow)}
		out, err := s.Handle(context.Background(), finishedJob())
		if err != nil {
			t.Fatal(err)
		}
		wantKey := "reports/user=a@b.co/window=20261101T000000Z--20261102T000000Z/events=FileAccessed/activities.zip"
		if gotObj.Key != wantKey || out.Key != wantKey || out.Bucket != "b" || out.Bytes != int64(len(zipBytes)) || out.JobID != "9" || out.SHA256 != "abc" {
			t.Fatalf("out %+v obj %+v", out, gotObj)
		}
		if !bytes.Equal(gotBody, zipBytes) {
			t.Fatalf("stored %q", gotBody)
		}
		if gotObj.Metadata["job-id"] != "9" || gotObj.Metadata["event-types"] != "FileAccessed" || gotObj.Metadata["email"] != "a@b.co" {
			t.Fatalf("metadata %v", gotObj.Metadata)
		}
	})
	t.Run("a body that is not a ZIP is refused before upload", func(t *testing.T) {
		st := &fakeStore{put: func(upload.Object, io.Reader) (upload.Result, error) {
			t.Fatal("nothing may be uploaded")
			return upload.Result{}, nil
		}}
		api := &fakeAPI{File: func(string) (*avepoint.Report, error) {
			return report(strings.NewReader("<html>error</html>"), -1), nil
		}}
		s := &Storer{API: api, Store: st, Prefix: "r", Log: quiet, Now: fixedNow(testNow)}
		_, err := s.Handle(context.Background(), finishedJob())
		if errorName(err) != "CorruptReportError" {
			t.Fatalf("err = %v (%s)", err, errorName(err))
		}
	})
	t.Run("a cut download is transient even though the upload failed", func(t *testing.T) {
		st := &fakeStore{put: func(o upload.Object, r io.Reader) (upload.Result, error) {
			_, err := io.ReadAll(r)
			// The real Store wraps the body's error (StorageError.Unwrap).
			return upload.Result{}, errors.Join(&failure.StorageError{Op: failure.OpRead, Bucket: "b", Key: o.Key, Reason: "upload aborted"}, err)
		}}
		body := io.MultiReader(bytes.NewReader(zipBytes), errReader{&failure.TransientError{Reason: "connection reset"}})
		api := &fakeAPI{File: func(string) (*avepoint.Report, error) { return report(body, 1000), nil }}
		s := &Storer{API: api, Store: st, Prefix: "r", Log: quiet, Now: fixedNow(testNow)}
		_, err := s.Handle(context.Background(), finishedJob())
		if errorName(err) != "TransientError" {
			t.Fatalf("err = %v (%s)", err, errorName(err))
		}
	})
	t.Run("a job that is not finished is refused", func(t *testing.T) {
		j := finishedJob()
		j.Status = "running"
		s := &Storer{API: &fakeAPI{}, Store: &fakeStore{}, Log: quiet, Now: fixedNow(testNow)}
		if _, err := s.Handle(context.Background(), j); errorName(err) != "ValidationError" {
			t.Fatalf("err = %v", err)
		}
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestStorerStopsBeforeTheInvocationDeadline(t *testing.T) {
	var gotDeadline time.Time
	st := &fakeStore{put: func(o upload.Object, r io.Reader) (upload.Result, error) {
		return upload.Result{Bucket: "b", Key: o.Key, Bytes: 4}, nil
	}}
	api := &fakeAPI{File: func(string) (*avepoint.Report, error) {
		return report(strings.NewReader("PK\x03\x04"), 4), nil
	}}
	s := &Storer{API: deadlineSpy{api, &gotDeadline}, Store: st, Prefix: "r", Log: quiet, Now: fixedNow(testNow)}
	lambdaDeadline := time.Now().Add(time.Minute)
	ctx, cancel := context.WithDeadline(context.Background(), lambdaDeadline)
	defer cancel()
	if _, err := s.Handle(ctx, finishedJob()); err != nil {
		t.Fatal(err)
	}
	if want := lambdaDeadline.Add(-uploadAbortMargin); !gotDeadline.Equal(want) {
		t.Fatalf("transfer deadline %v, want %v", gotDeadline, want)
	}
}

type deadlineSpy struct {
	*fakeAPI
	got *time.Time
}

func (d deadlineSpy) ExportFile(ctx context.Context, id string) (*avepoint.Report, error) {
	*d.got, _ = ctx.Deadline()
	return d.fakeAPI.ExportFile(ctx, id)
}
