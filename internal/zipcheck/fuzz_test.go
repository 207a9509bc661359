package zipcheck

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzVerify: Verify never panics; whatever it accepts, archive/zip opens
// and reads to the end with matching CRCs; and the streaming Reader agrees
// with Verify and passes the bytes through unchanged.
func FuzzVerify(f *testing.F) {
	small := []file{{"r.xlsx", payload(200, 7)}, {"d/", nil}, {"b", payload(40, 8)}}
	for _, b := range validArchives(f, small) {
		f.Add(b)
	}
	f.Add([]byte("<html>oops</html>"))
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, in []byte) {
		sum, err := Verify(bytes.NewReader(in))
		var ze *Error
		if err != nil && !errors.As(err, &ze) {
			t.Fatalf("Verify of an in-memory input returned a non-archive error: %v", err)
		}
		r := NewReader(bytes.NewReader(in))
		out, rerr := io.ReadAll(r)
		r.Close()
		if (err == nil) != (rerr == nil) {
			t.Fatalf("Verify = %v but the Reader ended with %v", err, rerr)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(out, in) {
			t.Fatal("the Reader changed the bytes")
		}
		if sum.Size != int64(len(in)) {
			t.Fatalf("summary size %d of %d bytes", sum.Size, len(in))
		}
		if zerr := readAll(in); zerr != nil {
			t.Fatalf("Verify accepted an archive that archive/zip cannot read: %v", zerr)
		}
	})
}
