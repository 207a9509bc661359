// Package userlist reads a batch run's user list (usersFrom, and the list
// the allUsers discovery writes) as a stream: a JSON array of strings, a
// CSV with a header naming the user column, or one user principal name a
// line. Every user is checked like the input's emails
// (request.ValidateEmail) and a repeat is refused, so a list that reads
// is a list the run can export. No AWS SDK: the caller opens the object.
//
// Errors about the list are *failure.ValidationError with Field "usersFrom"
// (Reader.Field changes it) whose reason names the line (or the JSON
// array's entry) and what is wrong with it, never the value: a list is
// people's addresses, and the error becomes a log line and a Step
// Functions cause. Anything else Next returns is the underlying reader's
// error (S3 went away mid-read), which the caller reports as such.
package userlist

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
)

// Limits of a list. MaxUsers is what one run is measured at (twice the
// 100,000 users BENCHMARKS.md times); MaxBytes leaves room for a CSV with
// many other columns (an Entra ID export has about 30).
const (
	MaxBytes = 64 << 20
	MaxUsers = 200_000
	// MaxLineBytes bounds a line of a list with one user a line: a user
	// principal name is at most request.MaxEmailLen.
	MaxLineBytes = 4 << 10
	// maxHeaderBytes bounds the first line looked at to tell the format.
	maxHeaderBytes = 64 << 10
)

// Format is how a list is written.
type Format string

const (
	JSON  Format = "json"  // a JSON array of strings
	CSV   Format = "csv"   // a header line naming the user column, then records
	Lines Format = "lines" // one user principal name a line
)

// Columns are the CSV header names of the user column, in the order one
// is chosen when a header has several (a UPN wins over an email address,
// which can be an alias). Matched case-insensitively, spaces trimmed.
var Columns = []string{"upn", "userPrincipalName", "loginName", "email"}

// User is one user of the list: the validated, lower-cased user principal
// name and where it was (see Position).
type User struct {
	UPN string
	// Line is the line the user is on (CSV, lines: counted from 1), or
	// the entry's index in a JSON array (counted from 0).
	Line int
}

// Reader reads a list. Make one with NewReader; call Next until it returns
// io.EOF.
type Reader struct {
	// Field names the list in errors (default "usersFrom").
	Field string

	src     *limited
	br      *bufio.Reader
	started bool
	format  Format
	err     error // sticky

	next func() (User, error)
	seen map[string]int
	n    int

	// the format's state
	csv    *csv.Reader
	col    int
	colFor string
	dec    *json.Decoder
	line   int // lines: the last line read; JSON: the next entry's index
	// headLine is the first non-blank line of a list of lines: where a
	// header the reader did not take for one would be.
	headLine int
}

// NewReader reads the list r holds. It reads at most MaxBytes of it.
func NewReader(r io.Reader) *Reader {
	src := &limited{r: r, left: MaxBytes}
	return &Reader{Field: "usersFrom", src: src, br: bufio.NewReaderSize(src, maxHeaderBytes), seen: map[string]int{}}
}

// Format is the list's format, known after the first call to Next.
func (r *Reader) Format() Format { return r.format }

// Count is the number of users read so far.
func (r *Reader) Count() int { return r.n }

// Next returns the next user. At the end of a list that had users it
// returns io.EOF; a list without any is a ValidationError.
func (r *Reader) Next() (User, error) {
	if r.err != nil {
		return User{}, r.err
	}
	if !r.started {
		r.started = true
		if err := r.detect(); err != nil {
			if err == io.EOF { // a CSV of blank rows
				err = r.bad("lists no users")
			}
			r.err = r.fail(err)
			return User{}, r.err
		}
	}
	u, err := r.next()
	switch {
	case err == io.EOF && r.n == 0:
		err = r.bad("lists no users")
	case err == nil && r.n == MaxUsers:
		err = r.bad(fmt.Sprintf("has more than %d users (%s); split it into several runs", MaxUsers, r.position(u.Line)))
	case err == nil:
		err = r.unique(u)
	}
	if err != nil {
		r.err = r.fail(err)
		return User{}, r.err
	}
	r.n++
	return u, nil
}

// ReadAll reads every user of the list in order.
func ReadAll(r *Reader) ([]string, error) {
	var out []string
	for {
		u, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, u.UPN)
	}
}

// errTooLarge is limited's error past MaxBytes; fail turns it into the
// ValidationError.
var errTooLarge = errors.New("userlist: list too large")

// fail maps the reader's own size error, wherever a parser wrapped it.
func (r *Reader) fail(err error) error {
	if errors.Is(err, errTooLarge) {
		return r.bad(fmt.Sprintf("is larger than %d MiB", MaxBytes>>20))
	}
	return err
}

func (r *Reader) bad(reason string) error {
	return &failure.ValidationError{Field: r.Field, Reason: reason}
}

// position names where a user is, as people count: lines from 1, JSON
// entries by index.
func (r *Reader) position(line int) string {
	if r.format == JSON {
		return fmt.Sprintf("entry [%d] of the JSON array", line)
	}
	return fmt.Sprintf("line %d", line)
}

func (r *Reader) short(what string, line int) string {
	if r.format == JSON {
		return fmt.Sprintf("%s [%d]", what, line)
	}
	return fmt.Sprintf("%s %d", what, line)
}

// unique refuses the second spelling of a user principal name (they are
// lower-cased by then: UPNs are case-insensitive).
func (r *Reader) unique(u User) error {
	if first, dup := r.seen[u.UPN]; dup {
		again := "line"
		if r.format == JSON {
			again = "entry"
		}
		return r.bad(fmt.Sprintf("%s repeats %s (user principal names are case-insensitive)", r.position(u.Line), r.short(again, first)))
	}
	r.seen[u.UPN] = u.Line
	return nil
}

// check validates one value found at line; the reason is ValidateEmail's,
// which never quotes the value (at most one character of it).
func (r *Reader) check(v string, line int) (User, error) {
	upn, err := request.ValidateEmail(v)
	if err != nil {
		var ve *failure.ValidationError
		reason := "is not a user principal name"
		if errors.As(err, &ve) {
			reason = ve.Reason
		}
		where := r.position(line)
		if r.format == CSV {
			where += " (column " + r.colFor + ")"
		}
		if r.format == Lines && line == r.headLine {
			// The likeliest cause on the first line: a CSV header the
			// reader did not recognize.
			reason += "; a CSV list needs a header line with a column named upn, email or loginName"
		}
		return User{}, r.bad(where + ": " + reason)
	}
	return User{UPN: upn, Line: line}, nil
}

// detect reads past a byte-order mark, looks at the first non-blank line
// and sets up the parser of the format it shows.
func (r *Reader) detect() error {
	head, err := r.br.Peek(4)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return err
	}
	switch {
	case bytes.HasPrefix(head, []byte("\xef\xbb\xbf")):
		_, _ = r.br.Discard(3)
	case bytes.HasPrefix(head, []byte("\xff\xfe")) || bytes.HasPrefix(head, []byte("\xfe\xff")):
		return r.bad("is UTF-16; save it as UTF-8 (in Excel: CSV UTF-8)")
	}
	// The first line, as far as the buffer holds it.
	buf, err := r.br.Peek(maxHeaderBytes)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return err
	}
	line, skipped := firstLine(buf)
	trimmed := bytes.TrimSpace(line)
	switch {
	case len(trimmed) == 0:
		return r.bad("lists no users")
	case trimmed[0] == '{':
		return r.bad("is a JSON object; give a JSON array of strings, a CSV or one user a line")
	case trimmed[0] == '[':
		r.format = JSON
		r.dec = json.NewDecoder(r.br)
		r.next = r.nextJSON
		return r.openJSON()
	}
	comma, ok := csvHeader(trimmed)
	if !ok {
		r.format, r.next, r.headLine = Lines, r.nextLine, skipped+1
		return nil
	}
	r.format = CSV
	r.csv = csv.NewReader(r.br)
	r.csv.Comma = comma
	r.csv.FieldsPerRecord = -1 // rows of Excel exports differ in length; the user column is checked per row
	r.csv.ReuseRecord = true
	r.csv.TrimLeadingSpace = true
	for {
		header, err := r.csv.Read()
		if err != nil {
			return r.csvError(err)
		}
		if !blank(header) { // encoding/csv skips empty lines, not lines of spaces
			line, _ := r.csv.FieldPos(0)
			return r.pickColumn(header, line)
		}
	}
}

// firstLine returns the first line of buf that is not blank, and how many
// lines came before it.
func firstLine(buf []byte) (line []byte, skipped int) {
	for len(buf) > 0 {
		l, after, _ := bytes.Cut(buf, []byte("\n"))
		if len(bytes.TrimSpace(l)) > 0 {
			return l, skipped
		}
		buf = after
		skipped++
	}
	return nil, skipped
}

// csvHeader tells whether line is a CSV header and with which separator:
// a line with a comma, semicolon (Excel in many locales) or tab, none of
// which a user principal name may hold, or a line that is just one of
// Columns.
func csvHeader(line []byte) (rune, bool) {
	best, n := ',', 0
	for _, c := range []rune{',', ';', '\t'} {
		if k := bytes.Count(line, []byte(string(c))); k > n {
			best, n = c, k
		}
	}
	if n > 0 {
		return best, true
	}
	name := strings.Trim(strings.TrimSpace(string(line)), `"`)
	for _, c := range Columns {
		if strings.EqualFold(name, c) {
			return ',', true
		}
	}
	return 0, false
}

// pickColumn finds the user column of the header (on line).
func (r *Reader) pickColumn(header []string, line int) error {
	r.col = -1
	for _, want := range Columns {
		for i, h := range header {
			if !strings.EqualFold(strings.TrimSpace(h), want) {
				continue
			}
			if r.col >= 0 && r.colFor == want {
				return r.bad(fmt.Sprintf("line %d: the header has two %s columns", line, want))
			}
			if r.col < 0 {
				r.col, r.colFor = i, want
			}
		}
		if r.col >= 0 {
			break
		}
	}
	if r.col < 0 {
		return r.bad(fmt.Sprintf("line %d looks like a CSV header (%d columns) but none is named upn, email or loginName", line, len(header)))
	}
	r.next = r.nextCSV
	return nil
}

func (r *Reader) nextCSV() (User, error) {
	for {
		rec, err := r.csv.Read()
		if err != nil {
			if err == io.EOF {
				return User{}, io.EOF
			}
			return User{}, r.csvError(err)
		}
		line, _ := r.csv.FieldPos(0)
		if blank(rec) {
			continue // a row Excel left with only separators
		}
		if r.col >= len(rec) {
			return User{}, r.bad(fmt.Sprintf("line %d has %d fields, no %s column", line, len(rec), r.colFor))
		}
		line, _ = r.csv.FieldPos(r.col)
		v := strings.TrimSpace(rec[r.col])
		if v == "" {
			return User{}, r.bad(fmt.Sprintf("line %d: the %s column is empty", line, r.colFor))
		}
		return r.check(v, line)
	}
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// csvError reports a record encoding/csv could not read by its line and
// what was wrong, not by its text. Any other error is the source's.
func (r *Reader) csvError(err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	what := "is not well-formed CSV"
	switch {
	case errors.Is(pe.Err, csv.ErrQuote):
		what = `has a quote in a field that is not quoted, or a quoted field that is never closed`
	case errors.Is(pe.Err, csv.ErrBareQuote):
		what = `has a bare quote in a quoted field (write it twice)`
	}
	return r.bad(fmt.Sprintf("line %d %s (RFC 4180)", pe.StartLine, what))
}

// openJSON reads the array's opening bracket.
func (r *Reader) openJSON() error {
	tok, err := r.dec.Token()
	if err != nil {
		return r.jsonError(err, -1)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return r.bad("is not a JSON array of strings")
	}
	return nil
}

func (r *Reader) nextJSON() (User, error) {
	i := r.line
	if !r.dec.More() {
		if _, err := r.dec.Token(); err != nil { // the closing bracket
			return User{}, r.jsonError(err, i-1)
		}
		if _, err := r.dec.Token(); err != io.EOF {
			if err != nil && !isJSONSyntax(err) {
				return User{}, r.fail(err)
			}
			return User{}, r.bad("has something after the JSON array")
		}
		return User{}, io.EOF
	}
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		return User{}, r.jsonError(err, i-1)
	}
	r.line++
	var v string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
		return User{}, r.bad(fmt.Sprintf("entry [%d] of the JSON array is not a string", i))
	}
	return r.check(strings.TrimSpace(v), i)
}

// jsonError reports a malformed array by the last good entry (after, -1
// for none), not by its text.
func (r *Reader) jsonError(err error, after int) error {
	if errors.Is(err, errTooLarge) {
		return err
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) || isJSONSyntax(err) {
		where := "at its start"
		if after >= 0 {
			where = fmt.Sprintf("after entry [%d]", after)
		}
		return r.bad("is not a well-formed JSON array " + where)
	}
	return err
}

func isJSONSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) || err == io.ErrUnexpectedEOF
}

func (r *Reader) nextLine() (User, error) {
	for {
		b, err := r.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull || (len(b) > MaxLineBytes) {
			return User{}, r.bad(fmt.Sprintf("line %d is longer than %d bytes", r.line+1, MaxLineBytes))
		}
		if err != nil && err != io.EOF {
			return User{}, err
		}
		if len(b) == 0 && err == io.EOF {
			return User{}, io.EOF
		}
		r.line++
		v := strings.TrimSpace(string(b))
		if v == "" {
			if err == io.EOF {
				return User{}, io.EOF
			}
			continue
		}
		return r.check(v, r.line)
	}
}

// limited is io.LimitReader that says when the source had more: a list
// must not be cut silently at MaxBytes.
type limited struct {
	r    io.Reader
	left int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a list of exactly MaxBytes from a longer one.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, errTooLarge
		}
		if err == nil {
			return 0, nil
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
