// Package schedule computes the export windows of scheduled runs.
//
// A scheduled run exports whole periods of the schedule's own clock: a
// daily run at 00:15 Europe/Berlin exports the previous Berlin day,
// 00:00–24:00 local time (23 or 25 hours long on the days the clocks
// change), never "now minus 24 h". Windows are half-open, [Start, Finish),
// and carried as UTC instants because AvePoint takes UTC times.
//
// Period boundaries are computed on the wall clock of the location and then
// turned into instants, which is what makes month ends, leap days and
// daylight-saving changes come out right: the arithmetic never adds a fixed
// number of hours.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Period is the length of the windows a schedule exports.
type Period string

// The periods a schedule can have. Weeks start on Monday (ISO 8601).
const (
	Hour  Period = "hour"
	Day   Period = "day"
	Week  Period = "week"
	Month Period = "month"
)

// Periods lists the valid periods, for messages.
var Periods = []Period{Hour, Day, Week, Month}

// ParsePeriod accepts a period name, also in the adverb forms "hourly",
// "daily", "weekly" and "monthly" that schedules tend to be described with.
func ParsePeriod(s string) (Period, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "hour", "hourly":
		return Hour, nil
	case "day", "daily":
		return Day, nil
	case "week", "weekly":
		return Week, nil
	case "month", "monthly":
		return Month, nil
	}
	return "", fmt.Errorf("unknown period %q (use hour, day, week or month)", s)
}

// Spec is a schedule's window rule.
type Spec struct {
	Period Period
	// Location is the schedule's time zone; nil means UTC.
	Location *time.Location
	// Overlap widens every window backwards by this much, so activity that
	// reaches AvePoint late is read again by the next run. Zero for none.
	Overlap time.Duration
}

// Window is a half-open interval [Start, Finish) of UTC instants.
type Window struct {
	Start  time.Time
	Finish time.Time
}

func (w Window) String() string {
	return w.Start.UTC().Format(time.RFC3339) + "--" + w.Finish.UTC().Format(time.RFC3339)
}

// Validate checks the spec.
func (s Spec) Validate() error {
	switch s.Period {
	case Hour, Day, Week, Month:
	default:
		return fmt.Errorf("unknown period %q", s.Period)
	}
	if s.Overlap < 0 {
		return errors.New("overlap must not be negative")
	}
	return nil
}

func (s Spec) loc() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

// Floor returns the start of the period that contains t.
func (s Spec) Floor(t time.Time) time.Time {
	loc := s.loc()
	lt := t.In(loc)
	switch s.Period {
	case Hour:
		// Subtracting the local minutes and seconds, rather than building
		// a wall-clock time, keeps the repeated hour of a fall-back night
		// unambiguous and works for zones offset by 30 or 45 minutes.
		off := time.Duration(lt.Minute())*time.Minute + time.Duration(lt.Second())*time.Second + time.Duration(lt.Nanosecond())
		return t.Add(-off).UTC()
	case Day:
		return dayStart(lt.Year(), lt.Month(), lt.Day(), loc)
	case Week:
		back := (int(lt.Weekday()) + 6) % 7 // days since Monday
		return dayStart(lt.Year(), lt.Month(), lt.Day()-back, loc)
	case Month:
		return dayStart(lt.Year(), lt.Month(), 1, loc)
	}
	return t.UTC()
}

// Prev returns the start of the period before the one that starts at
// start (start must be a period start, as Floor returns).
func (s Spec) Prev(start time.Time) time.Time {
	return s.Floor(start.Add(-time.Nanosecond))
}

// Last is the window of a plain scheduled run at time at: the last whole
// period that ended at or before at, widened backwards by the overlap.
func (s Spec) Last(at time.Time) Window {
	end := s.Floor(at)
	return Window{Start: s.Prev(end).Add(-s.Overlap), Finish: end}
}

// Incremental is the window of an incremental run at time at for a user
// whose reports are stored up to mark (the high-water mark; zero when the
// user has none yet). It ends where Last ends and starts at the mark,
// widened backwards by the overlap, so runs that failed or were skipped
// leave no gap: the next run covers everything since the mark. Without a
// mark it starts lookback whole periods back. ok is false when the mark
// already reaches the end: nothing new to export.
func (s Spec) Incremental(at, mark time.Time, lookback int) (w Window, ok bool) {
	end := s.Floor(at)
	if !mark.IsZero() {
		if !mark.Before(end) {
			return Window{}, false
		}
		return Window{Start: mark.Add(-s.Overlap).UTC(), Finish: end}, true
	}
	start := end
	for range max(lookback, 1) {
		start = s.Prev(start)
	}
	return Window{Start: start, Finish: end}, true
}

// dayStart is the first instant of a calendar day in loc (y, m, d are
// normalised like time.Date's). Where the clocks jump over midnight
// (America/Santiago, America/Havana, …) midnight does not exist and the
// day starts at the jump.
func dayStart(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	want := time.Date(y, m, d, 12, 0, 0, 0, time.UTC) // normalised calendar date
	if t.Day() != want.Day() {
		// time.Date resolved the missing midnight into the previous day;
		// the day begins when that day's zone ends.
		_, end := t.ZoneBounds()
		if !end.IsZero() {
			t = end
		}
	}
	return t.UTC()
}
