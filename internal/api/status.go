package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/insights-export/insights-export/internal/request"
)

// Statuses as the API names them.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusTimedOut  = "timed_out"
	StatusAborted   = "aborted"
)

// historyPage is how many of the latest events GET reads to find a
// running export's progress: a poll loop adds four events per poll.
const historyPage = 100

// Status is the answer to GET /exports/{id}.
type Status struct {
	ID           string          `json:"id"`
	Kind         string          `json:"kind"`
	Status       string          `json:"status"`
	ExecutionArn string          `json:"executionArn"`
	StartedAt    string          `json:"startedAt,omitempty"`
	StoppedAt    string          `json:"stoppedAt,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	// Running, one user: where the AvePoint job is.
	Progress *Progress `json:"progress,omitempty"`
	// Running, batch: how far the users are.
	BatchProgress *BatchProgress `json:"batchProgress,omitempty"`
	// Succeeded: the stored reports (a batch lists those in its output;
	// the manifest has them all).
	Reports []Report `json:"reports,omitempty"`
	// Succeeded batch, or one that ended in UsersFailedError: the
	// manifest, the counts and who failed.
	Manifest       *request.Location `json:"manifest,omitempty"`
	Counts         *request.Counts   `json:"counts,omitempty"`
	Failures       []Failure         `json:"failures,omitempty"`
	ResultsOmitted int               `json:"resultsOmitted,omitempty"`
	// Skipped says why an incremental batch exported nobody: another run
	// of the stack held the run lock.
	Skipped string `json:"skipped,omitempty"`
	// Failed, timed out or aborted: why.
	Error *ErrorInfo `json:"error,omitempty"`
}

// Progress is a running single-user export.
type Progress struct {
	Step               string `json:"step,omitempty"` // the state it is in
	JobID              string `json:"jobId,omitempty"`
	JobState           string `json:"jobState,omitempty"` // running, finished
	JobStatus          int    `json:"jobStatus,omitempty"`
	Polls              int    `json:"polls"`
	JobStartedAt       string `json:"jobStartedAt,omitempty"`
	NextCheckInSeconds int    `json:"nextCheckInSeconds,omitempty"`
}

// BatchProgress counts a running batch's users.
type BatchProgress struct {
	Users   int64 `json:"users"`
	Done    int64 `json:"done"`
	Running int64 `json:"running"`
	Pending int64 `json:"pending"`
}

// Report is a stored report.
type Report struct {
	Email      string `json:"email"`
	Bucket     string `json:"bucket"`
	Key        string `json:"key"`
	URI        string `json:"uri"`
	Bytes      int64  `json:"bytes,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	JobID      string `json:"jobId,omitempty"`
	StartTime  string `json:"startTime,omitempty"`
	FinishTime string `json:"finishTime,omitempty"`
}

// Failure is a batch user whose export failed.
type Failure struct {
	Email   string `json:"email"`
	Error   string `json:"error"`
	Message string `json:"message,omitempty"`
}

// ErrorInfo is why an execution did not succeed.
type ErrorInfo struct {
	Name  string `json:"name"`
	Cause string `json:"cause,omitempty"`
}

func statusName(s types.ExecutionStatus) string {
	switch s {
	case types.ExecutionStatusSucceeded:
		return StatusSucceeded
	case types.ExecutionStatusFailed:
		return StatusFailed
	case types.ExecutionStatusTimedOut:
		return StatusTimedOut
	case types.ExecutionStatusAborted:
		return StatusAborted
	}
	// RUNNING, and PENDING_REDRIVE (about to run again).
	return StatusRunning
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request, id string) {
	ctx := r.Context()
	if !validID(id) {
		writeError(w, http.StatusNotFound, &apiError{Name: "NotFoundError", Field: "id", Message: "no export has this id"})
		return
	}
	kind := map[byte]string{'u': KindUser, 'b': KindBatch}[id[0]]
	d, err := h.describe(ctx, kind, id)
	if notFound(err) {
		writeError(w, http.StatusNotFound, &apiError{Name: "NotFoundError", Field: "id", Message: "no export has this id"})
		return
	}
	if err != nil {
		h.sfnFailure(ctx, w, "describe", err)
		return
	}
	st := Status{ID: id, Kind: kind, Status: statusName(d.Status), ExecutionArn: aws.ToString(d.ExecutionArn)}
	if d.StartDate != nil {
		st.StartedAt = d.StartDate.UTC().Format(time.RFC3339)
	}
	if d.StopDate != nil {
		st.StoppedAt = d.StopDate.UTC().Format(time.RFC3339)
	}
	if in := aws.ToString(d.Input); json.Valid([]byte(in)) {
		st.Input = json.RawMessage(in)
	}
	switch st.Status {
	case StatusRunning:
		// Progress is best effort: the status stands without it.
		if kind == KindUser {
			st.Progress = h.userProgress(ctx, st.ExecutionArn)
		} else {
			st.BatchProgress = h.batchProgress(ctx, st.ExecutionArn)
		}
	case StatusSucceeded:
		fillOutput(&st, aws.ToString(d.Output))
	default:
		st.Error = &ErrorInfo{Name: aws.ToString(d.Error), Cause: causeText(aws.ToString(d.Cause))}
		// A batch that ended in UsersFailed wrote its manifest: its
		// results are in the history (a failed execution has no output).
		if kind == KindBatch && st.Error.Name == "UsersFailedError" {
			fillOutput(&st, h.batchOutputFromHistory(ctx, st.ExecutionArn))
		}
		if st.Error.Name == "" {
			st.Error.Name = map[string]string{StatusTimedOut: "States.Timeout", StatusAborted: "ExecutionAborted"}[st.Status]
			if st.Error.Name == "" {
				st.Error.Name = "ExecutionFailed"
			}
		}
	}
	writeJSON(w, http.StatusOK, st)
}

// userProgress reads the job state from the latest output of the export
// state machine's StartExport or CheckJob state.
func (h *Handler) userProgress(ctx context.Context, arn string) *Progress {
	out, err := h.sfn.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{
		ExecutionArn: aws.String(arn), ReverseOrder: true, MaxResults: historyPage, IncludeExecutionData: aws.Bool(true),
	})
	if err != nil {
		h.log.WarnContext(ctx, "execution history unavailable", "error", err.Error())
		return nil
	}
	// Scan by event id rather than trusting the order, latest first.
	var (
		step        string
		stepID, jID int64 = -1, -1
		job         *request.Job
	)
	for _, e := range out.Events {
		if d := e.StateEnteredEventDetails; d != nil && e.Id > stepID {
			step, stepID = aws.ToString(d.Name), e.Id
		}
		d := e.StateExitedEventDetails
		if d == nil || e.Id < jID {
			continue
		}
		if name := aws.ToString(d.Name); name != "StartExport" && name != "CheckJob" {
			continue
		}
		var j request.Job
		if json.Unmarshal([]byte(aws.ToString(d.Output)), &j) == nil && j.JobID != "" {
			job, jID = &j, e.Id
		}
	}
	p := &Progress{Step: step}
	if job != nil {
		p.JobID, p.JobState, p.JobStatus, p.Polls, p.NextCheckInSeconds = job.JobID, job.Status, job.JobStatus, job.Polls, job.WaitSeconds
		if !job.StartedAt.IsZero() {
			p.JobStartedAt = job.StartedAt.UTC().Format(time.RFC3339)
		}
	}
	return p
}

// batchOutputFromHistory is the latest state output in a batch's history
// that is a batch output (WriteManifest's, passed on by the states after
// it); "" when there is none or the history is unavailable.
func (h *Handler) batchOutputFromHistory(ctx context.Context, arn string) string {
	out, err := h.sfn.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{
		ExecutionArn: aws.String(arn), ReverseOrder: true, MaxResults: historyPage, IncludeExecutionData: aws.Bool(true),
	})
	if err != nil {
		h.log.WarnContext(ctx, "execution history unavailable", "error", err.Error())
		return ""
	}
	var (
		latest string
		id     int64 = -1
	)
	for _, e := range out.Events {
		d := e.StateExitedEventDetails
		if d == nil || e.Id < id {
			continue
		}
		var o request.BatchOutput
		if json.Unmarshal([]byte(aws.ToString(d.Output)), &o) == nil && o.Manifest.Key != "" {
			latest, id = aws.ToString(d.Output), e.Id
		}
	}
	return latest
}

// batchProgress counts the users of a running batch from its map run.
func (h *Handler) batchProgress(ctx context.Context, arn string) *BatchProgress {
	runs, err := h.sfn.ListMapRuns(ctx, &sfn.ListMapRunsInput{ExecutionArn: aws.String(arn)})
	if err != nil || len(runs.MapRuns) == 0 {
		if err != nil {
			h.log.WarnContext(ctx, "map runs unavailable", "error", err.Error())
		}
		return nil // still preparing
	}
	run, err := h.sfn.DescribeMapRun(ctx, &sfn.DescribeMapRunInput{MapRunArn: runs.MapRuns[0].MapRunArn})
	if err != nil || run.ItemCounts == nil {
		if err != nil {
			h.log.WarnContext(ctx, "map run unavailable", "error", err.Error())
		}
		return nil
	}
	c := run.ItemCounts
	// Every user's failure is caught inside their item, so "succeeded"
	// items include failed exports: the batch reports them as done.
	return &BatchProgress{Users: c.Total, Done: c.Succeeded + c.Failed + c.TimedOut + c.Aborted, Running: c.Running, Pending: c.Pending}
}

// fillOutput reads the reports out of an execution's output: one user's
// request.ExportOutput, or a batch's request.BatchOutput.
func fillOutput(st *Status, output string) {
	switch st.Kind {
	case KindUser:
		var o request.ExportOutput
		if json.Unmarshal([]byte(output), &o) == nil && o.Key != "" {
			st.Reports = []Report{report(o.Email, o.Bucket, o.Key, o.Bytes, o.SHA256, o.JobID, o.StartTime, o.FinishTime)}
		}
	case KindBatch:
		var skip struct {
			Skipped bool   `json:"skipped"`
			Reason  string `json:"reason"`
		}
		if json.Unmarshal([]byte(output), &skip) == nil && skip.Skipped {
			st.Skipped = skip.Reason
			return
		}
		var o request.BatchOutput
		if json.Unmarshal([]byte(output), &o) != nil {
			return
		}
		st.Manifest, st.Counts, st.ResultsOmitted = &o.Manifest, &o.Counts, o.ResultsOmitted
		for _, r := range o.Results {
			switch r.Status {
			case request.StatusSucceeded:
				st.Reports = append(st.Reports, report(r.Email, r.Bucket, r.Key, r.Bytes, r.SHA256, r.JobID, r.StartTime, r.FinishTime))
			case request.StatusFailed:
				st.Failures = append(st.Failures, Failure{Email: r.Email, Error: r.Error, Message: r.Message})
			}
		}
	}
}

func report(email, bucket, key string, bytes int64, sha, jobID, start, finish string) Report {
	return Report{Email: email, Bucket: bucket, Key: key, URI: "s3://" + bucket + "/" + key, Bytes: bytes, SHA256: sha, JobID: jobID, StartTime: start, FinishTime: finish}
}

// causeText unwraps the {"errorType","errorMessage"} envelope Step
// Functions puts in the cause of a failed Lambda task; the message is the
// function's own error text (the error vocabulary, never a stack trace).
func causeText(cause string) string {
	var env struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &env) == nil && env.Type != "" {
		return env.Message
	}
	return cause
}
