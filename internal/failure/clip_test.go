package failure

import "testing"

func TestClipKeepsErrorTextBoundedAndClean(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"a\nb\x00c", 10, "a b c"},
		{"\xff\xfe", 10, "\uFFFD"},
		{"ééééé", 3, "ééé…"},
	}
	for _, tc := range tests {
		if got := Clip(tc.in, tc.n); got != tc.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
