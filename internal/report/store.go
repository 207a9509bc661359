package report

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/metrics"
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
	// Metrics gets ReportsStored and ReportBytes per stored report (nil:
	// none).
	Metrics *metrics.Emitter
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
		Metadata:    reportMetadata(q, job.JobID),
	}, verified)
	if err != nil {
		msg := "report not stored"
		if errors.As(err, new(*failure.CorruptReportError)) {
			msg = "report is not a valid ZIP archive; nothing stored"
		}
		// The store names the key by reference already (upload.Store);
		// this is the second line, for whatever else Put may return: the
		// log line and the returned error (the cause, and the runtime's
		// own log line) say whose report it was by reference only.
		err = withoutEmail(err, key, q.Email)
		s.Log.ErrorContext(ctx, msg, "user", request.UserRef(q.Email), "jobId", job.JobID, "error", scrub(err.Error(), key, q.Email))
		return request.ExportOutput{}, err
	}
	// The key holds the email, so it is logged at debug level only.
	s.Log.InfoContext(ctx, "report stored", "user", request.UserRef(q.Email), "jobId", job.JobID, "bucket", res.Bucket, "bytes", res.Bytes)
	s.Log.DebugContext(ctx, "report location", "key", key)
	s.Metrics.Emit(ctx,
		metrics.Metric{Name: metrics.ReportsStored, Unit: metrics.Count, Value: 1},
		metrics.Metric{Name: metrics.ReportBytes, Unit: metrics.Bytes, Value: float64(res.Bytes)})
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

// S3 refuses an object whose user-defined metadata is over 2 KB: the
// UTF-8 bytes of every name (as x-amz-meta-<name>) and value. moto does
// not enforce it.
const (
	maxMetadataBytes = 2 << 10
	metadataPrefix   = "x-amz-meta-"
	// maxEventTypesMeta is the longest event filter written out; 50 types
	// of 64 characters would be 3,249 bytes.
	maxEventTypesMeta = 1 << 10
	// maxJobIDMeta bounds the job id, which is AvePoint's to choose.
	maxJobIDMeta = 128
)

// reportMetadata is what the report object says about its query. Every
// accepted query fits S3's limit (maxMetadataBytes): the address is at most
// request.MaxEmailLen bytes, the times 19 each, and a filter longer than
// maxEventTypesMeta is written as request.EventsDigest, the spelling a key
// uses for a long filter (no event type has the '-' in it). A job id that
// is long or not printable ASCII (a header value must be) is written as
// its digest too. Total at most 98 + 256 + 38 + 1,024 + 128 bytes.
func reportMetadata(q request.Query, jobID string) map[string]string {
	events := strings.Join(q.EventTypes, ",")
	if len(events) > maxEventTypesMeta {
		events = request.EventsDigest(q.EventTypes)
	}
	if len(jobID) > maxJobIDMeta || strings.ContainsFunc(jobID, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		sum := sha256.Sum256([]byte(jobID))
		jobID = "sha256-" + hex.EncodeToString(sum[:8])
	}
	return map[string]string{
		"email":       q.Email,
		"start-time":  q.StartTime,
		"finish-time": q.FinishTime,
		"event-types": events,
		"job-id":      jobID,
	}
}

// metadataBytes is the size S3 counts against maxMetadataBytes.
func metadataBytes(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(metadataPrefix) + len(k) + len(v)
	}
	return n
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
