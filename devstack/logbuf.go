package devstack

import (
	"bytes"
	"io"
	"sync"
)

// logBuffer collects a process's stdout and stderr as whole lines. The two
// pipes are copied by separate goroutines in chunks that need not end on a
// line boundary; writing only complete lines keeps each line intact, so a
// log scanner (e.g. a secret detector) never sees a line split and
// interleaved with another.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	streams []*lineStream
}

func newLogBuffer() *logBuffer { return &logBuffer{} }

// stream returns a writer for one output stream; extra, if not nil, also
// receives every byte as it arrives.
func (b *logBuffer) stream(extra io.Writer) io.Writer {
	s := &lineStream{buf: b, extra: extra}
	b.mu.Lock()
	b.streams = append(b.streams, s)
	b.mu.Unlock()
	return s
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// flush appends any unterminated last line of each stream (process exit).
func (b *logBuffer) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.streams {
		if len(s.partial) > 0 {
			b.buf.Write(s.partial)
			b.buf.WriteByte('\n')
			s.partial = nil
		}
	}
}

type lineStream struct {
	buf     *logBuffer
	extra   io.Writer
	partial []byte // guarded by buf.mu
}

func (s *lineStream) Write(p []byte) (int, error) {
	if s.extra != nil {
		// A failing extra writer must not break log capture or the process.
		_, _ = s.extra.Write(p)
	}
	s.buf.mu.Lock()
	defer s.buf.mu.Unlock()
	s.partial = append(s.partial, p...)
	if i := bytes.LastIndexByte(s.partial, '\n'); i >= 0 {
		s.buf.buf.Write(s.partial[:i+1])
		s.partial = append([]byte(nil), s.partial[i+1:]...)
	}
	return len(p), nil
}
