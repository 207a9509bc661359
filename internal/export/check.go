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

// DefaultInProcess is how long one check invocation may spend waiting
// between status reads before it hands the wait to the state machine
// (POLL_INPROCESS_SECONDS).
//
// Why: every wait the state machine takes costs a poll cycle of three
// state transitions (WaitForJob, CheckJob, IsJobFinished), which at the
// policy's short early waits is most of an export's bill, while the same
// seconds spent asleep inside an invocation cost a little Lambda time at
// 128 MB. Reading at the same ages keeps the detection delay exactly as
// the policy has it; only who does the waiting changes. BENCHMARKS.md, "The
// all-in bill", prices both.
const DefaultInProcess = 20 * time.Second

// MaxInProcess bounds POLL_INPROCESS_SECONDS: Lambda bills a sleeping
// invocation like a working one, and past a minute of waiting the policy's
// waits are long enough that the state machine's Wait is the cheaper
// sleeper.
const MaxInProcess = 60 * time.Second

// ReadReserve is how much of the invocation must be left after an
// in-process wait for the read that follows it: as long as a read had when
// each invocation made one (the function's Timeout less CallMargin), so
// a slow AvePoint is given the same time either way. When less would be
// left, the invocation returns and the state machine waits instead.
const ReadReserve = 25 * time.Second

// Checker polls the job and says how long to wait before the next poll.
// While the policy's waits are short it waits and reads again itself, up
// to InProcess per invocation.
type Checker struct {
	API    statusReader
	Policy request.WaitPolicy
	Log    *slog.Logger
	Now    func() time.Time
	// InProcess bounds the waiting done between reads in one invocation;
	// zero reads once.
	InProcess time.Duration
	// Sleep waits d or until ctx is done (nil: a timer). Tests advance
	// their clock with it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Handle is the check-job function's handler. A running job comes back
// with its next wait; a failed one, or one past the deadline, as an error
// whose type names it (JobFailedError, failure.JobDeadlineExceededError).
// A read that fails after in-process reads fails the invocation as the
// first would: the state machine's Retry reads again from the state's
// input.
func (c *Checker) Handle(ctx context.Context, job request.Job) (request.Job, error) {
	if job.JobID == "" || job.StartedAt.IsZero() {
		return job, &failure.ValidationError{Field: "jobId", Reason: "check step needs the start step's output (jobId, startedAt)"}
	}
	var waited time.Duration
	for {
		next, age, err := c.read(ctx, &job)
		if err != nil || next == 0 {
			return job, err
		}
		readAt := job.StartedAt.Add(age)
		inside := c.fits(ctx, waited, next)
		job.WaitSeconds = int(next / time.Second)
		c.Log.InfoContext(ctx, "job running", "jobId", job.JobID, "jobStatus", job.JobStatus, "polls", job.Polls,
			"ageSeconds", int(age.Seconds()), "nextWaitSeconds", job.WaitSeconds, "waitInFunction", inside)
		if !inside {
			return job, nil
		}
		if err := c.sleep(ctx, next); err != nil {
			// The invocation is ending (its deadline, or the runtime
			// shutting down): the state machine waits what is left.
			job.WaitSeconds = int(max(next-c.Now().Sub(readAt), time.Second).Round(time.Second) / time.Second)
			return job, nil
		}
		waited += next
	}
}

// fits says whether the invocation waits next itself, having waited
// waited already.
func (c *Checker) fits(ctx context.Context, waited, next time.Duration) bool {
	if waited+next > c.InProcess {
		return false
	}
	if deadline, ok := ctx.Deadline(); ok && deadline.Sub(c.Now())-next < ReadReserve {
		return false
	}
	return true
}

func (c *Checker) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// read reads the job's status once into job and returns the wait before
// the next read (zero when the job is finished) and the job's age.
func (c *Checker) read(ctx context.Context, job *request.Job) (time.Duration, time.Duration, error) {
	call, cancel := withCallDeadline(ctx, CallMargin)
	defer cancel()
	st, err := c.API.JobStatus(call, job.JobID)
	err = timedOut(call, ctx, err, "job status")
	if err != nil {
		c.Log.ErrorContext(ctx, "job status unavailable", "jobId", job.JobID, "error", err.Error())
		return 0, 0, err
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
		return 0, age, nil
	case avepoint.JobFailed:
		log.ErrorContext(ctx, "job failed", "message", st.Message)
		reason := st.Message
		if reason == "" {
			reason = "AvePoint gave no reason"
		}
		return 0, age, &failure.JobFailedError{JobID: job.JobID, JobStatus: st.Code, Reason: reason}
	}
	if age >= c.Policy.Deadline {
		log.ErrorContext(ctx, "job deadline exceeded")
		return 0, age, &failure.JobDeadlineExceededError{JobID: job.JobID, Age: age.Round(time.Second).String(), Deadline: c.Policy.Deadline.String(), Polls: job.Polls}
	}
	return c.Policy.Next(age), age, nil
}
