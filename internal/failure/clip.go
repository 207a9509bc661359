package failure

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clip bounds s to n runes of valid UTF-8 without control characters,
// "…" marking a cut: the text of an AWS SDK error (or any other outside
// text) put in an error's Reason ends up in log lines and Step Functions
// causes, which must stay short and printable.
func Clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
