package batch

import (
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

// Manifest is manifest.json, written beside the reports.
type Manifest struct {
	Execution       Execution        `json:"execution"`
	Request         request.Batch    `json:"request"`
	Source          *Source          `json:"source,omitempty"`
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
	results, rows, mapRun, err := m.mapResults(ctx, in)
	if err != nil {
		m.Log.ErrorContext(ctx, "map results unreadable", "error", err.Error())
		return request.BatchOutput{}, err
	}
	roster, err := m.roster(ctx, in.Bucket, plan)
	if err != nil {
		m.Log.ErrorContext(ctx, "the run's users unreadable", "error", err.Error())
		return request.BatchOutput{}, err
	}
	results = complete(roster, results)
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
		Source:         plan.Source,
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
	if m.FailOnUserFailures && man.Counts.Failed > 0 {
		out.Failure = usersFailed(out)
	}
	m.Log.InfoContext(ctx, "batch finished", "execution", in.Execution.Name, "users", man.Counts.Users,
		"succeeded", man.Counts.Succeeded, "withException", man.Counts.WithException, "failed", man.Counts.Failed, "upToDate", man.Counts.UpToDate,
		"durationSeconds", man.DurationSeconds)
	m.Metrics.Emit(ctx, runMetrics(plan, roster, man, rows, now)...)
	return out, nil
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
func runMetrics(plan Plan, roster []PlannedUser, man Manifest, rows map[string]int64, now time.Time) []metrics.Metric {
	count := func(name string, v int) metrics.Metric {
		return metrics.Metric{Name: name, Unit: metrics.Count, Value: float64(v)}
	}
	var stored, converted int64
	for _, r := range man.Results {
		if r.Status == request.StatusSucceeded {
			stored += r.Bytes
			converted += rows[r.Email]
		}
	}
	c := man.Counts
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
	if oldest, ok := oldestMark(roster, man.Results); ok {
		age := max(now.Sub(oldest), 0)
		ms = append(ms, metrics.Metric{Name: metrics.MarkStalenessSeconds, Unit: metrics.Seconds, Value: float64(age / time.Second)})
	}
	return ms
}

// oldestMark is the oldest high-water mark among the run's users after
// the marks advanced: a result's Watermark where the run has one (the
// mark advanced, or the user was up to date), else the mark the user had
// when the run was prepared (its export failed, or its report was flagged
// and the mark stayed). ok is false when no user has a mark.
func oldestMark(roster []PlannedUser, results []request.Result) (oldest time.Time, ok bool) {
	marks := make(map[string]string, len(roster))
	for _, u := range roster {
		marks[u.Email] = u.Mark
	}
	for _, r := range results {
		finish := r.Watermark
		if finish == "" {
			finish = marks[r.Email]
		}
		t := Mark{FinishTime: finish}.Time()
		if t.IsZero() {
			continue
		}
		if !ok || t.Before(oldest) {
			oldest, ok = t, true
		}
	}
	return oldest, ok
}

// complete puts results in the request's user order, adds the users who
// were up to date, and marks any user without a result as failed: the
// manifest accounts for everybody asked for.
func complete(roster []PlannedUser, results []request.Result) []request.Result {
	byEmail := make(map[string]request.Result, len(results))
	for _, r := range results {
		if r.Email != "" {
			byEmail[r.Email] = r
		}
	}
	out := make([]request.Result, 0, len(roster))
	for _, u := range roster {
		r, ok := byEmail[u.Email]
		switch {
		case u.UpToDate:
			r = request.Result{Email: u.Email, Status: request.StatusUpToDate, Watermark: u.Mark}
		case !ok:
			r = request.Result{Email: u.Email, Status: request.StatusFailed, Error: "MissingResult", Message: "the map run returned no result for this user"}
		}
		out = append(out, r)
	}
	return out
}

// roster is the run's users in order with what PrepareBatch decided:
// users.json, or for a plan written before it, the request's users with
// the plan's up-to-date users and marks.
func (m *ManifestWriter) roster(ctx context.Context, bucket string, plan Plan) ([]PlannedUser, error) {
	if plan.UsersKey == "" {
		upToDate := make(map[string]string, len(plan.UpToDate))
		for _, u := range plan.UpToDate {
			upToDate[u.Email] = u.Watermark
		}
		var out []PlannedUser
		for _, u := range plan.Request.Users() {
			if w, ok := upToDate[u]; ok {
				out = append(out, PlannedUser{Email: u, Mark: w, UpToDate: true})
				continue
			}
			out = append(out, PlannedUser{Email: u, Mark: plan.Marks[u]})
		}
		return out, nil
	}
	var out []PlannedUser
	found, err := m.Store.GetJSON(ctx, bucket, plan.UsersKey, &out)
	if err == nil && !found {
		err = &failure.ValidationError{Field: "planKey", Reason: "users.json, which plan.json names, is missing"}
	}
	return out, err
}

func count(results []request.Result) request.Counts {
	c := request.Counts{Users: len(results)}
	for _, r := range results {
		switch r.Status {
		case request.StatusSucceeded:
			c.Succeeded++
			if r.WithException {
				c.WithException++
			}
		case request.StatusUpToDate:
			c.UpToDate++
		default:
			c.Failed++
		}
	}
	return c
}
