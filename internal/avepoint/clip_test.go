package avepoint

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	for _, tt := range []struct {
		in    string
		limit int
		want  string
	}{
		{"invalid_client", 200, "invalid_client"},
		{"  padded\t", 200, "padded"},
		{"abcdef", 3, "abc…"},
		{"ééé", 5, "éé…"}, // é is 2 bytes: a third does not fit in 5
		{"ééé", 6, "ééé"},
		{"a\r\nb\x1b[31mc\u0085d\x7f", 200, "ab[31mcd"},
		{"bad\xffbyte", 200, "bad\ufffdbyte"},
		{"\xff\xff", 4, "\ufffd…"},
		{"", 10, ""},
		{"\x01 a \x02", 10, "a"},
	} {
		if got := clip(tt.in, tt.limit); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

// FuzzClip: whatever the input, the result is valid UTF-8 without control
// characters, at most limit bytes plus the "…" marking a cut, and a prefix
// (once cleaned) of the input.
func FuzzClip(f *testing.F) {
	for _, s := range []string{"", "invalid_client", "ééé", "a\r\nb", "\xff\xfe", strings.Repeat("x", 300), "\u2028\u0085"} {
		f.Add(s, 200)
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = max(0, limit%1000)
		got := clip(s, limit)
		body, cut := strings.CutSuffix(got, "…")
		if len(body) > limit {
			t.Fatalf("clip(%q, %d) = %q: %d bytes", s, limit, got, len(body))
		}
		if !utf8.ValidString(got) || strings.ContainsFunc(got, unicode.IsControl) {
			t.Fatalf("clip(%q, %d) = %q", s, limit, got)
		}
		clean := strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return -1
			}
			return r
		}, s) // strings.Map, like clip, turns each invalid byte into U+FFFD
		clean = strings.TrimSpace(clean)
		if !cut && body != clean || cut && !strings.HasPrefix(clean, body) {
			t.Fatalf("clip(%q, %d) = %q is not the cleaned input %q (or its prefix)", s, limit, got, clean)
		}
	})
}
