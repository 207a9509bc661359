package xlsx

import "math"

// isBuiltinDateFormat reports whether a built-in number format (one a
// style names by id without defining it) shows a date or a time: ids 14–22
// (dates, times, date-times), 27–36 and 50–58 (the East Asian date
// formats) and 45–47 (minutes and seconds, elapsed hours).
func isBuiltinDateFormat(id int) bool {
	return id >= 14 && id <= 22 || id >= 27 && id <= 36 || id >= 45 && id <= 47 || id >= 50 && id <= 58
}

// isDateFormat reports whether a number format code shows a date or a
// time: whether it has a d, m, y, h or s (any case) outside quoted text
// ("…"), escaped characters (\x), the padding and fill directives (_x, *x)
// and bracketed sections ([Red], [$-409], [<100]), where the elapsed-time
// brackets [h], [mm], [ss] do count. So "yyyy-mm-dd h:mm", "[h]:mm" and
// "mmm" are dates; "0.00", "[Red]0", "#,##0 \"days\"" and "General" are not.
func isDateFormat(code string) bool {
	for i := 0; i < len(code); i++ {
		switch c := code[i]; c {
		case '"':
			for i++; i < len(code) && code[i] != '"'; i++ {
			}
		case '\\', '_', '*':
			i++
		case '[':
			j := i + 1
			for j < len(code) && code[j] != ']' {
				j++
			}
			if isElapsed(code[i+1 : min(j, len(code))]) {
				return true
			}
			i = j
		case 'd', 'D', 'm', 'M', 'y', 'Y', 'h', 'H', 's', 'S':
			return true
		}
	}
	return false
}

// isElapsed: the inside of a bracket is an elapsed-time token (h, mm, ss…).
func isElapsed(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c != s[0]|0x20 || (c != 'h' && c != 'm' && c != 's') {
			return false
		}
	}
	return true
}

// Day numbers (days since 1970-01-01) of the two date systems' day 0.
const (
	epoch1900 = -25569 // 1899-12-30: day 0 of the 1900 system, from serial 61 on
	epoch1904 = -24107 // 1904-01-01
	// The largest serial Excel shows as a date: 9999-12-31 (1900 system).
	maxSerial1900 = 2958465
)

// appendSerialDate appends the ISO-8601 text (2006-01-02T15:04:05) of a
// date serial, rounded to the nearest second. In the 1900 system serial 60
// is 1900-02-29, the day Excel keeps from Lotus 1-2-3's leap-year bug, and
// serials below it are one day later than their count from 1899-12-30 (so
// 1 is 1900-01-01, and a time of day alone, below 1, is on 1899-12-31, as
// Excel shows "1900-01-00"). ok is false for a number that Excel shows as
// no date (negative, or past 9999-12-31).
func appendSerialDate(dst []byte, v float64, date1904 bool) ([]byte, bool) {
	if !(v >= 0) || v > maxSerial1900+1 {
		return dst, false
	}
	secs := int64(math.Round(v * 86400)) // exact: v*86400 < 2^53
	days, sod := secs/86400, secs%86400
	var y, m, d int
	switch {
	case date1904:
		y, m, d = civil(days + epoch1904)
	case days == 60:
		y, m, d = 1900, 2, 29
	case days < 60:
		y, m, d = civil(days + epoch1900 + 1)
	default:
		y, m, d = civil(days + epoch1900)
	}
	if y > 9999 {
		return dst, false
	}
	dst = appendDigits(dst, y, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, m, 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, d, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, int(sod/3600), 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, int(sod/60%60), 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, int(sod%60), 2)
	return dst, true
}

func appendDigits(dst []byte, v, width int) []byte {
	var b [8]byte
	i := len(b)
	for ; width > 0 || v > 0; width-- {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, b[i:]...)
}

// civil converts a day number (days since 1970-01-01, not before year 0)
// to a proleptic Gregorian date (H. Hinnant's days_from_civil inverse).
func civil(z int64) (year, month, day int) {
	z += 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if mp >= 10 {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return int(y), int(m), int(d)
}
