package polling

import (
	"fmt"
	"math"
	"time"
)

// Step Functions constants, with their sources (checked 2026-11):
//   - price: https://aws.amazon.com/step-functions/pricing/ — Standard
//     workflows, $0.025 per 1,000 state transitions (us-east-1 and most
//     regions), "each retry will be charged as an additional state
//     transition".
//   - history quota: https://docs.aws.amazon.com/step-functions/latest/dg/limits.html
//     — 25,000 events per execution; past it the execution fails.
//   - event types: https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html
const (
	USDPerTransition = 0.025 / 1000
	HistoryQuota     = 25000
)

// History events one state adds to a Standard workflow's execution history
// when it succeeds. A Task whose Resource is a Lambda ARN logs
// TaskStateEntered, LambdaFunctionScheduled, LambdaFunctionStarted,
// LambdaFunctionSucceeded, TaskStateExited (the lambda:invoke integration
// logs TaskScheduled/TaskStarted/TaskSucceeded instead: also 5). Wait,
// Choice and Succeed log <Type>StateEntered and <Type>StateExited; a Fail
// state logs FailStateEntered only. The execution adds ExecutionStarted and
// ExecutionSucceeded/ExecutionFailed.
const (
	EventsTask      = 5
	EventsWait      = 2
	EventsChoice    = 2
	EventsSucceed   = 2
	EventsFail      = 1
	EventsExecution = 2
	// A retried Task adds LambdaFunctionScheduled, LambdaFunctionStarted
	// and LambdaFunctionFailed for the failed attempt.
	EventsRetry = 3
)

// Policy decides the wait before the next poll from the job's age
// (request.WaitPolicy satisfies it).
type Policy interface {
	Next(age time.Duration) time.Duration
}

// Fixed is the baseline poller: the same loop with a constant wait.
type Fixed time.Duration

// Next returns the fixed interval whatever the age.
func (f Fixed) Next(time.Duration) time.Duration { return time.Duration(f) }

// Job is one simulated export.
type Job struct {
	// Duration is the job's run time, from the start call to the moment a
	// status read reports it finished.
	Duration time.Duration
	// Latency is the time one poll cycle takes besides its Wait: state
	// transitions, the Lambda invocation and the status call. It shifts
	// every later poll, as it does in the real loop (the check function
	// measures age by the wall clock).
	Latency time.Duration
	// Deadline is the policy's job deadline (JOB_DEADLINE_SECONDS): a check
	// that finds the job still running at this age fails the execution.
	// 0 means none.
	Deadline time.Duration
}

// Outcome of a simulated execution.
const (
	Succeeded    = "succeeded"
	DeadlineHit  = "deadline exceeded"
	HistoryLimit = "history quota exceeded"
)

// Result is what one export costs.
type Result struct {
	Outcome string
	// Polls is the number of CheckJob invocations.
	Polls int
	// Transitions counts every state entered (the billing unit):
	// StartExport + 3 per poll + StoreReport + Done.
	Transitions int
	// HistoryEvents is the length of the execution history.
	HistoryEvents int
	// Invocations counts Lambda invocations (Polls + 2).
	Invocations int
	// Detected is when the check that saw the job finished read its
	// status, since the start call; Delay = Detected − Duration.
	Detected, Delay time.Duration
	// WorstDelay and WorstRatio bound the delay for any job ending in the
	// same poll interval as this one: a job that ends just after poll k−1
	// is seen at poll k, WorstDelay = t(k) − t(k−1) later, when it is
	// t(k−1) old.
	WorstDelay time.Duration
	WorstRatio float64
	// LastWait is the wait in force when the job finished.
	LastWait time.Duration
	// PollTimes are the ages at which the job was polled.
	PollTimes []time.Duration
}

// CostUSD is the state transition charge of one export (free tier ignored).
func (r Result) CostUSD() float64 { return float64(r.Transitions) * USDPerTransition }

// DelayRatio is the actual detection delay over the job's duration.
func (r Result) DelayRatio(job Job) float64 {
	if job.Duration <= 0 {
		return 0
	}
	return float64(r.Delay) / float64(job.Duration)
}

// Simulate runs the export loop of statemachine/export.asl.json against a
// job of the given duration.
func Simulate(p Policy, job Job) (Result, error) {
	if job.Duration < 0 || job.Latency < 0 || job.Deadline < 0 {
		return Result{}, fmt.Errorf("polling: negative duration in %+v", job)
	}
	r := Result{}
	// StartExport: the execution's start plus one Task.
	events := EventsExecution + EventsTask
	r.Transitions, r.Invocations = 1, 1
	var t, prev time.Duration
	wait := p.Next(0)
	if wait <= 0 {
		return Result{}, fmt.Errorf("polling: policy returned wait %s at age 0", wait)
	}
	for {
		t += wait + job.Latency
		r.Polls++
		r.Invocations++
		r.Transitions += 2 // WaitForJob, CheckJob
		events += EventsWait + EventsTask
		r.PollTimes = append(r.PollTimes, t)
		if t >= job.Duration {
			r.Transitions++ // IsJobFinished
			events += EventsChoice
			r.Detected, r.Delay, r.LastWait = t, t-job.Duration, wait
			r.WorstDelay = t - prev
			if prev > 0 {
				r.WorstRatio = float64(r.WorstDelay) / float64(prev)
			}
			// StoreReport, Done, ExecutionSucceeded (counted in
			// EventsExecution).
			r.Transitions += 2
			r.Invocations++
			events += EventsTask + EventsSucceed
			r.Outcome = Succeeded
			break
		}
		if job.Deadline > 0 && t >= job.Deadline {
			// CheckJob failed (its success events are replaced one for one
			// by LambdaFunctionFailed; the catcher exits the Task), then
			// the JobDeadlineExceeded Fail state.
			r.Transitions++
			events += EventsFail
			r.Outcome = DeadlineHit
			break
		}
		r.Transitions++ // IsJobFinished → WaitForJob
		events += EventsChoice
		// The quota counts the final ExecutionSucceeded too; an execution
		// that cannot finish within it fails.
		if events+EventsWait+EventsTask+EventsChoice+EventsTask+EventsSucceed > HistoryQuota {
			r.Outcome = HistoryLimit
			break
		}
		prev = t
		wait = p.Next(t)
		if wait <= 0 {
			return Result{}, fmt.Errorf("polling: policy returned wait %s at age %s", wait, t)
		}
	}
	r.HistoryEvents = events
	return r, nil
}

// PollsBound is the math behind the policy trade-off: with waits of at
// most factor×age, polls grow geometrically by (1+factor), so covering
// ages from first to last takes at least ln(last/first)/ln(1+factor)
// polls. Returned as a float for the report.
func PollsBound(first, last time.Duration, factor float64) float64 {
	if first <= 0 || last <= first || factor <= 0 {
		return 0
	}
	return math.Log(float64(last)/float64(first)) / math.Log1p(factor)
}
