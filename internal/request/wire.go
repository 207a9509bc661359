package request

// The wire types: what the steps hand each other and what executions
// return. The HTTP API reads them from execution histories and outputs,
// so they live here, beside the inputs, rather than in the packages that
// write them.

import "time"

// Job is the state the workflow carries from step to step: the normalized
// query, AvePoint's job id, and the polling bookkeeping.
type Job struct {
	Request     Query     `json:"request"`
	JobID       string    `json:"jobId"`
	StartedAt   time.Time `json:"startedAt"`
	Polls       int       `json:"polls"`
	Status      string    `json:"status"` // "running" or "finished"
	JobStatus   int       `json:"jobStatus,omitempty"`
	WaitSeconds int       `json:"waitSeconds"`
	Message     string    `json:"message,omitempty"`
	// WithException is AvePoint's jobStatus 4, "success with exception":
	// a report exists but AvePoint says it may be incomplete.
	WithException bool `json:"withException,omitempty"`
}

// ExportOutput is the store step's result, and so the execution's output.
type ExportOutput struct {
	Bucket      string   `json:"bucket"`
	Key         string   `json:"key"`
	JobID       string   `json:"jobId"`
	Bytes       int64    `json:"bytes"`
	SHA256      string   `json:"sha256"`
	Email       string   `json:"email"`
	StartTime   string   `json:"startTime,omitempty"`
	FinishTime  string   `json:"finishTime"`
	EventTypes  []string `json:"eventTypes,omitempty"`
	ContentType string   `json:"contentType"`
	VersionID   string   `json:"versionId,omitempty"`
	StoredAt    string   `json:"storedAt"`
	// WithException: AvePoint flagged the report as possibly incomplete
	// (jobStatus 4). The report is stored; an incremental schedule does not
	// move its high-water mark past it (see batch's AdvanceOnException).
	WithException bool `json:"withException,omitempty"`
	// Dataset is what the convert step made of the report (absent until
	// it ran).
	Dataset *Dataset `json:"dataset,omitempty"`
}

// Dataset is a report's rows in the queryable dataset: the Parquet
// objects the convert step wrote and what they hold.
type Dataset struct {
	Bucket  string   `json:"bucket"`
	Prefix  string   `json:"prefix"`
	Objects []string `json:"objects"`
	Rows    int64    `json:"rows"`
	// Columns are the report columns' names (keys of the columns map),
	// in the order the report has them.
	Columns []string       `json:"columns"`
	Sheets  []DatasetSheet `json:"sheets"`
}

// DatasetSheet is one sheet of the report's workbook.
type DatasetSheet struct {
	Sheet string `json:"sheet"`
	Rows  int64  `json:"rows"`
	// Converted is false for a sheet whose rows are not activities (a
	// summary without a time column, next to one that has a time
	// column); Reason says why.
	Converted  bool   `json:"converted"`
	Reason     string `json:"reason,omitempty"`
	TimeColumn string `json:"timeColumn,omitempty"`
	// DateOrder says how n/n/yyyy text dates were read, when the sheet
	// has them (day-first or month-first, from the values).
	DateOrder string `json:"dateOrder,omitempty"`
}

// Item is one user's work in items.json: the export state machine's
// input. Every field but Windows is always present (startTime "" = from
// the earliest activity) because the Map's parameters address each by
// path, and a path to a missing field fails the state.
type Item struct {
	Email      string   `json:"email"`
	StartTime  string   `json:"startTime"`
	FinishTime string   `json:"finishTime"`
	EventTypes []string `json:"eventTypes"`
	// Windows, when present, are the consecutive windows (at least two,
	// oldest first; see Chunk) that StartTime to FinishTime is exported
	// in: one export each, the mark advanced after each. Absent for a
	// user exported in one window, the item's own, which is every user of
	// a fixed window and every incremental user not behind; the item
	// processor tells the two apart by windows[1].
	Windows []Window `json:"windows,omitempty"`
}

// Result statuses of one user in a run.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusUpToDate  = "up-to-date"
)

// Result is one user's outcome.
type Result struct {
	Email  string `json:"email"`
	Status string `json:"status"`
	// Succeeded: where the report is.
	Bucket     string   `json:"bucket,omitempty"`
	Key        string   `json:"key,omitempty"`
	Bytes      int64    `json:"bytes,omitempty"`
	SHA256     string   `json:"sha256,omitempty"`
	JobID      string   `json:"jobId,omitempty"`
	StartTime  string   `json:"startTime,omitempty"`
	FinishTime string   `json:"finishTime,omitempty"`
	EventTypes []string `json:"eventTypes,omitempty"`
	// WithException: the stored report may be incomplete (jobStatus 4).
	WithException bool `json:"withException,omitempty"`
	// Failed: the export execution's error name and cause; for a report
	// with exception, Message says what became of the mark.
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
	// The user's export execution and its timing.
	ExecutionArn    string  `json:"executionArn,omitempty"`
	StartedAt       string  `json:"startedAt,omitempty"`
	StoppedAt       string  `json:"stoppedAt,omitempty"`
	DurationSeconds float64 `json:"durationSeconds,omitempty"`
	// Incremental: the user's high-water mark after this run.
	Watermark string `json:"watermark,omitempty"`
	// Windows counts the windows of a user exported in several (absent
	// for one). Then Bytes is the sum over the stored windows, StartTime
	// the first one's start, and Key, SHA256, JobID and FinishTime are
	// the last stored window's; every window's key is ObjectKey of that
	// window (items.json lists them). A failed user's Watermark is the end
	// of its last stored window: the next run resumes after it.
	Windows *WindowCount `json:"windows,omitempty"`
}

// WindowCount is how far a user exported in several windows got.
type WindowCount struct {
	Total int `json:"total"`
	// Stored windows, oldest first: the windows before the one that
	// failed (a window whose report was stored but not converted counts).
	Stored int `json:"stored"`
}

// Counts summarise a run.
type Counts struct {
	Users     int `json:"users"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	UpToDate  int `json:"upToDate"`
	// WithException counts the succeeded users whose report AvePoint
	// flagged as possibly incomplete (jobStatus 4).
	WithException int `json:"withException"`
}

// Location is an S3 object, as run outputs name it.
type Location struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	URI    string `json:"uri"`
}

// Locate names an object by bucket and key, with its s3:// URI.
func Locate(bucket, key string) Location {
	return Location{Bucket: bucket, Key: key, URI: "s3://" + bucket + "/" + key}
}

// BatchOutput is the batch execution's output.
type BatchOutput struct {
	Execution  string   `json:"execution"`
	Manifest   Location `json:"manifest"`
	Counts     Counts   `json:"counts"`
	StartedAt  string   `json:"startedAt"`
	FinishedAt string   `json:"finishedAt"`
	Results    []Result `json:"results"`
	// ResultsOmitted counts results left out of Results to stay under the
	// payload limit (see OutputResultsBudget); the manifest has them all.
	ResultsOmitted int `json:"resultsOmitted,omitempty"`
	// Failure is set when users failed and the stack fails such runs
	// (FAIL_ON_USER_FAILURES): the batch state machine then ends in its
	// UsersFailed state with Error as the error and Cause as the cause.
	Failure *RunFailure `json:"failure,omitempty"`
}

// RunFailure is how a run whose manifest is written still fails.
type RunFailure struct {
	Error string `json:"error"`
	// Cause is JSON: {"errorType", "errorMessage", "counts", "manifest"}.
	Cause string `json:"cause"`
}
