package request

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// TimeLayout is AvePoint's time format for startTime and finishTime: UTC,
// no zone suffix, no fraction.
const TimeLayout = "2006-01-02T15:04:05"

// FormatTime renders an instant in AvePoint's format (UTC, seconds).
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// PercentEncode percent-encodes every byte of s but ASCII letters, digits
// and the bytes in keep, with upper-case hex digits. The request path
// (avepoint) and the object key (ObjectKey) both use it, each with its own
// keep set.
func PercentEncode(s, keep string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// KeyEscape percent-encodes s for a key segment, as ObjectKey writes the
// email: every byte but letters, digits and ".-_@~".
func KeyEscape(s string) string { return PercentEncode(s, ".-_@~") }

// UserRef stands in for an email in info-level logs: stable, so one user's
// lines can be found together, but not the address itself.
func UserRef(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return "u-" + hex.EncodeToString(sum[:6])
}
