package xlsx

import (
	"strings"
	"time"
)

// ParseTextTime reads a date or date-time written as text, the forms a
// report may hold in a text cell (or a t="d" cell):
//
//	2026-11-24T13:05:00        ISO 8601; also with a space for the T, without
//	2026-11-24 13:05:00.250      seconds, with a fraction (. or ,) of up to 9
//	2026-11-24T13:05:00Z         digits, and with a zone: Z, UTC, GMT, +01:00,
//	2026-11-24T13:05:00+01:00    +0100 or +01 (a space before it is allowed)
//	2026-11-24                 date only: midnight
//	2026/11/24 13:05:00        year first with slashes (as the ISO forms)
//	11/24/2026 01:05:00 PM     month/day/year, 12-hour clock (AM/PM, any case)
//	11/24/2026 13:05           month/day/year, 24-hour clock, seconds optional
//	11/24/2026                 date only
//	24.11.2026 13:05:00        day.month.year (dots are day-first everywhere)
//
// Ambiguity: a date with slashes and the year last is always read as
// month/day/year (the US form, which an en-US report uses). A first field
// above 12 is refused rather than read as a day, so a day-first (fr-FR,
// en-GB) column fails on its first such value instead of being silently
// read half one way and half the other; such a column must be read with
// its locale by the caller. Months and days may have one or two digits,
// years must have four, the hour one or two.
//
// A time without a zone is taken as UTC. ok is false for anything else,
// including impossible dates (2026-02-30) and times (24:00, 13:05 PM).
func ParseTextTime(s string) (time.Time, bool) {
	p := timeParser{s: strings.TrimSpace(s)}
	y, mo, d, ok := p.date()
	if !ok || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) {
		return time.Time{}, false
	}
	if p.done() {
		return time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC), true
	}
	if !p.lit("T") && !p.spaces() {
		return time.Time{}, false
	}
	h, mi, sec, nsec, ok := p.clock()
	if !ok {
		return time.Time{}, false
	}
	p.spaces()
	if p.fold("AM") || p.fold("PM") {
		if h < 1 || h > 12 {
			return time.Time{}, false
		}
		pm := strings.EqualFold(p.s[p.i-2:p.i], "PM")
		h %= 12
		if pm {
			h += 12
		}
		p.spaces()
	}
	if h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	loc := time.UTC
	if !p.done() {
		off, ok := p.zone()
		if !ok || !p.done() {
			return time.Time{}, false
		}
		if off != 0 {
			loc = time.FixedZone("", off)
		}
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, nsec, loc), true
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

type timeParser struct {
	s string
	i int
}

func (p *timeParser) done() bool { return p.i == len(p.s) }

func (p *timeParser) lit(l string) bool {
	if strings.HasPrefix(p.s[p.i:], l) {
		p.i += len(l)
		return true
	}
	return false
}

func (p *timeParser) fold(l string) bool {
	if len(p.s)-p.i >= len(l) && strings.EqualFold(p.s[p.i:p.i+len(l)], l) {
		p.i += len(l)
		return true
	}
	return false
}

func (p *timeParser) spaces() bool {
	j := p.i
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
	return p.i > j
}

// num reads minN to maxN digits.
func (p *timeParser) num(minN, maxN int) (int, bool) {
	v, n := 0, 0
	for p.i < len(p.s) && n < maxN && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		v = v*10 + int(p.s[p.i]-'0')
		p.i++
		n++
	}
	return v, n >= minN
}

func (p *timeParser) date() (y, m, d int, ok bool) {
	a, ok := p.num(1, 4)
	if !ok || p.done() {
		return 0, 0, 0, false
	}
	yearFirst := p.i == 4
	sep := p.s[p.i]
	if sep != '-' && sep != '/' && sep != '.' {
		return 0, 0, 0, false
	}
	p.i++
	b, ok1 := p.num(1, 2)
	if !ok1 || !p.lit(string(sep)) {
		return 0, 0, 0, false
	}
	if yearFirst {
		if sep == '.' {
			return 0, 0, 0, false
		}
		c, ok := p.num(1, 2)
		return a, b, c, ok && a >= 1
	}
	if sep == '-' {
		return 0, 0, 0, false // 24-11-2026: no such form is read
	}
	c, ok := p.num(4, 4)
	if !ok || c < 1 {
		return 0, 0, 0, false
	}
	if sep == '.' {
		return c, b, a, true // day.month.year
	}
	return c, a, b, true // month/day/year
}

func (p *timeParser) clock() (h, m, s, ns int, ok bool) {
	if h, ok = p.num(1, 2); !ok || !p.lit(":") {
		return 0, 0, 0, 0, false
	}
	if m, ok = p.num(2, 2); !ok {
		return 0, 0, 0, 0, false
	}
	if !p.lit(":") {
		return h, m, 0, 0, true
	}
	if s, ok = p.num(2, 2); !ok {
		return 0, 0, 0, 0, false
	}
	if p.lit(".") || p.lit(",") {
		start := p.i
		f, ok := p.num(1, 9)
		if !ok {
			return 0, 0, 0, 0, false
		}
		for n := p.i - start; n < 9; n++ {
			f *= 10
		}
		ns = f
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++ // digits past nanoseconds: dropped
		}
	}
	return h, m, s, ns, true
}

// zone reads Z, UTC, GMT or ±HH[:MM|MM], returning the offset in seconds.
func (p *timeParser) zone() (int, bool) {
	if p.lit("Z") || p.fold("UTC") || p.fold("GMT") {
		return 0, true
	}
	sign := 1
	switch {
	case p.lit("+"):
	case p.lit("-"):
		sign = -1
	default:
		return 0, false
	}
	h, ok := p.num(2, 2)
	if !ok || h > 14 {
		return 0, false
	}
	m := 0
	if !p.done() {
		p.lit(":")
		if m, ok = p.num(2, 2); !ok || m > 59 {
			return 0, false
		}
	}
	return sign * (h*3600 + m*60), true
}
