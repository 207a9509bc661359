package xlsx

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on what a workbook may ask of memory. The shared-string table is
// the one structure that grows with the workbook (a sheet is streamed), so
// it has its own limits, chosen for a report of a few million rows: a
// 2M-row activity report with a unique URL and item name per row needs
// about 200 MiB of string text and 6M strings.
const (
	// MaxSharedStringBytes bounds the decoded text of all shared strings.
	MaxSharedStringBytes = 512 << 20
	// MaxSharedStrings bounds how many shared strings a workbook may have.
	MaxSharedStrings = 1 << 25

	maxDirectoryPart = 32 << 20 // decompressed bytes of workbook.xml, styles.xml or a .rels part
	maxSheets        = 1 << 16
	maxSheetName     = 1024    // bytes (Excel allows 31 characters)
	maxStyles        = 1 << 20 // cellXfs entries (Excel allows 64,000)
)

// The shared-string limits in force (variables so that tests can lower
// them).
var sstLimitBytes, sstLimitCount = MaxSharedStringBytes, MaxSharedStrings

// Workbook is an opened XLSX workbook: its sheet list, date system, the
// number formats of its cell styles, and its shared strings. Sheets are
// read by Table, one stream at a time; a Workbook is safe for concurrent
// use when the io.ReaderAt given to Open is.
type Workbook struct {
	parts    map[string]*zip.File // by lower-cased name (OPC part names are case-insensitive)
	dupParts map[string]bool
	sheets   []sheetRef
	date1904 bool
	dateXF   []bool // by cellXfs index: the style's number format is a date or time format

	sst    string   // all shared strings, back to back
	sstOff []uint32 // string i is sst[sstOff[i]:sstOff[i+1]]
}

type sheetRef struct {
	name string
	part string
}

// Open reads the workbook's directory parts: the package relationships,
// workbook.xml (the sheets in order, the date system), styles.xml (which
// cell styles have a date or time number format) and sharedStrings.xml,
// loaded once and bounded by MaxSharedStringBytes and MaxSharedStrings.
// r is the XLSX file (a ZIP archive) of size bytes.
//
// Anything that is not a readable workbook is an *Error. An error returned
// by r itself is passed on unchanged, so a failed read of the file stays
// distinguishable from a corrupt one.
func Open(r io.ReaderAt, size int64) (*Workbook, error) {
	if r == nil || size < 0 {
		return nil, newError("", "no file")
	}
	var sig [8]byte
	n, err := r.ReadAt(sig[:min(size, int64(len(sig)))], 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if bytes.Equal(sig[:n], []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")) {
		return nil, newError("", "an OLE compound file (an encrypted workbook or a legacy .xls), not an XLSX ZIP archive")
	}
	zr, err := zip.NewReader(markReaderAt{r, size}, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, wrapError("", "not a ZIP archive", err)
	}
	w := &Workbook{parts: make(map[string]*zip.File, len(zr.File))}
	for _, f := range zr.File {
		k := strings.ToLower(f.Name)
		if _, dup := w.parts[k]; dup {
			if w.dupParts == nil {
				w.dupParts = map[string]bool{}
			}
			w.dupParts[k] = true
			continue
		}
		w.parts[k] = f
	}

	wbPart := "xl/workbook.xml"
	if rels, err := w.readRels(""); err != nil {
		return nil, err
	} else if p, ok := rels.target("/officeDocument"); ok {
		wbPart = p
	}
	rels, err := w.readRels(wbPart)
	if err != nil {
		return nil, err
	}
	if err := w.readWorkbook(wbPart, rels); err != nil {
		return nil, err
	}
	dir := path.Dir(wbPart)
	stylesPart, ok := rels.target("/styles")
	if !ok {
		stylesPart = path.Join(dir, "styles.xml")
	}
	if w.file(stylesPart) != nil {
		if err := w.readStyles(stylesPart); err != nil {
			return nil, err
		}
	}
	sstPart, ok := rels.target("/sharedStrings")
	if !ok {
		sstPart = path.Join(dir, "sharedStrings.xml")
	}
	w.sstOff = []uint32{0}
	if w.file(sstPart) != nil {
		if err := w.readSharedStrings(sstPart); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Sheets returns the names of the workbook's worksheets in workbook order.
// Chart sheets and dialog sheets, which hold no cells, are not listed;
// hidden worksheets are.
func (w *Workbook) Sheets() []string {
	out := make([]string, len(w.sheets))
	for i, s := range w.sheets {
		out[i] = s.name
	}
	return out
}

// Date1904 reports whether the workbook uses the 1904 date system.
func (w *Workbook) Date1904() bool { return w.date1904 }

// SharedStringBytes is the memory the shared-string table holds: the one
// part of a reader's memory that grows with the workbook.
func (w *Workbook) SharedStringBytes() int64 {
	return int64(len(w.sst)) + 4*int64(len(w.sstOff))
}

// markReaderAt marks the errors of the caller's ReaderAt (see readError),
// and keeps reads within the file's size: archive/zip computes offsets
// from the archive's own fields, and a corrupt archive can ask for bytes
// before the start or past the end, which is the archive's fault, not a
// failure of the caller's reader.
type markReaderAt struct {
	r    io.ReaderAt
	size int64
}

var errOutside = errors.New("a read outside the file (corrupt offsets)")

func (m markReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > m.size {
		return 0, errOutside
	}
	if rest := m.size - off; int64(len(p)) > rest {
		n, err := m.ReadAt(p[:rest], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	n, err := m.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}

func (w *Workbook) file(part string) *zip.File { return w.parts[strings.ToLower(part)] }

// open opens a part for reading; at most limit decompressed bytes are read
// (limit < 0: no limit).
func (w *Workbook) open(part string, limit int64) (io.ReadCloser, error) {
	k := strings.ToLower(part)
	if w.dupParts[k] {
		return nil, newError(part, "the archive holds the part more than once")
	}
	f := w.parts[k]
	if f == nil {
		return nil, newError(part, "part missing from the archive")
	}
	rc, err := f.Open()
	if err != nil {
		return nil, wrapError(part, "cannot open the part", err)
	}
	if limit < 0 {
		return rc, nil
	}
	return &capReader{rc: rc, left: limit, part: part}, nil
}

// capReader fails a read past its limit rather than truncating, so an
// oversized part is refused, not half-read.
type capReader struct {
	rc   io.ReadCloser
	left int64
	part string
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One byte more tells a part of exactly the limit from a longer one.
		var one [1]byte
		if n, err := c.rc.Read(one[:]); n > 0 {
			return 0, newError(c.part, "the part is larger than %d MiB", maxDirectoryPart>>20)
		} else if err != nil {
			return 0, err
		}
		return 0, nil
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *capReader) Close() error { return c.rc.Close() }

type relationship struct {
	typ, target string
}

type relationships map[string]relationship // by Id

// target returns the target of the first relationship whose type ends with
// suffix ("/worksheet"); types are matched by suffix so that transitional
// and strict OOXML namespaces both work.
func (r relationships) target(suffix string) (string, bool) {
	best, found := "", false
	for _, rel := range r {
		if strings.HasSuffix(rel.typ, suffix) && (!found || rel.target < best) {
			best, found = rel.target, true // smallest target: a deterministic pick
		}
	}
	return best, found
}

// readRels reads the relationships of source ("" for the package). A
// missing .rels part is an empty set.
func (w *Workbook) readRels(source string) (relationships, error) {
	relsPart := "_rels/.rels"
	if source != "" {
		relsPart = path.Join(path.Dir(source), "_rels", path.Base(source)+".rels")
	}
	rels := relationships{}
	if w.file(relsPart) == nil {
		return rels, nil
	}
	rc, err := w.open(relsPart, maxDirectoryPart)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	s := newScanner(rc, relsPart)
	err = s.walk(func(p []string) error {
		if len(p) != 2 || p[1] != "Relationship" {
			return nil
		}
		a, err := s.attrMap("Id", "Type", "Target", "TargetMode")
		if err != nil {
			return err
		}
		if a["TargetMode"] == "External" {
			return nil
		}
		if t, ok := resolve(source, a["Target"]); ok {
			rels[a["Id"]] = relationship{typ: a["Type"], target: t}
		}
		return nil
	})
	return rels, err
}

// resolve turns a relationship target into a part name: relative to the
// source part's folder, or from the package root when it starts with "/".
func resolve(source, target string) (string, bool) {
	if i := strings.IndexAny(target, "#?"); i >= 0 {
		target = target[:i]
	}
	if strings.Contains(target, "%") {
		if t, err := url.PathUnescape(target); err == nil {
			target = t
		}
	}
	target = strings.ReplaceAll(target, `\`, "/")
	if target == "" {
		return "", false
	}
	var p string
	if strings.HasPrefix(target, "/") {
		p = path.Clean(target[1:])
	} else {
		p = path.Join(path.Dir(source), target)
	}
	if p == "." || p == ".." || strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/") {
		return "", false
	}
	return p, true
}

func (w *Workbook) readWorkbook(part string, rels relationships) error {
	rc, err := w.open(part, maxDirectoryPart)
	if err != nil {
		return err
	}
	defer rc.Close()
	s := newScanner(rc, part)
	names := map[string]bool{}
	err = s.walk(func(p []string) error {
		switch {
		case len(p) == 1 && p[0] != "workbook":
			return newError(part, "the root element is not <workbook>")
		case len(p) == 2 && p[1] == "workbookPr":
			a, err := s.attrMap("date1904")
			if err != nil {
				return err
			}
			if v, ok := a["date1904"]; ok {
				b, ok := xsdBool(v)
				if !ok {
					return newError(part, "date1904 is not a boolean")
				}
				w.date1904 = b
			}
		case len(p) == 3 && p[1] == "sheets" && p[2] == "sheet":
			a, err := s.attrMap("name", "id")
			if err != nil {
				return err
			}
			name, id := a["name"], a["id"]
			if name == "" || len(name) > maxSheetName || !utf8.ValidString(name) {
				return newError(part, "sheet %d has no valid name", len(w.sheets)+1)
			}
			rel, ok := rels[id]
			if !ok {
				return newError(part, "sheet %d has no relationship to its part", len(w.sheets)+1)
			}
			if !strings.HasSuffix(rel.typ, "/worksheet") {
				return nil // a chart or dialog sheet: no cells
			}
			if names[strings.ToLower(name)] {
				return newError(part, "two sheets have the same name")
			}
			names[strings.ToLower(name)] = true
			if w.file(rel.target) == nil {
				return newError(rel.target, "worksheet part missing from the archive")
			}
			if len(w.sheets) == maxSheets {
				return newError(part, "more than %d sheets", maxSheets)
			}
			w.sheets = append(w.sheets, sheetRef{name: name, part: rel.target})
		}
		return nil
	})
	return err
}

func xsdBool(v string) (bool, bool) {
	switch strings.TrimSpace(v) {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

func (w *Workbook) readStyles(part string) error {
	rc, err := w.open(part, maxDirectoryPart)
	if err != nil {
		return err
	}
	defer rc.Close()
	s := newScanner(rc, part)
	custom := map[int]bool{} // numFmtId → is a date format
	var xfFmt []int
	err = s.walk(func(p []string) error {
		switch {
		case len(p) == 3 && p[1] == "numFmts" && p[2] == "numFmt":
			a, err := s.attrMap("numFmtId", "formatCode")
			if err != nil {
				return err
			}
			id, err := strconv.Atoi(strings.TrimSpace(a["numFmtId"]))
			if err != nil || id < 0 {
				return newError(part, "numFmt %d has no valid numFmtId", len(custom)+1)
			}
			if len(custom) == maxStyles {
				return newError(part, "more than %d number formats", maxStyles)
			}
			custom[id] = isDateFormat(a["formatCode"])
		case len(p) == 3 && p[1] == "cellXfs" && p[2] == "xf":
			a, err := s.attrMap("numFmtId")
			if err != nil {
				return err
			}
			id := 0
			if v, ok := a["numFmtId"]; ok {
				if id, err = strconv.Atoi(strings.TrimSpace(v)); err != nil || id < 0 {
					return newError(part, "cell style %d has no valid numFmtId", len(xfFmt))
				}
			}
			if len(xfFmt) == maxStyles {
				return newError(part, "more than %d cell styles", maxStyles)
			}
			xfFmt = append(xfFmt, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.dateXF = make([]bool, len(xfFmt))
	for i, id := range xfFmt {
		// A numFmt element wins over the built-in format of the same id,
		// as in Excel (and excelize).
		if d, ok := custom[id]; ok {
			w.dateXF[i] = d
		} else {
			w.dateXF[i] = isBuiltinDateFormat(id)
		}
	}
	return nil
}

// readSharedStrings loads the shared-string table: every <si>'s text, its
// <t> or the <t> of its rich-text runs <r> concatenated, without phonetic
// runs (<rPh>, the reading shown above East Asian text, which is not the
// cell's value), with _xHHHH_ escapes decoded.
func (w *Workbook) readSharedStrings(part string) error {
	rc, err := w.open(part, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	f := w.file(part)
	// The declared size is the archive's word only: believed up to a
	// deflate ratio no shared-string XML comes near, so a lying header
	// cannot make the reader claim memory the part does not hold.
	size := min(f.UncompressedSize64, 20*f.CompressedSize64)
	return w.sharedStringsFrom(newScanner(rc, part), size)
}

// sharedStringsFrom reads the shared-string XML that s scans; size is the
// part's declared (uncompressed) size, a hint only.
func (w *Workbook) sharedStringsFrom(s *scanner, size uint64) error {
	part := s.part
	if err := expectRoot(s, "sst"); err != nil {
		return err
	}
	var b strings.Builder
	// The text is most of the XML (markup is a few bytes a string): claim
	// the XML's size at once, so the builder never regrows. A regrowth copies
	// the whole table and briefly holds it three times over, which for a
	// large report is the step's peak memory (BENCHMARKS.md, "Convert").
	b.Grow(int(min(size, uint64(sstLimitBytes))))
	tooLarge := func() error {
		return newError(part, "shared strings larger than the limit of %d bytes", sstLimitBytes)
	}
	off := []uint32{0}
	var cur []byte
	for rootEmpty := s.empty; !rootEmpty; {
		kind, err := s.next()
		if err != nil {
			return err
		}
		if kind == tokEOF {
			return s.malformed("unexpected end of input inside <sst>")
		}
		if kind == tokEnd {
			if string(s.name) != "sst" {
				return s.malformed("</%s> closes <sst>", boundedName(s.name))
			}
			break
		}
		if string(s.name) != "si" {
			if err := s.skip(); err != nil {
				return err
			}
			continue
		}
		if cur, err = richText(s, cur[:0], sstLimitBytes-b.Len(), "si"); err == errLimit {
			return tooLarge()
		} else if err != nil {
			return err
		}
		cur = unescapeX(cur)
		if !utf8.Valid(cur) {
			return newError(part, "shared string %d is not valid UTF-8", len(off)-1)
		}
		if len(off) > sstLimitCount {
			return newError(part, "more than the limit of %d shared strings", sstLimitCount)
		}
		b.Write(cur)
		off = append(off, uint32(b.Len()))
	}
	w.sst, w.sstOff = b.String(), off
	return s.drain()
}

// expectRoot reads up to the root element's start tag and checks its name.
func expectRoot(s *scanner, root string) error {
	kind, err := s.next()
	if err != nil {
		return err
	}
	if kind != tokStart || string(s.name) != root {
		return newError(s.part, "the root element is not <%s>", root)
	}
	return nil
}

// richText appends the text of the element just opened (<si> or <is>):
// its <t> children and the <t> of its <r> runs; phonetic runs and
// properties are skipped. It consumes the element's end tag.
func richText(s *scanner, dst []byte, limit int, elem string) ([]byte, error) {
	if s.empty {
		return dst, nil
	}
	for {
		kind, err := s.next()
		if err != nil {
			return dst, err
		}
		switch kind {
		case tokEOF:
			return dst, s.malformed("unexpected end of input inside <%s>", elem)
		case tokEnd:
			if string(s.name) != elem {
				return dst, s.malformed("</%s> closes <%s>", boundedName(s.name), elem)
			}
			return dst, nil
		}
		switch string(s.name) {
		case "t":
			if dst, err = elementText(s, dst, limit); err != nil {
				return dst, err
			}
		case "r":
			if dst, err = richText(s, dst, limit, "r"); err != nil {
				return dst, err
			}
		default: // rPh, phoneticPr, rPr, extLst
			if err := s.skip(); err != nil {
				return dst, err
			}
		}
	}
}

// elementText appends the text of the element just opened, which must hold
// only text, and consumes its end tag.
func elementText(s *scanner, dst []byte, limit int) ([]byte, error) {
	if s.empty {
		return dst, nil
	}
	name := s.name[0] // every text element here has a one-letter name: t, v
	dst, err := s.text(dst, limit)
	if err != nil {
		return dst, err
	}
	kind, err := s.next()
	if err != nil {
		return dst, err
	}
	if kind != tokEnd || len(s.name) != 1 || s.name[0] != name {
		return dst, s.malformed("<%c> is not closed by </%c>", name, name)
	}
	return dst, nil
}
