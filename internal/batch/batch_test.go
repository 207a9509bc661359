package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/testing/badinput"
	"github.com/insights-export/insights-export/internal/testing/moto"
)

var quiet = slog.New(slog.DiscardHandler)

// Tests run against moto_server's S3: real NoSuchKey answers, real
// listing. Each test gets a bucket of its own.
func newStore(t *testing.T) (*storage.Objects, *s3.Client) {
	t.Helper()
	client := moto.Start(t).S3Client(t)
	bucket := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	bucket = strings.Trim(bucket, "-")
	if len(bucket) > 50 {
		bucket = bucket[len(bucket)-50:]
	}
	bucket = "batch-" + strings.Trim(bucket, "-")
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return &storage.Objects{Client: client, Bucket: bucket}, client
}

func fixed(ts string) func() time.Time {
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		panic(err)
	}
	return func() time.Time { return t }
}

func getJSON[T any](t *testing.T, st *storage.Objects, key string) T {
	t.Helper()
	var v T
	found, err := st.GetJSON(t.Context(), "", key, &v)
	if err != nil || !found {
		t.Fatalf("get %s: found=%v %v", key, found, err)
	}
	return v
}

func prepare(t *testing.T, st *storage.Objects, now string, input string) (Prepared, error) {
	t.Helper()
	p := &Preparer{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Prefix: "reports", MaxConcurrency: 5, Log: quiet, Now: fixed(now)}
	return p.Handle(t.Context(), PrepareInput{
		Input:     json.RawMessage(input),
		Execution: Execution{ID: "arn:aws:states:us-east-1:123456789012:execution:batch:run-1", Name: "run-1", StartTime: now},
	})
}

func TestPrepareFixedWindow(t *testing.T) {
	st, _ := newStore(t)
	out, err := prepare(t, st, "2026-11-25T12:00:00Z",
		`{"emails":["B@x.io","a@x.io"],"startTime":"2026-11-01T00:00:00","finishTime":"2026-11-02T00:00:00","eventTypes":["FileAccessed"]}`)
	if err != nil {
		t.Fatal(err)
	}
	want := Prepared{
		Execution: Execution{ID: "arn:aws:states:us-east-1:123456789012:execution:batch:run-1", Name: "run-1", StartTime: "2026-11-25T12:00:00Z"},
		Bucket:    st.Bucket, RunPrefix: "reports/runs/2026-11-25/run-1",
		PlanKey: "reports/runs/2026-11-25/run-1/plan.json", ItemsKey: "reports/runs/2026-11-25/run-1/items.json",
		ResultsPrefix: "reports/runs/2026-11-25/run-1/results", ManifestKey: "reports/runs/2026-11-25/run-1/manifest.json",
		Users: 2, MaxConcurrency: 5,
	}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("got  %+v\nwant %+v", out, want)
	}
	items := getJSON[[]request.Item](t, st, out.ItemsKey)
	wantItems := []request.Item{
		{Email: "b@x.io", StartTime: "2026-11-01T00:00:00", FinishTime: "2026-11-02T00:00:00", EventTypes: []string{"FileAccessed"}},
		{Email: "a@x.io", StartTime: "2026-11-01T00:00:00", FinishTime: "2026-11-02T00:00:00", EventTypes: []string{"FileAccessed"}},
	}
	if !reflect.DeepEqual(items, wantItems) {
		t.Fatalf("items %+v", items)
	}
	plan := getJSON[Plan](t, st, out.PlanKey)
	if plan.Users != 2 || strings.Join(plan.Request.Emails, ",") != "b@x.io,a@x.io" || plan.Execution.Name != "run-1" {
		t.Fatalf("plan %+v", plan)
	}
	// Every item field is present, even when empty: the Map addresses
	// each by path.
	var raw []map[string]any
	getJSONInto(t, st, out.ItemsKey, &raw)
	out2, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"email":"c@x.io"}`)
	if err != nil {
		t.Fatal(err)
	}
	getJSONInto(t, st, out2.ItemsKey, &raw)
	for _, k := range []string{"email", "startTime", "finishTime", "eventTypes"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("item lacks %q: %v", k, raw[0])
		}
	}
	if raw[0]["finishTime"] != "2026-11-25T12:00:00" || raw[0]["startTime"] != "" {
		t.Errorf("open window item %v", raw[0])
	}
}

func getJSONInto(t *testing.T, st *storage.Objects, key string, into any) {
	t.Helper()
	if found, err := st.GetJSON(t.Context(), "", key, into); err != nil || !found {
		t.Fatalf("get %s: %v %v", key, found, err)
	}
}

func TestPrepareRollingWindow(t *testing.T) {
	st, _ := newStore(t)
	out, err := prepare(t, st, "2026-11-25T12:00:00Z",
		`{"emails":["a@x.io"],"window":{"period":"day","timeZone":"America/New_York","at":"2026-11-25T05:15:00Z","overlapMinutes":60}}`)
	if err != nil {
		t.Fatal(err)
	}
	items := getJSON[[]request.Item](t, st, out.ItemsKey)
	// The New York day of 24 Nov: 05:00Z to 05:00Z, one hour of overlap.
	if len(items) != 1 || items[0].StartTime != "2026-11-24T04:00:00" || items[0].FinishTime != "2026-11-25T05:00:00" {
		t.Fatalf("items %+v", items)
	}
}

func TestPrepareIncremental(t *testing.T) {
	st, _ := newStore(t)
	marks := &Watermarks{Store: st, Prefix: "state"}
	for email, finish := range map[string]string{
		"behind@x.io":  "2026-11-20T23:00:00", // missed runs: catch up from here
		"current@x.io": "2026-11-24T23:00:00", // already has yesterday
	} {
		if _, err := marks.Advance(t.Context(), Mark{Email: email, EventTypes: []string{"FileAccessed"}, FinishTime: finish}); err != nil {
			t.Fatal(err)
		}
	}
	// A mark for another filter must not count.
	if _, err := marks.Advance(t.Context(), Mark{Email: "new@x.io", FinishTime: "2026-11-24T23:00:00"}); err != nil {
		t.Fatal(err)
	}
	out, err := prepare(t, st, "2026-11-25T12:00:00Z",
		`{"emails":["behind@x.io","current@x.io","new@x.io"],"eventTypes":["FileAccessed"],
		  "window":{"period":"day","timeZone":"Europe/Berlin","incremental":true,"lookbackPeriods":3,"overlapMinutes":15,"at":"2026-11-24T23:15:00Z"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if out.Users != 2 || out.UpToDate != 1 {
		t.Fatalf("prepared %+v", out)
	}
	items := getJSON[[]request.Item](t, st, out.ItemsKey)
	want := []request.Item{
		{Email: "behind@x.io", StartTime: "2026-11-20T22:45:00", FinishTime: "2026-11-24T23:00:00", EventTypes: []string{"FileAccessed"}},
		{Email: "new@x.io", StartTime: "2026-11-21T23:00:00", FinishTime: "2026-11-24T23:00:00", EventTypes: []string{"FileAccessed"}},
	}
	if !reflect.DeepEqual(items, want) {
		t.Fatalf("items\n%+v\nwant\n%+v", items, want)
	}
	plan := getJSON[Plan](t, st, out.PlanKey)
	users := getJSON[[]PlannedUser](t, st, plan.UsersKey)
	wantUsers := []PlannedUser{{Email: "behind@x.io", Mark: "2026-11-20T23:00:00"}, {Email: "current@x.io", Mark: "2026-11-24T23:00:00", UpToDate: true}, {Email: "new@x.io"}}
	if !reflect.DeepEqual(users, wantUsers) || plan.UpToDate != nil || plan.Marks != nil {
		t.Fatalf("users.json %+v\nwant %+v (plan %+v)", users, wantUsers, plan)
	}
}

func TestPrepareRefusesBadInput(t *testing.T) {
	st, client := newStore(t)
	_, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"emails":["a@x.io","A@x.io"]}`)
	var ve *failure.ValidationError
	if !errors.As(err, &ve) || ve.Field != "emails[1]" {
		t.Fatalf("got %v", err)
	}
	// Exactly the error value the Lambda runtime needs (its type name is
	// the Step Functions error name), and nothing written.
	if _, ok := err.(*failure.ValidationError); !ok {
		t.Fatalf("error is %T, not *failure.ValidationError", err)
	}
	list, _ := client.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(st.Bucket)})
	if len(list.Contents) != 0 {
		t.Fatalf("%d objects written for a refused input", len(list.Contents))
	}
}

// report is an export execution's output as the store step returns it.
func report(email, start, finish string) *request.ExportOutput {
	return &request.ExportOutput{Bucket: "b", Key: "reports/user=" + email + "/activities.zip", JobID: "j-" + email, Bytes: 42, SHA256: "ab",
		Email: email, StartTime: start, FinishTime: finish, EventTypes: []string{"FileAccessed"}}
}

func childCause(t *testing.T, status, errName, cause string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"ExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:export:child-" + errName,
		"Status":       status, "Error": errName, "Cause": cause,
		"StartDate": 1764072000000, "StopDate": 1764072012500,
		"Input": map[string]any{"email": "x"}, "InputDetails": map[string]any{"Included": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestManifestInline(t *testing.T) {
	st, _ := newStore(t)
	out, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"emails":["ok@x.io","failed@x.io","lost@x.io","nostart@x.io"],"finishTime":"2026-11-24T00:00:00"}`)
	if err != nil {
		t.Fatal(err)
	}
	entries := []map[string]any{
		{"email": "ok@x.io", "status": "succeeded", "executionArn": "arn:ok", "startDate": 1764072000000, "stopDate": 1764072003000,
			"report": report("ok@x.io", "", "2026-11-24T00:00:00")},
		{"email": "failed@x.io", "status": "failed", "error": "States.TaskFailed",
			"cause": childCause(t, "FAILED", "JobFailedError", `{"errorType":"JobFailedError","errorMessage":"avepoint job 7 failed: mailbox gone"}`)},
		{"email": "nostart@x.io", "status": "failed", "error": "StepFunctions.ExecutionLimitExceededException", "cause": "too many executions"},
	}
	mapRaw, _ := json.Marshal(entries)
	w := &ManifestWriter{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Log: quiet, Now: fixed("2026-11-25T12:01:30Z")}
	got, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: mapRaw})
	if err != nil {
		t.Fatal(err)
	}
	if got.Counts != (request.Counts{Users: 4, Succeeded: 1, Failed: 3}) || got.ResultsOmitted != 0 || len(got.Results) != 4 {
		t.Fatalf("output %+v", got)
	}
	if got.Manifest != (request.Location{Bucket: st.Bucket, Key: out.ManifestKey, URI: "s3://" + st.Bucket + "/" + out.ManifestKey}) {
		t.Fatalf("manifest location %+v", got.Manifest)
	}
	ok, failed, lost, nostart := got.Results[0], got.Results[1], got.Results[2], got.Results[3]
	if ok.Email != "ok@x.io" || ok.Status != request.StatusSucceeded || ok.Key == "" || ok.Bytes != 42 || ok.DurationSeconds != 3 || ok.StartedAt != "2025-11-25T12:00:00Z" {
		t.Errorf("succeeded %+v", ok)
	}
	// The child's own error, not States.TaskFailed, and its message
	// unwrapped from the Lambda error envelope.
	if failed.Status != request.StatusFailed || failed.Error != "JobFailedError" || failed.Message != "avepoint job 7 failed: mailbox gone" ||
		failed.ExecutionArn != "arn:aws:states:us-east-1:123456789012:execution:export:child-JobFailedError" || failed.DurationSeconds != 12.5 {
		t.Errorf("failed %+v", failed)
	}
	if lost.Status != request.StatusFailed || lost.Error != "MissingResult" {
		t.Errorf("lost %+v", lost)
	}
	if nostart.Error != "StepFunctions.ExecutionLimitExceededException" || nostart.Message != "too many executions" {
		t.Errorf("not started %+v", nostart)
	}
	man := getJSON[Manifest](t, st, out.ManifestKey)
	if man.Counts != got.Counts || len(man.Results) != 4 || man.Request.FinishTime != "2026-11-24T00:00:00" ||
		man.StartedAt != "2026-11-25T12:00:00Z" || man.FinishedAt != "2026-11-25T12:01:30Z" || man.DurationSeconds != 90 || man.MaxConcurrency != 5 {
		t.Fatalf("manifest %+v", man)
	}
}

func TestManifestFromResultWriter(t *testing.T) {
	st, client := newStore(t)
	out, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"emails":["a@x.io","b@x.io","c@x.io"],"finishTime":"2026-11-24T00:00:00"}`)
	if err != nil {
		t.Fatal(err)
	}
	// What a Map Run with ResultWriter leaves in S3: its manifest and
	// result files of child executions, Input and Output as JSON text.
	put := func(key string, v any) {
		b, _ := json.Marshal(v)
		if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(st.Bucket), Key: aws.String(key), Body: strings.NewReader(string(b))}); err != nil {
			t.Fatal(err)
		}
	}
	child := func(email string, entry any, status string) map[string]any {
		in, _ := json.Marshal(request.Item{Email: email, FinishTime: "2026-11-24T00:00:00", EventTypes: []string{}})
		c := map[string]any{"ExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:batch/ExportUsers:" + email,
			"Input": string(in), "InputDetails": map[string]any{"Included": true}, "Name": email, "Status": status,
			"StartDate": "2026-11-25T12:00:00.000Z", "StopDate": "2026-11-25T12:00:05.000Z", "StateMachineArn": "arn:sm"}
		if entry != nil {
			o, _ := json.Marshal(entry)
			c["Output"], c["OutputDetails"] = string(o), map[string]any{"Included": true}
		} else {
			c["Error"], c["Cause"] = "States.Runtime", "something broke in the child"
		}
		return c
	}
	base := out.ResultsPrefix + "/0f1e2d3c"
	put(base+"/SUCCEEDED_0.json", []any{
		// Order in the files is not the request's.
		child("b@x.io", map[string]any{"email": "b@x.io", "status": "failed", "error": "States.TaskFailed",
			"cause": childCause(t, "TIMED_OUT", "", "")}, "SUCCEEDED"),
		child("a@x.io", map[string]any{"email": "a@x.io", "status": "succeeded", "executionArn": "arn:a",
			"startDate": 1764072000000, "stopDate": 1764072001000, "report": report("a@x.io", "", "2026-11-24T00:00:00")}, "SUCCEEDED"),
	})
	put(base+"/FAILED_0.json", []any{child("c@x.io", nil, "FAILED")})
	put(base+"/manifest.json", map[string]any{
		"DestinationBucket": st.Bucket, "MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:batch/ExportUsers:0f1e2d3c",
		"ResultFiles": map[string]any{
			"FAILED":    []any{map[string]any{"Key": base + "/FAILED_0.json", "Size": 100}},
			"PENDING":   []any{},
			"SUCCEEDED": []any{map[string]any{"Key": base + "/SUCCEEDED_0.json", "Size": 100}},
		},
	})
	mapRaw, _ := json.Marshal(map[string]any{
		"MapRunArn":           "arn:aws:states:us-east-1:123456789012:mapRun:batch/ExportUsers:0f1e2d3c",
		"ResultWriterDetails": map[string]any{"Bucket": st.Bucket, "Key": base + "/manifest.json"},
	})
	w := &ManifestWriter{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Log: quiet, Now: fixed("2026-11-25T12:10:00Z")}
	got, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: mapRaw})
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, r := range got.Results {
		summary = append(summary, r.Email+":"+r.Status+":"+r.Error)
	}
	if want := "a@x.io:succeeded:,b@x.io:failed:States.Timeout,c@x.io:failed:States.Runtime"; strings.Join(summary, ",") != want {
		t.Fatalf("results %v\nwant %s", summary, want)
	}
	man := getJSON[Manifest](t, st, out.ManifestKey)
	if man.MapRunArn == "" || man.Counts != (request.Counts{Users: 3, Succeeded: 1, Failed: 2}) {
		t.Fatalf("manifest %+v", man)
	}
}

func TestManifestAdvancesMarksOnlyForStoredReports(t *testing.T) {
	st, _ := newStore(t)
	marks := &Watermarks{Store: st, Prefix: "state"}
	// "ahead" already has a later mark (a newer run finished first): the
	// mark must not move back.
	if _, err := marks.Advance(t.Context(), Mark{Email: "ahead@x.io", FinishTime: "2026-11-30T00:00:00"}); err != nil {
		t.Fatal(err)
	}
	out, err := prepare(t, st, "2026-11-25T12:00:00Z",
		`{"emails":["ok@x.io","bad@x.io","ahead@x.io"],"window":{"period":"day","incremental":true,"at":"2026-11-25T00:10:00Z"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if out.Users != 2 || out.UpToDate != 1 {
		t.Fatalf("prepared %+v", out)
	}
	entries, _ := json.Marshal([]map[string]any{
		{"email": "ok@x.io", "status": "succeeded", "report": report("ok@x.io", "2026-11-24T00:00:00", "2026-11-25T00:00:00")},
		{"email": "bad@x.io", "status": "failed", "error": "States.TaskFailed", "cause": childCause(t, "FAILED", "AuthError", "no")},
	})
	w := &ManifestWriter{Store: st, Marks: marks, Log: quiet, Now: fixed("2026-11-25T12:05:00Z")}
	got, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: entries})
	if err != nil {
		t.Fatal(err)
	}
	if got.Counts != (request.Counts{Users: 3, Succeeded: 1, Failed: 1, UpToDate: 1}) {
		t.Fatalf("counts %+v", got.Counts)
	}
	check := func(email, want string) {
		t.Helper()
		m, found, err := marks.Get(t.Context(), email, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := map[bool]string{true: m.FinishTime}[found]; got != want {
			t.Errorf("mark of %s = %q, want %q", email, got, want)
		}
	}
	check("ok@x.io", "2026-11-25T00:00:00")
	check("bad@x.io", "") // the failed user is retried from the same place next run
	check("ahead@x.io", "2026-11-30T00:00:00")
	if got.Results[0].Watermark != "2026-11-25T00:00:00" || got.Results[2].Watermark != "2026-11-30T00:00:00" {
		t.Errorf("results %+v", got.Results)
	}
	m, _, _ := marks.Get(t.Context(), "ok@x.io", nil)
	if m.ReportKey == "" || m.JobID != "j-ok@x.io" || m.Execution == "" {
		t.Errorf("mark %+v", m)
	}
	// A retry of the step is harmless: same output, marks unchanged.
	again, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: entries})
	if err != nil || !reflect.DeepEqual(again.Counts, got.Counts) {
		t.Fatalf("retry: %+v %v", again, err)
	}
	check("ok@x.io", "2026-11-25T00:00:00")
}

func TestManifestWithNobodyToExport(t *testing.T) {
	st, _ := newStore(t)
	marks := &Watermarks{Store: st, Prefix: "state"}
	if _, err := marks.Advance(t.Context(), Mark{Email: "a@x.io", FinishTime: "2026-11-25T00:00:00"}); err != nil {
		t.Fatal(err)
	}
	out, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"email":"a@x.io","window":{"period":"day","incremental":true}}`)
	if err != nil || out.Users != 0 {
		t.Fatalf("%+v %v", out, err)
	}
	w := &ManifestWriter{Store: st, Marks: marks, Log: quiet, Now: fixed("2026-11-25T12:00:01Z")}
	got, err := w.Handle(t.Context(), ManifestInput{Prepared: out})
	if err != nil || got.Counts != (request.Counts{Users: 1, UpToDate: 1}) || got.Results[0].Status != request.StatusUpToDate {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestFitResults(t *testing.T) {
	var results []request.Result
	for i := range 3000 {
		st := request.StatusSucceeded
		if i%1000 == 999 {
			st = request.StatusFailed
		}
		results = append(results, request.Result{Email: fmt.Sprintf("user%04d@contoso.com", i), Status: st,
			Key: "reports/user=" + fmt.Sprintf("user%04d@contoso.com", i) + "/window=20261101T000000Z--20261102T000000Z/events=all/activities.zip"})
	}
	kept, omitted := fitResults(results, OutputResultsBudget)
	b, _ := json.Marshal(kept)
	if len(b) > OutputResultsBudget || omitted == 0 || len(kept)+omitted != len(results) {
		t.Fatalf("kept %d (%d bytes), omitted %d", len(kept), len(b), omitted)
	}
	for i := range 3 {
		if kept[i].Status != request.StatusFailed {
			t.Fatalf("failures are not listed first: %+v", kept[:4])
		}
	}
	small, omitted := fitResults(results[:10], OutputResultsBudget)
	if omitted != 0 || !reflect.DeepEqual(small, results[:10]) {
		t.Fatal("a small list must pass unchanged, in order")
	}
}

func TestParseDate(t *testing.T) {
	want := time.Date(2025, 11, 25, 12, 0, 0, 500e6, time.UTC)
	for _, in := range []string{`1764072000500`, `1764072000.5`, `"2025-11-25T12:00:00.5Z"`, `"2025-11-25T13:00:00.5+01:00"`} {
		if got := parseDate(json.RawMessage(in)); !got.Equal(want) {
			t.Errorf("parseDate(%s) = %s", in, got)
		}
	}
	for _, in := range []string{``, `null`, `"soon"`, `{}`} {
		if got := parseDate(json.RawMessage(in)); !got.IsZero() {
			t.Errorf("parseDate(%s) = %s, want zero", in, got)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := LoadConfig(env("REPORT_BUCKET", "b", "REPORT_PREFIX", "/r/"))
	if err != nil || c.Storage.Prefix != "r" || c.StatePrefix != "state" || c.MaxConcurrency != 8 || c.LogLevel != slog.LevelInfo {
		t.Fatalf("defaults %+v %v", c, err)
	}
	for _, tt := range []struct{ name, field string }{
		{"", "REPORT_BUCKET"},
		{"MAX_CONCURRENCY", "MAX_CONCURRENCY"},
		{"S3_FORCE_PATH_STYLE", "S3_FORCE_PATH_STYLE"},
		{"LOG_LEVEL", "LOG_LEVEL"},
	} {
		t.Run("bad "+tt.field, func(t *testing.T) {
			kv := []string{"REPORT_BUCKET", "b"}
			if tt.name == "" {
				kv = nil
			} else {
				kv = append(kv, tt.name, "0x")
			}
			_, err := LoadConfig(env(kv...))
			var ce *failure.ConfigError
			if !errors.As(err, &ce) || ce.Variable != tt.field {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// No two different normalized (user, event filter) pairs share a mark: a
// filtered incremental schedule never moves the unfiltered one's mark.
// Before "all" was refused as an event type, (a, none) and (a, ["all"])
// were both …/user=a/events=all.json.
func TestMarkKeysAreDistinct(t *testing.T) {
	w := &Watermarks{Prefix: "state"}
	r := rand.New(rand.NewPCG(5, 6))
	emails := []string{"a@x.io", "A@x.io", "all@x.io", "x_y.com#EXT#@t.onmicrosoft.com", strings.Repeat("#", 252) + "@x.i"}
	names := []string{"all", "All", "ALL", "A", "B", "AB", "FileAccessed", "sha256"}
	type pair struct {
		email string
		types []string
	}
	byKey := map[string]pair{}
	var refused int
	for range 20000 {
		req := request.Request{Email: emails[r.IntN(len(emails))], FinishTime: "2026-11-01T00:00:00"}
		switch r.IntN(3) {
		case 0:
		case 1:
			for range 1 + r.IntN(3) {
				req.EventTypes = append(req.EventTypes, names[r.IntN(len(names))])
			}
		case 2:
			for range 1 + r.IntN(request.MaxEventTypes) {
				req.EventTypes = append(req.EventTypes, strings.Repeat(string(rune('A'+r.IntN(3))), 1+r.IntN(request.MaxEventType)))
			}
		}
		q, err := req.Validate(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
		if err != nil {
			refused++
			continue
		}
		p := pair{q.Email, q.EventTypes}
		key := w.Key(q.Email, q.EventTypes)
		if len(key) > request.MaxKeyBytes {
			t.Fatalf("mark key of %d bytes", len(key))
		}
		if prev, ok := byKey[key]; ok && !reflect.DeepEqual(prev, p) {
			t.Fatalf("%+v and %+v share the mark %s", prev, p, key)
		}
		byKey[key] = p
	}
	if refused == 0 || len(byKey) < 500 {
		t.Fatalf("%d marks, %d refused: the generator misses the cases that matter", len(byKey), refused)
	}
	// Marks that fit keep their keys: deployed schedules keep their marks.
	if got := w.Key("A@x.io", nil); got != "state/watermarks/user=a@x.io/events=all.json" {
		t.Fatalf("unfiltered mark %s", got)
	}
	if got := w.Key("a@x.io", []string{"FileAccessed", "ListViewed"}); got != "state/watermarks/user=a@x.io/events=FileAccessed+ListViewed.json" {
		t.Fatalf("filtered mark %s", got)
	}
}

// objectClient is what storage.Objects needs of an S3 client.
type objectClient interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// fakeObjects is the S3 client of a mark store: each test says what
// GetObject and PutObject do.
type fakeObjects struct {
	get func(key string) (*s3.GetObjectOutput, error)
	put func(key string) (*s3.PutObjectOutput, error)
}

func (f fakeObjects) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return f.get(aws.ToString(in.Key))
}

func (f fakeObjects) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return f.put(aws.ToString(in.Key))
}

// unreachableEndpoint is an address nothing listens on: the SDK's error
// quotes the whole request URL, the key percent-encoded in it.
func unreachableEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

// A mark that cannot be read or written fails the run with a StorageError
// that names the user by reference, in the error (the Step Functions
// cause) and in the log line; a failed read says "reading", not "storing".
func TestMarkErrorsNeverSpellTheAddress(t *testing.T) {
	const email = "megan.bowen@contoso.com"
	spelled := func(key string) error {
		return fmt.Errorf("S3 said no to %s", strings.Join(badinput.Spellings(key), " and "))
	}
	unreachable := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(unreachableEndpoint(t)), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAMARKTEST", "mark-test-secret", ""), RetryMaxAttempts: 1})
	tests := []struct {
		name   string
		client objectClient
		verb   string
	}{
		{"S3 unreachable on read", unreachable, "reading"},
		{"read fails quoting the key", fakeObjects{get: func(k string) (*s3.GetObjectOutput, error) { return nil, spelled(k) }}, "reading"},
		{"write fails quoting the key",
			fakeObjects{
				get: func(string) (*s3.GetObjectOutput, error) { return nil, &types.NoSuchKey{} },
				put: func(k string) (*s3.PutObjectOutput, error) { return nil, spelled(k) },
			}, "storing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &storage.Objects{Client: tt.client, Bucket: "marks"}
			marks := &Watermarks{Store: st, Prefix: "state"}
			var logs bytes.Buffer
			var err error
			if tt.verb == "reading" {
				p := &Preparer{Store: st, Marks: marks, Prefix: "reports", MaxConcurrency: 1, Log: slog.New(slog.NewJSONHandler(&logs, nil)), Now: fixed("2026-11-25T12:00:00Z")}
				_, err = p.Handle(t.Context(), PrepareInput{
					Input:     json.RawMessage(`{"emails":["` + email + `"],"window":{"period":"day","incremental":true}}`),
					Execution: Execution{ID: "arn:aws:states:us-east-1:123456789012:execution:batch:run-1", Name: "run-1", StartTime: "2026-11-25T12:00:00Z"},
				})
			} else {
				_, err = marks.Advance(t.Context(), Mark{Email: email, FinishTime: "2026-11-01T00:00:00"})
			}
			var se *failure.StorageError
			if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), tt.verb+" s3://marks/state/watermarks/user="+request.UserRef(email)+"/") {
				t.Fatalf("err = %v; want a StorageError %s the mark, naming the user by reference", err, tt.verb)
			}
			local, _, _ := strings.Cut(email, "@")
			for what, text := range map[string]string{"error": err.Error(), "cause": failure.ForLambda(err).Error(), "log": logs.String()} {
				if leak := badinput.Leaks(text, email, local); leak != "" {
					t.Errorf("the %s spells the address as %q: %s", what, leak, text)
				}
			}
		})
	}
}
