package report

import (
	"errors"
	"fmt"
	"io"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/zipcheck"
)

// verifiedReport is the report on its way to S3. It fails the read that
// would have ended the stream when the report is shorter or longer than
// AvePoint announced (TransientError: download it again) or is not a
// valid ZIP archive (failure.CorruptReportError: AvePoint built a broken report).
// Either way the upload sees an error instead of EOF and aborts, so a
// damaged report never becomes an object. The archive is checked as it
// streams (zipcheck): memory stays at a few buffers whatever its size.
type verifiedReport struct {
	zr *zipcheck.Reader
}

func verifyReport(body io.Reader, contentLength int64) *verifiedReport {
	return &verifiedReport{zr: zipcheck.NewReader(&lengthChecked{r: body, want: contentLength})}
}

func (v *verifiedReport) Read(p []byte) (int, error) {
	n, err := v.zr.Read(p)
	var ze *zipcheck.Error
	if errors.As(err, &ze) {
		return n, &failure.CorruptReportError{Reason: ze.Error()}
	}
	return n, err
}

// Close stops the verifier; it does not close the body.
func (v *verifiedReport) Close() error { return v.zr.Close() }

// lengthChecked turns a body that ends before (or runs past) its
// Content-Length into a TransientError. net/http already reports a short
// body as io.ErrUnexpectedEOF; this guards any transport that does not.
type lengthChecked struct {
	r    io.Reader
	want int64 // -1: unknown
	n    int64
}

func (l *lengthChecked) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	switch {
	case l.want < 0:
	case l.n > l.want:
		return n, &failure.TransientError{Reason: fmt.Sprintf("report runs past the %d bytes AvePoint announced", l.want)}
	case err == io.EOF && l.n != l.want:
		return n, &failure.TransientError{Reason: fmt.Sprintf("report ended after %d of the %d bytes AvePoint announced", l.n, l.want)}
	}
	return n, err
}

// withoutEmail returns err, when it is a StorageError, with its key and
// text naming the user by request.UserRef only. Its message becomes the
// Step Functions Cause and a runtime log line.
func withoutEmail(err error, key, email string) error {
	se, ok := err.(*failure.StorageError) // as Store.Put returns it
	if !ok {
		return err
	}
	cp := *se // keeps the cause for Unwrap
	cp.Key = request.RedactKey(se.Key)
	cp.Reason = scrub(se.Reason, key, email)
	return &cp
}

// scrub removes key and email from text in every encoding.
func scrub(text, key, email string) string {
	return request.Redact(request.ScrubKey(text, key), email, request.UserRef(email))
}
