package export

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
)

// Interfaces the handlers need, declared here where they are used.
type (
	exportStarter interface {
		StartExport(ctx context.Context, req avepoint.ExportRequest) (string, error)
	}
	statusReader interface {
		JobStatus(ctx context.Context, jobID string) (avepoint.JobStatus, error)
	}
	reportOpener interface {
		ExportFile(ctx context.Context, jobID string) (*avepoint.Report, error)
	}
	reportPutter interface {
		Put(ctx context.Context, obj storage.Object, body io.Reader) (storage.Result, error)
	}
)

// Starter validates the execution input and starts the AvePoint export.
type Starter struct {
	API    exportStarter
	Policy request.WaitPolicy
	Log    *slog.Logger
	Now    func() time.Time
}

// Handle is the start-export function's handler. It takes the raw input so
// that unknown fields and wrong types are refused, not silently dropped.
func (s *Starter) Handle(ctx context.Context, raw json.RawMessage) (request.Job, error) {
	now := s.Now().UTC()
	q, err := request.ParseRequest(raw, now)
	if err != nil {
		s.Log.WarnContext(ctx, "execution input refused", "error", err.Error())
		return request.Job{}, failure.ForLambda(err)
	}
	start, finish := q.Window()
	jobID, err := s.API.StartExport(ctx, avepoint.ExportRequest{Email: q.Email, Start: start, Finish: finish, EventTypes: q.EventTypes})
	if err != nil {
		s.Log.ErrorContext(ctx, "export not started", "user", request.UserRef(q.Email), "error", err.Error())
		return request.Job{}, failure.ForLambda(err)
	}
	s.Log.InfoContext(ctx, "export started", "user", request.UserRef(q.Email), "jobId", jobID,
		"startTime", q.StartTime, "finishTime", q.FinishTime, "eventTypes", len(q.EventTypes))
	return request.Job{
		Request: q,
		JobID:           jobID,
		StartedAt:       now,
		Status:          string(avepoint.JobRunning),
		WaitSeconds:     int(s.Policy.Next(0) / time.Second),
	}, nil
}

// Checker polls the job once and says how long to wait before the next poll.
type Checker struct {
	API    statusReader
	Policy request.WaitPolicy
	Log    *slog.Logger
	Now    func() time.Time
}

// Handle is the check-job function's handler. A running job comes back
// with its next wait; a failed one, or one past the deadline, as an error
// whose type names it (JobFailedError, failure.JobDeadlineExceededError).
func (c *Checker) Handle(ctx context.Context, job request.Job) (request.Job, error) {
	if job.JobID == "" || job.StartedAt.IsZero() {
		return job, &failure.ValidationError{Field: "jobId", Reason: "check step needs the start step's output (jobId, startedAt)"}
	}
	st, err := c.API.JobStatus(ctx, job.JobID)
	if err != nil {
		c.Log.ErrorContext(ctx, "job status unavailable", "jobId", job.JobID, "error", err.Error())
		return job, failure.ForLambda(err)
	}
	age := c.Now().Sub(job.StartedAt)
	job.Polls++
	job.JobStatus = st.Code
	job.Message = st.Message
	job.Status = string(st.State)
	log := c.Log.With("jobId", job.JobID, "jobStatus", st.Code, "polls", job.Polls, "ageSeconds", int(age.Seconds()))
	switch st.State {
	case avepoint.JobFinished:
		if st.WithException {
			log.WarnContext(ctx, "job finished with exceptions; the report may be incomplete", "message", st.Message)
		} else {
			log.InfoContext(ctx, "job finished")
		}
		job.WaitSeconds = 0
		return job, nil
	case avepoint.JobFailed:
		log.ErrorContext(ctx, "job failed", "message", st.Message)
		reason := st.Message
		if reason == "" {
			reason = "AvePoint gave no reason"
		}
		return job, &failure.JobFailedError{JobID: job.JobID, JobStatus: st.Code, Reason: reason}
	}
	if age >= c.Policy.Deadline {
		log.ErrorContext(ctx, "job deadline exceeded")
		return job, &failure.JobDeadlineExceededError{JobID: job.JobID, Age: age.Round(time.Second).String(), Deadline: c.Policy.Deadline.String(), Polls: job.Polls}
	}
	job.WaitSeconds = int(c.Policy.Next(age) / time.Second)
	log.InfoContext(ctx, "job running", "nextWaitSeconds", job.WaitSeconds)
	return job, nil
}

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
		return request.ExportOutput{}, failure.ForLambda(err)
	}
	defer rep.Body.Close()
	body, err := zipStream(rep.Body)
	if err != nil {
		s.Log.ErrorContext(ctx, "report is not a ZIP", "jobId", job.JobID, "error", err.Error())
		return request.ExportOutput{}, failure.ForLambda(err)
	}
	// Verified while it streams: a short or corrupt report fails the read
	// that would have ended it, so the upload is aborted, never completed.
	verified := verifyReport(body, rep.ContentLength)
	defer verified.Close()
	q := job.Request
	key := request.ObjectKey(s.Prefix, q)
	res, err := s.Store.Put(ctx, storage.Object{
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
		return request.ExportOutput{}, failure.ForLambda(err)
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
