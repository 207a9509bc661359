package batch

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
)

// OutputResultsBudget bounds the results listed in the execution output:
// Step Functions fails an execution whose output passes 256 KiB. Past the
// budget the output lists failures first and counts what it left out;
// the manifest always has everything.
const OutputResultsBudget = 200 << 10

// markWriters bounds concurrent high-water mark updates.
const markWriters = 16

// Manifest is manifest.json, written beside the reports.
type Manifest struct {
	Execution       Execution        `json:"execution"`
	Request         request.Batch    `json:"request"`
	StartedAt       string           `json:"startedAt"`
	FinishedAt      string           `json:"finishedAt"`
	DurationSeconds float64          `json:"durationSeconds"`
	MaxConcurrency  int              `json:"maxConcurrency"`
	Counts          request.Counts   `json:"counts"`
	MapRunArn       string           `json:"mapRunArn,omitempty"`
	Results         []request.Result `json:"results"`
}

// ManifestInput is the batch state at WriteManifest: PrepareBatch's output
// and the Map's result under "map" (absent when nobody needed an export).
type ManifestInput struct {
	Prepared
	Map json.RawMessage `json:"map,omitempty"`
}

// ManifestWriter is the WriteManifest function's handler.
type ManifestWriter struct {
	Store *storage.Objects
	Marks *Watermarks
	Log   *slog.Logger
	Now   func() time.Time
}

// Handle collects every user's result, advances the marks of users whose
// report was stored (incremental runs), writes the manifest and returns
// the execution output. It is idempotent: a retry rewrites the same
// manifest and never moves a mark backwards.
func (m *ManifestWriter) Handle(ctx context.Context, in ManifestInput) (request.BatchOutput, error) {
	if in.PlanKey == "" || in.ManifestKey == "" {
		return request.BatchOutput{}, &failure.ValidationError{Field: "planKey", Reason: "WriteManifest needs PrepareBatch's output"}
	}
	var plan Plan
	found, err := m.Store.GetJSON(ctx, in.Bucket, in.PlanKey, &plan)
	if err == nil && !found {
		err = &failure.ValidationError{Field: "planKey", Reason: "plan.json is missing"}
	}
	if err != nil {
		return request.BatchOutput{}, err
	}
	results, mapRun, err := m.mapResults(ctx, in)
	if err != nil {
		m.Log.ErrorContext(ctx, "map results unreadable", "error", err.Error())
		return request.BatchOutput{}, err
	}
	results = complete(plan, results)
	if plan.Request.Incremental() {
		if err := m.advance(ctx, plan, results); err != nil {
			m.Log.ErrorContext(ctx, "high-water marks not advanced", "error", err.Error())
			return request.BatchOutput{}, err
		}
	}

	now := m.Now().UTC()
	started := parseTime(in.Execution.StartTime)
	if started.IsZero() {
		started = parseTime(plan.PreparedAt)
	}
	man := Manifest{
		Execution:      in.Execution,
		Request:        plan.Request,
		StartedAt:      started.Format(time.RFC3339),
		FinishedAt:     now.Format(time.RFC3339),
		MaxConcurrency: in.MaxConcurrency,
		Counts:         count(results),
		MapRunArn:      mapRun,
		Results:        results,
	}
	if !started.IsZero() {
		man.DurationSeconds = math.Round(now.Sub(started).Seconds()*1000) / 1000
	}
	if err := m.Store.PutJSON(ctx, in.ManifestKey, man); err != nil {
		return request.BatchOutput{}, err
	}
	out := request.BatchOutput{
		Execution:  in.Execution.ID,
		Manifest:   request.Locate(m.Store.Bucket, in.ManifestKey),
		Counts:     man.Counts,
		StartedAt:  man.StartedAt,
		FinishedAt: man.FinishedAt,
	}
	out.Results, out.ResultsOmitted = fitResults(results, OutputResultsBudget)
	m.Log.InfoContext(ctx, "batch finished", "execution", in.Execution.Name, "users", man.Counts.Users,
		"succeeded", man.Counts.Succeeded, "failed", man.Counts.Failed, "upToDate", man.Counts.UpToDate,
		"durationSeconds", man.DurationSeconds)
	return out, nil
}

// mapEntry is what the item processor returns per user (UserSucceeded or
// UserFailed).
type mapEntry struct {
	Email        string                `json:"email"`
	Status       string                `json:"status"`
	ExecutionArn string                `json:"executionArn"`
	StartDate    json.RawMessage       `json:"startDate"`
	StopDate     json.RawMessage       `json:"stopDate"`
	Report       *request.ExportOutput `json:"report"`
	Error        string                `json:"error"`
	Cause        string                `json:"cause"`
}

// resultWriterOutput is the Map's result when it wrote its results to S3
// (ResultWriter): where the Map Run's own manifest is.
type resultWriterOutput struct {
	MapRunArn           string `json:"MapRunArn"`
	ResultWriterDetails struct {
		Bucket string `json:"Bucket"`
		Key    string `json:"Key"`
	} `json:"ResultWriterDetails"`
}

// mapRunManifest is the manifest.json a Map Run writes under the
// ResultWriter prefix: result files grouped by child status.
type mapRunManifest struct {
	DestinationBucket string `json:"DestinationBucket"`
	MapRunArn         string `json:"MapRunArn"`
	ResultFiles       map[string][]struct {
		Key  string `json:"Key"`
		Size int64  `json:"Size"`
	} `json:"ResultFiles"`
}

// childExecution is one entry of a result file: a child workflow
// execution of the Map Run (Transformation NONE), Input and Output as
// JSON text.
type childExecution struct {
	ExecutionArn string          `json:"ExecutionArn"`
	Input        string          `json:"Input"`
	Output       string          `json:"Output"`
	Status       string          `json:"Status"`
	Error        string          `json:"Error"`
	Cause        string          `json:"Cause"`
	StartDate    json.RawMessage `json:"StartDate"`
	StopDate     json.RawMessage `json:"StopDate"`
}

// mapResults reads the per-user entries either inline (a JSON array: an
// inline Map, and the local interpreter) or from the ResultWriter files.
func (m *ManifestWriter) mapResults(ctx context.Context, in ManifestInput) ([]request.Result, string, error) {
	raw := bytes.TrimSpace(in.Map)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "", nil
	}
	if raw[0] == '[' {
		var entries []mapEntry
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, "", &failure.ProtocolError{Reason: "map results are not the item processor's entries: " + err.Error()}
		}
		out := make([]request.Result, 0, len(entries))
		for _, e := range entries {
			out = append(out, e.result())
		}
		return out, "", nil
	}
	var rw resultWriterOutput
	if err := json.Unmarshal(raw, &rw); err != nil || rw.ResultWriterDetails.Key == "" {
		return nil, "", &failure.ProtocolError{Reason: "map result is neither a list nor ResultWriterDetails"}
	}
	var mr mapRunManifest
	found, err := m.Store.GetJSON(ctx, rw.ResultWriterDetails.Bucket, rw.ResultWriterDetails.Key, &mr)
	if err == nil && !found {
		err = &failure.ProtocolError{Reason: "the map run's manifest " + rw.ResultWriterDetails.Key + " is missing"}
	}
	if err != nil {
		return nil, "", err
	}
	bucket := orDefault(mr.DestinationBucket, rw.ResultWriterDetails.Bucket)
	var out []request.Result
	for _, status := range []string{"SUCCEEDED", "FAILED", "PENDING"} {
		for _, f := range mr.ResultFiles[status] {
			var children []childExecution
			found, err := m.Store.GetJSON(ctx, bucket, f.Key, &children)
			if err == nil && !found {
				err = &failure.ProtocolError{Reason: "map run result file " + f.Key + " is missing"}
			}
			if err != nil {
				return nil, "", err
			}
			for _, c := range children {
				out = append(out, c.result())
			}
		}
	}
	return out, orDefault(mr.MapRunArn, rw.MapRunArn), nil
}

func (c childExecution) result() request.Result {
	if c.Status == "SUCCEEDED" {
		var e mapEntry
		if err := json.Unmarshal([]byte(c.Output), &e); err == nil && e.Email != "" {
			return e.result()
		}
	}
	// The item processor catches everything, so a child that did not
	// succeed was stopped, timed out or never ran (redrive, abort).
	var item request.Item
	_ = json.Unmarshal([]byte(c.Input), &item)
	name := orDefault(c.Error, "States.ItemProcessorFailed")
	if c.Status == "PENDING" {
		name = "NotRun"
	}
	return request.Result{Email: item.Email, Status: request.StatusFailed, Error: name,
		Message: orDefault(c.Cause, "the map run's child execution ended "+c.Status)}
}

func (e mapEntry) result() request.Result {
	r := request.Result{Email: e.Email, ExecutionArn: e.ExecutionArn}
	started, stopped := parseDate(e.StartDate), parseDate(e.StopDate)
	if e.Status == request.StatusSucceeded && e.Report != nil {
		o := e.Report
		r.Status, r.Bucket, r.Key, r.Bytes, r.SHA256, r.JobID = request.StatusSucceeded, o.Bucket, o.Key, o.Bytes, o.SHA256, o.JobID
		r.StartTime, r.FinishTime, r.EventTypes = o.StartTime, o.FinishTime, o.EventTypes
	} else {
		r.Status = request.StatusFailed
		r.Error, r.Message = e.Error, e.Cause
		child := childFailure(e.Error, e.Cause)
		if child != nil {
			r.Error, r.Message = child.name(), child.message()
			r.ExecutionArn = child.ExecutionArn
			started, stopped = parseDate(child.StartDate), parseDate(child.StopDate)
		} else {
			r.Message = lambdaMessage(e.Cause)
		}
		if r.Error == "" {
			r.Error = "UnknownError"
		}
	}
	if !started.IsZero() {
		r.StartedAt = started.Format(time.RFC3339)
	}
	if !stopped.IsZero() {
		r.StoppedAt = stopped.Format(time.RFC3339)
		if !started.IsZero() {
			r.DurationSeconds = math.Round(stopped.Sub(started).Seconds()*1000) / 1000
		}
	}
	return r
}

// describedExecution is the cause of a failed startExecution.sync Task:
// the child's DescribeExecution, with its own Error and Cause.
type describedExecution struct {
	ExecutionArn string          `json:"ExecutionArn"`
	Status       string          `json:"Status"`
	Error        string          `json:"Error"`
	Cause        string          `json:"Cause"`
	StartDate    json.RawMessage `json:"StartDate"`
	StopDate     json.RawMessage `json:"StopDate"`
}

// childFailure decodes the cause of a States.TaskFailed from
// startExecution.sync; nil for any other failure (the Task could not
// start the child at all, say).
func childFailure(name, cause string) *describedExecution {
	if name != "States.TaskFailed" {
		return nil
	}
	var d describedExecution
	if err := json.Unmarshal([]byte(cause), &d); err != nil || d.Status == "" {
		return nil
	}
	return &d
}

func (d *describedExecution) name() string {
	switch {
	case d.Error != "":
		return d.Error
	case d.Status == "TIMED_OUT":
		return "States.Timeout"
	case d.Status == "ABORTED":
		return "ExecutionAborted"
	}
	return "States.TaskFailed"
}

func (d *describedExecution) message() string {
	if d.Cause == "" {
		return "the export execution ended " + d.Status
	}
	return lambdaMessage(d.Cause)
}

// lambdaMessage unwraps the {"errorType","errorMessage"} text Step
// Functions reports for a failed Lambda Task: the message is what a person
// wants to read.
func lambdaMessage(cause string) string {
	var env struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}
	if err := json.Unmarshal([]byte(cause), &env); err == nil && env.Type != "" {
		return env.Message
	}
	return cause
}

// complete puts results in the request's user order, adds the users who
// were up to date, and marks any user without a result as failed: the
// manifest accounts for everybody asked for.
func complete(plan Plan, results []request.Result) []request.Result {
	byEmail := make(map[string]request.Result, len(results))
	for _, r := range results {
		if r.Email != "" {
			byEmail[r.Email] = r
		}
	}
	for _, u := range plan.UpToDate {
		byEmail[u.Email] = request.Result{Email: u.Email, Status: request.StatusUpToDate, Watermark: u.Watermark}
	}
	users := plan.Request.Users()
	out := make([]request.Result, 0, len(users))
	for _, u := range users {
		r, ok := byEmail[u]
		if !ok {
			r = request.Result{Email: u, Status: request.StatusFailed, Error: "MissingResult", Message: "the map run returned no result for this user"}
		}
		out = append(out, r)
	}
	return out
}

// advance moves the marks of users whose report is stored to that
// report's finish: only now, after the store step succeeded, so a failed
// or skipped run is picked up by the next one.
func (m *ManifestWriter) advance(ctx context.Context, plan Plan, results []request.Result) error {
	sem := make(chan struct{}, markWriters)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	now := m.Now().UTC().Format(time.RFC3339)
	for i := range results {
		r := &results[i]
		if r.Status != request.StatusSucceeded || r.FinishTime == "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := m.Marks.Advance(ctx, Mark{Email: r.Email, EventTypes: plan.Request.EventTypes, FinishTime: r.FinishTime,
				ReportKey: r.Key, JobID: r.JobID, Execution: plan.Execution.ID, UpdatedAt: now})
			if err != nil {
				mu.Lock()
				firstErr = cmp.Or(firstErr, err)
				mu.Unlock()
				return
			}
			r.Watermark = r.FinishTime
		}()
	}
	wg.Wait()
	return firstErr
}

func count(results []request.Result) request.Counts {
	c := request.Counts{Users: len(results)}
	for _, r := range results {
		switch r.Status {
		case request.StatusSucceeded:
			c.Succeeded++
		case request.StatusUpToDate:
			c.UpToDate++
		default:
			c.Failed++
		}
	}
	return c
}

// fitResults keeps the output under budget bytes: everything when it
// fits, otherwise failures first, then the rest in order, while they fit.
func fitResults(results []request.Result, budget int) ([]request.Result, int) {
	size := func(r request.Result) int {
		b, _ := json.Marshal(r)
		return len(b) + 1
	}
	total := 0
	for _, r := range results {
		total += size(r)
	}
	if total <= budget {
		return results, 0
	}
	ordered := slices.Clone(results)
	slices.SortStableFunc(ordered, func(a, b request.Result) int {
		return boolInt(a.Status != request.StatusFailed) - boolInt(b.Status != request.StatusFailed)
	})
	out := make([]request.Result, 0)
	used := 0
	for _, r := range ordered {
		n := size(r)
		if used+n > budget {
			break
		}
		used += n
		out = append(out, r)
	}
	return out, len(results) - len(out)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseDate reads the dates Step Functions puts in execution descriptions:
// epoch milliseconds in .sync outputs, epoch seconds (with fraction) in
// API JSON, RFC 3339 text elsewhere.
func parseDate(raw json.RawMessage) time.Time {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return time.Time{}
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err == nil {
		if n > 1e11 { // milliseconds: 1e11 s is the year 5138
			return time.UnixMilli(int64(n)).UTC()
		}
		sec, frac := math.Modf(n)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		return parseTime(text)
	}
	return time.Time{}
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
