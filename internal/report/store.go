package report

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage/upload"
)

// Interfaces the store step needs, declared here where they are used.
type (
	reportOpener interface {
		ExportFile(ctx context.Context, jobID string) (*avepoint.Report, error)
	}
	reportPutter interface {
		Put(ctx context.Context, obj upload.Object, body io.Reader) (upload.Result, error)
	}
)

// uploadAbortMargin is the time left for aborting a multipart upload when
// the invocation runs out of time.
const uploadAbortMargin = 10 * time.Second

// Storer streams the finished job's report into S3.
type Storer struct {
	API    reportOpener
	Store  reportPutter
	Prefix string
	Log    *slog.Logger
	Now    func() time.Time
}

// Handle is the store-report function's handler.
func (s *Storer) Handle(ctx context.Context, job request.Job) (request.ExportOutput, error) {
	if job.JobID == "" || job.Request.Email == "" || job.Request.FinishTime == "" {
		return request.ExportOutput{}, &failure.ValidationError{Field: "jobId", Reason: "store step needs the check step's output (request, jobId)"}
	}
	if job.Status != string(avepoint.JobFinished) {
		return request.ExportOutput{}, &failure.ValidationError{Field: "status", Reason: fmt.Sprintf("job %s is %q, not finished", job.JobID, job.Status)}
	}
	// Stop the transfer a little before the invocation's deadline: a
	// function killed mid-upload cannot abort its multipart upload, one that
	// gives up in time can.
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-uploadAbortMargin))
		defer cancel()
	}
	rep, err := s.API.ExportFile(ctx, job.JobID)
	if err != nil {
		s.Log.ErrorContext(ctx, "report not available", "jobId", job.JobID, "error", err.Error())
		return request.ExportOutput{}, err
	}
	defer rep.Body.Close()
	body, err := zipStream(rep.Body)
	if err != nil {
		s.Log.ErrorContext(ctx, "report is not a ZIP", "jobId", job.JobID, "error", err.Error())
		return request.ExportOutput{}, err
	}
	// Verified while it streams: a short or corrupt report fails the read
	// that would have ended it, so the upload is aborted, never completed.
	verified := verifyReport(body, rep.ContentLength)
	defer verified.Close()
	q := job.Request
	key := request.ObjectKey(s.Prefix, q)
	res, err := s.Store.Put(ctx, upload.Object{
		Key:         key,
		ContentType: "application/zip",
		Metadata: map[string]string{
			"email":       q.Email,
			"start-time":  q.StartTime,
			"finish-time": q.FinishTime,
			"event-types": strings.Join(q.EventTypes, ","),
			"job-id":      job.JobID,
		},
	}, verified)
	if err != nil {
		msg := "report not stored"
		if errors.As(err, new(*failure.CorruptReportError)) {
			msg = "report is not a valid ZIP archive; nothing stored"
		}
		// A StorageError names the object key, which holds the email; the
		// runtime logs the returned error too. Both say whose report it
		// was by reference only.
		err = withoutEmail(err, key, q.Email)
		s.Log.ErrorContext(ctx, msg, "user", request.UserRef(q.Email), "jobId", job.JobID, "error", err.Error())
		return request.ExportOutput{}, err
	}
	// The key holds the email, so it is logged at debug level only.
	s.Log.InfoContext(ctx, "report stored", "user", request.UserRef(q.Email), "jobId", job.JobID, "bucket", res.Bucket, "bytes", res.Bytes)
	s.Log.DebugContext(ctx, "report location", "key", key)
	return request.ExportOutput{
		Bucket:      res.Bucket,
		Key:         res.Key,
		JobID:       job.JobID,
		Bytes:       res.Bytes,
		SHA256:      res.SHA256,
		Email:       q.Email,
		StartTime:   q.StartTime,
		FinishTime:  q.FinishTime,
		EventTypes:  q.EventTypes,
		ContentType: "application/zip",
		VersionID:   res.VersionID,
		StoredAt:    s.Now().UTC().Format(time.RFC3339),

		WithException: job.WithException,
	}, nil
}

// zipStream checks the report starts like a ZIP archive before a single
// byte goes to S3, without buffering more than the first few bytes: an
// HTML error page or an empty body must fail loudly, not land as a report.
func zipStream(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, &failure.TransientError{Reason: "report download failed before the first bytes"}
	}
	if !bytes.Equal(head, []byte("PK\x03\x04")) && !bytes.Equal(head, []byte("PK\x05\x06")) {
		return nil, &failure.CorruptReportError{Reason: fmt.Sprintf("report does not start with a ZIP signature (first bytes %q)", head)}
	}
	return br, nil
}
