package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/metrics"
	"github.com/insights-export/insights-export/internal/metrics/emftest"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

// converted is a stored report the convert step turned into rows.
func converted(email, start, finish string, size, rows int64) *request.ExportOutput {
	o := report(email, start, finish)
	o.Bytes = size
	o.Dataset = &request.Dataset{Bucket: "b", Prefix: "dataset/activities", Objects: []string{"dataset/activities/dt=2026-11-24/x.parquet"}, Rows: rows}
	return o
}

func succeeded(o *request.ExportOutput) map[string]any {
	return map[string]any{"email": o.Email, "status": "succeeded", "executionArn": "arn:" + o.Email, "report": o}
}

func failed(t *testing.T, email string) map[string]any {
	return map[string]any{"email": email, "status": "failed", "error": "States.TaskFailed", "finishTime": "2026-11-25T00:00:00",
		"cause": childCause(t, "FAILED", "AuthError", `{"errorType":"AuthError","errorMessage":"no access to `+email+`"}`)}
}

func withMetrics(w *ManifestWriter, out *bytes.Buffer) *ManifestWriter {
	w.Metrics = &metrics.Emitter{Stack: "test-stack", Out: out, Log: quiet, Now: w.Now}
	return w
}

func TestWriteManifestEmitsTheRunsCounts(t *testing.T) {
	st, _ := newStore(t)
	emails := []string{"adele.vance@contoso.com", "alex.wilber@contoso.com", "failing.user@contoso.com"}
	out, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"emails":["`+strings.Join(emails, `","`)+`"],"finishTime":"2026-11-24T00:00:00"}`)
	if err != nil {
		t.Fatal(err)
	}
	flagged := converted(emails[1], "", "2026-11-24T00:00:00", 2000, 0)
	flagged.WithException, flagged.Dataset = true, nil // stored, not converted
	entries, _ := json.Marshal([]map[string]any{
		succeeded(converted(emails[0], "", "2026-11-24T00:00:00", 48213, 120)),
		succeeded(flagged),
		failed(t, emails[2]),
	})
	var lines bytes.Buffer
	w := &ManifestWriter{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Log: quiet, Now: fixed("2026-11-25T12:01:30Z")}
	withMetrics(w, &lines)
	got, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: entries})
	if err != nil {
		t.Fatal(err)
	}
	if got.Counts != (request.Counts{Users: 3, Succeeded: 2, WithException: 1, Failed: 1}) {
		t.Fatalf("counts %+v", got.Counts)
	}
	l := emftest.One(t, lines.String(), metrics.BatchRuns)
	want := map[string]float64{
		metrics.BatchRuns: 1, metrics.UsersSucceeded: 2, metrics.UsersWithException: 1, metrics.UsersFailed: 1, metrics.UsersUpToDate: 0,
		metrics.BatchBytesStored: 48213 + 2000, metrics.BatchRowsConverted: 120,
	}
	if !maps.Equal(l.Values, want) {
		t.Fatalf("values %v\nwant   %v (and no MarkStalenessSeconds: the run is not incremental)", l.Values, want)
	}
	if l.Units[metrics.BatchBytesStored] != "Bytes" || l.Units[metrics.UsersFailed] != "Count" || l.Dims[metrics.Stack] != "test-stack" {
		t.Fatalf("line %+v", l)
	}
	if leak := badinput.Leaks(lines.String(), emails...); leak != "" {
		t.Fatalf("the metric line holds %q", leak)
	}
}

// The staleness of an incremental run is the age, when the run ends, of
// the oldest mark of its users: a failed user's old mark counts, an
// advanced user's new one, an up-to-date user's own.
func TestWriteManifestMeasuresMarkStaleness(t *testing.T) {
	const now = "2026-11-25T12:05:00Z"
	day := func(d string) string { return "2026-11-" + d + "T00:00:00" }
	age := func(mark string) float64 {
		t, _ := time.Parse(request.TimeLayout, mark)
		return fixed(now)().Sub(t).Seconds()
	}
	tests := []struct {
		name    string
		marks   map[string]string // before the run
		newer   map[string]string // marks a newer run stores while this one runs
		results func(t *testing.T) []map[string]any
		want    float64 // -1: no MarkStalenessSeconds
	}{
		{name: "a failed user keeps its old mark, the oldest",
			marks: map[string]string{"stale@x.io": day("20"), "ok@x.io": day("23"), "current@x.io": day("25")},
			results: func(t *testing.T) []map[string]any {
				return []map[string]any{failed(t, "stale@x.io"), succeeded(converted("ok@x.io", day("23"), day("25"), 10, 1))}
			},
			want: age(day("20"))},
		{name: "everybody advanced: the oldest new mark",
			marks: map[string]string{"a@x.io": day("20"), "b@x.io": day("22")},
			results: func(t *testing.T) []map[string]any {
				return []map[string]any{succeeded(converted("a@x.io", day("20"), day("25"), 10, 1)), succeeded(converted("b@x.io", day("22"), day("25"), 10, 1))}
			},
			want: age(day("25"))},
		{name: "a newer run's mark stands, and counts",
			marks: map[string]string{"a@x.io": day("20")},
			newer: map[string]string{"a@x.io": "2026-11-25T06:00:00"},
			results: func(t *testing.T) []map[string]any {
				return []map[string]any{succeeded(converted("a@x.io", day("20"), day("25"), 10, 1))}
			},
			want: age("2026-11-25T06:00:00")},
		{name: "a flagged report does not move the mark",
			marks: map[string]string{"flagged@x.io": day("21")},
			results: func(t *testing.T) []map[string]any {
				o := converted("flagged@x.io", day("21"), day("25"), 10, 1)
				o.WithException = true
				return []map[string]any{succeeded(o)}
			},
			want: age(day("21"))},
		{name: "a user without a mark who failed has none to measure",
			marks: map[string]string{"ok@x.io": day("24")},
			results: func(t *testing.T) []map[string]any {
				return []map[string]any{failed(t, "new@x.io"), succeeded(converted("ok@x.io", day("24"), day("25"), 10, 1))}
			},
			want: age(day("25"))},
		{name: "nobody has a mark: no staleness",
			results: func(t *testing.T) []map[string]any {
				return []map[string]any{failed(t, "new@x.io")}
			},
			want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := newStore(t)
			marks := &Watermarks{Store: st, Prefix: "state"}
			for email, finish := range tt.marks {
				if _, err := marks.Advance(t.Context(), Mark{Email: email, FinishTime: finish}); err != nil {
					t.Fatal(err)
				}
			}
			entries := tt.results(t)
			var users []string
			for email := range tt.marks {
				users = append(users, email)
			}
			for _, e := range entries {
				if email := e["email"].(string); tt.marks[email] == "" {
					users = append(users, email)
				}
			}
			in, _ := json.Marshal(map[string]any{"emails": users, "window": map[string]any{"period": "day", "incremental": true, "at": "2026-11-25T00:10:00Z"}})
			out, err := prepare(t, st, "2026-11-25T12:00:00Z", string(in))
			if err != nil {
				t.Fatal(err)
			}
			for email, finish := range tt.newer {
				if _, err := marks.Advance(t.Context(), Mark{Email: email, FinishTime: finish}); err != nil {
					t.Fatal(err)
				}
			}
			raw, _ := json.Marshal(entries)
			var lines bytes.Buffer
			w := &ManifestWriter{Store: st, Marks: marks, Log: quiet, Now: fixed(now)}
			withMetrics(w, &lines)
			if _, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: raw}); err != nil {
				t.Fatal(err)
			}
			l := emftest.One(t, lines.String(), metrics.BatchRuns)
			got, ok := l.Values[metrics.MarkStalenessSeconds]
			switch {
			case tt.want < 0 && ok:
				t.Fatalf("MarkStalenessSeconds %v, want none", got)
			case tt.want >= 0 && (!ok || got != tt.want || l.Units[metrics.MarkStalenessSeconds] != "Seconds"):
				t.Fatalf("MarkStalenessSeconds %v (%v, %s), want %v", got, ok, l.Units[metrics.MarkStalenessSeconds], tt.want)
			}
			if leak := badinput.Leaks(lines.String(), users...); leak != "" {
				t.Fatalf("the metric line holds %q", leak)
			}
		})
	}
}

// PrepareBatch records the marks of the users it sends to export, which
// is what lets WriteManifest measure a failed user's mark without
// reading it again.
func TestPrepareRecordsTheMarksOfUsersToExport(t *testing.T) {
	st, _ := newStore(t)
	marks := &Watermarks{Store: st, Prefix: "state"}
	for email, finish := range map[string]string{"behind@x.io": "2026-11-20T00:00:00", "current@x.io": "2026-11-25T00:00:00"} {
		if _, err := marks.Advance(t.Context(), Mark{Email: email, FinishTime: finish}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"emails":["behind@x.io","current@x.io","new@x.io"],"window":{"period":"day","incremental":true,"at":"2026-11-25T00:10:00Z"}}`)
	if err != nil {
		t.Fatal(err)
	}
	plan := getJSON[Plan](t, st, out.PlanKey)
	recorded := map[string]string{}
	for _, u := range getJSON[[]PlannedUser](t, st, plan.UsersKey) {
		if !u.UpToDate && u.Mark != "" {
			recorded[u.Email] = u.Mark
		}
	}
	if !maps.Equal(recorded, map[string]string{"behind@x.io": "2026-11-20T00:00:00"}) {
		t.Fatalf("marks of users to export %v: want the exported user's mark only (current is up to date, new has none)", recorded)
	}
}

// Rows come from the ResultWriter's files too (a Distributed Map run).
func TestWriteManifestSumsRowsFromResultWriterFiles(t *testing.T) {
	st, client := newStore(t)
	out, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"emails":["a@x.io","b@x.io"],"finishTime":"2026-11-24T00:00:00"}`)
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, v any) {
		b, _ := json.Marshal(v)
		if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(st.Bucket), Key: aws.String(key), Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
	}
	child := func(o *request.ExportOutput) map[string]any {
		entry, _ := json.Marshal(succeeded(o))
		in, _ := json.Marshal(request.Item{Email: o.Email, FinishTime: "2026-11-24T00:00:00", EventTypes: []string{}})
		return map[string]any{"ExecutionArn": "arn:" + o.Email, "Input": string(in), "Output": string(entry), "Status": "SUCCEEDED"}
	}
	base := out.ResultsPrefix + "/0f1e"
	put(base+"/SUCCEEDED_0.json", []any{child(converted("a@x.io", "", "2026-11-24T00:00:00", 100, 7)), child(converted("b@x.io", "", "2026-11-24T00:00:00", 200, 35))})
	put(base+"/manifest.json", map[string]any{"DestinationBucket": st.Bucket, "ResultFiles": map[string]any{
		"SUCCEEDED": []any{map[string]any{"Key": base + "/SUCCEEDED_0.json", "Size": 1}}}})
	mapRaw, _ := json.Marshal(map[string]any{"ResultWriterDetails": map[string]any{"Bucket": st.Bucket, "Key": base + "/manifest.json"}})
	var lines bytes.Buffer
	w := &ManifestWriter{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Log: quiet, Now: fixed("2026-11-25T12:10:00Z")}
	withMetrics(w, &lines)
	if _, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: mapRaw}); err != nil {
		t.Fatal(err)
	}
	l := emftest.One(t, lines.String(), metrics.BatchRuns)
	if l.Values[metrics.BatchRowsConverted] != 42 || l.Values[metrics.BatchBytesStored] != 300 || l.Values[metrics.UsersSucceeded] != 2 {
		t.Fatalf("values %v", l.Values)
	}
}

// A marks write that fails fails the step, which emits nothing (its
// retry emits once); a metrics write that fails fails nothing.
func TestWriteManifestSucceedsWhenMetricsCannotBeWritten(t *testing.T) {
	st, _ := newStore(t)
	out, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"email":"a@x.io","finishTime":"2026-11-24T00:00:00"}`)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	w := &ManifestWriter{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Log: quiet, Now: fixed("2026-11-25T12:01:00Z"),
		Metrics: &metrics.Emitter{Out: failWriter{}, Log: slog.New(slog.NewJSONHandler(&log, nil))}}
	entries, _ := json.Marshal([]map[string]any{succeeded(converted("a@x.io", "", "2026-11-24T00:00:00", 1, 1))})
	got, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: entries})
	if err != nil || got.Counts.Succeeded != 1 {
		t.Fatalf("%+v %v", got, err)
	}
	if !strings.Contains(log.String(), `"msg":"metrics not written"`) {
		t.Fatalf("log %s", log.String())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("stdout gone") }

func TestLoadManifestWriterWiresMetrics(t *testing.T) {
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"} {
		t.Setenv(k, v)
	}
	env := map[string]string{"REPORT_BUCKET": "b", "METRICS_STACK": "insights-export-prod"}
	getenv := func(k string) string { return env[k] }
	w, err := LoadManifestWriter(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if e := w.Metrics; e == nil || e.Stack != "insights-export-prod" || e.Namespace != metrics.DefaultNamespace || e.Out != os.Stdout {
		t.Fatalf("emitter %+v", e)
	}
	env["METRICS_NAMESPACE"] = "AWS/States"
	_, err = LoadManifestWriter(getenv)
	var ce *failure.ConfigError
	if !errors.As(err, &ce) || ce.Variable != "METRICS_NAMESPACE" {
		t.Fatalf("got %v", err)
	}
}
