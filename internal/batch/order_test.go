package batch

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/insights-export/insights-export/internal/request"
)

// An incremental run's work list starts with the longest exports of the
// last run, users with no time known before them, the users' order
// between equals; a run with fixed windows keeps the users' order.
func TestPrepareOrdersTheWorkListLongestFirst(t *testing.T) {
	st, _ := newStore(t)
	marks := &Watermarks{Store: st, Prefix: "state"}
	for email, seconds := range map[string]float64{
		"a@x.io": 60, "b@x.io": 0 /* a mark from before the times */, "c@x.io": 600, "e@x.io": 60, "f@x.io": 300,
	} {
		if _, err := marks.Advance(t.Context(), Mark{Email: email, FinishTime: "2026-11-23T00:00:00", ExportSeconds: seconds}); err != nil {
			t.Fatal(err)
		}
	}
	emails := []string{"a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io", "f@x.io"}
	in, _ := json.Marshal(map[string]any{"emails": emails, "window": map[string]any{"period": "day", "incremental": true, "at": "2026-11-25T00:10:00Z"}})
	out, err := prepare(t, st, "2026-11-25T12:00:00Z", string(in))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range getJSON[[]request.Item](t, st, out.ItemsKey) {
		got = append(got, it.Email)
	}
	// b (no time in its mark) and d (no mark) first, in the users' order;
	// then 600, 300, and the two of 60 s in the users' order.
	if want := []string{"b@x.io", "d@x.io", "c@x.io", "f@x.io", "a@x.io", "e@x.io"}; !slices.Equal(got, want) {
		t.Errorf("work list %v, want %v", got, want)
	}
	// users.json keeps the users' order.
	plan := getJSON[Plan](t, st, out.PlanKey)
	var planned []string
	for _, u := range getJSON[[]PlannedUser](t, st, plan.UsersKey) {
		planned = append(planned, u.Email)
	}
	if !slices.Equal(planned, emails) {
		t.Errorf("users.json %v, want %v", planned, emails)
	}

	fixed, _ := json.Marshal(map[string]any{"emails": emails, "startTime": "2026-11-01T00:00:00", "finishTime": "2026-11-02T00:00:00"})
	out, err = prepare(t, st, "2026-11-25T12:00:00Z", string(fixed))
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, it := range getJSON[[]request.Item](t, st, out.ItemsKey) {
		got = append(got, it.Email)
	}
	if !slices.Equal(got, emails) {
		t.Errorf("fixed-window work list %v, want the users' order %v", got, emails)
	}
}

// WriteManifest keeps each stored user's export time in its mark, for the
// next run's order.
func TestManifestKeepsTheExportTimeInTheMark(t *testing.T) {
	st, _ := newStore(t)
	marks := &Watermarks{Store: st, Prefix: "state"}
	out, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"emails":["ok@x.io"],"window":{"period":"day","incremental":true,"at":"2026-11-25T00:10:00Z"}}`)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := json.Marshal([]map[string]any{
		{"email": "ok@x.io", "status": "succeeded", "report": report("ok@x.io", "2026-11-24T00:00:00", "2026-11-25T00:00:00"),
			"startDate": "2026-11-25T12:00:00.000Z", "stopDate": "2026-11-25T12:04:10.500Z"},
	})
	w := &ManifestWriter{Store: st, Marks: marks, Log: quiet, Now: fixed("2026-11-25T12:05:00Z")}
	if _, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: entries}); err != nil {
		t.Fatal(err)
	}
	m, found, err := marks.Get(t.Context(), "ok@x.io", nil)
	if err != nil || !found || m.ExportSeconds != 250.5 {
		t.Fatalf("mark %+v found %v %v, want exportSeconds 250.5", m, found, err)
	}
}
