package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
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

// eachResult hands fn every per-user result of the Map, one at a time, in
// the order the Map gives them: from the inline JSON array (an inline
// Map, and the local interpreter) or from the ResultWriter's files, each
// read as a stream. rows are the dataset rows of a succeeded user's
// report (request.Result has no place for them; the metrics sum them).
func (m *ManifestWriter) eachResult(ctx context.Context, in ManifestInput, fn func(r request.Result, rows int64) error) (mapRun string, err error) {
	raw := bytes.TrimSpace(in.Map)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '[' {
		err := eachElement(bytes.NewReader(raw), func(e mapEntry) error { return fn(e.result(), e.rows()) })
		var pe *protocolSyntax
		if errors.As(err, &pe) {
			return "", &failure.ProtocolError{Reason: "map results are not the item processor's entries: " + pe.err.Error()}
		}
		return "", err
	}
	var rw resultWriterOutput
	if err := json.Unmarshal(raw, &rw); err != nil || rw.ResultWriterDetails.Key == "" {
		return "", &failure.ProtocolError{Reason: "map result is neither a list nor ResultWriterDetails"}
	}
	var mr mapRunManifest
	found, err := m.Store.GetJSON(ctx, rw.ResultWriterDetails.Bucket, rw.ResultWriterDetails.Key, &mr)
	if err == nil && !found {
		err = &failure.ProtocolError{Reason: "the map run's manifest " + rw.ResultWriterDetails.Key + " is missing"}
	}
	if err != nil {
		return "", err
	}
	bucket := orDefault(mr.DestinationBucket, rw.ResultWriterDetails.Bucket)
	for _, status := range []string{"SUCCEEDED", "FAILED", "PENDING"} {
		for _, f := range mr.ResultFiles[status] {
			if err := m.eachChild(ctx, bucket, f.Key, fn); err != nil {
				return "", err
			}
		}
	}
	return orDefault(mr.MapRunArn, rw.MapRunArn), nil
}

// eachChild streams one result file: a JSON array of child executions.
func (m *ManifestWriter) eachChild(ctx context.Context, bucket, key string, fn func(request.Result, int64) error) error {
	obj, err := m.Store.Open(ctx, bucket, key)
	if storage.IsNotFound(err) {
		return &failure.ProtocolError{Reason: "map run result file " + key + " is missing"}
	}
	if err != nil {
		return err
	}
	defer obj.Body.Close()
	err = eachElement(obj.Body, func(c childExecution) error { return fn(c.result()) })
	var pe *protocolSyntax
	if errors.As(err, &pe) {
		return &failure.ProtocolError{Reason: "map run result file " + key + " is not a JSON array of child executions: " + pe.err.Error()}
	}
	return err
}

// protocolSyntax marks a decoding error of eachElement's array (as
// opposed to the reader's own error, or fn's).
type protocolSyntax struct{ err error }

func (p *protocolSyntax) Error() string { return p.err.Error() }

// eachElement decodes the JSON array r holds, one element at a time,
// and hands each to fn. A malformed array is a *protocolSyntax; the
// reader's errors (a StorageError mid-object) and fn's come back as they
// are.
func eachElement[T any](r io.Reader, fn func(T) error) error {
	dec := json.NewDecoder(r)
	syntax := func(err error) error {
		var se *failure.StorageError
		if errors.As(err, &se) {
			return err
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return &protocolSyntax{err}
	}
	tok, err := dec.Token()
	if err != nil {
		return syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return &protocolSyntax{errors.New("not an array")}
	}
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			return syntax(err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return syntax(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return syntax(err)
		}
		return &protocolSyntax{errors.New("something follows the array")}
	}
	return nil
}

// result is the child's user's result, and a succeeded user's dataset
// rows.
func (c childExecution) result() (request.Result, int64) {
	if c.Status == "SUCCEEDED" {
		var e mapEntry
		if err := json.Unmarshal([]byte(c.Output), &e); err == nil && e.Email != "" {
			return e.result(), e.rows()
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
		Message: orDefault(c.Cause, "the map run's child execution ended "+c.Status)}, 0
}

// rows are a succeeded entry's dataset rows (a windowed user's summed
// over its stored windows).
func (e mapEntry) rows() int64 {
	switch {
	case e.Status != request.StatusSucceeded:
		return 0
	case e.Progress != nil:
		return e.Progress.Rows
	case e.Report != nil && e.Report.Dataset != nil:
		return e.Report.Dataset.Rows
	}
	return 0
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
