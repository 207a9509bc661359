package zipcheck

import (
	"archive/zip"
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
	"testing/synctest"
)

func TestReaderPassesValidArchivesThroughUnchanged(t *testing.T) {
	for name, b := range validArchives(t, nil) {
		for _, src := range []struct {
			name string
			r    func() io.Reader
		}{
			{"whole", func() io.Reader { return bytes.NewReader(b) }},
			{"one byte at a time", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
			{"data with EOF", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
		} {
			t.Run(name+"/"+src.name, func(t *testing.T) {
				r := NewReader(src.r())
				defer r.Close()
				got, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, b) {
					t.Fatalf("passed %d bytes through, want the %d of the archive", len(got), len(b))
				}
				sum, ok := r.Summary()
				if !ok || sum.Size != int64(len(b)) {
					t.Fatalf("summary %+v %v", sum, ok)
				}
				if n, err := r.Read(make([]byte, 8)); n != 0 || err != io.EOF {
					t.Fatalf("read after EOF = %d, %v", n, err)
				}
			})
		}
	}
}

// A corrupt archive must never end in io.EOF: an upload that completes on
// EOF would store it.
func TestReaderNeverEndsCorruptArchivesWithEOF(t *testing.T) {
	good := zipWith(t, sample, "", addDeflate)
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"HTML", []byte("<html>503 Service Unavailable</html>")},
		{"first half of an archive", good[:len(good)/2]},
		{"flipped byte", mutate(good, func(b []byte) []byte { b[300] ^= 0x40; return b })},
		{"trailing data", append(bytes.Clone(good), 0)},
		{"empty", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(iotest.HalfReader(bytes.NewReader(tt.in)))
			defer r.Close()
			_, err := io.ReadAll(r)
			var ze *Error
			if !errors.As(err, &ze) {
				t.Fatalf("ReadAll = %v, want *Error", err)
			}
			if _, again := r.Read(make([]byte, 1)); !errors.As(again, &ze) {
				t.Fatalf("later Read = %v, want the same *Error", again)
			}
			if _, ok := r.Summary(); ok {
				t.Fatal("summary of a corrupt archive")
			}
		})
	}
}

func TestReaderReturnsSourceErrorsUnchanged(t *testing.T) {
	good := zipWith(t, sample, "", addDeflate)
	reset := errors.New("connection reset by peer")
	for _, cut := range []int{0, 1, len(good) / 3, len(good) - 1} {
		r := NewReader(io.MultiReader(bytes.NewReader(good[:cut]), errReader{reset}))
		got, err := io.ReadAll(r)
		r.Close()
		if !errors.Is(err, reset) {
			t.Fatalf("cut at %d: %v, want the source's error", cut, err)
		}
		var ze *Error
		if errors.As(err, &ze) {
			t.Fatalf("cut at %d: a transport failure reported as a corrupt archive", cut)
		}
		if !bytes.Equal(got, good[:cut]) {
			t.Fatalf("cut at %d: passed %d bytes", cut, len(got))
		}
	}
}

// Close stops the verifier goroutine; synctest fails the test if any
// goroutine of the bubble is left behind.
func TestReaderCloseStopsTheVerifier(t *testing.T) {
	good := zipWith(t, sample, "", addDeflate)
	synctest.Test(t, func(t *testing.T) {
		r := NewReader(bytes.NewReader(good))
		if _, err := io.ReadFull(r, make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		r.Close()
		r.Close()
		if _, err := r.Read(make([]byte, 10)); err == nil || err == io.EOF {
			t.Fatalf("read after Close = %v", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		r := NewReader(bytes.NewReader(good)) // never read
		r.Close()
	})
}

// bigArchive writes a raw stored archive of one entry of size bytes into a
// pipe, without holding it: the data is block repeated.
func bigArchive(t *testing.T, size int64) io.Reader {
	block := payload(1<<20, 9)
	var crc uint32
	for left := size; left > 0; left -= int64(len(block)) {
		crc = crc32.Update(crc, crc32.IEEETable, block[:min(left, int64(len(block)))])
	}
	pr, pw := io.Pipe()
	go func() {
		zw := zip.NewWriter(pw)
		w, err := zw.CreateRaw(&zip.FileHeader{Name: "padding.bin", Method: zip.Store, CRC32: crc,
			CompressedSize64: uint64(size), UncompressedSize64: uint64(size)})
		for left := size; err == nil && left > 0; left -= int64(len(block)) {
			_, err = w.Write(block[:min(left, int64(len(block)))])
		}
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

func TestReaderMemoryDoesNotGrowWithTheArchive(t *testing.T) {
	measure := func(size int64) uint64 {
		src := bigArchive(t, size)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := NewReader(src)
		n, err := io.Copy(io.Discard, r)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if n <= size {
			t.Fatalf("copied %d bytes of a %d byte entry", n, size)
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	small, large := measure(8<<20), measure(128<<20)
	t.Logf("allocated %d KiB verifying 8 MiB, %d KiB verifying 128 MiB", small>>10, large>>10)
	if large > 2<<20 {
		t.Errorf("verifying 128 MiB allocated %d KiB; want well under 2 MiB", large>>10)
	}
	if int64(large)-int64(small) > 512<<10 {
		t.Errorf("allocation grew by %d KiB from 8 to 128 MiB", (int64(large)-int64(small))>>10)
	}
}
