package request

import (
	"reflect"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/schedule"
)

func TestChunk(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	day := 24 * time.Hour
	mark := at("2026-10-01T00:00:00Z")
	win := func(start, finish time.Time) schedule.Window { return schedule.Window{Start: start, Finish: finish} }
	// cuts are the windows' ends in turn.
	cuts := func(start time.Time, ends ...time.Time) []schedule.Window {
		var out []schedule.Window
		for _, e := range ends {
			out = append(out, win(start, e))
			start = e
		}
		return out
	}
	// Berlin's daily periods across the spring clock change (29 March
	// 2026): local midnights are 23:00Z before it, 22:00Z after.
	berlinMark, berlinEnd := at("2026-03-21T23:00:00Z"), at("2026-04-11T22:00:00Z")

	tests := []struct {
		name       string
		w          schedule.Window
		anchor     time.Time
		days, maxN int
		want       []schedule.Window
	}{
		{"a day behind: one window", win(mark, mark.Add(day)), mark, 7, 100, cuts(mark, mark.Add(day))},
		{"shorter than a day (hourly): one window", win(mark, mark.Add(time.Hour)), mark, 7, 100, cuts(mark, mark.Add(time.Hour))},
		{"exactly maxDays: one window", win(mark, mark.Add(7*day)), mark, 7, 100, cuts(mark, mark.Add(7*day))},
		{"30 days behind: 5 windows, the last 2 days", win(mark, mark.Add(30*day)), mark, 7, 100,
			cuts(mark, mark.Add(7*day), mark.Add(14*day), mark.Add(21*day), mark.Add(28*day), mark.Add(30*day))},
		{"an exact multiple: no empty window at the end", win(mark, mark.Add(28*day)), mark, 7, 100,
			cuts(mark, mark.Add(7*day), mark.Add(14*day), mark.Add(21*day), mark.Add(28*day))},
		{"a last window shorter than a day", win(mark, mark.Add(14*day+time.Hour)), mark, 7, 100,
			cuts(mark, mark.Add(7*day), mark.Add(14*day), mark.Add(14*day+time.Hour))},
		{"the overlap before the mark rides on the first window, the cuts stay on the mark",
			win(mark.Add(-time.Hour), mark.Add(15*day)), mark, 7, 100,
			cuts(mark.Add(-time.Hour), mark.Add(7*day), mark.Add(14*day), mark.Add(15*day))},
		{"a weekly run with an overlap stays one window", win(mark.Add(-time.Hour), mark.Add(7*day)), mark, 7, 100,
			cuts(mark.Add(-time.Hour), mark.Add(7*day))},
		{"a lookback (no mark) is chunked from its start", win(mark, mark.Add(20*day)), time.Time{}, 7, 100,
			cuts(mark, mark.Add(7*day), mark.Add(14*day), mark.Add(20*day))},
		{"an anchor before the window: cuts keep its rhythm", win(mark.Add(10*day), mark.Add(20*day)), mark, 7, 100,
			cuts(mark.Add(10*day), mark.Add(14*day), mark.Add(20*day))},
		{"daily windows", win(mark, mark.Add(3*day)), mark, 1, 100, cuts(mark, mark.Add(day), mark.Add(2*day), mark.Add(3*day))},
		{"days are 24 h of UTC across a clock change", win(berlinMark, berlinEnd), berlinMark, 7, 100,
			cuts(berlinMark, at("2026-03-28T23:00:00Z"), at("2026-04-04T23:00:00Z"), berlinEnd)},
		{"at most maxWindows, the oldest", win(mark, mark.Add(30*day)), mark, 7, 3,
			cuts(mark, mark.Add(7*day), mark.Add(14*day), mark.Add(21*day))},
		{"a cap of one", win(mark, mark.Add(30*day)), mark, 7, 1, cuts(mark, mark.Add(7*day))},
		{"a cap exactly reached ends at the window's end", win(mark, mark.Add(14*day)), mark, 7, 2,
			cuts(mark, mark.Add(7*day), mark.Add(14*day))},
		{"no limit (maxDays 0): whole", win(mark, mark.Add(300*day)), mark, 0, 100, cuts(mark, mark.Add(300*day))},
		{"an empty window: whole", win(mark, mark), mark, 7, 100, []schedule.Window{win(mark, mark)}},
		{"an anchor at the end: whole", win(mark, mark.Add(9*day)), mark.Add(9 * day), 7, 100, cuts(mark, mark.Add(9*day))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Chunk(tc.w, tc.anchor, tc.days, tc.maxN)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %v\nwant %v", got, tc.want)
			}
			// Consecutive, oldest first, none longer than maxDays but for
			// the overlap before the anchor.
			for i, w := range got {
				if i > 0 && !w.Start.Equal(got[i-1].Finish) {
					t.Errorf("window %d starts at %s, the previous ended at %s", i, w.Start, got[i-1].Finish)
				}
				from := w.Start
				if i == 0 && tc.anchor.After(from) {
					from = tc.anchor
				}
				if tc.days > 0 && w.Finish.Sub(from) > time.Duration(tc.days)*day {
					t.Errorf("window %d %s adds more than %d days", i, w, tc.days)
				}
			}
		})
	}
}

func TestWindowsSpellsAvePointTimes(t *testing.T) {
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	got := Windows([]schedule.Window{{Start: start, Finish: start.Add(36 * time.Hour)}})
	want := []Window{{StartTime: "2026-09-30T22:00:00", FinishTime: "2026-10-02T10:00:00"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
