package zipcheck

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
)

// Error reports an archive that is not a valid ZIP. Offset is the byte at
// which the problem was found.
type Error struct {
	Offset int64
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid ZIP archive at byte %d: %s", e.Offset, e.Reason)
}

// Summary describes a verified archive.
type Summary struct {
	Entries int   // files and directories in the archive
	Size    int64 // bytes in the archive
}

// Limits that keep a hostile archive from growing the per-entry records.
const (
	MaxEntries   = 1 << 16
	maxNameBytes = 8 << 20 // all entry names together
	maxZip64Ext  = 1 << 20 // zip64 end record's extensible data
)

const (
	sigLocal      = 0x04034b50
	sigCentral    = 0x02014b50
	sigDescriptor = 0x08074b50
	sigZip64End   = 0x06064b50
	sigZip64Loc   = 0x07064b50
	sigEnd        = 0x06054b50

	max16        = 0xffff
	max32        = 0xffffffff
	zip64ExtraID = 0x0001

	flagEncrypted  = 0x1
	flagDescriptor = 0x8

	methodStore   = 0
	methodDeflate = 8

	bufSize = 64 << 10
)

// Verify reads r to its end and reports whether it is one complete, valid
// ZIP archive. A read error of r is returned as is (not as *Error), so a
// broken transport stays distinguishable from a broken archive.
func Verify(r io.Reader) (Summary, error) {
	p := &parser{br: bufio.NewReaderSize(r, bufSize)}
	return p.run()
}

type entry struct {
	offset       int64
	name         string
	method       uint16
	crc          uint32
	csize, usize uint64
	listed       bool // seen in the central directory
}

type parser struct {
	br        *bufio.Reader
	off       int64 // bytes consumed so far
	entries   []entry
	nameBytes int
	scratch   [64]byte
	copyBuf   []byte
}

func (p *parser) fail(at int64, format string, args ...any) error {
	return &Error{Offset: at, Reason: fmt.Sprintf(format, args...)}
}

// truncated turns the end of the input into an *Error and passes any
// other read error through.
func (p *parser) truncated(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return p.fail(p.off, "archive ends inside %s", what)
	}
	return err
}

// read consumes exactly n bytes. Up to len(scratch) bytes land in the
// scratch buffer (valid until the next read); longer reads allocate.
func (p *parser) read(n int, what string) ([]byte, error) {
	var b []byte
	if n <= len(p.scratch) {
		b = p.scratch[:n]
	} else {
		b = make([]byte, n)
	}
	m, err := io.ReadFull(p.br, b)
	p.off += int64(m)
	if err != nil {
		return nil, p.truncated(err, what)
	}
	return b, nil
}

func (p *parser) discard(n int, what string) error {
	m, err := p.br.Discard(n)
	p.off += int64(m)
	if err != nil {
		return p.truncated(err, what)
	}
	return nil
}

// peekSig returns the next four bytes as a signature without consuming them.
func (p *parser) peekSig(what string) (uint32, error) {
	b, err := p.br.Peek(4)
	if len(b) < 4 {
		if len(b) == 0 && p.off == 0 && errors.Is(err, io.EOF) {
			return 0, p.fail(0, "empty body")
		}
		return 0, p.truncated(err, what)
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (p *parser) run() (Summary, error) {
	sig, err := p.peekSig("the first header")
	if err != nil {
		return Summary{}, err
	}
	if sig != sigLocal && sig != sigEnd {
		b, _ := p.br.Peek(8)
		return Summary{}, p.fail(0, "does not start with a ZIP signature (first bytes %q)", b)
	}
	for sig == sigLocal {
		if err := p.local(); err != nil {
			return Summary{}, err
		}
		if sig, err = p.peekSig("the header after an entry"); err != nil {
			return Summary{}, err
		}
	}
	cdStart := p.off
	listed := 0
	for sig == sigCentral {
		if err := p.central(); err != nil {
			return Summary{}, err
		}
		listed++
		if sig, err = p.peekSig("the central directory"); err != nil {
			return Summary{}, err
		}
	}
	cdSize := p.off - cdStart
	if listed != len(p.entries) {
		return Summary{}, p.fail(cdStart, "central directory lists %d entries, the archive holds %d", listed, len(p.entries))
	}
	for _, e := range p.entries {
		if !e.listed {
			return Summary{}, p.fail(e.offset, "entry %q is missing from the central directory", e.name)
		}
	}
	if err := p.end(sig, uint64(listed), uint64(cdSize), uint64(cdStart)); err != nil {
		return Summary{}, err
	}
	if _, err := p.br.ReadByte(); err == nil {
		return Summary{}, p.fail(p.off, "data follows the end of the archive")
	} else if !errors.Is(err, io.EOF) {
		return Summary{}, err
	}
	return Summary{Entries: len(p.entries), Size: p.off}, nil
}

// local reads one local file header and its data.
func (p *parser) local() error {
	start := p.off
	h, err := p.read(30, "a local file header")
	if err != nil {
		return err
	}
	flags := binary.LittleEndian.Uint16(h[6:])
	method := binary.LittleEndian.Uint16(h[8:])
	hdrCRC := binary.LittleEndian.Uint32(h[14:])
	cs := uint64(binary.LittleEndian.Uint32(h[18:]))
	us := uint64(binary.LittleEndian.Uint32(h[22:]))
	nlen := int(binary.LittleEndian.Uint16(h[26:]))
	elen := int(binary.LittleEndian.Uint16(h[28:]))
	if len(p.entries) >= MaxEntries {
		return p.fail(start, "more than %d entries", MaxEntries)
	}
	if p.nameBytes += nlen; p.nameBytes > maxNameBytes {
		return p.fail(start, "entry names exceed %d bytes in all", maxNameBytes)
	}
	nb, err := p.read(nlen, "a file name")
	if err != nil {
		return err
	}
	name := string(nb)
	extra, err := p.read(elen, "an extra field")
	if err != nil {
		return err
	}
	if flags&flagEncrypted != 0 {
		return p.fail(start, "entry %q is encrypted", name)
	}
	desc := flags&flagDescriptor != 0
	sizesKnown := !desc
	if sizesKnown && (cs == max32 || us == max32) {
		// The zip64 extra field carries the real sizes, uncompressed first.
		// Writers that stream (Go's CreateRaw among them) put them only in
		// the central directory: then the data has to be delimited another way.
		vals := zip64Values(extra)
		need := 0
		if us == max32 {
			need++
		}
		if cs == max32 {
			need++
		}
		if len(vals) >= need {
			i := 0
			if us == max32 {
				us, i = vals[i], i+1
			}
			if cs == max32 {
				cs = vals[i]
			}
		} else {
			sizesKnown = false
		}
	}

	dataStart := p.off
	var crc uint32
	var gotC, gotU uint64
	switch method {
	case methodStore:
		switch {
		case desc:
			crc, gotC, err = p.scanStored(name, func(crc uint32, n uint64) (bool, error) {
				return p.descriptorAt(crc, n, n, true)
			})
		case !sizesKnown:
			// Only the CRC in the header is left to recognise the end by:
			// the data ends where a header signature follows and the CRC
			// of everything before it matches (a false match needs both a
			// signature and a CRC collision). The central directory then
			// confirms the size.
			crc, gotC, err = p.scanStored(name, func(crc uint32, _ uint64) (bool, error) {
				b, err := p.br.Peek(4)
				if len(b) < 4 {
					return false, ignoreEOF(err)
				}
				s := binary.LittleEndian.Uint32(b)
				return crc == hdrCRC && (s == sigLocal || s == sigCentral), nil
			})
		default:
			if cs != us {
				return p.fail(start, "stored entry %q has compressed size %d but uncompressed size %d", name, cs, us)
			}
			crc, err = p.hashStored(cs, name)
			gotC = cs
		}
		gotU = gotC
	case methodDeflate:
		if sizesKnown && cs == 0 {
			// No data at all (directories from some writers): not even an
			// empty deflate stream. archive/zip reads it as empty too.
			break
		}
		crc, gotC, gotU, err = p.inflate(name, dataStart)
	default:
		return p.fail(start, "entry %q uses compression method %d; only stored (0) and deflate (8) are supported", name, method)
	}
	if err != nil {
		return err
	}
	if desc {
		if method == methodDeflate {
			ok, err := p.descriptorAt(crc, gotC, gotU, false)
			if err != nil {
				return err
			}
			if !ok {
				return p.fail(p.off, "entry %q: no data descriptor with CRC-32 %08x and sizes %d/%d follows its data", name, crc, gotC, gotU)
			}
		}
	} else {
		if sizesKnown && (gotC != cs || gotU != us) {
			return p.fail(dataStart, "entry %q: header says %d/%d bytes (compressed/uncompressed), data has %d/%d", name, cs, us, gotC, gotU)
		}
		if crc != hdrCRC {
			return p.fail(dataStart, "entry %q: CRC-32 mismatch (header %08x, data %08x)", name, hdrCRC, crc)
		}
	}
	p.entries = append(p.entries, entry{offset: start, name: name, method: method, crc: crc, csize: gotC, usize: gotU})
	return nil
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// hashStored consumes n bytes of stored data and returns their CRC-32.
func (p *parser) hashStored(n uint64, name string) (uint32, error) {
	h := crc32.NewIEEE()
	m, err := io.CopyBuffer(h, io.LimitReader(p.br, int64(n)), p.buffer())
	p.off += m
	if err != nil {
		return 0, err
	}
	if uint64(m) != n {
		return 0, p.fail(p.off, "archive ends inside the data of entry %q", name)
	}
	return h.Sum32(), nil
}

func (p *parser) buffer() []byte {
	if p.copyBuf == nil {
		p.copyBuf = make([]byte, 32<<10)
	}
	return p.copyBuf
}

// inflate consumes one deflate stream, which delimits itself, and returns
// the CRC-32 and length of what it inflates to and its compressed length.
func (p *parser) inflate(name string, start int64) (crc uint32, csize, usize uint64, err error) {
	cr := &countingReader{br: p.br}
	fr := flate.NewReader(cr) // cr is an io.ByteReader: flate reads no byte past the stream's end
	h := crc32.NewIEEE()
	n, err := io.CopyBuffer(h, fr, p.buffer())
	p.off += cr.n
	if err != nil {
		if cr.err != nil && !errors.Is(cr.err, io.EOF) {
			return 0, 0, 0, cr.err // the source failed, not the archive
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, 0, 0, p.fail(p.off, "archive ends inside the data of entry %q", name)
		}
		return 0, 0, 0, p.fail(start, "entry %q: deflate data is corrupt (%v)", name, err)
	}
	return h.Sum32(), uint64(cr.n), uint64(n), nil
}

// countingReader counts the bytes flate takes and remembers the source's error.
type countingReader struct {
	br  *bufio.Reader
	n   int64
	err error
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.br.Read(b)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.br.ReadByte()
	if err == nil {
		c.n++
	} else if c.err == nil {
		c.err = err
	}
	return b, err
}

// scanStored consumes stored data of unknown length. At every "PK" it asks
// atEnd whether the data ends there, given the CRC-32 and length of the
// data before it; atEnd consumes whatever it recognises (a descriptor).
func (p *parser) scanStored(name string, atEnd func(crc uint32, n uint64) (bool, error)) (uint32, uint64, error) {
	var crc uint32
	var n uint64
	for {
		b, err := p.br.Peek(bufSize)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return 0, 0, err
		}
		if len(b) == 0 {
			return 0, 0, p.fail(p.off, "archive ends inside the data of entry %q", name)
		}
		i := bytes.Index(b, []byte("PK"))
		if i < 0 {
			// Keep a trailing 'P': it may start a signature. (A full
			// buffer has more than one byte, so k stays positive.)
			k := len(b)
			if b[k-1] == 'P' && err == nil {
				k--
			}
			crc = crc32.Update(crc, crc32.IEEETable, b[:k])
			n += uint64(k)
			if err := p.discard(k, "stored data"); err != nil {
				return 0, 0, err
			}
			continue
		}
		crc = crc32.Update(crc, crc32.IEEETable, b[:i])
		n += uint64(i)
		if err := p.discard(i, "stored data"); err != nil {
			return 0, 0, err
		}
		ok, err := atEnd(crc, n)
		if err != nil {
			return 0, 0, err
		}
		if ok {
			return crc, n, nil
		}
		// A "PK" inside the data: the 'P' belongs to it.
		crc = crc32.Update(crc, crc32.IEEETable, []byte{'P'})
		n++
		if err := p.discard(1, "stored data"); err != nil {
			return 0, 0, err
		}
	}
}

// descriptorAt consumes a data descriptor at the current position if one
// matches crc and sizes and is followed by a header signature. The
// signature is optional in the format (needSig false accepts both forms);
// the sizes are 4 or 8 bytes each depending on the writer.
func (p *parser) descriptorAt(crc uint32, csize, usize uint64, needSig bool) (bool, error) {
	b, err := p.br.Peek(28)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	for _, form := range []struct{ sig, wide bool }{{true, false}, {true, true}, {false, false}, {false, true}} {
		if needSig && !form.sig {
			continue
		}
		o := 0
		if form.sig {
			if len(b) < 4 || binary.LittleEndian.Uint32(b) != sigDescriptor {
				continue
			}
			o = 4
		}
		l := o + 12
		if form.wide {
			l = o + 20
		}
		if len(b) < l+4 || binary.LittleEndian.Uint32(b[o:]) != crc {
			continue
		}
		var c, u uint64
		if form.wide {
			c, u = binary.LittleEndian.Uint64(b[o+4:]), binary.LittleEndian.Uint64(b[o+12:])
		} else {
			c, u = uint64(binary.LittleEndian.Uint32(b[o+4:])), uint64(binary.LittleEndian.Uint32(b[o+8:]))
		}
		if c != csize || u != usize {
			continue
		}
		switch binary.LittleEndian.Uint32(b[l:]) {
		case sigLocal, sigCentral, sigEnd, sigZip64End:
			return true, p.discard(l, "a data descriptor")
		}
	}
	return false, nil
}

// central reads one central directory header and checks it against the
// local entry it points at.
func (p *parser) central() error {
	start := p.off
	h, err := p.read(46, "a central directory header")
	if err != nil {
		return err
	}
	method := binary.LittleEndian.Uint16(h[10:])
	crc := binary.LittleEndian.Uint32(h[16:])
	cs := uint64(binary.LittleEndian.Uint32(h[20:]))
	us := uint64(binary.LittleEndian.Uint32(h[24:]))
	nlen := int(binary.LittleEndian.Uint16(h[28:]))
	elen := int(binary.LittleEndian.Uint16(h[30:]))
	clen := int(binary.LittleEndian.Uint16(h[32:]))
	disk := uint64(binary.LittleEndian.Uint16(h[34:]))
	off := uint64(binary.LittleEndian.Uint32(h[42:]))
	nb, err := p.read(nlen, "a file name")
	if err != nil {
		return err
	}
	name := string(nb)
	extra, err := p.read(elen, "an extra field")
	if err != nil {
		return err
	}
	// zip64 values appear in this order, each only if its field is saturated.
	vals := zip64Values(extra)
	for _, f := range []struct {
		v     *uint64
		limit uint64
	}{{&us, max32}, {&cs, max32}, {&off, max32}, {&disk, max16}} {
		if *f.v != f.limit {
			continue
		}
		if len(vals) == 0 {
			return p.fail(start, "central directory entry %q lacks its zip64 values", name)
		}
		*f.v, vals = vals[0], vals[1:]
	}
	if err := p.discard(clen, "a file comment"); err != nil {
		return err
	}
	if disk != 0 {
		return p.fail(start, "entry %q is on disk %d; multi-disk archives are not supported", name, disk)
	}
	i := sort.Search(len(p.entries), func(i int) bool { return uint64(p.entries[i].offset) >= off })
	if i == len(p.entries) || uint64(p.entries[i].offset) != off {
		return p.fail(start, "central directory entry %q points at byte %d, where no entry starts", name, off)
	}
	e := &p.entries[i]
	switch {
	case e.listed:
		return p.fail(start, "entry at byte %d is listed twice in the central directory", off)
	case e.name != name:
		return p.fail(start, "central directory names entry %q, the local header %q", name, e.name)
	case e.method != method || e.crc != crc || e.csize != cs || e.usize != us:
		return p.fail(start, "central directory entry %q (method %d, CRC-32 %08x, %d/%d bytes) differs from its data (method %d, CRC-32 %08x, %d/%d bytes)",
			name, method, crc, cs, us, e.method, e.crc, e.csize, e.usize)
	}
	e.listed = true
	return nil
}

// end reads the end records: an optional zip64 end record and locator,
// then the end of central directory record, and checks they describe the
// central directory that was read.
func (p *parser) end(sig uint32, entries, cdSize, cdOffset uint64) error {
	var z64 *[3]uint64 // entries, size, offset
	if sig == sigZip64End {
		start := p.off
		h, err := p.read(56, "the zip64 end of central directory record")
		if err != nil {
			return err
		}
		size := binary.LittleEndian.Uint64(h[4:])
		disk, cdDisk := binary.LittleEndian.Uint32(h[16:]), binary.LittleEndian.Uint32(h[20:])
		z64 = &[3]uint64{binary.LittleEndian.Uint64(h[32:]), binary.LittleEndian.Uint64(h[40:]), binary.LittleEndian.Uint64(h[48:])}
		onDisk := binary.LittleEndian.Uint64(h[24:])
		if size < 44 || size-44 > maxZip64Ext {
			return p.fail(start, "zip64 end record has an implausible size %d", size)
		}
		if disk != 0 || cdDisk != 0 || onDisk != z64[0] {
			return p.fail(start, "zip64 end record describes a multi-disk archive")
		}
		if err := p.discard(int(size-44), "the zip64 end record"); err != nil {
			return err
		}
		locStart := p.off
		l, err := p.read(20, "the zip64 end of central directory locator")
		if err != nil {
			return err
		}
		if binary.LittleEndian.Uint32(l) != sigZip64Loc {
			return p.fail(locStart, "zip64 end record is not followed by its locator")
		}
		if at := binary.LittleEndian.Uint64(l[8:]); at != uint64(start) {
			return p.fail(locStart, "zip64 locator points at byte %d, the record is at %d", at, start)
		}
		if d := binary.LittleEndian.Uint32(l[4:]); d != 0 {
			return p.fail(locStart, "zip64 locator names disk %d", d)
		}
		if total := binary.LittleEndian.Uint32(l[16:]); total > 1 {
			return p.fail(locStart, "archive spans %d disks", total)
		}
		if sig, err = p.peekSig("the end of central directory record"); err != nil {
			return err
		}
	}
	start := p.off
	if sig != sigEnd {
		return p.fail(start, "expected a central directory header or the end record, found signature %08x", sig)
	}
	h, err := p.read(22, "the end of central directory record")
	if err != nil {
		return err
	}
	disk := binary.LittleEndian.Uint16(h[4:])
	cdDisk := binary.LittleEndian.Uint16(h[6:])
	onDisk := uint64(binary.LittleEndian.Uint16(h[8:]))
	n := uint64(binary.LittleEndian.Uint16(h[10:]))
	size := uint64(binary.LittleEndian.Uint32(h[12:]))
	off := uint64(binary.LittleEndian.Uint32(h[16:]))
	clen := int(binary.LittleEndian.Uint16(h[20:]))
	if z64 != nil {
		// Saturated fields defer to the zip64 record.
		if n == max16 {
			n = z64[0]
		}
		if onDisk == max16 {
			onDisk = z64[0]
		}
		if size == max32 {
			size = z64[1]
		}
		if off == max32 {
			off = z64[2]
		}
		if z64[0] != entries || z64[1] != cdSize || z64[2] != cdOffset {
			return p.fail(start, "zip64 end record says %d entries, %d bytes at %d; the central directory has %d entries, %d bytes at %d",
				z64[0], z64[1], z64[2], entries, cdSize, cdOffset)
		}
		if disk == max16 {
			disk = 0
		}
		if cdDisk == max16 {
			cdDisk = 0
		}
	}
	if disk != 0 || cdDisk != 0 || onDisk != n {
		return p.fail(start, "end record describes a multi-disk archive")
	}
	if n != entries || size != cdSize || off != cdOffset {
		return p.fail(start, "end record says %d entries, %d bytes at %d; the central directory has %d entries, %d bytes at %d",
			n, size, off, entries, cdSize, cdOffset)
	}
	return p.discard(clen, "the archive comment")
}

// zip64Values returns the 8-byte values of the zip64 extended information
// field in extra, if there is one.
func zip64Values(extra []byte) []uint64 {
	for len(extra) >= 4 {
		id := binary.LittleEndian.Uint16(extra)
		size := int(binary.LittleEndian.Uint16(extra[2:]))
		extra = extra[4:]
		if size > len(extra) {
			return nil
		}
		if id == zip64ExtraID {
			var vals []uint64
			for b := extra[:size]; len(b) >= 8; b = b[8:] {
				vals = append(vals, binary.LittleEndian.Uint64(b))
			}
			return vals
		}
		extra = extra[size:]
	}
	return nil
}
