package schedule

import (
	"testing"
	"time"

	// The tests must not depend on the host's zoneinfo (the Lambda runtime
	// has none either).
	_ "time/tzdata"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// local parses a wall-clock time in loc ("2006-01-02T15:04").
func local(t *testing.T, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02T15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLast(t *testing.T) {
	berlin, ny := zone(t, "Europe/Berlin"), zone(t, "America/New_York")
	kathmandu, santiago := zone(t, "Asia/Kathmandu"), zone(t, "America/Santiago")
	tests := []struct {
		name          string
		spec          Spec
		at            time.Time
		start, finish string
		hours         float64 // window length, to make DST effects explicit
	}{
		{"daily UTC", Spec{Period: Day}, utc("2026-03-10T00:15:00Z"),
			"2026-03-09T00:00:00Z", "2026-03-10T00:00:00Z", 24},
		{"daily Berlin is the Berlin day, sent in UTC", Spec{Period: Day, Location: berlin}, local(t, berlin, "2026-11-25T00:15"),
			"2026-11-23T23:00:00Z", "2026-11-24T23:00:00Z", 24},
		{"daily Berlin late in the day still exports yesterday", Spec{Period: Day, Location: berlin}, local(t, berlin, "2026-11-25T23:59"),
			"2026-11-23T23:00:00Z", "2026-11-24T23:00:00Z", 24},
		{"daily Berlin over spring forward: 23 h", Spec{Period: Day, Location: berlin}, local(t, berlin, "2026-03-30T00:15"),
			"2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", 23},
		{"daily Berlin over fall back: 25 h", Spec{Period: Day, Location: berlin}, local(t, berlin, "2026-10-26T00:15"),
			"2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z", 25},
		{"daily New York over spring forward: 23 h", Spec{Period: Day, Location: ny}, local(t, ny, "2026-03-09T00:15"),
			"2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z", 23},
		{"daily New York over fall back: 25 h", Spec{Period: Day, Location: ny}, local(t, ny, "2026-11-02T06:00"),
			"2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z", 25},
		{"daily Santiago: the day without a midnight starts at 01:00", Spec{Period: Day, Location: santiago}, local(t, santiago, "2026-09-07T00:30"),
			"2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z", 23},
		{"leap day", Spec{Period: Day}, utc("2028-03-01T00:15:00Z"),
			"2028-02-29T00:00:00Z", "2028-03-01T00:00:00Z", 24},
		{"hourly UTC", Spec{Period: Hour}, utc("2026-05-01T10:05:00Z"),
			"2026-05-01T09:00:00Z", "2026-05-01T10:00:00Z", 1},
		{"hourly at midnight crosses the day", Spec{Period: Hour}, utc("2026-01-01T00:00:00Z"),
			"2025-12-31T23:00:00Z", "2026-01-01T00:00:00Z", 1},
		{"hourly New York, first 01:30 of the fall-back night", Spec{Period: Hour, Location: ny}, utc("2026-11-01T05:30:00Z"),
			"2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z", 1},
		{"hourly New York, repeated 01:30 exports the first 01:00 hour", Spec{Period: Hour, Location: ny}, utc("2026-11-01T06:30:00Z"),
			"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", 1},
		{"hourly Berlin over spring forward: 01:00–03:00 is one hour", Spec{Period: Hour, Location: berlin}, local(t, berlin, "2026-03-29T03:10"),
			"2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", 1},
		{"hourly Kathmandu (+05:45) aligns to its own hours", Spec{Period: Hour, Location: kathmandu}, local(t, kathmandu, "2026-01-01T10:20"),
			"2026-01-01T03:15:00Z", "2026-01-01T04:15:00Z", 1},
		{"weekly starts on Monday", Spec{Period: Week, Location: berlin}, local(t, berlin, "2026-11-25T08:00"),
			"2026-11-15T23:00:00Z", "2026-11-22T23:00:00Z", 168},
		{"weekly on the Monday itself exports the week before", Spec{Period: Week}, utc("2026-11-23T00:00:00Z"),
			"2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z", 168},
		{"weekly across the year end", Spec{Period: Week}, utc("2027-01-01T12:00:00Z"),
			"2026-12-21T00:00:00Z", "2026-12-28T00:00:00Z", 168},
		{"weekly Berlin containing fall back: 169 h", Spec{Period: Week, Location: berlin}, local(t, berlin, "2026-10-26T00:15"),
			"2026-10-18T22:00:00Z", "2026-10-25T23:00:00Z", 169},
		{"monthly February of a leap year", Spec{Period: Month}, utc("2028-03-01T00:15:00Z"),
			"2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z", 29 * 24},
		{"monthly February of a common year", Spec{Period: Month}, utc("2026-03-15T00:00:00Z"),
			"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", 28 * 24},
		{"monthly on the 31st still exports the month before", Spec{Period: Month}, utc("2026-05-31T23:59:59Z"),
			"2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", 30 * 24},
		{"monthly January from December wraps the year", Spec{Period: Month}, utc("2027-01-01T00:00:00Z"),
			"2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", 31 * 24},
		{"monthly Berlin March loses an hour", Spec{Period: Month, Location: berlin}, local(t, berlin, "2026-04-01T00:15"),
			"2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z", 31*24 - 1},
		{"overlap widens the start only", Spec{Period: Day, Location: berlin, Overlap: 90 * time.Minute}, local(t, berlin, "2026-11-25T00:15"),
			"2026-11-23T21:30:00Z", "2026-11-24T23:00:00Z", 25.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.spec.Validate(); err != nil {
				t.Fatal(err)
			}
			w := tt.spec.Last(tt.at)
			if got := w.Start.Format(time.RFC3339); got != tt.start {
				t.Errorf("start = %s, want %s", got, tt.start)
			}
			if got := w.Finish.Format(time.RFC3339); got != tt.finish {
				t.Errorf("finish = %s, want %s", got, tt.finish)
			}
			if got := w.Finish.Sub(w.Start).Hours(); got != tt.hours {
				t.Errorf("window is %.2f h, want %.2f h", got, tt.hours)
			}
			if w.Start.Location() != time.UTC || w.Finish.Location() != time.UTC {
				t.Errorf("window %v is not in UTC", w)
			}
		})
	}
}

func TestIncremental(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	daily := Spec{Period: Day, Location: berlin}
	at := local(t, berlin, "2026-11-25T00:15") // last whole day ends 2026-11-24T23:00Z
	tests := []struct {
		name          string
		spec          Spec
		mark          time.Time
		lookback      int
		ok            bool
		start, finish string
	}{
		{"first run: one period by default", daily, time.Time{}, 0, true,
			"2026-11-23T23:00:00Z", "2026-11-24T23:00:00Z"},
		{"first run with a 7-day lookback", daily, time.Time{}, 7, true,
			"2026-11-17T23:00:00Z", "2026-11-24T23:00:00Z"},
		{"first run lookback across fall back counts Berlin days", daily, time.Time{}, 31, true,
			"2026-10-24T22:00:00Z", "2026-11-24T23:00:00Z"},
		{"regular run continues at the mark", daily, utc("2026-11-23T23:00:00Z"), 7, true,
			"2026-11-23T23:00:00Z", "2026-11-24T23:00:00Z"},
		{"catch-up after three missed runs: one window, no gap", daily, utc("2026-11-20T23:00:00Z"), 1, true,
			"2026-11-20T23:00:00Z", "2026-11-24T23:00:00Z"},
		{"overlap re-reads a margin before the mark", Spec{Period: Day, Location: berlin, Overlap: time.Hour}, utc("2026-11-23T23:00:00Z"), 1, true,
			"2026-11-23T22:00:00Z", "2026-11-24T23:00:00Z"},
		{"mark not on a boundary (period changed) still continues from it", daily, utc("2026-11-24T13:00:00Z"), 1, true,
			"2026-11-24T13:00:00Z", "2026-11-24T23:00:00Z"},
		{"already up to date", daily, utc("2026-11-24T23:00:00Z"), 1, false, "", ""},
		{"mark ahead of the schedule (rerun of an old run)", daily, utc("2026-11-26T23:00:00Z"), 1, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, ok := tt.spec.Incremental(at, tt.mark, tt.lookback)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (%v)", ok, tt.ok, w)
			}
			if !ok {
				return
			}
			if got := w.Start.Format(time.RFC3339); got != tt.start {
				t.Errorf("start = %s, want %s", got, tt.start)
			}
			if got := w.Finish.Format(time.RFC3339); got != tt.finish {
				t.Errorf("finish = %s, want %s", got, tt.finish)
			}
		})
	}
}

// A month of daily Berlin runs, spanning the fall-back night, where some
// runs never happen and some fail before the mark moves: every instant
// is exported exactly once (no gap, no overlap), and the union is the whole
// month of Berlin days.
func TestIncrementalRunsTileTheTimeline(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	spec := Spec{Period: Day, Location: berlin}
	missed := map[int]bool{3: true, 4: true, 5: true, 17: true}
	failed := map[int]bool{10: true, 11: true, 25: true}
	var mark time.Time
	var covered []Window
	first := local(t, berlin, "2026-10-10T00:15")
	for day := range 31 {
		at := time.Date(2026, 10, 10+day, 0, 15, 0, 0, berlin)
		if missed[day] {
			continue
		}
		w, ok := spec.Incremental(at, mark, 1)
		if !ok {
			t.Fatalf("day %d: nothing to export", day)
		}
		if failed[day] {
			continue // the report was not stored: the mark stays
		}
		covered = append(covered, w)
		mark = w.Finish
	}
	if got, want := covered[0].Start, spec.Prev(spec.Floor(first)); !got.Equal(want) {
		t.Fatalf("first window starts %s, want %s", got, want)
	}
	for i := 1; i < len(covered); i++ {
		if !covered[i].Start.Equal(covered[i-1].Finish) {
			t.Fatalf("window %d %v does not continue %v", i, covered[i], covered[i-1])
		}
	}
	end := covered[len(covered)-1].Finish
	if want := spec.Floor(time.Date(2026, 11, 9, 0, 15, 0, 0, berlin)); !end.Equal(want) {
		t.Fatalf("coverage ends %s, want %s", end, want)
	}
	// 31 Berlin days, one of them 25 hours long.
	if got := end.Sub(covered[0].Start); got != (31*24+1)*time.Hour {
		t.Fatalf("covered %s, want 31 days + 1 h", got)
	}
}

func TestParsePeriod(t *testing.T) {
	for in, want := range map[string]Period{"hour": Hour, "Hourly": Hour, "day": Day, "DAILY": Day, " week ": Week, "weekly": Week, "month": Month, "monthly": Month} {
		t.Run(in, func(t *testing.T) {
			got, err := ParsePeriod(in)
			if err != nil || got != want {
				t.Fatalf("ParsePeriod(%q) = %q, %v; want %q", in, got, err, want)
			}
		})
	}
	for _, in := range []string{"", "year", "24h", "minute"} {
		t.Run("refuses "+in, func(t *testing.T) {
			if _, err := ParsePeriod(in); err == nil {
				t.Fatalf("ParsePeriod(%q) accepted", in)
			}
		})
	}
}

func TestSpecValidate(t *testing.T) {
	if err := (Spec{Period: "fortnight"}).Validate(); err == nil {
		t.Error("unknown period accepted")
	}
	if err := (Spec{Period: Day, Overlap: -time.Minute}).Validate(); err == nil {
		t.Error("negative overlap accepted")
	}
}
