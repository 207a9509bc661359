package convert

import (
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/insights-export/insights-export/internal/dataset"
)

// slashDate is a date written n/n/yyyy: month-first in the US, day-first
// in most other locales, and AvePoint documents neither. Compiled on first
// use, not at package init, which every cold start of the two dataset
// functions would pay for (BENCHMARKS.md §1b, package init).
var slashDate = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^\s*(\d{1,2})/(\d{1,2})/(\d{4})(.*)$`)
})

// dateOrder gathers evidence, row by row, of how a sheet's n/n/yyyy text
// dates are ordered: a first field above 12 can only be a day, a second
// field above 12 only a day too. Read the wrong way, a day-first column
// would parse for the first twelve days of every month, each time to the
// wrong instant, and fail for the rest.
type dateOrder struct {
	cols                 []int // the columns that may hold the time
	seen                 bool  // a slash date was found
	dayFirst, monthFirst bool
}

func newDateOrder(names []string) *dateOrder {
	d := &dateOrder{}
	for i, n := range names {
		if dataset.IsTimeColumn(n) {
			d.cols = append(d.cols, i)
		}
	}
	return d
}

func (d *dateOrder) observe(values []string, dates []bool) {
	for _, i := range d.cols {
		if i >= len(values) || (i < len(dates) && dates[i]) {
			continue
		}
		m := slashDate().FindStringSubmatch(values[i])
		if m == nil {
			continue
		}
		d.seen = true
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		switch {
		case a > 12 && b <= 12:
			d.dayFirst = true
		case b > 12 && a <= 12:
			d.monthFirst = true
		}
	}
}

// decided reports whether the evidence settles the order (or there is no
// slash date to order).
func (d *dateOrder) decided() bool { return d.dayFirst || d.monthFirst }

// describe says how the sheet's slash dates are read, "" when it has none.
func (d *dateOrder) describe() string {
	switch {
	case !d.seen:
		return ""
	case d.dayFirst && d.monthFirst:
		return "mixed: n/n/yyyy dates that are day-first and month-first; read month-first, the day-first ones have no time"
	case d.dayFirst:
		return "day-first (a first field above 12)"
	case d.monthFirst:
		return "month-first (a second field above 12)"
	}
	return "month-first (assumed: no field above 12 tells)"
}

// parser returns the text-time parser for the sheet: base, with n/n/yyyy
// dates swapped to month-first when the sheet's are day-first.
func (d *dateOrder) parser(base func(string) (time.Time, bool)) func(string) (time.Time, bool) {
	if !d.dayFirst || d.monthFirst {
		return base
	}
	return func(s string) (time.Time, bool) {
		if m := slashDate().FindStringSubmatch(s); m != nil {
			s = m[2] + "/" + m[1] + "/" + m[3] + m[4]
		}
		return base(s)
	}
}
