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
// LambdaFunctionSucceeded, TaskStateExited (a service integration —
// lambda:invoke, dynamodb:*, events:putEvents — logs TaskScheduled,
// TaskStarted, TaskSucceeded instead: also 5). Wait, Choice, Pass and
// Succeed log <Type>StateEntered and <Type>StateExited; a Fail state logs
// FailStateEntered only. The execution adds ExecutionStarted and
// ExecutionSucceeded/ExecutionFailed.
const (
	EventsTask      = 5
	EventsWait      = 2
	EventsChoice    = 2
	EventsPass      = 2
	EventsSucceed   = 2
	EventsFail      = 1
	EventsExecution = 2
	// A retried Task adds LambdaFunctionScheduled, LambdaFunctionStarted
	// and LambdaFunctionFailed (TaskScheduled/TaskStarted/TaskFailed) for
	// the failed attempt.
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
	// InProcess is the check function's in-process waiting per
	// invocation (export.Checker.InProcess; POLL_INPROCESS_SECONDS): while
	// an invocation's waits add up to at most this, it sleeps through the
	// next wait itself and reads again, without a poll cycle through Step
	// Functions. 0: one read per invocation.
	InProcess time.Duration
}

// Outcome of a simulated execution.
const (
	Succeeded    = "succeeded"
	DeadlineHit  = "deadline exceeded"
	HistoryLimit = "history quota exceeded"
	// AttemptsOut: the retry loop ran out of MaxAttempts while the job
	// still ran (RetryLoop; the catcher ends the execution).
	AttemptsOut = "retry attempts exhausted"
)

// Result is what one export costs.
type Result struct {
	Outcome string
	// Polls is the number of status reads.
	Polls int
	// Cycles is the number of CheckJob invocations, each a poll cycle
	// through Step Functions (Wait → CheckJob → IsJobFinished): Polls
	// when every invocation reads once, fewer with Job.InProcess.
	Cycles int
	// Inside is the waiting done inside check invocations between their
	// reads (Job.InProcess), billed as Lambda duration.
	Inside time.Duration
	// Transitions counts every state entered and every retry (the billing
	// unit): the walk of the ASL for this many polls.
	Transitions int
	// HistoryEvents is the length of the execution history.
	HistoryEvents int
	// Invocations counts Lambda invocations (retries included).
	Invocations int
	// Path is the states entered, in order, as the ASL walk gives them;
	// Retries counts the retries of Check (the retry loop's polls after the
	// first), which the path does not repeat.
	Path    []Step
	Retries int
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

// detected records the read at t (the one before at prev, with wait in
// force) that saw the job finished.
func (r *Result) detected(job Job, t, prev, wait time.Duration) {
	r.Detected, r.Delay, r.LastWait = t, t-job.Duration, wait
	r.WorstDelay = t - prev
	if prev > 0 {
		r.WorstRatio = float64(r.WorstDelay) / float64(prev)
	}
	r.Outcome = Succeeded
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

// Simulate runs the poll loop of an export state machine (statemachine/
// export.asl.json: … → [WaitForJob → CheckJob → IsJobFinished] × polls →
// …) against a job of the given duration and prices the walk of the ASL
// that the execution takes.
func Simulate(e *Export, p Policy, job Job) (Result, error) {
	if e == nil || e.RetryPolls {
		return Result{}, fmt.Errorf("polling: Simulate needs an export whose loop is a Choice state (a retry loop is SimulateRetry's)")
	}
	if job.Duration < 0 || job.Latency < 0 || job.Deadline < 0 {
		return Result{}, fmt.Errorf("polling: negative duration in %+v", job)
	}
	r := Result{}
	var t, prev, acc time.Duration
	wait := p.Next(0)
	if wait <= 0 {
		return Result{}, fmt.Errorf("polling: policy returned wait %s at age 0", wait)
	}
	inside := false // the next read is the same invocation's
	for {
		if inside {
			// The invocation slept through the wait: no transitions, no
			// new invocation, the status call's latency is in the wait's
			// rounding.
			t += wait
			acc += wait
			r.Inside += wait
		} else {
			t += wait + job.Latency
			acc = 0
			r.Cycles++
		}
		if done, err := e.read(&r, job, t, prev, wait); done {
			return r, err
		}
		prev = t
		wait = p.Next(t)
		if wait <= 0 {
			return Result{}, fmt.Errorf("polling: policy returned wait %s at age %s", wait, t)
		}
		inside = job.InProcess > 0 && acc+wait <= job.InProcess
		if !inside && e.historyFull(&r, r.Cycles) {
			return r, nil
		}
	}
}

// read records a status read at t (the one before at prev, with wait in
// force) and says whether it ends the execution: the job seen finished,
// or found running past its deadline. Then r is priced.
func (e *Export) read(r *Result, job Job, t, prev, wait time.Duration) (bool, error) {
	r.Polls++
	r.PollTimes = append(r.PollTimes, t)
	if t >= job.Duration {
		r.detected(job, t, prev, wait)
		return true, e.price(r, "")
	}
	if job.Deadline > 0 && t >= job.Deadline {
		r.Outcome = DeadlineHit
		return true, e.price(r, "JobDeadlineExceededError")
	}
	return false, nil
}

// historyFull says whether one more of n poll cycles would take the
// execution past the history quota, which counts the final
// ExecutionSucceeded too; such an execution fails, and r says so.
func (e *Export) historyFull(r *Result, n int) bool {
	if e.successEvents(n+1) <= HistoryQuota {
		return false
	}
	r.Outcome = HistoryLimit
	r.HistoryEvents = e.successEvents(n)
	r.Transitions = e.successTransitions(n)
	return true
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
