package zipcheck

import (
	"errors"
	"io"
)

// Reader passes an archive through unchanged while Verify checks it on a
// goroutine of its own. It never returns io.EOF for an archive that is not
// valid: the last Read returns the *Error instead, so a consumer that
// commits on EOF (a multipart upload completing) never commits a corrupt
// archive. Read errors of the source come back unchanged.
//
// The verifier reads the bytes as they are handed out, through a pipe:
// memory stays at its buffers. Call Close when stopping before EOF.
type Reader struct {
	src  io.Reader
	pw   *io.PipeWriter
	done chan struct{}

	// Set by the verifier before done is closed.
	sum    Summary
	result error

	err error // sticky: what every Read returns once the stream has ended
}

var errClosed = errors.New("zipcheck: reader closed")

// NewReader starts verifying src as it is read through the returned Reader.
func NewReader(src io.Reader) *Reader {
	pr, pw := io.Pipe()
	r := &Reader{src: src, pw: pw, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.sum, r.result = Verify(pr)
		// Unblock a Read waiting to hand the verifier more bytes.
		pr.CloseWithError(errClosed)
	}()
	return r
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	select {
	case <-r.done:
		// The verifier stops early only on a verdict: it reads to EOF
		// otherwise, and EOF has not been handed to it yet.
		r.err = r.verdict()
		return 0, r.err
	default:
	}
	n, err := r.src.Read(p)
	if n > 0 {
		if _, werr := r.pw.Write(p[:n]); werr != nil {
			<-r.done
			r.err = r.verdict()
			return 0, r.err
		}
	}
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		_ = r.pw.Close()
		<-r.done
		if r.result != nil {
			r.err = r.result
			return n, r.err
		}
		r.err = io.EOF
		return n, io.EOF
	default:
		// The source failed: the transport, not the archive, is at fault.
		_ = r.pw.CloseWithError(err)
		<-r.done
		r.err = err
		return n, err
	}
}

func (r *Reader) verdict() error {
	if r.result == nil {
		// Cannot happen (see Read); never turn it into a clean EOF.
		return &Error{Reason: "verifier stopped before the end of the archive"}
	}
	return r.result
}

// Summary returns what Verify found, once Read has returned io.EOF.
func (r *Reader) Summary() (Summary, bool) {
	if !errors.Is(r.err, io.EOF) {
		return Summary{}, false
	}
	return r.sum, true
}

// Close stops the verifier. It does not close the source. It is safe to
// call more than once and after EOF.
func (r *Reader) Close() error {
	_ = r.pw.CloseWithError(errClosed)
	<-r.done
	if r.err == nil {
		r.err = errClosed
	}
	return nil
}
