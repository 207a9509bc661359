package request

import (
	"slices"
	"strings"
)

// Object keys hold the user's address (user=<email>), and the S3 SDK
// quotes the request URL, with the key percent-encoded (and a key segment
// that was already escaped, %23 for '#', encoded again as %2523), in its
// error text. Errors become log lines, Step Functions causes and HTTP API
// answers, so whatever names a key is redacted where the error is made:
// RedactKey for the key itself, ScrubKey for text that may quote it.

// RedactKey returns key with its user=<email> segment replaced by
// user=<UserRef(email)>. A key without such a segment (a run's files) is
// returned as it is.
func RedactKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		if email, ok := keyEmail(s); ok {
			segs[i] = "user=" + UserRef(email)
		}
	}
	return strings.Join(segs, "/")
}

// ScrubKey removes key, and the address its user=<email> segment holds,
// from text in any encoding Redact knows: the key becomes RedactKey(key),
// any other spelling of the address its UserRef.
// Text about a key without an address (a run's files) is returned as it
// is.
func ScrubKey(text, key string) string {
	var emails []string
	for _, s := range strings.Split(key, "/") {
		if email, ok := keyEmail(s); ok {
			emails = append(emails, email)
		}
	}
	if len(emails) == 0 {
		return text
	}
	text = Redact(text, key, RedactKey(key))
	for _, email := range emails {
		text = Redact(text, email, UserRef(email))
	}
	return text
}

// keyEmail returns the address of a user=<email> key segment as
// ObjectKey writes it (KeyEscape of the lower-cased address).
func keyEmail(seg string) (string, bool) {
	v, ok := strings.CutPrefix(seg, "user=")
	if !ok {
		return "", false
	}
	email, ok := unescape(v)
	if !ok || !strings.Contains(email, "@") {
		return "", false // a hashed user part (see FitKey) is not an address
	}
	return email, true
}

// unescape reverses PercentEncode.
func unescape(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", false
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), true
}

// Redact replaces every spelling of secret in text with repl. A spelling
// writes each byte of secret raw, percent-encoded once or more (%40,
// %2540, %252540; hex digits of either case) or as a JSON \u00XX escape,
// in any mix; letters match regardless of case (addresses are
// case-insensitive). That covers url.PathEscape, url.QueryEscape,
// KeyEscape, the SDK's own path encoding, double encoding and lower-case
// hex without naming each.
func Redact(text, secret, repl string) string {
	if secret == "" || len(text) == 0 {
		return text
	}
	var b strings.Builder
	done := 0
	for i := 0; i < len(text); i++ {
		if n := matchSpelling(text[i:], secret); n > 0 {
			b.WriteString(text[done:i])
			b.WriteString(repl)
			done = i + n
			i = done - 1
		}
	}
	if done == 0 {
		return text
	}
	b.WriteString(text[done:])
	return b.String()
}

// matchSpelling returns the length of the longest prefix of s that
// spells secret, or 0. It follows every reading at once (a '%' is itself
// raw or %25), so the work is linear in len(secret) whatever s holds.
func matchSpelling(s, secret string) int {
	at := []int{0} // ends of the readings of secret[:k]
	var next []int
	for k := 0; k < len(secret) && len(at) > 0; k++ {
		want := foldByte(secret[k])
		next = next[:0]
		for _, p := range at {
			for _, r := range readings(s[p:]) {
				if r.b == want && !slices.Contains(next, p+r.n) {
					next = append(next, p+r.n)
				}
			}
		}
		at, next = next, at
	}
	if len(at) == 0 {
		return 0
	}
	return slices.Max(at)
}

type reading struct {
	b byte // folded
	n int
}

// readings lists the bytes s can start with and how long each spelling
// is: raw; %HH after any number of %25 layers (%2540 is '@' encoded
// twice); a JSON \u00HH escape.
func readings(s string) []reading {
	if s == "" {
		return nil
	}
	out := []reading{{foldByte(s[0]), 1}}
	if s[0] == '%' {
		for j := 1; j+2 <= len(s) && isHex(s[j]) && isHex(s[j+1]); j += 2 {
			out = append(out, reading{foldByte(unhex(s[j])<<4 | unhex(s[j+1])), j + 2})
			if s[j] != '2' || s[j+1] != '5' {
				break
			}
		}
	}
	if len(s) >= 6 && s[:4] == "\\u00" && isHex(s[4]) && isHex(s[5]) {
		out = append(out, reading{foldByte(unhex(s[4])<<4 | unhex(s[5])), 6})
	}
	return out
}

func foldByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
