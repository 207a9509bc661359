package batch

import (
	"encoding/json"
	"testing"

	"github.com/insights-export/insights-export/internal/request"
)

// A user whose report was stored but not converted (ConversionError) has
// its report: the mark moves past it, so the next run does not export the
// window again; the result still says what failed, for a backfill.
func TestManifestAdvancesTheMarkOfAStoredButUnconvertedReport(t *testing.T) {
	st, _ := newStore(t)
	marks := &Watermarks{Store: st, Prefix: "state"}
	out, err := prepare(t, st, "2026-11-25T12:00:00Z",
		`{"emails":["conv@x.io","auth@x.io"],"window":{"period":"day","incremental":true,"at":"2026-11-25T00:10:00Z"}}`)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := json.Marshal([]map[string]any{
		{"email": "conv@x.io", "status": "failed", "finishTime": "2026-11-25T00:00:00", "error": "States.TaskFailed", "cause": childCause(t, "FAILED", "ConversionError", "report r-1 could not be converted: no .xlsx")},
		{"email": "auth@x.io", "status": "failed", "finishTime": "2026-11-25T00:00:00", "error": "States.TaskFailed", "cause": childCause(t, "FAILED", "AuthError", "no")},
	})
	w := &ManifestWriter{Store: st, Marks: marks, Log: quiet, Now: fixed("2026-11-25T12:05:00Z")}
	got, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: entries})
	if err != nil {
		t.Fatal(err)
	}
	if got.Counts != (request.Counts{Users: 2, Failed: 2}) {
		t.Errorf("counts %+v", got.Counts)
	}
	if r := got.Results[0]; r.Error != "ConversionError" || r.Watermark != "2026-11-25T00:00:00" {
		t.Errorf("result %+v: want ConversionError with the mark advanced", r)
	}
	if m, found, _ := marks.Get(t.Context(), "conv@x.io", nil); !found || m.FinishTime != "2026-11-25T00:00:00" {
		t.Errorf("mark %+v found=%v: the stored report's window must not be exported again", m, found)
	}
	if _, found, _ := marks.Get(t.Context(), "auth@x.io", nil); found {
		t.Error("a user whose export failed got a mark")
	}
}
