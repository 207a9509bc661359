package zipcheck

import (
	"bytes"
	"io"
	"testing"
)

// chunked hands out at most n bytes per Read, as a TLS connection hands
// out one record (16 KiB) at a time.
type chunked struct {
	r io.Reader
	n int
}

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// BenchmarkReaderStored is the store step's case: a large stored entry
// read through the Reader in TLS-record-sized pieces into a large buffer
// (the upload's part buffer).
func BenchmarkReaderStored(b *testing.B) {
	arch, err := io.ReadAll(bigArchive(&testing.T{}, 64<<20))
	if err != nil {
		b.Fatal(err)
	}
	part := make([]byte, 8<<20)
	b.SetBytes(int64(len(arch)))
	b.ResetTimer()
	for b.Loop() {
		r := NewReader(chunked{bytes.NewReader(arch), 16 << 10})
		for {
			_, err := r.Read(part)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
