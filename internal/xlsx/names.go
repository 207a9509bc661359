package xlsx

import (
	"strconv"
	"strings"
	"unicode"
)

// NormalizeName turns header text into a column name: lower-cased, every
// run of characters that are not letters or digits (Unicode letters and
// digits count, and so do combining marks, which belong to the letter
// before them: "Adresse IP", "дата", "日付", "दिनांक" keep their words)
// replaced by one "_", leading and trailing "_" trimmed. "Date/Time (UTC)"
// is "date_time_utc", "IP Address" is "ip_address". Text with no letter or
// digit gives "".
func NormalizeName(header string) string {
	var b strings.Builder
	b.Grow(len(header))
	gap := false
	for _, r := range header {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) {
			if gap && b.Len() > 0 {
				b.WriteByte('_')
			}
			gap = false
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		gap = true
	}
	return b.String()
}

// namer hands out column names unique within a table.
type namer struct {
	taken map[string]bool
}

func newNamer(reserved []string) *namer {
	n := &namer{taken: make(map[string]bool, len(reserved)+16)}
	for _, r := range reserved {
		n.taken[r] = true
	}
	return n
}

// header names the header's columns. Each distinct normalized header keeps
// its name at its first column (unless reserved); the later columns with
// that name, and any column whose name is reserved, get the first free of
// name_2, name_3…; an empty header (or one with no letter or digit) is
// column_<position>. Names that headers give naturally are handed out first,
// so a header "Item 2" keeps item_2 even after two "Item" columns.
func (n *namer) header(headers []string, positions []int) []string {
	names := make([]string, len(headers))
	for i, h := range headers {
		if nn := NormalizeName(h); nn != "" && !n.taken[nn] {
			names[i] = nn
			n.taken[nn] = true
		}
	}
	for i, h := range headers {
		if names[i] != "" {
			continue
		}
		base := NormalizeName(h)
		if base == "" {
			base = "column_" + strconv.Itoa(positions[i])
		}
		names[i] = n.free(base)
	}
	return names
}

// free returns base, or the first of base_2, base_3… not yet taken, and
// takes it.
func (n *namer) free(base string) string {
	name := base
	for k := 2; n.taken[name]; k++ {
		name = base + "_" + strconv.Itoa(k)
	}
	n.taken[name] = true
	return name
}
