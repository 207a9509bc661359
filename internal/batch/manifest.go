package batch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/metrics"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
)

// Manifest is manifest.json, written beside the reports: its head, and
// every user's result in the run's order (the list's, or the input's).
type Manifest struct {
	manifestHead
	Results []request.Result `json:"results"`
}

// manifestHead is manifest.json without the results, which are written
// after it one by one.
type manifestHead struct {
	Execution       Execution      `json:"execution"`
	Request         request.Batch  `json:"request"`
	Source          *Source        `json:"source,omitempty"`
	StartedAt       string         `json:"startedAt"`
	FinishedAt      string         `json:"finishedAt"`
	DurationSeconds float64        `json:"durationSeconds"`
	MaxConcurrency  int            `json:"maxConcurrency"`
	Counts          request.Counts `json:"counts"`
	MapRunArn       string         `json:"mapRunArn,omitempty"`
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
	// AdvanceOnException moves a user's mark past a report AvePoint
	// flagged as possibly incomplete (jobStatus 4). Off by default: the
	// next run then exports the window again rather than leave a silent
	// gap (ADVANCE_MARKS_ON_EXCEPTION).
	AdvanceOnException bool
	// FailOnUserFailures makes a run in which users failed end in the
	// batch state machine's UsersFailed state (FAIL_ON_USER_FAILURES).
	FailOnUserFailures bool
	Log                *slog.Logger
	Now                func() time.Time
	// Metrics gets the run's counts, bytes, rows and mark staleness once
	// per run (nil: none).
	Metrics *metrics.Emitter
}

// Handle collects every user's result, advances the marks of users whose
// report was stored (incremental runs), writes the manifest and returns
// the execution output. It is idempotent: a retry rewrites the same
// manifest and never moves a mark backwards.
//
// Its memory does not hold the run's results: the users (users.json) are
// held with what a count needs (about 200 bytes a user), each result is
// read from the Map's files, its mark advanced, and spooled to a local
// file as it comes; the manifest is then written as a stream in the users'
// order from the spool, and the execution output keeps only what fits its
// budget.
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
	roster, err := m.roster(ctx, in.Bucket, plan)
	if err != nil {
		m.Log.ErrorContext(ctx, "the run's users unreadable", "error", err.Error())
		return request.BatchOutput{}, err
	}
	sp, err := newSpool()
	if err != nil {
		return request.BatchOutput{}, err
	}
	defer sp.remove()
	mapRun, err := m.collect(ctx, in, plan, roster, sp)
	if err != nil {
		m.Log.ErrorContext(ctx, "map results not collected", "error", err.Error())
		return request.BatchOutput{}, err
	}

	now := m.Now().UTC()
	started := parseTime(in.Execution.StartTime)
	if started.IsZero() {
		started = parseTime(plan.PreparedAt)
	}
	head := manifestHead{
		Execution:      in.Execution,
		Request:        plan.Request,
		Source:         plan.Source,
		StartedAt:      started.Format(time.RFC3339),
		FinishedAt:     now.Format(time.RFC3339),
		MaxConcurrency: in.MaxConcurrency,
		Counts:         roster.counts(),
		MapRunArn:      mapRun,
	}
	if !started.IsZero() {
		head.DurationSeconds = math.Round(now.Sub(started).Seconds()*1000) / 1000
	}
	fit := newFitter(OutputResultsBudget)
	if err := m.writeManifest(ctx, in.ManifestKey, head, roster, sp, fit); err != nil {
		return request.BatchOutput{}, err
	}
	out := request.BatchOutput{
		Execution:  in.Execution.ID,
		Manifest:   request.Locate(m.Store.Bucket, in.ManifestKey),
		Counts:     head.Counts,
		StartedAt:  head.StartedAt,
		FinishedAt: head.FinishedAt,
	}
	out.Results, out.ResultsOmitted = fit.done()
	if m.FailOnUserFailures && head.Counts.Failed > 0 {
		out.Failure = usersFailed(out)
	}
	m.Log.InfoContext(ctx, "batch finished", "execution", in.Execution.Name, "users", head.Counts.Users,
		"succeeded", head.Counts.Succeeded, "withException", head.Counts.WithException, "failed", head.Counts.Failed, "upToDate", head.Counts.UpToDate,
		"durationSeconds", head.DurationSeconds)
	m.Metrics.Emit(ctx, runMetrics(plan, roster, head.Counts, now)...)
	return out, nil
}

// writeManifest streams manifest.json: the head as PutJSON would indent
// it, then one result a line, in the run's order, each also offered to
// the execution output (fit).
func (m *ManifestWriter) writeManifest(ctx context.Context, key string, head manifestHead, roster *roster, sp *spool, fit *fitter) error {
	raw, err := json.MarshalIndent(head, "", "  ")
	if err != nil {
		return err
	}
	w := m.Store.Create(ctx, key, "application/json")
	buf := bufio.NewWriterSize(w, 64<<10)
	err = func() error {
		buf.Write(bytes.TrimSuffix(raw, []byte("\n}")))
		buf.WriteString(",\n  \"results\": [")
		for i := range roster.users {
			b, status, err := roster.result(i, sp)
			if err != nil {
				return err
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString("\n    ")
			if _, err := buf.Write(b); err != nil {
				return err
			}
			fit.add(status, b)
		}
		if len(roster.users) > 0 {
			buf.WriteString("\n  ")
		}
		buf.WriteString("]\n}\n")
		if err := buf.Flush(); err != nil {
			return err
		}
		return w.Close()
	}()
	if err != nil {
		w.Abort()
	}
	return err
}

// usersFailedName is failure.UsersFailedError's name, the batch state
// machine's error for the run (TestUsersFailedNameIsTheType keeps them one).
const usersFailedName = "UsersFailedError"

// usersFailed is the failure a run with failed users ends in: the error
// name, and a cause an operator (or the API) can read the counts and the
// manifest's location from.
func usersFailed(out request.BatchOutput) *request.RunFailure {
	e := &failure.UsersFailedError{Failed: out.Counts.Failed, Users: out.Counts.Users, Manifest: out.Manifest.URI}
	cause, _ := json.Marshal(struct {
		Type     string           `json:"errorType"`
		Message  string           `json:"errorMessage"`
		Counts   request.Counts   `json:"counts"`
		Manifest request.Location `json:"manifest"`
	}{usersFailedName, e.Error(), out.Counts, out.Manifest})
	return &request.RunFailure{Error: usersFailedName, Cause: string(cause)}
}

// runMetrics are the metrics of a finished run: its counts, what it
// stored, and for incremental runs how stale the oldest mark is.
func runMetrics(plan Plan, roster *roster, c request.Counts, now time.Time) []metrics.Metric {
	count := func(name string, v int) metrics.Metric {
		return metrics.Metric{Name: name, Unit: metrics.Count, Value: float64(v)}
	}
	var stored, converted int64
	for _, u := range roster.users {
		if u.status == request.StatusSucceeded {
			stored += u.bytes
			converted += u.rows
		}
	}
	ms := []metrics.Metric{
		count(metrics.BatchRuns, 1),
		count(metrics.UsersSucceeded, c.Succeeded),
		count(metrics.UsersWithException, c.WithException),
		count(metrics.UsersFailed, c.Failed),
		count(metrics.UsersUpToDate, c.UpToDate),
		{Name: metrics.BatchBytesStored, Unit: metrics.Bytes, Value: float64(stored)},
		{Name: metrics.BatchRowsConverted, Unit: metrics.Count, Value: float64(converted)},
	}
	if !plan.Request.Incremental() {
		return ms
	}
	if oldest, ok := roster.oldestMark(); ok {
		age := max(now.Sub(oldest), 0)
		ms = append(ms, metrics.Metric{Name: metrics.MarkStalenessSeconds, Unit: metrics.Seconds, Value: float64(age / time.Second)})
	}
	return ms
}
