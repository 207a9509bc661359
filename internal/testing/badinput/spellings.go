package badinput

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/insights-export/insights-export/internal/request"
)

// Spellings returns the ways s (an address, a key) can appear in a log
// line, an error or an answer: raw; encoded by url.PathEscape,
// url.QueryEscape, request.KeyEscape and with every byte escaped; each of
// those encoded a second time (the S3 SDK encodes a key that was already
// escaped: %23 becomes %2523); and all of them with lower-case hex. A leak
// check looks for every one (the unit tests of the packages that build
// errors from keys, and devstack's log scan).
func Spellings(s string) []string {
	every := func(v string) string { return request.PercentEncode(v, "") }
	encoders := []func(string) string{url.PathEscape, url.QueryEscape, request.KeyEscape, every}
	out := []string{s}
	for _, once := range encoders {
		e := once(s)
		out = append(out, e)
		for _, twice := range encoders {
			out = append(out, twice(e))
		}
	}
	for _, v := range slices.Clone(out) {
		out = append(out, lowerHex(v))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

var percentHex = regexp.MustCompile(`%[0-9A-F]{2}`)

func lowerHex(s string) string { return percentHex.ReplaceAllStringFunc(s, strings.ToLower) }

// Leaks returns the first spelling of any secret that text holds, or "".
func Leaks(text string, secrets ...string) string {
	for _, s := range secrets {
		for _, sp := range Spellings(s) {
			if strings.Contains(text, sp) {
				return sp
			}
		}
	}
	return ""
}
