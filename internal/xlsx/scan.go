package xlsx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// scanner is a small pull tokenizer for the XML that OOXML parts are made
// of. It exists because encoding/xml spends most of a sheet's read time on
// allocations and interfaces that a sheet does not need; this one works in a
// fixed buffer, returns tags as slices into it and decodes text straight
// into the caller's buffer.
//
// What it understands: start, end and empty-element tags with quoted
// attributes ('>' inside a quoted value included), character data with the
// five predefined entities and character references, CDATA sections,
// comments, processing instructions, and XML's line-end normalisation
// (CR LF and lone CR read as LF). Element names are matched by local name:
// a prefix (x:row) is dropped, as SpreadsheetML has one namespace per part
// and some writers use a prefix for it. A DOCTYPE is refused (OOXML forbids
// DTDs, and refusing them rules out entity expansion). Tags are limited to
// maxTagBytes; text has no limit here (its reader takes one).
type scanner struct {
	src    io.Reader
	part   string
	buf    []byte
	pos    int   // next unread byte
	end    int   // end of the buffered input
	off    int64 // input bytes before buf[0]
	srcErr error // sticky: the error src returned (io.EOF at the end)

	// The tag most recently returned by next; the slices point into buf and
	// stay valid only until the next call on the scanner.
	name  []byte // local name
	attrs []byte // the attribute text, without the "/" of an empty-element tag
	empty bool   // an empty-element tag (<x/>): no end tag follows

	skipNames []byte // skip's open elements: their names back to back,
	skipEnds  []int  // and where each ends
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokStart
	tokEnd
)

const (
	scanBufSize = 64 << 10
	maxTagBytes = 1 << 20
	maxEntity   = 32 // longest entity or character reference accepted, '&' to ';'
)

func newScanner(src io.Reader, part string) *scanner {
	return newScannerSize(src, part, scanBufSize)
}

// newScannerSize starts with a buffer of n bytes (tests use tiny ones to
// cross every buffer boundary).
func newScannerSize(src io.Reader, part string, n int) *scanner {
	return &scanner{src: src, part: part, buf: make([]byte, max(n, 16))}
}

func (s *scanner) malformed(format string, args ...any) error {
	return newError(s.part, "malformed XML at byte %d: %s", s.off+int64(s.pos), fmt.Sprintf(format, args...))
}

// fill reads more input after keeping buf[pos:end]. It reports false at the
// end of the input, and an error if reading failed.
func (s *scanner) fill() (bool, error) {
	if s.srcErr != nil {
		return false, s.endErr()
	}
	if s.pos > 0 {
		s.off += int64(s.pos)
		s.end = copy(s.buf, s.buf[s.pos:s.end])
		s.pos = 0
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= maxTagBytes {
			return false, newError(s.part, "a tag longer than %d bytes", maxTagBytes)
		}
		nb := make([]byte, min(2*len(s.buf), maxTagBytes))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for tries := 0; ; tries++ {
		n, err := s.src.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.srcErr = err
			if n > 0 {
				return true, nil
			}
			return false, s.endErr()
		}
		if n > 0 {
			return true, nil
		}
		if tries > 100 {
			s.srcErr = io.ErrNoProgress
			return false, s.endErr()
		}
	}
}

func (s *scanner) endErr() error {
	if s.srcErr == io.EOF {
		return nil
	}
	return wrapError(s.part, "cannot read the part", s.srcErr)
}

// ensure makes at least n bytes available at pos, if the input has them.
func (s *scanner) ensure(n int) (bool, error) {
	for s.end-s.pos < n {
		ok, err := s.fill()
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// drain reads the rest of the input and discards it, so the archive's
// CRC-32 of the part is checked even when the parser stops early.
func (s *scanner) drain() error {
	for {
		s.pos = s.end
		ok, err := s.fill()
		if err != nil || !ok {
			return err
		}
	}
}

// next returns the next start or end tag, skipping character data,
// comments, CDATA sections and processing instructions. At the end of the
// input it returns tokEOF.
func (s *scanner) next() (tokKind, error) {
	for {
		i := bytes.IndexByte(s.buf[s.pos:s.end], '<')
		if i < 0 {
			s.pos = s.end
			ok, err := s.fill()
			if err != nil || !ok {
				return tokEOF, err
			}
			continue
		}
		s.pos += i
		if s.end-s.pos < 2 {
			if ok, err := s.ensure(2); err != nil {
				return tokEOF, err
			} else if !ok {
				return tokEOF, s.malformed("unexpected end of input")
			}
		}
		switch s.buf[s.pos+1] {
		case '/':
			return tokEnd, s.endTag()
		case '?', '!':
			if err := s.skipMarkup(); err != nil {
				return tokEOF, err
			}
		default:
			return tokStart, s.startTag()
		}
	}
}

// skipMarkup skips the comment, CDATA section or processing instruction at
// pos.
func (s *scanner) skipMarkup() error {
	if _, err := s.ensure(9); err != nil {
		return err
	}
	rest := s.buf[s.pos:s.end]
	switch {
	case rest[1] == '?':
		return s.skipPast("?>", 2)
	case bytes.HasPrefix(rest, []byte("<!--")):
		return s.skipPast("-->", 4)
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		return s.skipPast("]]>", 9)
	case bytes.HasPrefix(rest, []byte("<!DOCTYPE")):
		return newError(s.part, "a DOCTYPE declaration (not allowed in OOXML)")
	}
	return s.malformed("unknown markup after '<!'")
}

// skipPast advances past the first marker found at least from bytes after
// pos.
func (s *scanner) skipPast(marker string, from int) error {
	m := []byte(marker)
	for {
		if s.pos+from <= s.end {
			if i := bytes.Index(s.buf[s.pos+from:s.end], m); i >= 0 {
				s.pos += from + i + len(m)
				return nil
			}
			// Keep the bytes that could start the marker.
			keep := min(len(m)-1, s.end-s.pos-from)
			s.pos = s.end - keep
			from = 0
		}
		ok, err := s.fill()
		if err != nil {
			return err
		}
		if !ok {
			return s.malformed("unterminated comment, CDATA section or processing instruction")
		}
	}
}

// tagLen returns the length of the tag at pos, up to and including its '>',
// skipping quoted attribute values.
func (s *scanner) tagLen() (int, error) {
	j, quote := 1, byte(0)
	for {
		b := s.buf[s.pos:s.end]
		for ; j < len(b); j++ {
			c := b[j]
			if quote != 0 {
				if c == quote {
					quote = 0
				}
				continue
			}
			switch c {
			case '"', '\'':
				quote = c
			case '>':
				return j + 1, nil
			case '<':
				return 0, s.malformed("'<' inside a tag")
			}
		}
		ok, err := s.fill()
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, s.malformed("unterminated tag")
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *scanner) startTag() error {
	n, err := s.tagLen()
	if err != nil {
		return err
	}
	tag := s.buf[s.pos+1 : s.pos+n-1] // between '<' and '>'
	s.pos += n
	s.empty = len(tag) > 0 && tag[len(tag)-1] == '/'
	if s.empty {
		tag = tag[:len(tag)-1]
	}
	k := 0
	for k < len(tag) && !isSpace(tag[k]) {
		k++
	}
	s.name = localName(tag[:k])
	if len(s.name) == 0 {
		return s.malformed("a tag without a name")
	}
	s.attrs = tag[k:]
	return nil
}

func (s *scanner) endTag() error {
	for {
		if i := bytes.IndexByte(s.buf[s.pos:s.end], '>'); i >= 0 {
			name := s.buf[s.pos+2 : s.pos+i]
			for len(name) > 0 && isSpace(name[len(name)-1]) {
				name = name[:len(name)-1]
			}
			name = localName(name)
			if len(name) == 0 {
				return s.malformed("an end tag without a name")
			}
			s.name, s.attrs, s.empty = name, nil, false
			s.pos += i + 1
			return nil
		}
		if s.end-s.pos >= maxTagBytes {
			return newError(s.part, "a tag longer than %d bytes", maxTagBytes)
		}
		ok, err := s.fill()
		if err != nil {
			return err
		}
		if !ok {
			return s.malformed("unterminated end tag")
		}
	}
}

func localName(name []byte) []byte {
	if i := bytes.LastIndexByte(name, ':'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// textStop marks the bytes at which text reading leaves its fast loop.
var textStop = [256]bool{'<': true, '&': true, '\r': true}

// errLimit is text's error when the text passes its limit; the callers
// say which limit that is.
var errLimit = errors.New("xlsx: text past its limit")

// text appends the character data at pos to dst, decoded, up to the next
// tag (which next then returns). CDATA sections are part of the text;
// comments and processing instructions are skipped. It fails with errLimit
// once dst would pass limit bytes.
func (s *scanner) text(dst []byte, limit int) ([]byte, error) {
	for {
		if s.pos == s.end {
			ok, err := s.fill()
			if err != nil {
				return dst, err
			}
			if !ok {
				return dst, nil // the caller's next call reports the early end
			}
		}
		b := s.buf[s.pos:s.end]
		k := 0
		for k < len(b) && !textStop[b[k]] {
			k++
		}
		if len(dst)+k > limit {
			return dst, errLimit
		}
		dst = append(dst, b[:k]...)
		s.pos += k
		if k == len(b) {
			continue
		}
		var err error
		switch b[k] {
		case '<':
			if _, err := s.ensure(9); err != nil {
				return dst, err
			}
			rest := s.buf[s.pos:s.end]
			switch {
			case bytes.HasPrefix(rest, []byte("<![CDATA[")):
				s.pos += 9
				dst, err = s.cdata(dst, limit)
			case bytes.HasPrefix(rest, []byte("<!--")):
				err = s.skipPast("-->", 4)
			case len(rest) > 1 && rest[1] == '?':
				err = s.skipPast("?>", 2)
			default:
				return dst, nil
			}
		case '&':
			dst, err = s.entity(dst)
		case '\r':
			dst = append(dst, '\n')
			s.pos++
			if ok, e := s.ensure(1); e != nil {
				return dst, e
			} else if ok && s.buf[s.pos] == '\n' {
				s.pos++
			}
		}
		if err != nil {
			return dst, err
		}
	}
}

// cdata appends a CDATA section's content (pos just past "<![CDATA[").
func (s *scanner) cdata(dst []byte, limit int) ([]byte, error) {
	for {
		b := s.buf[s.pos:s.end]
		i := bytes.Index(b, []byte("]]>"))
		take, skip := i, 3
		if i < 0 {
			// Hold back what may begin "]]>" or a CR LF pair.
			take, skip = max(len(b)-2, 0), 0
			if take > 0 && b[take-1] == '\r' {
				take-- // its LF may be in the next read
			}
		}
		if len(dst)+take > limit {
			return dst, errLimit
		}
		dst = appendNormalized(dst, b[:take])
		s.pos += take + skip
		if i >= 0 {
			return dst, nil
		}
		ok, err := s.fill()
		if err != nil {
			return dst, err
		}
		if !ok {
			return dst, s.malformed("unterminated CDATA section")
		}
	}
}

// appendNormalized appends b with CR LF and lone CR turned into LF.
func appendNormalized(dst, b []byte) []byte {
	for {
		i := bytes.IndexByte(b, '\r')
		if i < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:i]...)
		dst = append(dst, '\n')
		b = b[i+1:]
		if len(b) > 0 && b[0] == '\n' {
			b = b[1:]
		}
	}
}

// entity decodes the entity or character reference at pos.
func (s *scanner) entity(dst []byte) ([]byte, error) {
	if _, err := s.ensure(maxEntity); err != nil {
		return dst, err
	}
	b := s.buf[s.pos:min(s.end, s.pos+maxEntity)]
	semi := bytes.IndexByte(b, ';')
	if semi < 0 {
		return dst, s.malformed("'&' that starts no entity")
	}
	out, ok := appendEntity(dst, b[1:semi])
	if !ok {
		return dst, s.malformed("unknown entity or invalid character reference")
	}
	s.pos += semi + 1
	return out, nil
}

// appendEntity appends the text of the entity named ent (between '&' and
// ';').
func appendEntity(dst, ent []byte) ([]byte, bool) {
	switch string(ent) {
	case "lt":
		return append(dst, '<'), true
	case "gt":
		return append(dst, '>'), true
	case "amp":
		return append(dst, '&'), true
	case "quot":
		return append(dst, '"'), true
	case "apos":
		return append(dst, '\''), true
	}
	if len(ent) < 2 || ent[0] != '#' {
		return dst, false
	}
	digits, base := ent[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 {
		return dst, false
	}
	var r rune
	for _, c := range digits {
		var d rune
		switch {
		case c >= '0' && c <= '9':
			d = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return dst, false
		}
		r = r*base + d
		if r > utf8.MaxRune {
			return dst, false
		}
	}
	// XML allows no NUL; surrogates are not characters.
	if r == 0 || !utf8.ValidRune(r) {
		return dst, false
	}
	return utf8.AppendRune(dst, r), true
}

// nextAttr splits the first attribute off a: its local name and raw value
// (entities not decoded). ok is false when a holds no more attributes; bad
// reports attribute text that is not name="value". Namespace declarations
// are skipped.
func nextAttr(a []byte) (name, val, rest []byte, ok, bad bool) {
	for {
		i := 0
		for i < len(a) && isSpace(a[i]) {
			i++
		}
		if i == len(a) {
			return nil, nil, nil, false, false
		}
		j := i
		for j < len(a) && a[j] != '=' && !isSpace(a[j]) {
			j++
		}
		full := a[i:j]
		for j < len(a) && isSpace(a[j]) {
			j++
		}
		if j == len(a) || a[j] != '=' || len(full) == 0 {
			return nil, nil, nil, false, true
		}
		j++
		for j < len(a) && isSpace(a[j]) {
			j++
		}
		if j == len(a) || (a[j] != '"' && a[j] != '\'') {
			return nil, nil, nil, false, true
		}
		q := a[j]
		k := bytes.IndexByte(a[j+1:], q)
		if k < 0 {
			return nil, nil, nil, false, true
		}
		val, a = a[j+1:j+1+k], a[j+2+k:]
		if bytes.Equal(full, []byte("xmlns")) || bytes.HasPrefix(full, []byte("xmlns:")) {
			continue
		}
		return localName(full), val, a, true, false
	}
}

// attrText decodes a raw attribute value: entities, and the normalisation
// of tab, LF and CR (CR LF as one) to a space.
func attrText(raw []byte) (string, bool) {
	if bytes.IndexByte(raw, '&') < 0 && !bytes.ContainsAny(raw, "\t\n\r") {
		return string(raw), true
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '&':
			semi := bytes.IndexByte(raw[i:], ';')
			if semi < 0 {
				return "", false
			}
			var ok bool
			if out, ok = appendEntity(out, raw[i+1:i+semi]); !ok {
				return "", false
			}
			i += semi
		case '\r':
			out = append(out, ' ')
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
		case '\t', '\n':
			out = append(out, ' ')
		default:
			out = append(out, c)
		}
	}
	return string(out), true
}

// attrs collects the wanted attributes of the current tag, decoded, by
// local name. Unwanted ones are skipped without decoding.
func (s *scanner) attrMap(want ...string) (map[string]string, error) {
	m := make(map[string]string, len(want))
	a := s.attrs
	for {
		name, val, rest, ok, bad := nextAttr(a)
		if bad {
			return nil, s.malformed("bad attribute syntax in <%s>", boundedName(s.name))
		}
		if !ok {
			return m, nil
		}
		a = rest
		for _, w := range want {
			if string(name) == w {
				t, ok := attrText(val)
				if !ok {
					return nil, s.malformed("bad entity in an attribute of <%s>", boundedName(s.name))
				}
				m[w] = t
			}
		}
	}
}

// boundedName is an element name fit for an error message.
func boundedName(b []byte) string { return bounded(string(b), 40) }

// skip consumes the element whose start tag was just returned, up to and
// including its end tag, checking that its tags nest. The open names are
// kept in buffers of the scanner's own, reused from one call to the next.
func (s *scanner) skip() error {
	if s.empty {
		return nil
	}
	s.skipNames, s.skipEnds = append(s.skipNames[:0], s.name...), append(s.skipEnds[:0], len(s.name))
	for len(s.skipEnds) > 0 {
		kind, err := s.next()
		if err != nil {
			return err
		}
		switch kind {
		case tokEOF:
			return s.malformed("unexpected end of input inside <%s>", boundedName(s.skipNames[:s.skipEnds[0]]))
		case tokStart:
			if !s.empty {
				s.skipNames = append(s.skipNames, s.name...)
				s.skipEnds = append(s.skipEnds, len(s.skipNames))
			}
		case tokEnd:
			n := len(s.skipEnds)
			start := 0
			if n > 1 {
				start = s.skipEnds[n-2]
			}
			top := s.skipNames[start:s.skipEnds[n-1]]
			if !bytes.Equal(top, s.name) {
				return s.malformed("</%s> closes <%s>", boundedName(s.name), boundedName(top))
			}
			s.skipNames, s.skipEnds = s.skipNames[:start], s.skipEnds[:n-1]
		}
	}
	return nil
}

// walk visits every start tag of a (small) part with the local names of its
// open ancestors and itself, checking that tags nest and that there is one
// root element.
func (s *scanner) walk(visit func(path []string) error) error {
	var path []string
	seenRoot := false
	for {
		kind, err := s.next()
		if err != nil {
			return err
		}
		switch kind {
		case tokEOF:
			if len(path) > 0 {
				return s.malformed("unexpected end of input inside <%s>", bounded(path[len(path)-1], 40))
			}
			if !seenRoot {
				return s.malformed("no root element")
			}
			return nil
		case tokStart:
			if len(path) == 0 {
				if seenRoot {
					return s.malformed("more than one root element")
				}
				seenRoot = true
			}
			name, empty := string(s.name), s.empty
			if err := visit(append(path, name)); err != nil {
				return err
			}
			if !empty {
				path = append(path, name)
			}
		case tokEnd:
			if len(path) == 0 || path[len(path)-1] != string(s.name) {
				return s.malformed("unbalanced end tag </%s>", boundedName(s.name))
			}
			path = path[:len(path)-1]
		}
	}
}
