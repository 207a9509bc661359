package dataset

import "time"

// TimeColumn chooses the column a sheet's activity_time comes from and
// reads it row by row. The candidates are the columns whose names contain
// "time" or "date" (IsTimeColumn); the choice is made at the first row in
// which a candidate's cell parses — a date cell, or text ParseText reads —
// the leftmost such candidate, and holds for the rest of the sheet.
type TimeColumn struct {
	names  []string
	cands  []int
	chosen int
	parse  func(string) (time.Time, bool)
}

// NewTimeColumn prepares the choice over a sheet's column names.
// parseText reads text cells (nil: ISO-8601 only).
func NewTimeColumn(names []string, parseText func(string) (time.Time, bool)) *TimeColumn {
	if parseText == nil {
		parseText = parseISO
	}
	t := &TimeColumn{names: names, chosen: -1, parse: parseText}
	for i, n := range names {
		if IsTimeColumn(n) {
			t.cands = append(t.cands, i)
		}
	}
	return t
}

// Observe returns the row's activity time (UTC), nil when the chosen
// column's cell is empty or does not parse, or no column is chosen yet.
func (t *TimeColumn) Observe(values []string, dates []bool) *time.Time {
	parse := func(i int) (time.Time, bool) {
		if i >= len(values) || values[i] == "" {
			return time.Time{}, false
		}
		if i < len(dates) && dates[i] {
			return parseISO(values[i])
		}
		return t.parse(values[i])
	}
	if t.chosen < 0 {
		for _, i := range t.cands {
			if _, ok := parse(i); ok {
				t.chosen = i
				break
			}
		}
		if t.chosen < 0 {
			return nil
		}
	}
	at, ok := parse(t.chosen)
	if !ok {
		return nil
	}
	at = at.UTC()
	return &at
}

// Name is the chosen column's name, "" when none is chosen.
func (t *TimeColumn) Name() string {
	if t.chosen < 0 {
		return ""
	}
	return t.names[t.chosen]
}
