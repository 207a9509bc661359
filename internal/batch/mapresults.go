package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
)

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
	// FinishTime is the user's window end (UserFailed passes it), which a
	// stored but unconverted report still covers.
	FinishTime string `json:"finishTime"`
	// Progress is how far a user exported in several windows got
	// (WindowsSucceeded and WindowFailed pass it).
	Progress *Progress `json:"progress"`
}

// reportStoredError is the error of an export whose report was stored
// but not converted into the dataset.
const reportStoredError = "ConversionError"

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
// rows are the dataset rows of each succeeded user's report, by address
// (request.Result has no place for them; the metrics sum them).
func (m *ManifestWriter) mapResults(ctx context.Context, in ManifestInput) (out []request.Result, rows map[string]int64, mapRun string, err error) {
	rows = map[string]int64{}
	raw := bytes.TrimSpace(in.Map)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, rows, "", nil
	}
	if raw[0] == '[' {
		var entries []mapEntry
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, nil, "", &failure.ProtocolError{Reason: "map results are not the item processor's entries: " + err.Error()}
		}
		out = make([]request.Result, 0, len(entries))
		for _, e := range entries {
			out = append(out, e.result())
			e.addRows(rows)
		}
		return out, rows, "", nil
	}
	var rw resultWriterOutput
	if err := json.Unmarshal(raw, &rw); err != nil || rw.ResultWriterDetails.Key == "" {
		return nil, nil, "", &failure.ProtocolError{Reason: "map result is neither a list nor ResultWriterDetails"}
	}
	var mr mapRunManifest
	found, err := m.Store.GetJSON(ctx, rw.ResultWriterDetails.Bucket, rw.ResultWriterDetails.Key, &mr)
	if err == nil && !found {
		err = &failure.ProtocolError{Reason: "the map run's manifest " + rw.ResultWriterDetails.Key + " is missing"}
	}
	if err != nil {
		return nil, nil, "", err
	}
	bucket := orDefault(mr.DestinationBucket, rw.ResultWriterDetails.Bucket)
	for _, status := range []string{"SUCCEEDED", "FAILED", "PENDING"} {
		for _, f := range mr.ResultFiles[status] {
			var children []childExecution
			found, err := m.Store.GetJSON(ctx, bucket, f.Key, &children)
			if err == nil && !found {
				err = &failure.ProtocolError{Reason: "map run result file " + f.Key + " is missing"}
			}
			if err != nil {
				return nil, nil, "", err
			}
			for _, c := range children {
				out = append(out, c.result(rows))
			}
		}
	}
	return out, rows, orDefault(mr.MapRunArn, rw.MapRunArn), nil
}

// result is the child's user's result; a succeeded user's dataset rows go
// into rows.
func (c childExecution) result(rows map[string]int64) request.Result {
	if c.Status == "SUCCEEDED" {
		var e mapEntry
		if err := json.Unmarshal([]byte(c.Output), &e); err == nil && e.Email != "" {
			e.addRows(rows)
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

// addRows records a succeeded entry's dataset rows.
func (e mapEntry) addRows(rows map[string]int64) {
	switch {
	case e.Status != request.StatusSucceeded || e.Email == "":
	case e.Progress != nil:
		rows[e.Email] = e.Progress.Rows
	case e.Report != nil && e.Report.Dataset != nil:
		rows[e.Email] = e.Report.Dataset.Rows
	}
}

func (e mapEntry) result() request.Result {
	r := request.Result{Email: e.Email, ExecutionArn: e.ExecutionArn}
	started, stopped := parseDate(e.StartDate), parseDate(e.StopDate)
	if e.Status == request.StatusSucceeded && e.Report != nil {
		o := e.Report
		r.Status, r.Bucket, r.Key, r.Bytes, r.SHA256, r.JobID = request.StatusSucceeded, o.Bucket, o.Key, o.Bytes, o.SHA256, o.JobID
		r.StartTime, r.FinishTime, r.EventTypes = o.StartTime, o.FinishTime, o.EventTypes
		r.WithException = o.WithException
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
		if r.Error == reportStoredError {
			// The export itself succeeded: its report is at its key, only
			// the conversion failed (a backfill converts it).
			r.FinishTime = e.FinishTime
		}
	}
	if e.Progress != nil {
		if first := e.Progress.complete(&r); !first.IsZero() {
			started = first
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
