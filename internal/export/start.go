package export

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/request"
)

// exportStarter is the AvePoint call the start step makes.
type exportStarter interface {
	StartExport(ctx context.Context, req avepoint.ExportRequest) (string, error)
}

// Starter validates the execution input and starts the AvePoint export.
type Starter struct {
	API    exportStarter
	Policy request.WaitPolicy
	Log    *slog.Logger
	Now    func() time.Time
}

// Handle is the start-export function's handler. It takes the raw input so
// that unknown fields and wrong types are refused, not silently dropped.
func (s *Starter) Handle(ctx context.Context, raw json.RawMessage) (request.Job, error) {
	now := s.Now().UTC()
	q, err := request.ParseRequest(raw, now)
	if err != nil {
		s.Log.WarnContext(ctx, "execution input refused", "error", err.Error())
		return request.Job{}, err
	}
	start, finish := q.Window()
	call, cancel := withCallDeadline(ctx, CallMargin)
	defer cancel()
	jobID, err := s.API.StartExport(call, avepoint.ExportRequest{Email: q.Email, Start: start, Finish: finish, EventTypes: q.EventTypes})
	err = timedOut(call, ctx, err, "export")
	if err != nil {
		s.Log.ErrorContext(ctx, "export not started", "user", request.UserRef(q.Email), "error", err.Error())
		return request.Job{}, err
	}
	s.Log.InfoContext(ctx, "export started", "user", request.UserRef(q.Email), "jobId", jobID,
		"startTime", q.StartTime, "finishTime", q.FinishTime, "eventTypes", len(q.EventTypes))
	return request.Job{
		Request:     q,
		JobID:       jobID,
		StartedAt:   now,
		Status:      string(avepoint.JobRunning),
		WaitSeconds: int(s.Policy.Next(0) / time.Second),
	}, nil
}
