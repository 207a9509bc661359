package xlsx

import (
	"bytes"
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Table describes one sheet read as a table.
type Table struct {
	Sheet     string
	HeaderRow int      // 1-based sheet row number of the header; 0 when the sheet has no header (empty sheet or no row qualifies)
	Preamble  []string // the non-empty rows above the header (titles, "Exported on …"), each row's non-empty cells joined by " "
	Columns   []Column // final: the header's columns, then any added by ragged rows
	Rows      int      // data rows delivered to fn
}

// Column is one column of a table.
type Column struct {
	Name     string // normalized (see NormalizeName), unique within the table
	Header   string // the original header text ("" for an empty header or a column added by a ragged row)
	Position int    // 1-based column index in the sheet (A = 1)
}

// Row is one data row. Values[i] and Dates[i] belong to Table.Columns[i]:
// columns are only ever appended, so an index means the same column in
// every row, and a row has a value for each column known when it was read
// (len(Values) == len(Columns) at that time). A row read before a ragged
// row added columns is shorter than the final Columns: the caller pads it
// with "" (or reads the sheet twice, the first time with a no-op fn, to
// learn the final columns before writing anything).
//
// The slices are reused for the next row: fn must not keep them (it may
// keep the strings, which are immutable).
type Row struct {
	Number int      // 1-based sheet row number (source_row)
	Values []string // the cells' displayed values; "" = empty cell
	Dates  []bool   // Dates[i]: Values[i] is a date (see Table)
}

// TableOptions tune Table.
type TableOptions struct {
	// Reserved are names no column may take (the caller's own fixed
	// columns, "upn", "row_id"…): a header that normalizes to one of them
	// becomes name_2, name_3…, as a duplicate would. Compared as given.
	Reserved []string
	// OnHeader, when set, is called once the header row is found, before
	// the first data row, with the table as read so far. Its Columns keep
	// growing as ragged rows add columns (before the row that adds them
	// reaches fn), so a caller holding the *Table can name every value.
	// An error from it ends the read and is returned as it is.
	OnHeader func(*Table) error
}

// Sheet limits (Excel's own) and the bounds on a row's text.
const (
	MaxRows    = 1 << 20 // 1048576
	MaxColumns = 1 << 14 // 16384, column XFD

	// HeaderSearchRows is how far down the header row is looked for.
	HeaderSearchRows = 50

	maxRowBytes      = 64 << 20 // decoded text of one row's cells (rowLimitBytes)
	maxPreambleBytes = 4 << 10  // of one preamble line (longer ones are cut, marked "…")
	ctxCheckRows     = 1024
)

// Table streams one sheet as a table. It finds the header row: the first
// row within the first HeaderSearchRows rows that has at least two
// non-empty text cells (shared, inline or formula strings; cells of only
// spaces are empty here). The rows above it are the Preamble; if no row
// qualifies the table has no header (HeaderRow 0), no columns and no rows,
// and the caller decides what that means (its Preamble then holds the
// non-empty rows of the search range).
//
// The header's columns run from its first to its last non-empty cell; each
// is named by NormalizeName, made unique (duplicates get _2, _3…; an empty
// header is column_<position>). Then fn is called, in sheet order, for
// every row below the header that has at least one non-empty cell (rows
// with none are not data and are skipped). A non-empty cell outside the
// header's columns (a ragged row) adds a column column_<position> from that
// row on. The table is returned, with its final columns, even when there
// are no data rows.
//
// Values are the cells' displayed values, as excelize (the reference in
// the tests) reads them:
//   - shared and inline strings (rich-text runs concatenated, phonetic
//     runs left out) and formula strings, with XML entities and Excel's
//     _xHHHH_ escapes decoded (_x000D_ is CR, _x005F_ is "_");
//   - numbers as their shortest round-trip text (1024, 0.5, 1E+20 as
//     100000000000000000000): the General format, not the cell's number
//     format (so currency, percent and thousands separators are not
//     applied);
//   - booleans TRUE or FALSE; error cells as their text (#N/A);
//   - formulas as their cached value, "" when there is none (never the
//     formula text);
//   - a number whose style has a date or time format (built-in formats
//     14–22, 27–36, 45–47, 50–58, and custom ones with d, m, y, h or s
//     outside quoted text, escapes and brackets) as ISO-8601 text,
//     2026-11-24T13:05:00, rounded to the second, in the workbook's date
//     system; a date-only format still gives a date-time
//     (2026-11-24T00:00:00). In the 1900 system serial 60 is 1900-02-29,
//     the day Excel keeps from Lotus 1-2-3's leap-year bug, and serials
//     below it are one day later than their count from 1899-12-30, so a
//     time alone (below 1) is on 1899-12-31, Excel's "1900-01-00" (on
//     1904-01-01 in the 1904 system). A negative number, or one past
//     9999-12-31, is no date Excel would show: it stays a number. Dates[i]
//     is true;
//   - a t="d" cell (an ISO-8601 date the writer stored as text) as written,
//     with Dates[i] true: it may carry a fraction or a zone, or be a date
//     alone (ParseTextTime reads those forms).
//
// Merged ranges have their value in the top-left cell only; hidden rows
// and columns are read like the others; styles other than number formats
// are ignored (and a style index past the workbook's styles is General, as
// in excelize). The dimension element is not trusted (the rows say where
// the data is). Rows and cells without an r attribute are placed after the
// previous one (a row without one takes its number from its first cell's
// reference, if that has one); cells may come in any order within their
// row, but rows must come in ascending order, a cell's reference must name
// its own row, and no two cells of a row may share a column: anything else
// is an *Error, as nothing is placed by guess.
//
// A workbook fault is an *Error; ctx's error and fn's error are returned
// as they are. On any error the table is nil.
func (w *Workbook) Table(ctx context.Context, sheet string, fn func(Row) error) (*Table, error) {
	return w.TableWith(ctx, sheet, TableOptions{}, fn)
}

// TableWith is Table with options.
func (w *Workbook) TableWith(ctx context.Context, sheet string, opts TableOptions, fn func(Row) error) (*Table, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ref *sheetRef
	for i := range w.sheets {
		if w.sheets[i].name == sheet {
			ref = &w.sheets[i]
			break
		}
	}
	if ref == nil {
		return nil, newError("", "no worksheet of that name in the workbook")
	}
	rc, err := w.open(ref.part, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return w.tableFrom(ctx, newScanner(rc, ref.part), sheet, opts, fn)
}

// tableFrom reads the worksheet XML that s scans.
func (w *Workbook) tableFrom(ctx context.Context, s *scanner, sheet string, opts TableOptions, fn func(Row) error) (*Table, error) {
	r := &sheetReader{
		w:        w,
		s:        s,
		ctx:      ctx,
		fn:       fn,
		onHeader: opts.OnHeader,
		names:    newNamer(opts.Reserved),
		colIdx:   make([]int32, MaxColumns+1),
		seen:     make([]uint32, MaxColumns+1),
		t:        &Table{Sheet: sheet},
	}
	if err := r.run(); err != nil {
		return nil, err
	}
	return r.t, nil
}

// rowLimitBytes is maxRowBytes, as a variable that tests can lower.
var rowLimitBytes = maxRowBytes

type cellKind uint8

const (
	kindNumber cellKind = iota
	kindShared
	kindInline
	kindString // t="str", a formula's string result
	kindBool
	kindError
	kindDate // t="d"
)

// cell is one non-empty cell of the current row. Its value is either val
// (a shared string or a constant) or rowBuf[start:end], turned into a
// string once per row.
type cell struct {
	pos        int32
	start, end int32
	inBuf      bool
	text       bool // a string cell (counts for the header)
	date       bool
	val        string
}

type sheetReader struct {
	w   *Workbook
	s   *scanner
	ctx context.Context
	fn  func(Row) error
	t   *Table

	onHeader func(*Table) error

	names  *namer
	colIdx []int32  // by sheet column: index+1 in t.Columns, 0 = none
	seen   []uint32 // by sheet column: the row generation that last had a cell there
	gen    uint32

	lastRow int
	header  bool // the header row has been found
	stop    bool // no header in the search range: stop reading

	rowBuf []byte
	cells  []cell
	newPos []int
	values []string
	dates  []bool
}

func (r *sheetReader) run() error {
	s := r.s
	kind, err := s.next()
	if err != nil {
		return err
	}
	if kind != tokStart || string(s.name) != "worksheet" {
		return newError(s.part, "not a worksheet (the root element is not <worksheet>)")
	}
	if s.empty {
		return nil
	}
	// Find <sheetData> among the worksheet's children.
	for {
		kind, err := s.next()
		if err != nil {
			return err
		}
		if kind == tokEOF {
			return s.malformed("unexpected end of input inside <worksheet>")
		}
		if kind == tokEnd {
			return s.drain() // a worksheet without sheetData: empty
		}
		if string(s.name) == "sheetData" {
			break
		}
		if err := s.skip(); err != nil {
			return err
		}
	}
	if !s.empty {
		if err := r.sheetData(); err != nil {
			return err
		}
	}
	// Read the rest so the archive checks the part's CRC-32.
	return s.drain()
}

func (r *sheetReader) sheetData() error {
	s := r.s
	for !r.stop {
		kind, err := s.next()
		if err != nil {
			return err
		}
		switch kind {
		case tokEOF:
			return s.malformed("unexpected end of input inside <sheetData>")
		case tokEnd:
			if string(s.name) != "sheetData" {
				return s.malformed("</%s> closes <sheetData>", boundedName(s.name))
			}
			return nil
		}
		if string(s.name) != "row" {
			if err := s.skip(); err != nil {
				return err
			}
			continue
		}
		if err := r.row(); err != nil {
			return err
		}
	}
	return nil
}

func (r *sheetReader) row() error {
	s := r.s
	num := 0 // unknown until the r attribute or the first cell reference
	a := s.attrs
	for {
		name, val, rest, ok, bad := nextAttr(a)
		if bad {
			return s.malformed("bad attribute syntax in <row>")
		}
		if !ok {
			break
		}
		a = rest
		if len(name) == 1 && name[0] == 'r' {
			n, ok := parseUint(plainAttr(val))
			if !ok || n < 1 || n > MaxRows {
				return newError(s.part, "a row number not in 1..%d (after row %d)", MaxRows, r.lastRow)
			}
			num = n
		}
	}
	if num != 0 && num <= r.lastRow {
		return newError(s.part, "row %d comes after row %d (rows out of order)", num, r.lastRow)
	}
	// Every row read counts, delivered or not: a sheet of empty rows must
	// be cancellable too.
	if r.gen++; r.gen%ctxCheckRows == 0 {
		if err := r.ctx.Err(); err != nil {
			return err
		}
	}
	if r.gen == 0 { // wrapped: forget every mark
		clear(r.seen)
		r.gen = 1
	}
	r.cells, r.rowBuf = r.cells[:0], r.rowBuf[:0]
	if !s.empty {
		lastPos := 0
		for done := false; !done; {
			kind, err := s.next()
			if err != nil {
				return err
			}
			switch {
			case kind == tokEOF:
				return s.malformed("unexpected end of input inside <row>")
			case kind == tokEnd:
				if string(s.name) != "row" {
					return s.malformed("</%s> closes <row>", boundedName(s.name))
				}
				done = true
			case string(s.name) == "c":
				if num == 0 {
					num = -1 // the first cell decides
				}
				if num, lastPos, err = r.cell(num, lastPos); err != nil {
					return err
				}
			default:
				if err := s.skip(); err != nil {
					return err
				}
			}
		}
	}
	if num <= 0 {
		num = r.lastRow + 1
	}
	if num > MaxRows {
		return newError(s.part, "row %d: row number not in 1..%d", num, MaxRows)
	}
	r.lastRow = num
	return r.endRow(num)
}

// cell reads one <c> of row num (-1: the row's number is not known yet) and
// returns the row number and the cell's column.
func (r *sheetReader) cell(num, lastPos int) (int, int, error) {
	s := r.s
	var ref, typ []byte
	style := 0
	a := s.attrs
	for {
		name, val, rest, ok, bad := nextAttr(a)
		if bad {
			return 0, 0, newError(s.part, "row %d: bad attribute syntax in a cell", max(num, r.lastRow+1))
		}
		if !ok {
			break
		}
		a = rest
		if len(name) != 1 {
			continue
		}
		val = plainAttr(val)
		switch name[0] {
		case 'r':
			ref = val
		case 's':
			n, ok := parseUint(val)
			if !ok {
				return 0, 0, newError(s.part, "row %d: a cell style is not a number", max(num, r.lastRow+1))
			}
			style = n
		case 't':
			typ = val
		}
	}
	pos := lastPos + 1
	if ref != nil {
		col, row, ok := parseRef(ref)
		if !ok {
			return 0, 0, newError(s.part, "row %d: a cell reference is not A1..XFD1048576", max(num, r.lastRow+1))
		}
		switch {
		case num == -1:
			if row <= r.lastRow {
				return 0, 0, newError(s.part, "row %d comes after row %d (rows out of order)", row, r.lastRow)
			}
			num = row
		case row != num:
			return 0, 0, newError(s.part, "row %d: the cell reference %s is in another row", num, cellRef(col, row))
		}
		pos = col
	}
	if num == -1 {
		num = r.lastRow + 1
	}
	if pos > MaxColumns {
		return 0, 0, newError(s.part, "row %d: more than %d columns", num, MaxColumns)
	}
	if r.seen[pos] == r.gen {
		return 0, 0, newError(s.part, "row %d: two cells in column %s", num, colName(pos))
	}
	r.seen[pos] = r.gen

	var kind cellKind
	switch string(typ) {
	case "", "n":
		kind = kindNumber
	case "s":
		kind = kindShared
	case "inlineStr":
		kind = kindInline
	case "str":
		kind = kindString
	case "b":
		kind = kindBool
	case "e":
		kind = kindError
	case "d":
		kind = kindDate
	default:
		return 0, 0, newError(s.part, "cell %s has an unknown type", cellRef(pos, num))
	}
	if s.empty {
		return num, pos, nil
	}

	// The cell's children: <v> (value or cached result), <is> (inline
	// string), <f> (formula: ignored), <extLst>. Their text goes to the end
	// of rowBuf, from cellStart.
	cellStart := len(r.rowBuf)
	vStart, vEnd, isStart, isEnd := -1, -1, -1, -1
	for {
		tk, err := s.next()
		if err != nil {
			return 0, 0, err
		}
		if tk == tokEOF {
			return 0, 0, s.malformed("unexpected end of input inside <c>")
		}
		if tk == tokEnd {
			if string(s.name) != "c" {
				return 0, 0, s.malformed("</%s> closes <c>", boundedName(s.name))
			}
			break
		}
		switch string(s.name) {
		case "v":
			if vStart >= 0 {
				return 0, 0, newError(s.part, "cell %s has two values", cellRef(pos, num))
			}
			vStart = len(r.rowBuf)
			if r.rowBuf, err = elementText(s, r.rowBuf, rowLimitBytes); err != nil {
				return 0, 0, r.limitError(err, num)
			}
			vEnd = len(r.rowBuf)
		case "is":
			if isStart >= 0 {
				return 0, 0, newError(s.part, "cell %s has two inline strings", cellRef(pos, num))
			}
			isStart = len(r.rowBuf)
			if r.rowBuf, err = richText(s, r.rowBuf, rowLimitBytes, "is"); err != nil {
				return 0, 0, r.limitError(err, num)
			}
			isEnd = len(r.rowBuf)
		default:
			if err := s.skip(); err != nil {
				return 0, 0, err
			}
		}
	}

	// The value is the <v> text, or for an inline string its <is> text
	// (a <v> in its place is taken too). Move it to cellStart.
	start, end := vStart, vEnd
	if kind == kindInline && isStart >= 0 {
		start, end = isStart, isEnd
	}
	if start < 0 || start == end {
		r.rowBuf = r.rowBuf[:cellStart]
		return num, pos, nil // no value: an empty cell
	}
	if start != cellStart {
		n := copy(r.rowBuf[cellStart:], r.rowBuf[start:end])
		start, end = cellStart, cellStart+n
	}
	r.rowBuf = r.rowBuf[:end]
	c := cell{pos: int32(pos), inBuf: true}
	raw := r.rowBuf[start:end]

	switch kind {
	case kindShared:
		i, ok := parseUint(trimSpace(raw))
		if !ok || i >= len(r.w.sstOff)-1 {
			return 0, 0, newError(s.part, "cell %s: shared-string index out of range", cellRef(pos, num))
		}
		r.rowBuf = r.rowBuf[:start]
		c.inBuf, c.text = false, true
		c.val = r.w.sst[r.w.sstOff[i]:r.w.sstOff[i+1]]
		if c.val == "" {
			return num, pos, nil
		}
	case kindBool:
		r.rowBuf = r.rowBuf[:start]
		c.inBuf = false
		switch string(trimSpace(raw)) {
		case "1", "true":
			c.val = "TRUE"
		case "0", "false":
			c.val = "FALSE"
		default:
			return 0, 0, newError(s.part, "cell %s: a boolean is not 0 or 1", cellRef(pos, num))
		}
	case kindNumber:
		raw = trimSpace(raw)
		if len(raw) == 0 {
			r.rowBuf = r.rowBuf[:start]
			return num, pos, nil
		}
		if style < len(r.w.dateXF) && r.w.dateXF[style] {
			v, ok := parseNumber(raw)
			if !ok {
				return 0, 0, newError(s.part, "cell %s: not a number", cellRef(pos, num))
			}
			var iso [24]byte
			if d, ok := appendSerialDate(iso[:0], v, r.w.date1904); ok {
				r.rowBuf = append(r.rowBuf[:start], d...)
				c.date = true
				break
			}
			// A number Excel shows as no date: its number text.
		}
		var num2 [32]byte
		canon, ok := canonicalNumber(num2[:0], raw)
		if !ok {
			return 0, 0, newError(s.part, "cell %s: not a number", cellRef(pos, num))
		}
		r.rowBuf = append(r.rowBuf[:start], canon...)
	case kindInline, kindString:
		r.rowBuf = append(r.rowBuf[:start], unescapeX(raw)...)
		c.text = true
	case kindError:
		// as written
	case kindDate:
		raw = trimSpace(raw)
		r.rowBuf = append(r.rowBuf[:start], raw...)
		c.date = true
	}
	if c.inBuf {
		end = len(r.rowBuf)
		if start == end {
			return num, pos, nil
		}
		if !validUTF8(r.rowBuf[start:end]) {
			return 0, 0, newError(s.part, "cell %s is not valid UTF-8", cellRef(pos, num))
		}
		c.start, c.end = int32(start), int32(end)
	}
	r.cells = append(r.cells, c)
	return num, pos, nil
}

func (r *sheetReader) limitError(err error, num int) error {
	if err == errLimit {
		return newError(r.s.part, "row %d: its cells hold more than the limit of %d bytes of text", max(num, r.lastRow+1), rowLimitBytes)
	}
	return err
}

// endRow hands a finished row to the header search or to fn.
func (r *sheetReader) endRow(num int) error {
	if len(r.cells) == 0 {
		return nil // an empty row is no data, and no preamble
	}
	if len(r.rowBuf) > 0 {
		str := string(r.rowBuf) // one allocation per row for all its texts
		for i := range r.cells {
			if c := &r.cells[i]; c.inBuf {
				c.val = str[c.start:c.end]
			}
		}
	}
	if !r.header {
		return r.searchHeader(num)
	}
	t := r.t
	for i := range r.values {
		r.values[i], r.dates[i] = "", false
	}
	r.newPos = r.newPos[:0]
	for i := range r.cells {
		c := &r.cells[i]
		idx := r.colIdx[c.pos]
		if idx == 0 {
			r.newPos = append(r.newPos, int(c.pos))
			continue
		}
		r.values[idx-1], r.dates[idx-1] = c.val, c.date
	}
	if len(r.newPos) > 0 {
		// A ragged row: its extra cells become columns, left to right.
		slices.Sort(r.newPos)
		for _, p := range r.newPos {
			t.Columns = append(t.Columns, Column{Name: r.names.free("column_" + strconv.Itoa(p)), Position: p})
			r.colIdx[p] = int32(len(t.Columns))
			r.values, r.dates = append(r.values, ""), append(r.dates, false)
		}
		for i := range r.cells {
			c := &r.cells[i]
			idx := r.colIdx[c.pos]
			r.values[idx-1], r.dates[idx-1] = c.val, c.date
		}
	}
	if err := r.fn(Row{Number: num, Values: r.values, Dates: r.dates}); err != nil {
		return err
	}
	t.Rows++
	return nil
}

func (r *sheetReader) searchHeader(num int) error {
	if num > HeaderSearchRows {
		r.stop = true
		return nil
	}
	slices.SortFunc(r.cells, func(a, b cell) int { return int(a.pos - b.pos) })
	texts := 0
	for _, c := range r.cells {
		if c.text && strings.TrimSpace(c.val) != "" {
			texts++
		}
	}
	if texts < 2 {
		var line []string
		for _, c := range r.cells {
			if v := strings.TrimSpace(c.val); v != "" {
				line = append(line, v)
			}
		}
		if len(line) > 0 {
			r.t.Preamble = append(r.t.Preamble, bounded(strings.Join(line, " "), maxPreambleBytes))
		}
		return nil
	}
	// The header: columns from its first to its last non-empty cell.
	first, last := 0, 0
	for _, c := range r.cells {
		if strings.TrimSpace(c.val) != "" {
			if first == 0 {
				first = int(c.pos)
			}
			last = int(c.pos)
		}
	}
	headers := make([]string, last-first+1)
	positions := make([]int, len(headers))
	for i := range positions {
		positions[i] = first + i
	}
	for _, c := range r.cells {
		if int(c.pos) >= first && int(c.pos) <= last {
			headers[int(c.pos)-first] = c.val
		}
	}
	names := r.names.header(headers, positions)
	for i, n := range names {
		r.t.Columns = append(r.t.Columns, Column{Name: n, Header: headers[i], Position: positions[i]})
		r.colIdx[positions[i]] = int32(i + 1)
	}
	r.t.HeaderRow = num
	r.header = true
	r.values = make([]string, len(names))
	r.dates = make([]bool, len(names))
	if r.onHeader != nil {
		return r.onHeader(r.t)
	}
	return nil
}

// plainAttr is a raw attribute value with its entities and character
// references decoded (a writer may spell r="A1" as r="&#65;1"); a value
// that cannot be decoded stays raw, and fails where it is parsed.
func plainAttr(val []byte) []byte {
	if bytes.IndexByte(val, '&') < 0 {
		return val
	}
	if t, ok := attrText(val); ok {
		return []byte(t)
	}
	return val
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// parseUint parses a decimal number of at most 9 digits.
func parseUint(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseRef parses a cell reference (A1 … XFD1048576; letters of either
// case).
func parseRef(b []byte) (col, row int, ok bool) {
	i := 0
	for ; i < len(b); i++ {
		c := b[i] &^ 0x20 // upper case
		if c < 'A' || c > 'Z' || b[i] < 'A' {
			break
		}
		col = col*26 + int(c-'A'+1)
		if col > MaxColumns {
			return 0, 0, false
		}
	}
	if i == 0 {
		return 0, 0, false
	}
	row, ok = parseUint(b[i:])
	if !ok || row < 1 || row > MaxRows {
		return 0, 0, false
	}
	return col, row, true
}

// cellRef is a cell's A1 reference.
func cellRef(col, row int) string { return colName(col) + strconv.Itoa(row) }

// colName is the letters of a 1-based column (1 → A, 28 → AB).
func colName(col int) string {
	var b [4]byte
	i := len(b)
	for col > 0 && i > 0 {
		col--
		i--
		b[i] = byte('A' + col%26)
		col /= 26
	}
	return string(b[i:])
}

// parseNumber parses a cell's number (xsd:double in decimal notation).
func parseNumber(b []byte) (float64, bool) {
	for _, c := range b {
		// Refuse what strconv accepts but a cell cannot hold: hex, "_", "inf", "nan".
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

// canonicalNumber appends the shortest round-trip text of the number b
// ('f' format). A decimal already in that form with at most 15 digits is
// copied: 15 significant digits always survive float64 unchanged, so
// parsing and formatting it would give it back.
func canonicalNumber(dst, b []byte) ([]byte, bool) {
	if isCanonical(b) {
		return append(dst, b...), true
	}
	v, ok := parseNumber(b)
	if !ok {
		return dst, false
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64), true
}

func isCanonical(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	begin := i
	switch {
	case i == len(b):
		return false
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	digits := i - begin
	if i < len(b) && b[i] == '.' {
		i++
		f := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == f || b[i-1] == '0' {
			return false
		}
		digits += i - f
	}
	return i == len(b) && digits <= 15
}

func validUTF8(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return utf8.Valid(b)
		}
	}
	return true
}

// unescapeX decodes Excel's _xHHHH_ escapes in place (the decoded text is
// never longer): _xHHHH_ is the UTF-16 code unit HHHH (hex, either case),
// so _x000D_ is CR and _x005F_ is "_" (which is how a literal "_x000D_" is
// written: _x005F_x000D_). A surrogate pair written as two escapes is one
// character; a lone surrogate is U+FFFD.
func unescapeX(b []byte) []byte {
	i := indexX(b, 0)
	if i < 0 {
		return b
	}
	w := i
	for i < len(b) {
		if u, ok := escapeAt(b, i); ok {
			r := rune(u)
			n := 7
			if u >= 0xD800 && u < 0xDC00 {
				if lo, ok := escapeAt(b, i+7); ok && lo >= 0xDC00 && lo < 0xE000 {
					r = 0x10000 + (rune(u)-0xD800)<<10 + rune(lo) - 0xDC00
					n = 14
				} else {
					r = utf8.RuneError
				}
			} else if u >= 0xDC00 && u < 0xE000 {
				r = utf8.RuneError
			}
			w += utf8.EncodeRune(b[w:], r)
			i += n
			continue
		}
		b[w] = b[i]
		w++
		i++
	}
	return b[:w]
}

func indexX(b []byte, from int) int {
	for i := from; i+6 < len(b); i++ {
		if b[i] == '_' && b[i+1] == 'x' {
			if _, ok := escapeAt(b, i); ok {
				return i
			}
		}
	}
	return -1
}

// escapeAt reads an _xHHHH_ escape at b[i:].
func escapeAt(b []byte, i int) (uint16, bool) {
	if i+7 > len(b) || b[i] != '_' || b[i+1] != 'x' || b[i+6] != '_' {
		return 0, false
	}
	var u uint16
	for _, c := range b[i+2 : i+6] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		u = u<<4 | uint16(d)
	}
	return u, true
}
