package zipcheck

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var modified = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// payload is deterministic, partly compressible data that contains "PK"
// and even a fake local header signature, so that scanning for signatures
// inside stored data is exercised.
func payload(n int, seed uint64) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		if i%3 == 0 {
			b[i] = byte(rng.IntN(256))
		} else {
			b[i] = byte('a' + i%7)
		}
	}
	if n > 40 {
		copy(b[n/2:], "PK\x03\x04 not a header PK\x07\x08 PK\x01\x02")
	}
	return b
}

type file struct {
	name string
	data []byte
}

var sample = []file{{"report.xlsx", payload(5000, 1)}, {"notes/", nil}, {"empty.txt", nil}, {"b.bin", payload(300, 2)}}

// zipWith builds an archive with archive/zip; add writes one file.
func zipWith(t testing.TB, files []file, comment string, add func(*zip.Writer, file) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if comment != "" {
		if err := zw.SetComment(comment); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		if err := add(zw, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Deflate with a data descriptor: what zip.Writer.Create writes.
func addDeflate(zw *zip.Writer, f file) error {
	w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: modified})
	if err == nil && len(f.data) > 0 {
		_, err = w.Write(f.data)
	}
	return err
}

// Stored with a data descriptor (the length must be found by scanning).
func addStoredDescriptor(zw *zip.Writer, f file) error {
	w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Store, Modified: modified})
	if err == nil && len(f.data) > 0 {
		_, err = w.Write(f.data)
	}
	return err
}

// Sizes and CRC in the local header, no descriptor (CreateRaw).
func addRaw(method uint16) func(*zip.Writer, file) error {
	return func(zw *zip.Writer, f file) error {
		data := f.data
		if method == zip.Deflate && !strings.HasSuffix(f.name, "/") {
			var c bytes.Buffer
			fw, _ := flate.NewWriter(&c, flate.BestSpeed)
			fw.Write(f.data)
			fw.Close()
			data = c.Bytes()
		}
		w, err := zw.CreateRaw(&zip.FileHeader{Name: f.name, Method: method, Modified: modified,
			CRC32: crc32.ChecksumIEEE(f.data), CompressedSize64: uint64(len(data)), UncompressedSize64: uint64(len(f.data))})
		if err == nil && len(data) > 0 {
			_, err = w.Write(data)
		}
		return err
	}
}

// crafted builds one-stored-entry-per-file archives by hand, with zip64
// records throughout. sizesInLocal false leaves the local header's sizes
// saturated with no zip64 field, as Go's CreateRaw does past 4 GiB: then
// only the central directory knows them.
func crafted(files []file, sizesInLocal bool) []byte {
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	offsets := make([]uint64, len(files))
	for i, f := range files {
		offsets[i] = uint64(b.Len())
		le(uint32(sigLocal))
		le(uint16(45))
		le(uint16(0))          // flags
		le(uint16(0))          // stored
		le(uint32(0x5b790000)) // DOS time and date
		le(crc32.ChecksumIEEE(f.data))
		le(uint32(max32))
		le(uint32(max32))
		le(uint16(len(f.name)))
		if sizesInLocal {
			le(uint16(20))
			b.WriteString(f.name)
			le(uint16(zip64ExtraID))
			le(uint16(16))
			le(uint64(len(f.data)))
			le(uint64(len(f.data)))
		} else {
			le(uint16(0))
			b.WriteString(f.name)
		}
		b.Write(f.data)
	}
	cdStart := uint64(b.Len())
	for i, f := range files {
		le(uint32(sigCentral))
		le(uint16(45))
		le(uint16(45))
		le(uint16(0))
		le(uint16(0))
		le(uint32(0x5b790000))
		le(crc32.ChecksumIEEE(f.data))
		le(uint32(max32))
		le(uint32(max32))
		le(uint16(len(f.name)))
		le(uint16(28))
		le(uint16(0)) // comment
		le(uint16(0)) // disk
		le(uint16(0)) // internal attributes
		le(uint32(0)) // external attributes
		le(uint32(max32))
		b.WriteString(f.name)
		le(uint16(zip64ExtraID))
		le(uint16(24))
		le(uint64(len(f.data)))
		le(uint64(len(f.data)))
		le(offsets[i])
	}
	cdSize := uint64(b.Len()) - cdStart
	z64 := uint64(b.Len())
	le(uint32(sigZip64End))
	le(uint64(44))
	le(uint16(45))
	le(uint16(45))
	le(uint32(0))
	le(uint32(0))
	le(uint64(len(files)))
	le(uint64(len(files)))
	le(cdSize)
	le(cdStart)
	le(uint32(sigZip64Loc))
	le(uint32(0))
	le(z64)
	le(uint32(1))
	le(uint32(sigEnd))
	le(uint16(0))
	le(uint16(0))
	le(uint16(max16))
	le(uint16(max16))
	le(uint32(max32))
	le(uint32(max32))
	le(uint16(0))
	return b.Bytes()
}

// validArchives are the accepted layouts, built from files (sample when nil).
func validArchives(t testing.TB, files []file) map[string][]byte {
	if files == nil {
		files = sample
	}
	var stored []file
	for _, f := range files {
		if f.data != nil {
			stored = append(stored, f)
		}
	}
	return map[string][]byte{
		"deflate with descriptors":      zipWith(t, files, "", addDeflate),
		"stored with descriptors":       zipWith(t, files, "", addStoredDescriptor),
		"raw stored":                    zipWith(t, files, "", addRaw(zip.Store)),
		"raw deflate with comment":      zipWith(t, files, "a comment PK\x05\x06", addRaw(zip.Deflate)),
		"empty archive":                 zipWith(t, nil, "", nil),
		"zip64 records":                 crafted(stored, true),
		"zip64 sizes only in directory": crafted(stored, false),
	}
}

// readAll proves archive/zip agrees the archive is valid: every file
// reads to the end, which checks its CRC-32.
func readAll(b []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return err
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	return nil
}

func TestVerifyAcceptsValidArchives(t *testing.T) {
	for name, b := range validArchives(t, nil) {
		t.Run(name, func(t *testing.T) {
			if err := readAll(b); err != nil {
				t.Fatalf("archive/zip rejects the fixture: %v", err)
			}
			zr, _ := zip.NewReader(bytes.NewReader(b), int64(len(b)))
			sum, err := Verify(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if sum.Entries != len(zr.File) || sum.Size != int64(len(b)) {
				t.Fatalf("summary %+v, archive has %d entries and %d bytes", sum, len(zr.File), len(b))
			}
		})
	}
}

// mutate returns a copy of b changed by f.
func mutate(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }

func TestVerifyRefusesCorruptArchives(t *testing.T) {
	deflated := zipWith(t, sample, "", addDeflate)
	raw := zipWith(t, sample, "", addRaw(zip.Deflate))
	storedDesc := zipWith(t, sample, "", addStoredDescriptor)
	eocd := bytes.LastIndex(deflated, []byte("PK\x05\x06"))
	cd := bytes.Index(deflated, []byte("PK\x01\x02"))
	tests := []struct {
		name, want string
		in         []byte
	}{
		{"empty body", "empty body", nil},
		{"HTML error page", "does not start with a ZIP signature", []byte("<html><body>Service Unavailable</body></html>")},
		{"JSON error", "does not start with a ZIP signature", []byte(`{"status":500,"message":"oops"}`)},
		{"signature then garbage", "", []byte("PK\x03\x04garbage that is not a header at all, not at all")},
		{"flipped byte in deflate data", "", mutate(deflated, func(b []byte) []byte { b[200] ^= 0xff; return b })},
		{"flipped byte in raw deflate data", "", mutate(raw, func(b []byte) []byte { b[100] ^= 0x01; return b })},
		{"flipped byte in stored data", "ends inside the data", mutate(storedDesc, func(b []byte) []byte { b[60] ^= 0x01; return b })},
		{"CRC in the header wrong", "CRC-32 mismatch", mutate(raw, func(b []byte) []byte { b[14] ^= 0x01; return b })},
		{"central directory name differs", "central directory names entry", mutate(deflated, func(b []byte) []byte { b[cd+46] ^= 0x20; return b })},
		{"central directory offset wrong", "where no entry starts", mutate(deflated, func(b []byte) []byte { b[cd+42]++; return b })},
		{"end record count wrong", "end record says", mutate(deflated, func(b []byte) []byte { b[eocd+10]++; b[eocd+8]++; return b })},
		{"end record offset wrong", "end record says", mutate(deflated, func(b []byte) []byte { b[eocd+16]++; return b })},
		{"trailing data", "data follows the end", append(bytes.Clone(deflated), "more"...)},
		{"two archives back to back", "", append(bytes.Clone(deflated), deflated...)},
		{"central directory missing", "central directory lists 0 entries", append(bytes.Clone(deflated[:cd]), zipWith(t, nil, "", nil)...)},
		{"encrypted entry", "encrypted", mutate(raw, func(b []byte) []byte { b[6] |= 1; return b })},
		{"unsupported method", "compression method 12", mutate(raw, func(b []byte) []byte { b[8] = 12; return b })},
		{"entry listed twice", "listed twice", mutate(deflated, func(b []byte) []byte {
			// Repeat the first central header in place of the second.
			next := cd + 46 + int(binary.LittleEndian.Uint16(b[cd+28:])) + int(binary.LittleEndian.Uint16(b[cd+30:])) + int(binary.LittleEndian.Uint16(b[cd+32:]))
			return append(append(append([]byte{}, b[:next]...), b[cd:next]...), b[next:]...)
		})},
		{"zip64 locator wrong", "zip64 locator points", mutate(crafted(sample[:1], true), func(b []byte) []byte {
			i := bytes.LastIndex(b, []byte("PK\x06\x07"))
			b[i+8]++
			return b
		})},
		{"zip64 sizes only in directory, data cut short", "", mutate(crafted(sample[:1], false), func(b []byte) []byte {
			return append(b[:100], b[110:]...)
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(tt.in))
			var ze *Error
			if !errors.As(err, &ze) {
				t.Fatalf("Verify = %v, want *Error", err)
			}
			if !strings.Contains(ze.Reason, tt.want) {
				t.Fatalf("reason %q, want it to mention %q", ze.Reason, tt.want)
			}
		})
	}
}

func TestVerifyRefusesEveryTruncation(t *testing.T) {
	small := []file{{"r.xlsx", payload(300, 5)}, {"d/", nil}, {"b", payload(60, 6)}}
	for name, b := range validArchives(t, small) {
		t.Run(name, func(t *testing.T) {
			for n := range len(b) {
				_, err := Verify(bytes.NewReader(b[:n]))
				var ze *Error
				if !errors.As(err, &ze) {
					t.Fatalf("prefix of %d/%d bytes: Verify = %v, want *Error", n, len(b), err)
				}
			}
		})
	}
}

func TestVerifyPassesSourceErrorsThrough(t *testing.T) {
	b := zipWith(t, sample, "", addDeflate)
	boom := errors.New("connection reset by peer")
	for _, cut := range []int{0, 10, 200, len(b) - 30, len(b) - 1} {
		_, err := Verify(io.MultiReader(bytes.NewReader(b[:cut]), errReader{boom}))
		if !errors.Is(err, boom) {
			t.Fatalf("cut at %d: %v, want the source's error", cut, err)
		}
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
