package crc32x

import (
	"hash/crc32"
	"testing"
)

func TestCombine(t *testing.T) {
	data := []byte("The quick brown fox jumps over the lazy dog, twice: the quick brown fox jumps over the lazy dog.")
	for _, cut := range []int{0, 1, 7, 45, len(data) - 1, len(data)} {
		a, b := data[:cut], data[cut:]
		if got, want := Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b))), crc32.ChecksumIEEE(data); got != want {
			t.Fatalf("cut %d: Combine = %08x, want %08x", cut, got, want)
		}
	}
}
