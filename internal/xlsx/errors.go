package xlsx

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error reports a file that is not a readable workbook: not a ZIP archive, a
// missing or malformed part, a value that breaks the format's rules, or a
// size past one of the package's limits.
//
// Reasons name positions (part, row, column) and never quote cell content,
// which may hold personal data; both fields are bounded and valid UTF-8.
type Error struct {
	Part   string // the part at fault ("xl/worksheets/sheet1.xml"); "" for the archive as a whole
	Reason string // what is wrong
	Err    error  // the underlying error (archive/zip, compress/flate), if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("xlsx: ")
	if e.Part != "" {
		b.WriteString(e.Part)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(bounded(e.Err.Error(), maxErrText))
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

const (
	maxPartText = 128 // bytes of a part name kept in an error
	maxErrText  = 200 // bytes of an underlying error's text kept
)

// bounded returns s as valid UTF-8 of at most n bytes (cut at a rune
// boundary, "…" marking the cut).
func bounded(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func newError(part, format string, args ...any) *Error {
	return &Error{Part: bounded(part, maxPartText), Reason: fmt.Sprintf(format, args...)}
}

func wrapError(part, reason string, err error) error {
	// A failure of the caller's io.ReaderAt is theirs (a broken download, a
	// failed range read), not a broken workbook: it is returned as is, so the
	// caller can tell a transport error from a corrupt report.
	var re *readError
	if errors.As(err, &re) {
		return re.err
	}
	var xe *Error
	if errors.As(err, &xe) {
		return xe // already says what is wrong (a size limit)
	}
	return &Error{Part: bounded(part, maxPartText), Reason: reason, Err: err}
}

// readError marks an error of the caller's io.ReaderAt as it passes through
// archive/zip and compress/flate (both hand such errors on unchanged).
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }
