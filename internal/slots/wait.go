package slots

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/metrics"
)

// WaitPolicy says how long an execution that found no free slot waits
// before it tries again: a fifth of the time it has waited so far, between
// Min and Max. The wait is WaitForJobSlot's timeout: a slot given back
// wakes the oldest waiter at once (internal/slots/wake), so the wait is
// only the fallback for a wake that never comes (a slot given back by a
// lease that ended, a waker that failed); an execution that has waited an
// hour behind a long batch costs a few transitions per quarter hour.
type WaitPolicy struct {
	Min, Max time.Duration
	Factor   float64
	// Deadline ends the wait: an export that has not got a slot this long
	// after its execution started fails with JobDeadlineExceededError, as a
	// job running that long would (JOB_DEADLINE_SECONDS).
	Deadline time.Duration
}

// DefaultWaitPolicy is the policy the functions use for a full ledger: 5
// minutes, the fallback of a waiter nobody wakes. Not the 5 s–5 min of
// the Wait states before wake-ups: each timeout costs three transitions
// and sends the waiter to the back of the queue (it parks anew), while a
// wake that goes missing is rare — the waker long-polls a second for a
// waiter still on its way to the queue; what is left (a slot freed by a
// lease that ended, a waker that failed) waits this long.
// (bench/slotsim: 1 minute gave twice the rounds of 5 and no more busy
// time.)
var DefaultWaitPolicy = WaitPolicy{Min: 300 * time.Second, Max: 300 * time.Second, Factor: 0.2, Deadline: 6 * time.Hour}

// DefaultRetryPolicy is the wait after an acquisition that failed for
// another reason than a full ledger (a throttled write, DynamoDB unwell):
// no release will wake it, so it tries again soon, a fifth of its wait so
// far between 5 s and 5 minutes.
var DefaultRetryPolicy = WaitPolicy{Min: 5 * time.Second, Max: 300 * time.Second, Factor: 0.2, Deadline: 6 * time.Hour}

// Next is the wait after waited has passed, never past the deadline.
func (p WaitPolicy) Next(waited time.Duration) time.Duration {
	d := min(max(time.Duration(float64(waited)*p.Factor), p.Min), p.Max)
	if left := p.Deadline - waited; d > left {
		d = max(left, time.Second)
	}
	return d.Truncate(time.Second)
}

// StepError is a failed state's error as a Catch hands it on.
type StepError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// WaitInput is CheckJobSlots' input, built by the state's Parameters.
type WaitInput struct {
	ExecutionID string `json:"executionId"`
	// ExecutionStartTime starts the wait's clock: acquisition is the
	// execution's first state, so this is when the export asked for a
	// slot.
	ExecutionStartTime time.Time `json:"executionStartTime"`
	// Input is the execution input, handed back unchanged so that
	// StartExport gets it after the wait.
	Input json.RawMessage `json:"input"`
	// Slots is the ledger's size as the acquiring states' condition
	// has it (${AvePointJobSlots}), so both judge "full" alike.
	Slots flexInt `json:"slots"`
	// AcquireError is why the acquisition failed.
	AcquireError StepError `json:"acquireError"`
}

// flexInt takes a JSON number or a string of one (a substituted value
// arrives as a string).
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not a whole number")
	}
	*f = flexInt(n)
	return nil
}

// WaitOutput becomes the execution's state during the wait.
type WaitOutput struct {
	Input    json.RawMessage `json:"input"`
	SlotWait SlotWait        `json:"slotWait"`
}

// SlotWait is what the execution history shows of a wait: how long it
// waits next and has waited, who holds the slots, and why it waits.
type SlotWait struct {
	WaitSeconds   int      `json:"waitSeconds"`
	WaitedSeconds int      `json:"waitedSeconds"`
	Slots         int      `json:"slots"`
	Holders       []Holder `json:"holders"`
	Evicted       []Holder `json:"evicted,omitempty"`
	Reason        string   `json:"reason"`
}

// Reasons a wait gives.
const (
	ReasonBusy     = "every slot is held"
	ReasonFree     = "a slot is free"
	ReasonEvicted  = "holders past their lease were evicted"
	ReasonCreated  = "the ledger was created"
	ReasonHeld     = "this execution already holds a slot (an acquisition whose answer was lost)"
	ReasonRetrying = "the acquisition failed; trying again"
)

// Waiter is the CheckJobSlots handler.
type Waiter struct {
	Ledger *Ledger
	Policy WaitPolicy
	// Retry is the policy after an acquisition that did not fail on a
	// full ledger (zero: Policy).
	Retry WaitPolicy
	Log   *slog.Logger
	Now   func() time.Time
	// Metrics gets JobSlotWaits, JobSlotWaitSeconds and JobSlotHolders
	// per decided wait (nil: none).
	Metrics *metrics.Emitter
}

// Handle decides the next wait. It ends the wait at the deadline with a
// failure.JobDeadlineExceededError, and fails for good (ConfigError) when
// the ledger cannot be used at all.
func (w *Waiter) Handle(ctx context.Context, in WaitInput) (WaitOutput, error) {
	if in.ExecutionID == "" || in.ExecutionStartTime.IsZero() || len(in.Input) == 0 || in.Slots < 1 {
		return WaitOutput{}, &failure.ValidationError{Field: "executionId", Reason: "the slot check needs executionId, executionStartTime, input and slots (the state's Parameters)"}
	}
	if code := strings.TrimPrefix(in.AcquireError.Error, "DynamoDB."); permanentAcquire(code) {
		return WaitOutput{}, &failure.ConfigError{Variable: "JOB_SLOTS_TABLE", Reason: "cannot be written by the state machine: " + in.AcquireError.Error + ": " + failure.Clip(in.AcquireError.Cause, 300)}
	}
	now := w.Now().UTC()
	waited := max(now.Sub(in.ExecutionStartTime), 0)
	out := WaitOutput{Input: in.Input, SlotWait: SlotWait{Slots: int(in.Slots), WaitedSeconds: int(waited / time.Second), Reason: ReasonBusy}}
	if !isBusy(in.AcquireError.Error) {
		out.SlotWait.Reason = ReasonRetrying + " (" + failure.Clip(in.AcquireError.Error, 100) + ")"
	}
	log := w.Log.With("execution", in.ExecutionID, "waitedSeconds", out.SlotWait.WaitedSeconds)

	holders, exists, readErr := w.Ledger.Holders(ctx)
	var te *TableError
	switch {
	case errors.As(readErr, &te) && te.Permanent:
		return WaitOutput{}, &failure.ConfigError{Variable: "JOB_SLOTS_TABLE", Reason: "cannot be read: " + te.Error()}
	case readErr != nil:
		// Waiting is this step's answer to trouble: try again later.
		log.WarnContext(ctx, "job slot ledger unreadable", "error", readErr.Error())
		out.SlotWait.Reason = ReasonRetrying + " (ledger unreadable)"
	case !exists:
		if err := w.Ledger.Create(ctx); err != nil {
			log.WarnContext(ctx, "job slot ledger not created", "error", err.Error())
		} else {
			log.InfoContext(ctx, "job slot ledger created", "table", w.Ledger.Table)
			out.SlotWait.Reason = ReasonCreated
		}
	}
	evicted, err := w.Ledger.Evict(ctx, holders, now)
	if err != nil {
		log.WarnContext(ctx, "evicting expired job slot holders failed", "error", err.Error())
	}
	for _, h := range evicted {
		log.WarnContext(ctx, "job slot holder evicted: its lease ended", "holder", h.Execution, "jobId", h.JobID, "acquiredAt", h.AcquiredAt, "startFailed", h.StartFailed)
	}
	out.SlotWait.Evicted = evicted
	for _, h := range holders {
		if !containsHolder(evicted, h) {
			out.SlotWait.Holders = append(out.SlotWait.Holders, h)
		}
	}
	_, mine := Find(out.SlotWait.Holders, in.ExecutionID)
	next := w.Policy.Next(waited)
	if !isBusy(in.AcquireError.Error) && w.Retry.Min > 0 {
		next = w.Retry.Next(waited)
	}
	switch {
	case mine:
		// The slot is ours already; the next acquisition sees that and
		// goes on, deadline or not.
		out.SlotWait.Reason, next = ReasonHeld, 0
	case waited >= w.Policy.Deadline:
		log.ErrorContext(ctx, "no job slot within the deadline", "holders", len(out.SlotWait.Holders))
		return WaitOutput{}, &failure.JobDeadlineExceededError{
			JobID: "(none: no AvePoint job slot came free)", Age: waited.Round(time.Second).String(),
			Deadline: w.Policy.Deadline.String(), Polls: 0,
		}
	case out.SlotWait.Reason == ReasonCreated:
		next = time.Second
	case len(evicted) > 0:
		out.SlotWait.Reason, next = ReasonEvicted, time.Second
	case isBusy(in.AcquireError.Error) && readErr == nil && exists && len(out.SlotWait.Holders) < int(in.Slots):
		// Freed between the acquisition and this read. (Only after a
		// refusal: a write that keeps failing otherwise, with slots free,
		// would poll every second until the deadline.)
		out.SlotWait.Reason, next = ReasonFree, time.Second
	}
	// At least a second: WaitForJobSlot's TimeoutSecondsPath must be a
	// positive whole number (a held slot's "no wait" included).
	out.SlotWait.WaitSeconds = max(int(next/time.Second), 1)
	log.InfoContext(ctx, "waiting for a job slot", "holders", len(out.SlotWait.Holders), "slots", int(in.Slots),
		"nextWaitSeconds", out.SlotWait.WaitSeconds, "reason", out.SlotWait.Reason)
	w.Metrics.Emit(ctx,
		metrics.Metric{Name: metrics.JobSlotWaits, Unit: metrics.Count, Value: 1},
		metrics.Metric{Name: metrics.JobSlotWaitSeconds, Unit: metrics.Seconds, Value: float64(out.SlotWait.WaitSeconds)},
		metrics.Metric{Name: metrics.JobSlotHolders, Unit: metrics.Count, Value: float64(len(out.SlotWait.Holders))})
	return out, nil
}

func containsHolder(hs []Holder, h Holder) bool {
	for _, x := range hs {
		if x.Execution == h.Execution {
			return true
		}
	}
	return false
}

// isBusy reports whether the acquisition failed on its condition: the
// ledger is full, or it does not exist yet.
func isBusy(errorName string) bool {
	return errorName == "DynamoDB.ConditionalCheckFailedException"
}

// permanentAcquire reports DynamoDB error codes (without the "DynamoDB."
// prefix Step Functions adds) no retry mends: the state machine's role or
// the table is wrong, or the ASL's request is malformed.
func permanentAcquire(code string) bool {
	for _, p := range permanentCodes {
		if code == p {
			return true
		}
	}
	return false
}
