package slotsim

import (
	"strings"
	"testing"
	"time"
)

// Two slots, three users, worked out by hand over the window 0–20 s
// (40 slot-seconds):
//
//	A: holds 0–12, job 0–10 (its slot held 2 s after the job's end)
//	B: launched 0, asks at 1, refused until 4, job 5–15 (1 s held first)
//	C: launched 14 (after B's place freed), job 14–20
//
// 0–1 one slot free while B starts; 1–4 one free while B waits; 12–14
// one free with C still queued (the cap); 15–20 one free, nobody left:
// the tail.
func TestMeasureByHand(t *testing.T) {
	records := []Record{
		{User: 0, Launched: 0, Asked: 0, Acquired: 0, JobStart: 0, JobEnd: 10 * s, Released: 12 * s},
		{User: 1, Launched: 0, Asked: 1 * s, Acquired: 4 * s, JobStart: 5 * s, JobEnd: 15 * s, Released: 15 * s},
		{User: 2, Launched: 14 * s, Asked: 14 * s, Acquired: 14 * s, JobStart: 14 * s, JobEnd: 20 * s, Released: 21 * s},
	}
	u, err := Measure(2, records)
	if err != nil {
		t.Fatal(err)
	}
	want := Utilisation{
		Slots: 2, First: 0, Last: 20 * s, Span: 20 * s,
		Busy: 26 * s, HeldBeforeStart: 1 * s, HeldAfterEnd: 2 * s,
		FreeWaiting: 3 * s, FreeStarting: 1 * s, FreeMapCap: 2 * s, FreeTail: 5 * s,
		JobTime: 26 * s, Ideal: 13 * s, DetectionDelay: 3 * s, Jobs: 3, PeakHolders: 2, PeakRunning: 2,
	}
	if u != want {
		t.Fatalf("got  %+v\nwant %+v", u, want)
	}
	if got := u.BusyPct(); got != 65 {
		t.Errorf("busy %.2f %%, want 65 %%", got)
	}
	if got := u.SpanRatio(); got != 20.0/13 {
		t.Errorf("span ratio %.3f, want %.3f", got, 20.0/13)
	}
}

func TestMeasureRefuses(t *testing.T) {
	ok := Record{Launched: 0, Asked: 0, Acquired: 0, JobStart: 0, JobEnd: 10 * s, Released: 10 * s}
	tests := []struct {
		name    string
		slots   int
		records []Record
		err     string
	}{
		{"more holders than slots", 1, []Record{ok, ok}, "2 slots held at once"},
		{"out of order", 2, []Record{{JobStart: 5 * s, JobEnd: 4 * s, Released: 6 * s}}, "out of order"},
		{"asked before launched", 2, []Record{{Launched: 2 * s, Asked: s}}, "before it was launched"},
		{"no job", 2, []Record{{Failed: true, Ended: s}}, "no job ran"},
		{"no slots", 0, []Record{ok}, "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Measure(tt.slots, tt.records)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want one saying %q", err, tt.err)
			}
		})
	}
}

// A user whose wait ended at the deadline ran no job but waited: its
// wait counts against the free slots.
func TestMeasureFailedWaiter(t *testing.T) {
	records := []Record{
		{Launched: 0, Asked: 0, Acquired: 0, JobStart: 0, JobEnd: 10 * s, Released: 10 * s},
		{Launched: 0, Asked: 0, Failed: true, Ended: 4 * s},
	}
	u, err := Measure(2, records)
	if err != nil {
		t.Fatal(err)
	}
	if u.FreeWaiting != 4*time.Second || u.FreeTail != 6*time.Second || u.Jobs != 1 {
		t.Fatalf("free waiting %s, tail %s, %d jobs; want 4s, 6s, 1", u.FreeWaiting, u.FreeTail, u.Jobs)
	}
}
