package slotsim

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/insights-export/insights-export/devstack"
)

// One user's batch as the interpreter reports it: refused once, waited,
// polled twice, stored and converted.
func TestTimelines(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	zero := 0
	var evs []devstack.Event
	mapEv := func(typ, state string, at int, out string) {
		e := devstack.Event{Type: typ, State: state, Time: ms(at), Index: &zero}
		if out != "" {
			e.Output = json.RawMessage(out)
		}
		evs = append(evs, e)
	}
	child := func(typ, state string, at int, out string) {
		e := devstack.Event{Type: typ, State: state, Time: ms(at), Execution: "child-1"}
		if out != "" {
			e.Output = json.RawMessage(out)
		}
		evs = append(evs, e)
	}
	evs = append(evs, devstack.Event{Type: "ExecutionStarted", Time: t0})
	mapEv("StateEntered", "HowManyWindows", 100, "")
	mapEv("StateExited", "HowManyWindows", 105, "")
	mapEv("StateEntered", "ExportUser", 110, "")
	child("ExecutionStarted", "", 120, "")
	child("StateEntered", "AcquireJobSlot", 120, "")
	child("StateFailed", "AcquireJobSlot", 130, "")
	child("StateEntered", "CheckJobSlots", 130, "")
	child("StateExited", "CheckJobSlots", 150, "")
	child("StateEntered", "WaitForJobSlot", 150, "")
	child("StateEntered", "AcquireJobSlotAfterWait", 5200, "")
	child("StateExited", "AcquireJobSlotAfterWait", 5210, "")
	child("StateEntered", "StartExport", 5210, "")
	child("StateExited", "StartExport", 5300, `{"status":"running","waitSeconds":1}`)
	child("StateEntered", "RecordJobOnSlot", 5300, "")
	child("StateEntered", "WaitForJob", 5310, "")
	child("StateEntered", "CheckJob", 6310, "")
	child("StateExited", "CheckJob", 6330, `{"status":"running","waitSeconds":1}`)
	child("StateEntered", "IsJobFinished", 6330, "")
	child("StateEntered", "WaitForJob", 6340, "")
	child("StateEntered", "CheckJob", 7350, "")
	child("StateExited", "CheckJob", 7370, `{"status":"finished","waitSeconds":0}`)
	child("StateEntered", "IsJobFinished", 7370, "")
	child("StateEntered", "ReleaseJobSlot", 7380, "")
	child("StateExited", "ReleaseJobSlot", 7390, "")
	child("StateEntered", "StoreReport", 7390, "")
	child("StateEntered", "ConvertReport", 7500, "")
	child("StateEntered", "AnnounceReport", 7700, "")
	child("StateEntered", "Done", 7720, "")
	child("ExecutionSucceeded", "", 7730, "")
	mapEv("StateExited", "ExportUser", 9990, "")
	mapEv("StateEntered", "UserSucceeded", 10000, "")
	mapEv("StateExited", "UserSucceeded", 10010, `{"email":"A@contoso.com","status":"succeeded","executionArn":"arn:aws:states:us-east-1:1:execution:m:child-1"}`)

	tl, err := Timelines(evs, map[string]time.Time{"a@contoso.com": ms(5250)}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	d := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	want := Record{
		User: 0, Launched: d(100), Asked: d(130), Acquired: d(5210), JobStart: d(5250), JobEnd: d(7250), Released: d(7390),
		Ended: d(7730), Finished: d(10010), Polls: 2, WaitRounds: 1,
		// The Map's 3 and the export's 17 states entered.
		Transitions: 3 + 17, WaitTransitions: 3,
	}
	if len(tl.Records) != 1 || tl.Records[0] != want {
		t.Fatalf("records %+v\nwant %+v", tl.Records, want)
	}
	// State: RecordJobOnSlot, IsJobFinished ×2, ReleaseJobSlot, 10 ms
	// each. A poll cycle 7350 − 6310 − 1000 = 40 ms = 3 × 10 + 10. Store
	// 110 ms, convert 200 ms, less a state's 10; the child's start 10 ms,
	// less ExportUser's 10; its end 10010 − 7700 less 3 states.
	wantLat := Latencies{State: d(10), Invoke: d(10), Store: d(100), Convert: d(190), ChildStart: 0, ChildEnd: d(2280)}
	if tl.Lat != wantLat || tl.PollCycle != d(40) {
		t.Errorf("latencies %+v, poll cycle %s; want %+v, 40ms", tl.Lat, tl.PollCycle, wantLat)
	}

	if _, err := Timelines(evs, map[string]time.Time{}, time.Second); err == nil {
		t.Error("a user without an AvePoint job accepted")
	}
	if _, err := Timelines(evs[:len(evs)-1], map[string]time.Time{"a@contoso.com": ms(5250)}, time.Second); err == nil {
		t.Error("an item that never succeeded accepted")
	}
}

func TestAgrees(t *testing.T) {
	real := func(busy float64, transitions, rounds int) RealResult {
		// Busy share busy % of 100 s on 1 slot.
		u := Utilisation{Slots: 1, Span: 100 * s, Busy: time.Duration(busy * float64(s))}
		return RealResult{Util: u, Transitions: transitions, WaitRounds: rounds}
	}
	tests := []struct {
		name        string
		real, model RealResult
		agree       bool
	}{
		{"same", real(90, 100, 10), real(90, 100, 10), true},
		{"busy 5 points off", real(90, 100, 10), real(95, 100, 10), true},
		{"busy 6 points off", real(90, 100, 10), real(96, 100, 10), false},
		{"transitions 5 % off", real(90, 100, 10), real(90, 95, 10), true},
		{"transitions 10 % off", real(90, 100, 10), real(90, 90, 10), false},
		{"wait rounds off", real(90, 100, 10), real(90, 100, 8), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := tt.real
			rr.Model = Result{Util: tt.model.Util, Transitions: tt.model.Transitions, WaitRounds: tt.model.WaitRounds}
			if got := rr.Agrees(); got != tt.agree {
				t.Fatalf("Agrees = %v, want %v", got, tt.agree)
			}
		})
	}
}
