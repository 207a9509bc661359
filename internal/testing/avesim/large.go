package avesim

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/insights-export/insights-export/internal/testing/crc32x"
)

// ReportPaddingName is the second ZIP entry of a report served with a
// ReportSize (see Options.ReportSize): stored, uncompressed filler.
const ReportPaddingName = "padding.bin"

// padBlockSize is the length of the filler block the padding entry repeats.
// 1 MiB keeps each Write to the connection large (one syscall moves a lot)
// while the block itself stays cache- and memory-cheap.
const padBlockSize = 1 << 20

// padBlock is the padding entry's repeating unit: pseudo-random bytes from a
// fixed seed, so that nothing on the way (TLS, a proxy, S3) can compress it
// and every run sends identical bytes. padBlockCRC is its CRC-32.
var (
	padBlockOnce sync.Once
	padBlock     []byte
	padBlockCRC  uint32
)

func paddingBlock() ([]byte, uint32) {
	padBlockOnce.Do(func() {
		padBlock = make([]byte, padBlockSize)
		_, _ = rand.NewChaCha8([32]byte{'a', 'v', 'e', 's', 'i', 'm'}).Read(padBlock) // never fails
		padBlockCRC = crc32.ChecksumIEEE(padBlock)
	})
	return padBlock, padBlockCRC
}

// largeReport is a report ZIP of an exact size that is never held in
// memory: a real (small) workbook entry, then a stored padding entry made
// of padBlock repeated, then the central directory. Only prefix and suffix
// (a few KiB) are kept; the padding is written straight from padBlock, so
// serving costs little more than the write syscalls.
type largeReport struct {
	prefix []byte // local header + deflated workbook + padding entry's local header
	padLen int64
	suffix []byte // central directory and end records (zip64 when needed)
}

func (l *largeReport) size() int64 { return int64(len(l.prefix)) + l.padLen + int64(len(l.suffix)) }

// writeTo streams the whole report to w, at about rate bytes per second
// if rate > 0.
func (l *largeReport) writeTo(w io.Writer, rate int64) (int64, error) {
	block, _ := paddingBlock()
	var n int64
	start := time.Now()
	write := func(p []byte) error {
		m, err := w.Write(p)
		n += int64(m)
		if rate > 0 && err == nil {
			// Sleep until the bytes sent so far are due: the average
			// rate holds whatever the write sizes and scheduling delays.
			due := start.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))
			time.Sleep(time.Until(due))
		}
		return err
	}
	if err := write(l.prefix); err != nil {
		return n, err
	}
	for left := l.padLen; left > 0; {
		chunk := block[:min(left, int64(len(block)))]
		if err := write(chunk); err != nil {
			return n, err
		}
		left -= int64(len(chunk))
	}
	return n, write(l.suffix)
}

// ReadAt makes the report randomly readable (archive/zip.NewReader needs
// that) without generating the bytes before off.
func (l *largeReport) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("avesim: negative offset")
	}
	block, _ := paddingBlock()
	pre, padEnd := int64(len(l.prefix)), int64(len(l.prefix))+l.padLen
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		switch {
		case pos < pre:
			n += copy(p[n:], l.prefix[pos:])
		case pos < padEnd:
			rel := pos - pre
			in := block[rel%int64(len(block)):]
			in = in[:min(int64(len(in)), padEnd-pos)]
			n += copy(p[n:], in)
		case pos < l.size():
			n += copy(p[n:], l.suffix[pos-padEnd:])
		default:
			return n, io.EOF
		}
	}
	return n, nil
}

// buildLargeReport lays out a report of exactly size bytes around the
// job's workbook.
func buildLargeReport(sp reportSpec, size int64) (*largeReport, error) {
	xlsx, err := buildXLSX(sp)
	if err != nil {
		return nil, fmt.Errorf("workbook: %w", err)
	}
	var deflated bytes.Buffer
	fw, err := flate.NewWriter(&deflated, flate.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := fw.Write(xlsx); err != nil {
		return nil, err
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	lay := layout{sp: sp, xlsx: deflated.Bytes(), xlsxCRC: crc32.ChecksumIEEE(xlsx), xlsxLen: int64(len(xlsx))}

	// The archive's overhead depends a little on the padding's length
	// (zip64 records appear once it or an offset passes 4 GiB), so find
	// the padding length by fixed-point iteration. Where the overhead
	// jumps, no padding length fits exactly; a ZIP comment of a few
	// hundred bytes then takes up the slack on the smaller layout.
	for _, comment := range []int{0, 256} {
		overhead := func(pad int64) (int64, error) {
			l, err := lay.build(pad, comment)
			if err != nil {
				return 0, err
			}
			return l.size() - pad, nil
		}
		ov, err := overhead(0)
		if err != nil {
			return nil, err
		}
		pad := size - ov
		for range 4 {
			if pad < 0 {
				break
			}
			if ov, err = overhead(pad); err != nil {
				return nil, err
			}
			if size-ov == pad {
				l, err := lay.build(pad, comment)
				if err != nil {
					return nil, err
				}
				return l, nil
			}
			pad = size - ov
		}
		if pad < 0 {
			least, _ := overhead(0)
			return nil, fmt.Errorf("avesim: report size %d is below the %d bytes this job's workbook needs", size, least)
		}
	}
	return nil, fmt.Errorf("avesim: no ZIP layout of exactly %d bytes", size)
}

type layout struct {
	sp      reportSpec
	xlsx    []byte // deflated workbook
	xlsxCRC uint32
	xlsxLen int64 // uncompressed
}

// build runs archive/zip over the layout, recording what it writes except
// the padding itself, which is only counted (4 GiB of padding is 4096
// Write calls of padBlock and no copying).
func (lay layout) build(padLen int64, commentLen int) (*largeReport, error) {
	block, blockCRC := paddingBlock()
	rec := &splitRecorder{}
	zw := zip.NewWriter(rec)
	if commentLen > 0 {
		if err := zw.SetComment(strings.Repeat(" ", commentLen)); err != nil {
			return nil, err
		}
	}
	modified := lay.sp.finish.UTC() // not the wall clock: keeps the bytes reproducible
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name:               ReportXLSXName(lay.sp.jobID),
		Method:             zip.Deflate,
		Modified:           modified,
		CRC32:              lay.xlsxCRC,
		CompressedSize64:   uint64(len(lay.xlsx)),
		UncompressedSize64: uint64(lay.xlsxLen),
	})
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(lay.xlsx); err != nil {
		return nil, err
	}
	tail := block[:padLen%int64(len(block))]
	padCRC := crc32Repeat(blockCRC, int64(len(block)), padLen/int64(len(block)))
	padCRC = crc32x.Combine(padCRC, crc32.ChecksumIEEE(tail), int64(len(tail)))
	if w, err = zw.CreateRaw(&zip.FileHeader{
		Name:               ReportPaddingName,
		Method:             zip.Store,
		Modified:           modified,
		CRC32:              padCRC,
		CompressedSize64:   uint64(padLen),
		UncompressedSize64: uint64(padLen),
	}); err != nil {
		return nil, err
	}
	// Everything written so far is the prefix; what follows the padding is
	// the suffix.
	if err := zw.Flush(); err != nil {
		return nil, err
	}
	rec.startPadding(padLen)
	for left := padLen; left > 0; {
		chunk := block[:min(left, int64(len(block)))]
		if _, err := w.Write(chunk); err != nil {
			return nil, err
		}
		left -= int64(len(chunk))
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if rec.padLeft != 0 {
		return nil, fmt.Errorf("avesim: padding short by %d bytes", rec.padLeft)
	}
	return &largeReport{prefix: rec.prefix.Bytes(), padLen: padLen, suffix: rec.suffix.Bytes()}, nil
}

// splitRecorder keeps the bytes before and after the padding and only
// counts the padding.
type splitRecorder struct {
	prefix, suffix bytes.Buffer
	inPad          bool
	padLeft        int64
}

func (r *splitRecorder) startPadding(n int64) { r.inPad, r.padLeft = true, n }

func (r *splitRecorder) Write(p []byte) (int, error) {
	total := len(p)
	if !r.inPad {
		r.prefix.Write(p)
		return total, nil
	}
	skip := min(int64(len(p)), r.padLeft)
	r.padLeft -= skip
	r.suffix.Write(p[skip:])
	return total, nil
}

// crc32Repeat returns the CRC-32 of a block of blockLen bytes (CRC
// blockCRC) repeated n times.
func crc32Repeat(blockCRC uint32, blockLen, n int64) uint32 {
	var crc uint32 // CRC of the empty string
	for pw, pwLen := blockCRC, blockLen; n > 0; n >>= 1 {
		if n&1 != 0 {
			crc = crc32x.Combine(crc, pw, pwLen)
		}
		pw = crc32x.Combine(pw, pw, pwLen)
		pwLen *= 2
	}
	return crc
}
