package batch

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/insights-export/insights-export/internal/request"
)

// A report AvePoint ended with jobStatus 4 ("success with exception") is
// stored, but AvePoint itself says it may be incomplete (issue 9, item
// 10). The run records it (result, counts) and the incremental mark stays
// where it was, so the next run exports the window again — unless the
// operator chose AdvanceOnException.
func TestManifestHoldsTheMarkOfAReportWithException(t *testing.T) {
	for _, advance := range []bool{false, true} {
		t.Run(map[bool]string{false: "default: mark held", true: "AdvanceOnException: mark moves"}[advance], func(t *testing.T) {
			st, _ := newStore(t)
			marks := &Watermarks{Store: st, Prefix: "state"}
			out, err := prepare(t, st, "2026-11-25T12:00:00Z",
				`{"emails":["partial@x.io","whole@x.io"],"window":{"period":"day","incremental":true,"at":"2026-11-25T00:10:00Z"}}`)
			if err != nil {
				t.Fatal(err)
			}
			partial := report("partial@x.io", "2026-11-24T00:00:00", "2026-11-25T00:00:00")
			partial.WithException = true
			entries, _ := json.Marshal([]map[string]any{
				{"email": "partial@x.io", "status": "succeeded", "report": partial},
				{"email": "whole@x.io", "status": "succeeded", "report": report("whole@x.io", "2026-11-24T00:00:00", "2026-11-25T00:00:00")},
			})
			w := &ManifestWriter{Store: st, Marks: marks, AdvanceOnException: advance, Log: quiet, Now: fixed("2026-11-25T12:05:00Z")}
			got, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: entries})
			if err != nil {
				t.Fatal(err)
			}
			if got.Counts != (request.Counts{Users: 2, Succeeded: 2, WithException: 1}) {
				t.Errorf("counts %+v, want 2 succeeded of which 1 with exception", got.Counts)
			}
			r := got.Results[0]
			if !r.WithException || r.Status != request.StatusSucceeded {
				t.Errorf("result %+v, want succeeded with exception", r)
			}
			m, found, err := marks.Get(t.Context(), "partial@x.io", nil)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case !advance && found:
				t.Errorf("mark moved to %s past a possibly incomplete report", m.FinishTime)
			case !advance && (r.Watermark != "" || !strings.Contains(r.Message, "jobStatus 4")):
				t.Errorf("result %+v: want no watermark and a message saying why", r)
			case advance && (!found || m.FinishTime != "2026-11-25T00:00:00"):
				t.Errorf("AdvanceOnException: mark %+v found=%v, want 2026-11-25T00:00:00", m, found)
			}
			if m, found, _ := marks.Get(t.Context(), "whole@x.io", nil); !found || m.FinishTime != "2026-11-25T00:00:00" {
				t.Errorf("the complete report's mark %+v found=%v did not advance", m, found)
			}
			var man Manifest
			getJSONInto(t, st, out.ManifestKey, &man)
			if man.Counts.WithException != 1 || !man.Results[0].WithException {
				t.Errorf("manifest counts %+v / result %+v do not record the exception", man.Counts, man.Results[0])
			}
		})
	}
}
