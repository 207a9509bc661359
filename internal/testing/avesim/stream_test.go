package avesim

import (
	"testing"
	"time"
)

// With a stream, overlapping windows hold the same activities where they
// overlap, and a filtered window holds the unfiltered one's activities of
// those types.
func TestStreamRowsOverlap(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	spec := func(job string, from, to time.Time, types ...string) reportSpec {
		return reportSpec{jobID: job, email: "Adele.Vance@contoso.com", start: from, finish: to, eventTypes: types, stream: time.Hour}
	}
	a := spec("1", day(1), day(5)).activityRows()
	b := spec("2", day(3), day(8)).activityRows()
	if len(a) < 80 || len(b) < 100 {
		t.Fatalf("%d and %d rows; one an hour expected", len(a), len(b))
	}
	inA := map[ReportRow]bool{}
	for _, r := range a {
		inA[r] = true
	}
	shared := 0
	for _, r := range b {
		if !r.Time.Before(day(3)) && !r.Time.After(day(5)) {
			if !inA[r] {
				t.Fatalf("row %+v of the second window is not in the first, though both cover its time", r)
			}
			shared++
		}
	}
	if shared < 40 {
		t.Errorf("only %d shared rows over two days", shared)
	}
	filtered := spec("3", day(1), day(5), "FileAccessed").activityRows()
	for _, r := range filtered {
		if r.EventType != "FileAccessed" || !inA[r] {
			t.Fatalf("filtered row %+v is not an unfiltered FileAccessed row", r)
		}
	}
	if _, err := New(Options{StreamInterval: time.Millisecond}); err == nil {
		t.Error("a sub-second stream interval was accepted")
	}
}
