package zipcheck

import (
	"errors"
	"io"
	"iter"
)

// Reader passes an archive through unchanged while Verify checks it. It
// never returns io.EOF for an archive that is not valid: the last Read
// returns the *Error instead, so a consumer that commits on EOF (a
// multipart upload completing) never commits a corrupt archive. Read
// errors of the source come back unchanged.
//
// Verify runs as a coroutine (iter.Pull) fed with the bytes each Read
// hands out, before that Read returns: memory stays at its buffers, and
// the hand-off is a coroutine switch rather than a pipe between two
// goroutines, which cost a channel round trip and often a futex wake-up
// per TLS record (~0.1 CPU-s per GiB in the store step's profile). Call
// Close when stopping before EOF. A Reader is not safe for concurrent use.
type Reader struct {
	src  io.Reader
	next func() (struct{}, bool)
	stop func()

	// What the verifier reads: feed first, then feedErr (nil: ask for
	// more by yielding to Read).
	feed    []byte
	feedErr error
	yield   func(struct{}) bool
	stopped bool // yield returned false: Close was called

	// Set by the verifier before it returns.
	finished bool
	sum      Summary
	result   error

	err error // sticky: what every Read returns once the stream has ended
}

var errClosed = errors.New("zipcheck: reader closed")

// NewReader starts verifying src as it is read through the returned Reader.
func NewReader(src io.Reader) *Reader {
	r := &Reader{src: src}
	r.next, r.stop = iter.Pull(func(yield func(struct{}) bool) {
		r.yield = yield
		r.sum, r.result = Verify(feedReader{r})
		r.finished = true
	})
	return r
}

// feedReader is the verifier's side: the bytes of the Read in progress,
// then, once they are consumed, control back to Read until the next one.
type feedReader struct{ r *Reader }

func (f feedReader) Read(p []byte) (int, error) {
	r := f.r
	for len(r.feed) == 0 {
		switch {
		case r.feedErr != nil:
			return 0, r.feedErr
		case r.stopped:
			return 0, errClosed
		}
		if !r.yield(struct{}{}) {
			r.stopped = true
		}
	}
	n := copy(p, r.feed)
	r.feed = r.feed[n:]
	return n, nil
}

// run lets the verifier consume what Read fed it: it returns once the
// verifier wants more or has returned.
func (r *Reader) run() {
	if !r.finished {
		r.next()
	}
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.finished {
		// The verifier stops early only on a verdict: it reads to EOF
		// otherwise, and EOF has not been handed to it yet.
		r.err = r.verdict()
		return 0, r.err
	}
	n, err := r.src.Read(p)
	r.feed, r.feedErr = p[:n], err
	if errors.Is(err, io.EOF) {
		r.feedErr = io.EOF // the end, however the source spells it
	}
	if n > 0 || err != nil {
		r.run()
	}
	left := len(r.feed)
	r.feed = nil // p is the caller's again
	if left > 0 {
		// The verifier returned before taking all of it: its verdict.
		r.err = r.verdict()
		return 0, r.err
	}
	switch {
	case err == nil:
		r.feedErr = nil
		return n, nil
	case errors.Is(err, io.EOF):
		if r.result != nil {
			r.err = r.result
			return n, r.err
		}
		r.err = io.EOF
		return n, io.EOF
	default:
		// The source failed: the transport, not the archive, is at fault.
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
	r.stop()
	if r.err == nil {
		r.err = errClosed
	}
	return nil
}
