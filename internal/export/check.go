package export

import (
	"context"
	"log/slog"
	"time"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
)

// statusReader is the AvePoint call the check step makes.
type statusReader interface {
	JobStatus(ctx context.Context, jobID string) (avepoint.JobStatus, error)
}

// Checker polls the job once and says how long to wait before the next poll.
type Checker struct {
	API    statusReader
	Policy request.WaitPolicy
	Log    *slog.Logger
	Now    func() time.Time
}

// Handle is the check-job function's handler. A running job comes back
// with its next wait; a failed one, or one past the deadline, as an error
// whose type names it (JobFailedError, failure.JobDeadlineExceededError).
func (c *Checker) Handle(ctx context.Context, job request.Job) (request.Job, error) {
	if job.JobID == "" || job.StartedAt.IsZero() {
		return job, &failure.ValidationError{Field: "jobId", Reason: "check step needs the start step's output (jobId, startedAt)"}
	}
	call, cancel := withCallDeadline(ctx, CallMargin)
	defer cancel()
	st, err := c.API.JobStatus(call, job.JobID)
	err = timedOut(call, ctx, err, "job status")
	if err != nil {
		c.Log.ErrorContext(ctx, "job status unavailable", "jobId", job.JobID, "error", err.Error())
		return job, err
	}
	age := c.Now().Sub(job.StartedAt)
	job.Polls++
	job.JobStatus = st.Code
	job.Message = st.Message
	job.Status = string(st.State)
	job.WithException = st.WithException
	log := c.Log.With("jobId", job.JobID, "jobStatus", st.Code, "polls", job.Polls, "ageSeconds", int(age.Seconds()))
	switch st.State {
	case avepoint.JobFinished:
		if st.WithException {
			log.WarnContext(ctx, "job finished with exceptions; the report may be incomplete", "message", st.Message)
		} else {
			log.InfoContext(ctx, "job finished")
		}
		job.WaitSeconds = 0
		return job, nil
	case avepoint.JobFailed:
		log.ErrorContext(ctx, "job failed", "message", st.Message)
		reason := st.Message
		if reason == "" {
			reason = "AvePoint gave no reason"
		}
		return job, &failure.JobFailedError{JobID: job.JobID, JobStatus: st.Code, Reason: reason}
	}
	if age >= c.Policy.Deadline {
		log.ErrorContext(ctx, "job deadline exceeded")
		return job, &failure.JobDeadlineExceededError{JobID: job.JobID, Age: age.Round(time.Second).String(), Deadline: c.Policy.Deadline.String(), Polls: job.Polls}
	}
	job.WaitSeconds = int(c.Policy.Next(age) / time.Second)
	log.InfoContext(ctx, "job running", "nextWaitSeconds", job.WaitSeconds)
	return job, nil
}
