package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/metrics"
	"github.com/insights-export/insights-export/internal/metrics/emftest"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

const chunkNow = "2026-11-25T12:00:00Z"

// tm is an AvePoint time n days (and hours) after 2026-10-26 00:00 UTC,
// the mark of a user 30 days behind the run of chunkNow.
func tm(days, hours int) string {
	return request.FormatTime(time.Date(2026, 10, 26, hours, 0, 0, 0, time.UTC).AddDate(0, 0, days))
}

func setMark(t *testing.T, st *storage.Objects, email, finish string) {
	t.Helper()
	if _, err := (&Watermarks{Store: st, Prefix: "state"}).Advance(t.Context(), Mark{Email: email, FinishTime: finish}); err != nil {
		t.Fatal(err)
	}
}

func prepareWindows(t *testing.T, st *storage.Objects, maxDays int, input string) []request.Item {
	t.Helper()
	p := &Preparer{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Prefix: "reports", MaxConcurrency: 5,
		MaxWindowDays: maxDays, Log: quiet, Now: fixed(chunkNow)}
	out, err := p.Handle(t.Context(), PrepareInput{Input: json.RawMessage(input), Execution: Execution{ID: "arn:x", Name: "run-1", StartTime: chunkNow}})
	if err != nil {
		t.Fatal(err)
	}
	return getJSON[[]request.Item](t, st, out.ItemsKey)
}

func TestPrepareCutsLongCatchUpsIntoWindows(t *testing.T) {
	st, _ := newStore(t)
	setMark(t, st, "behind@x.io", tm(0, 0))   // 30 days behind
	setMark(t, st, "current@x.io", tm(29, 0)) // 1 day behind
	items := prepareWindows(t, st, 7, `{"emails":["behind@x.io","current@x.io","new@x.io"],`+
		`"window":{"period":"day","incremental":true,"lookbackPeriods":20,"overlapMinutes":60}}`)
	all := []string{}
	w := func(from, to string) request.Window { return request.Window{StartTime: from, FinishTime: to} }
	want := []request.Item{
		// The overlap rides on the first window; the cuts are on the mark.
		{Email: "behind@x.io", StartTime: tm(-1, 23), FinishTime: tm(30, 0), EventTypes: all, Windows: []request.Window{
			w(tm(-1, 23), tm(7, 0)), w(tm(7, 0), tm(14, 0)), w(tm(14, 0), tm(21, 0)), w(tm(21, 0), tm(28, 0)), w(tm(28, 0), tm(30, 0))}},
		{Email: "current@x.io", StartTime: tm(28, 23), FinishTime: tm(30, 0), EventTypes: all},
		// No mark: a lookback of 20 days is cut from its start.
		{Email: "new@x.io", StartTime: tm(10, 0), FinishTime: tm(30, 0), EventTypes: all, Windows: []request.Window{
			w(tm(10, 0), tm(17, 0)), w(tm(17, 0), tm(24, 0)), w(tm(24, 0), tm(30, 0))}},
	}
	if !reflect.DeepEqual(items, want) {
		t.Fatalf("items\n%+v\nwant\n%+v", items, want)
	}

	t.Run("fixed windows are never cut", func(t *testing.T) {
		items := prepareWindows(t, st, 7, `{"emails":["behind@x.io"],"startTime":"2026-01-01T00:00:00","finishTime":"2026-11-01T00:00:00"}`)
		if len(items) != 1 || items[0].Windows != nil || items[0].StartTime != "2026-01-01T00:00:00" {
			t.Fatalf("items %+v", items)
		}
		items = prepareWindows(t, st, 1, `{"emails":["behind@x.io"],"window":{"period":"month"}}`)
		if len(items) != 1 || items[0].Windows != nil {
			t.Fatalf("rolling, not incremental: %+v", items)
		}
	})
	t.Run("at most MaxWindowsPerRun windows; the next run continues", func(t *testing.T) {
		st, _ := newStore(t)
		setMark(t, st, "far@x.io", tm(-300, 0))
		items := prepareWindows(t, st, 1, `{"emails":["far@x.io"],"window":{"period":"day","incremental":true}}`)
		ws := items[0].Windows
		if len(ws) != request.MaxWindowsPerRun || ws[0].StartTime != tm(-300, 0) || ws[len(ws)-1].FinishTime != tm(-200, 0) ||
			items[0].FinishTime != tm(-200, 0) {
			t.Fatalf("%d windows %v … %v, item finish %s", len(ws), ws[0], ws[len(ws)-1], items[0].FinishTime)
		}
	})
	t.Run("MAX_WINDOW_DAYS", func(t *testing.T) {
		env := func(v string) func(string) string {
			return func(k string) string { return map[string]string{"REPORT_BUCKET": "b", "MAX_WINDOW_DAYS": v}[k] }
		}
		if c, err := LoadConfig(env("")); err != nil || c.MaxWindowDays != 7 {
			t.Fatalf("default %d %v", c.MaxWindowDays, err)
		}
		if c, err := LoadConfig(env("366")); err != nil || c.MaxWindowDays != 366 {
			t.Fatalf("366: %d %v", c.MaxWindowDays, err)
		}
		for _, bad := range []string{"0", "367", "7d", "-1"} {
			var ce *failure.ConfigError
			if _, err := LoadConfig(env(bad)); !errors.As(err, &ce) || ce.Variable != "MAX_WINDOW_DAYS" {
				t.Errorf("%q: %v", bad, err)
			}
		}
	})
}

// chunked is a user 30 days behind, cut into 7-day windows.
var chunked = []request.Window{
	{StartTime: tm(0, 0), FinishTime: tm(7, 0)}, {StartTime: tm(7, 0), FinishTime: tm(14, 0)},
	{StartTime: tm(14, 0), FinishTime: tm(21, 0)}, {StartTime: tm(21, 0), FinishTime: tm(28, 0)},
	{StartTime: tm(28, 0), FinishTime: tm(30, 0)},
}

func windowReport(email string, w request.Window, bytes, rows int64) request.ExportOutput {
	return request.ExportOutput{Bucket: "b", Key: request.ObjectKey("reports", request.Query{Email: email, StartTime: w.StartTime, FinishTime: w.FinishTime}),
		JobID: "j-" + w.StartTime, Bytes: bytes, Email: email, StartTime: w.StartTime, FinishTime: w.FinishTime,
		Dataset: &request.Dataset{Rows: rows}}
}

func TestAdvanceMarkWalksTheWindows(t *testing.T) {
	st, _ := newStore(t)
	marks := &Watermarks{Store: st, Prefix: "state"}
	a := &MarkAdvancer{Marks: marks, Log: quiet, Now: fixed(chunkNow)}
	const email = "behind@x.io"
	// What the StartWindows state hands the first export.
	progress := Progress{Windows: len(chunked), Next: &chunked[0]}
	for i, w := range chunked {
		in := AdvanceInput{Email: email, EventTypes: []string{}, Windows: chunked, Progress: progress,
			Report: windowReport(email, w, 100, 10), StartDate: json.RawMessage(`17640720000` + string(rune('0'+i)) + `0`), Execution: "arn:run"}
		got, err := a.Handle(t.Context(), in)
		if err != nil {
			t.Fatalf("window %d: %v", i+1, err)
		}
		// A retry (a lost answer) changes nothing.
		again, err := a.Handle(t.Context(), in)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("window %d retried: %+v %v, first %+v", i+1, again, err, got)
		}
		mark, _, err := marks.Get(t.Context(), email, nil)
		if err != nil || mark.FinishTime != w.FinishTime || mark.ReportKey != in.Report.Key || mark.Execution != "arn:run" {
			t.Fatalf("window %d: mark %+v %v", i+1, mark, err)
		}
		want := Progress{Windows: 5, Stored: i + 1, Bytes: int64(100 * (i + 1)), Rows: int64(10 * (i + 1)), StartTime: tm(0, 0),
			StartDate: json.RawMessage(`1764072000000`), Watermark: w.FinishTime}
		if i+1 < len(chunked) {
			want.Next = &chunked[i+1]
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("window %d: progress\n%+v\nwant\n%+v", i+1, got, want)
		}
		progress = got
	}

	t.Run("a newer mark is never moved back", func(t *testing.T) {
		setMark(t, st, "ahead@x.io", tm(40, 0))
		got, err := a.Handle(t.Context(), AdvanceInput{Email: "ahead@x.io", Windows: chunked, Progress: Progress{Next: &chunked[0]},
			Report: windowReport("ahead@x.io", chunked[0], 1, 1)})
		if err != nil || got.Watermark != tm(40, 0) || got.Next == nil || *got.Next != chunked[1] {
			t.Fatalf("%+v %v", got, err)
		}
	})
	t.Run("a report with exception holds the mark and ends the item", func(t *testing.T) {
		flagged := windowReport("flagged@x.io", chunked[1], 5, 0)
		flagged.WithException = true
		in := AdvanceInput{Email: "flagged@x.io", Windows: chunked, Progress: Progress{Windows: 5, Stored: 1, Watermark: tm(7, 0)}, Report: flagged}
		setMark(t, st, "flagged@x.io", tm(7, 0))
		got, err := a.Handle(t.Context(), in)
		if err != nil || !got.Held || !got.WithException || got.Next != nil || got.Stored != 2 || got.Watermark != tm(7, 0) {
			t.Fatalf("%+v %v", got, err)
		}
		if m, _, _ := marks.Get(t.Context(), "flagged@x.io", nil); m.FinishTime != tm(7, 0) {
			t.Fatalf("mark moved to %s", m.FinishTime)
		}
		// ADVANCE_MARKS_ON_EXCEPTION: the mark moves on, and so does the item.
		on := &MarkAdvancer{Marks: marks, AdvanceOnException: true, Log: quiet, Now: fixed(chunkNow)}
		got, err = on.Handle(t.Context(), in)
		if err != nil || got.Held || !got.WithException || got.Next == nil || got.Watermark != tm(14, 0) {
			t.Fatalf("advancing on exception: %+v %v", got, err)
		}
	})
	t.Run("refuses what is not the export of the next window", func(t *testing.T) {
		const secret = "refused.user@x.io"
		good := AdvanceInput{Email: secret, Windows: chunked, Progress: Progress{Windows: 5, Stored: 2}, Report: windowReport(secret, chunked[2], 1, 1)}
		for name, tc := range map[string]struct {
			field string
			edit  func(*AdvanceInput)
		}{
			"another window":   {"report", func(in *AdvanceInput) { in.Report = windowReport(secret, chunked[3], 1, 1) }},
			"another user":     {"report.email", func(in *AdvanceInput) { in.Report.Email = "other@x.io" }},
			"no key":           {"report.key", func(in *AdvanceInput) { in.Report.Key = "" }},
			"past the windows": {"progress.stored", func(in *AdvanceInput) { in.Progress.Stored = 5 }},
			"negative":         {"progress.stored", func(in *AdvanceInput) { in.Progress.Stored = -1 }},
			"no windows":       {"windows", func(in *AdvanceInput) { in.Windows = nil }},
			"no email":         {"email", func(in *AdvanceInput) { in.Email = "" }},
			"a bad time": {"windows[2].startTime", func(in *AdvanceInput) {
				in.Windows = append([]request.Window(nil), chunked...)
				in.Windows[2].StartTime = "2026-11-09"
			}},
		} {
			in := good
			tc.edit(&in)
			_, err := a.Handle(t.Context(), in)
			var ve *failure.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Errorf("%s: %v, want a ValidationError of %s", name, err, tc.field)
				continue
			}
			if leak := badinput.Leaks(err.Error(), secret); leak != "" || len(err.Error()) > 200 {
				t.Errorf("%s: message %q", name, err)
			}
		}
		if _, found, _ := marks.Get(t.Context(), secret, nil); found {
			t.Error("a refused input moved the mark")
		}
	})
}

func TestManifestOfUsersExportedInWindows(t *testing.T) {
	st, _ := newStore(t)
	emails := []string{"done@x.io", "broke@x.io", "unconverted@x.io", "first@x.io", "plain@x.io"}
	for _, e := range emails[:4] {
		setMark(t, st, e, tm(0, 0))
	}
	setMark(t, st, "plain@x.io", tm(29, 0))
	out, err := prepare(t, st, chunkNow, `{"emails":["`+strings.Join(emails, `","`)+`"],"window":{"period":"day","incremental":true}}`)
	if err != nil {
		t.Fatal(err)
	}
	// What AdvanceMark did before the entries were written.
	setMark(t, st, "done@x.io", tm(30, 0))
	setMark(t, st, "broke@x.io", tm(14, 0))
	setMark(t, st, "unconverted@x.io", tm(7, 0))
	last := windowReport("done@x.io", chunked[4], 20, 2)
	entries, _ := json.Marshal([]map[string]any{
		{"email": "done@x.io", "status": "succeeded", "executionArn": "arn:last", "startDate": 1764072400000, "stopDate": 1764072500000,
			"report": last, "progress": Progress{Windows: 5, Stored: 5, Bytes: 420, Rows: 42, StartTime: tm(0, 0),
				StartDate: json.RawMessage(`1764072000000`), Watermark: tm(30, 0)}},
		// Window 3 failed: 1 and 2 are stored, the mark at the end of 2.
		{"email": "broke@x.io", "status": "failed", "finishTime": tm(21, 0), "error": "States.TaskFailed",
			"cause":    childCause(t, "FAILED", "JobFailedError", `{"errorType":"JobFailedError","errorMessage":"avepoint job 9 failed"}`),
			"progress": Progress{Windows: 5, Stored: 2, Bytes: 200, Rows: 20, StartTime: tm(0, 0), Watermark: tm(14, 0), Next: &chunked[2]}},
		// Window 2 stored but not converted: it counts, and its mark moves.
		{"email": "unconverted@x.io", "status": "failed", "finishTime": tm(14, 0), "error": "States.TaskFailed",
			"cause":    childCause(t, "FAILED", "ConversionError", `{"errorType":"ConversionError","errorMessage":"no sheet"}`),
			"progress": Progress{Windows: 5, Stored: 1, Bytes: 100, Rows: 10, StartTime: tm(0, 0), Watermark: tm(7, 0), Next: &chunked[1]}},
		// The first window failed: nothing stored, the mark where it was.
		{"email": "first@x.io", "status": "failed", "finishTime": tm(7, 0), "error": "States.TaskFailed",
			"cause":    childCause(t, "FAILED", "AuthError", `{"errorType":"AuthError","errorMessage":"denied"}`),
			"progress": Progress{Windows: 5, Next: &chunked[0]}},
		succeeded(converted("plain@x.io", tm(29, 0), tm(30, 0), 7, 3)),
	})
	var lines bytes.Buffer
	w := withMetrics(&ManifestWriter{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Log: quiet, Now: fixed("2026-11-25T12:30:00Z")}, &lines)
	got, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: entries})
	if err != nil {
		t.Fatal(err)
	}
	man := getJSON[Manifest](t, st, out.ManifestKey)
	if !reflect.DeepEqual(man.Results, got.Results) {
		t.Fatal("the output's results are not the manifest's")
	}
	type summary struct {
		Status, Error, Key, StartTime, FinishTime, Watermark, StartedAt string
		Bytes                                                           int64
		Windows                                                         *request.WindowCount
	}
	var sums []summary
	for _, r := range got.Results {
		sums = append(sums, summary{r.Status, r.Error, r.Key, r.StartTime, r.FinishTime, r.Watermark, r.StartedAt, r.Bytes, r.Windows})
	}
	want := []summary{
		{"succeeded", "", last.Key, tm(0, 0), tm(30, 0), tm(30, 0), "2025-11-25T12:00:00Z", 420, &request.WindowCount{Total: 5, Stored: 5}},
		{"failed", "JobFailedError", "", "", "", tm(14, 0), "2025-11-25T12:00:00Z", 0, &request.WindowCount{Total: 5, Stored: 2}},
		{"failed", "ConversionError", "", "", tm(14, 0), tm(14, 0), "2025-11-25T12:00:00Z", 0, &request.WindowCount{Total: 5, Stored: 2}},
		{"failed", "AuthError", "", "", "", "", "2025-11-25T12:00:00Z", 0, &request.WindowCount{Total: 5, Stored: 0}},
		{"succeeded", "", "reports/user=plain@x.io/activities.zip", tm(29, 0), tm(30, 0), tm(30, 0), "", 7, nil},
	}
	if !reflect.DeepEqual(sums, want) {
		t.Fatalf("results\n%+v\nwant\n%+v", sums, want)
	}
	// The unconverted window's mark moved past it, like a single user's.
	for email, finish := range map[string]string{"unconverted@x.io": tm(14, 0), "broke@x.io": tm(14, 0), "first@x.io": tm(0, 0)} {
		if m, _, _ := w.Marks.Get(t.Context(), email, nil); m.FinishTime != finish {
			t.Errorf("%s: mark %s, want %s", email, m.FinishTime, finish)
		}
	}
	l := emftest.One(t, lines.String(), metrics.BatchRuns)
	if l.Values[metrics.BatchBytesStored] != 420+7 || l.Values[metrics.BatchRowsConverted] != 42+3 {
		t.Errorf("metrics %v: bytes and rows of every window", l.Values)
	}
	// first@x.io's mark (unmoved, 30 days back) is the oldest.
	if l.Values[metrics.MarkStalenessSeconds] != float64(time.Date(2026, 11, 25, 12, 30, 0, 0, time.UTC).Sub(time.Date(2026, 10, 26, 0, 0, 0, 0, time.UTC))/time.Second) {
		t.Errorf("staleness %v", l.Values[metrics.MarkStalenessSeconds])
	}
}
