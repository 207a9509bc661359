package xlsx

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

func TestIsDateFormat(t *testing.T) {
	for code, want := range map[string]bool{
		"yyyy-mm-dd h:mm:ss":         true,
		`yyyy\-mm\-dd\ h:mm:ss`:      true,
		"m/d/yy":                     true,
		"d-mmm-yy":                   true,
		"mmm":                        true,
		"h:mm AM/PM":                 true,
		"[h]:mm:ss":                  true,
		"[h]":                        true,
		"[mm]":                       true,
		"[ss].0":                     true,
		`[$-409]dddd, mmmm dd, yyyy`: true,
		`[$-F400]h:mm:ss AM/PM`:      true,
		"DD.MM.YYYY":                 true,
		"General":                    false,
		"0.00":                       false,
		"[Red]0":                     false,
		"[Magenta]#,##0":             false,
		"#,##0.00 [$€-1]":            false,
		`#,##0 "days"`:               false,
		`0\s`:                        false,
		`0.0" sec"`:                  false,
		`_(* #,##0_);_(* (#,##0);_(* "-"_);_(@_)`: false,
		"0.00E+00":            false,
		"@":                   false,
		"":                    false,
		"[<=9999999]###-####": false,
		`0_m`:                 false,
		`0*y`:                 false,
	} {
		if got := isDateFormat(code); got != want {
			t.Errorf("isDateFormat(%q) = %v, want %v", code, got, want)
		}
		if got := oracleDateFormat(code); got != want {
			t.Errorf("the tests' oracle says %v for %q", got, code)
		}
	}
	for id := 0; id < 200; id++ {
		if isBuiltinDateFormat(id) != oracleBuiltinDate(id) {
			t.Errorf("built-in format %d", id)
		}
	}
}

func TestSerialDates(t *testing.T) {
	for _, tc := range []struct {
		serial   float64
		date1904 bool
		want     string // "" = not a date
	}{
		{0, false, "1899-12-31T00:00:00"}, // Excel's 1900-01-00
		{0.5451388888888889, false, "1899-12-31T13:05:00"},
		{1, false, "1900-01-01T00:00:00"},
		{59, false, "1900-02-28T00:00:00"},
		{59.99999, false, "1900-02-28T23:59:59"},
		{59.999999, false, "1900-02-29T00:00:00"}, // rounds into the bug day
		{60, false, "1900-02-29T00:00:00"},
		{60.5, false, "1900-02-29T12:00:00"},
		{61, false, "1900-03-01T00:00:00"},
		{25569, false, "1970-01-01T00:00:00"},
		{46350, false, "2026-11-24T00:00:00"},
		{46350.54513888889, false, "2026-11-24T13:05:00"},
		{46350.5451388889, false, "2026-11-24T13:05:00"}, // LibreOffice's 15 digits
		{46350.99999999, false, "2026-11-25T00:00:00"},
		{46350.000005, false, "2026-11-24T00:00:00"},
		{46350.000006, false, "2026-11-24T00:00:01"},
		{2958465.999988, false, "9999-12-31T23:59:59"},
		{2958466, false, ""},
		{-1, false, ""},
		{math.NaN(), false, ""},
		{0, true, "1904-01-01T00:00:00"},
		{0.5, true, "1904-01-01T12:00:00"},
		{60, true, "1904-03-01T00:00:00"},
		{44888.54513888889, true, "2026-11-24T13:05:00"},
		{2957003, true, "9999-12-31T00:00:00"},
		{2957004, true, ""},
	} {
		got, ok := appendSerialDate(nil, tc.serial, tc.date1904)
		if string(got) != tc.want || ok != (tc.want != "") {
			t.Errorf("serial %v (1904 %v) = %q %v, want %q", tc.serial, tc.date1904, got, ok, tc.want)
		}
	}
}

// From serial 61 on both systems agree with excelize's ExcelDateToTime,
// whose rounding (to the nearest second, ties at half a second truncated,
// after a 1e-9 day nudge) is checked away from the ties.
func TestSerialDatesAgreeWithExcelize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		date1904 := i%2 == 1
		serial := 61 + rng.Float64()*(2957000-61)
		if i%3 == 0 {
			serial = float64(int(serial)) + float64(rng.IntN(86400))/86400 // whole seconds
		}
		frac := serial*86400 - math.Floor(serial*86400)
		if math.Abs(frac-0.5) < 0.01 {
			continue
		}
		tm, err := excelize.ExcelDateToTime(serial, date1904)
		if err != nil {
			t.Fatal(err)
		}
		want := tm.Round(time.Second).Format(isoLayout)
		got, ok := appendSerialDate(nil, serial, date1904)
		if !ok || string(got) != want {
			t.Fatalf("serial %v (1904 %v) = %q, excelize %q", serial, date1904, got, want)
		}
	}
}

func TestCivil(t *testing.T) {
	for d := int64(-25569); d < 2932897; d += 3 {
		y, m, day := civil(d)
		want := time.Unix(d*86400, 0).UTC()
		if y != want.Year() || m != int(want.Month()) || day != want.Day() {
			t.Fatalf("civil(%d) = %d-%d-%d, want %s", d, y, m, day, want.Format("2006-01-02"))
		}
	}
}
