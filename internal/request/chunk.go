package request

import (
	"time"

	"github.com/insights-export/insights-export/internal/schedule"
)

// Long catch-up windows: an incremental user whose mark lies further back
// than the run's MaxWindowDays is exported as several consecutive windows,
// each stored, converted and marked on its own, so a failure half-way
// loses only the window it happened in (issue 12).

// DefaultMaxWindowDays and MaxMaxWindowDays are MAX_WINDOW_DAYS's default
// and bounds (the template's MaxWindowDays parameter): at most a leap
// year in one report.
const (
	DefaultMaxWindowDays = 7
	MaxMaxWindowDays     = 366
)

// MaxWindowsPerRun bounds the windows one run exports for one user. A
// user further behind is caught up over several runs: the run exports the
// oldest MaxWindowsPerRun windows, its mark moves to the end of the last
// one, and the next run continues from there. It keeps a user's item
// (items.json, and the Map child's input) under 10 KB, the child's
// history (about 13 events a window) far below Step Functions' 25,000,
// and the longest user (every window running to its Task timeout) inside
// a Standard execution's year (templatecheck computes it).
const MaxWindowsPerRun = 100

// Window is one window of a chunked item: [StartTime, FinishTime) in
// AvePoint's format, as the export state machine takes them.
type Window struct {
	StartTime  string `json:"startTime"`
	FinishTime string `json:"finishTime"`
}

// Chunk cuts w into consecutive windows, oldest first, that each add at
// most maxDays days to what is stored. The cuts are at anchor + k·maxDays
// days (k = 1, 2, …) strictly inside w, and the last window ends where w
// ends; days are 24 hours of UTC, whatever the schedule's time zone (a
// cut may fall at 01:00 local time after a clock change: windows are
// instants, and consecutive ones leave no gap and no overlap).
//
// The anchor is the user's mark, so the cuts do not depend on the
// overlap (the first window also re-reads the overlap before the mark,
// and may be that much longer than maxDays) and a run that resumes from
// the mark of window k cuts at the same places the interrupted run did:
// its windows, and so their object keys, are the same. For a user
// without a mark the anchor is the start of the lookback: a long lookback
// is chunked too, so that a user's first run can fail half-way and
// resume like any other.
//
// At most maxWindows windows are returned (the oldest; the last one ends
// at its cut, not at w's end). maxDays < 1, maxWindows < 1 or an empty w
// give w whole. A zero anchor is w.Start.
func Chunk(w schedule.Window, anchor time.Time, maxDays, maxWindows int) []schedule.Window {
	if maxDays < 1 || maxWindows < 1 || !w.Start.Before(w.Finish) {
		return []schedule.Window{w}
	}
	if anchor.IsZero() {
		anchor = w.Start
	}
	step := time.Duration(maxDays) * 24 * time.Hour
	// The first cut after w.Start, counted from the anchor (k >= 1).
	k := int64(1)
	if anchor.Before(w.Start) {
		k = int64(w.Start.Sub(anchor)/step) + 1
	}
	out := []schedule.Window{}
	start := w.Start
	for cut := anchor.Add(time.Duration(k) * step); cut.Before(w.Finish); cut = cut.Add(step) {
		if len(out) == maxWindows-1 {
			return append(out, schedule.Window{Start: start, Finish: cut})
		}
		out = append(out, schedule.Window{Start: start, Finish: cut})
		start = cut
	}
	return append(out, schedule.Window{Start: start, Finish: w.Finish})
}

// Windows spells windows as items carry them.
func Windows(ws []schedule.Window) []Window {
	out := make([]Window, len(ws))
	for i, w := range ws {
		out[i] = Window{StartTime: FormatTime(w.Start), FinishTime: FormatTime(w.Finish)}
	}
	return out
}
