package slots

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/metrics"
)

// Event is the part of an EventBridge "Step Functions Execution Status
// Change" event the releaser reads. The detail also carries the
// execution's input and output, which hold user addresses, and its
// cause, which is message text: they are neither decoded nor logged.
type Event struct {
	Source     string      `json:"source"`
	DetailType string      `json:"detail-type"`
	Detail     EventDetail `json:"detail"`
}

// EventDetail is the event's detail.
type EventDetail struct {
	ExecutionArn    string `json:"executionArn"`
	StateMachineArn string `json:"stateMachineArn"`
	Status          string `json:"status"`
	// Error is the execution's error name, which Step Functions sets when
	// the execution failed with one (null when it was stopped).
	Error string `json:"error"`
}

// The event the rule in template.yaml (JobSlotCleanup) forwards.
const (
	EventSource     = "aws.states"
	EventDetailType = "Step Functions Execution Status Change"
)

// EndedStatuses are the execution statuses the rule matches: an execution
// that ends so may not have run its ReleaseJobSlot states (stopped by
// hand or by a batch, timed out, failed on an error no Catch takes).
// SUCCEEDED is left out: a succeeding export released its slot when its
// job finished.
var EndedStatuses = []string{"ABORTED", "TIMED_OUT", "FAILED"}

// ReleaseOutput says what the releaser did.
type ReleaseOutput struct {
	Execution string `json:"execution"`
	Status    string `json:"status"`
	// Released: the execution's holder was removed.
	Released bool `json:"released"`
	// Kept is a holder left in place: it has no job id, so its StartExport
	// may have started a job whose answer was lost, and the slot stays
	// taken until that job can no longer be running (Holder.ExpiresAt).
	Kept *Holder `json:"kept,omitempty"`
	// Evicted lists other holders whose lease had ended.
	Evicted []Holder `json:"evicted,omitempty"`
	// RunLockReleased: the ended execution was a batch run holding the run
	// lock, which it no longer holds.
	RunLockReleased bool `json:"runLockReleased,omitempty"`
	// Woken is the waiting export woken for the released slot
	// (internal/slots/wake); WakeError why none could be.
	Woken     string `json:"woken,omitempty"`
	WakeError string `json:"wakeError,omitempty"`
}

// Releaser is the handler of the execution-status rule.
type Releaser struct {
	Ledger *Ledger
	Log    *slog.Logger
	Now    func() time.Time
	// Metrics gets ExportsEnded per ended execution (nil: none).
	Metrics *metrics.Emitter
	// BatchStateMachine is the batch state machine's ARN
	// (BATCH_STATE_MACHINE_ARN): its ended runs give back the run lock.
	BatchStateMachine string
	// Wake, when set, wakes the oldest export waiting for a slot after a
	// holder was removed (functions/releasejobslot sets it to
	// internal/slots/wake, which this package does not link: the
	// CheckJobSlots function needs neither SQS nor Step Functions). It
	// returns the execution woken, if any.
	Wake func(ctx context.Context, releasedBy string) (string, error)
}

// Handle removes the ended execution's holder, unless it has no job id
// (see ReleaseOutput.Kept), and evicts holders past their lease.
func (r *Releaser) Handle(ctx context.Context, ev Event) (ReleaseOutput, error) {
	d := ev.Detail
	switch {
	case ev.Source != EventSource || ev.DetailType != EventDetailType:
		return ReleaseOutput{}, &failure.ValidationError{Field: "detail-type", Reason: "want a " + EventSource + " \"" + EventDetailType + "\" event"}
	case d.ExecutionArn == "":
		return ReleaseOutput{}, &failure.ValidationError{Field: "detail.executionArn", Reason: "is required"}
	case !slices.Contains(EndedStatuses, d.Status):
		return ReleaseOutput{}, &failure.ValidationError{Field: "detail.status", Reason: "want ABORTED, TIMED_OUT or FAILED"}
	}
	out := ReleaseOutput{Execution: d.ExecutionArn, Status: d.Status}
	log := r.Log.With("execution", d.ExecutionArn, "status", d.Status)
	if r.BatchStateMachine != "" && d.StateMachineArn == r.BatchStateMachine {
		// A batch run holds no job slot; it may hold the run lock, which
		// its ReleaseRunLock state never reached.
		released, err := r.Ledger.ReleaseRunLock(ctx, d.ExecutionArn)
		if err != nil {
			return out, err
		}
		out.RunLockReleased = released
		log.InfoContext(ctx, "batch run ended", "runLockReleased", released)
		return out, nil
	}
	// Counted on arrival, before the ledger: an event whose release fails
	// is delivered again and counted twice, which beats losing the count
	// of exports ending while DynamoDB is down.
	r.Metrics.EmitSets(ctx, endedDimensions(d), [][]string{{metrics.Status, metrics.Error}, {}},
		metrics.Metric{Name: metrics.ExportsEnded, Unit: metrics.Count, Value: 1})
	holders, _, err := r.Ledger.Holders(ctx)
	if err != nil {
		// Returned, so that Lambda's asynchronous retries and the rule's
		// retry policy try again; the lease is the last resort.
		return out, err
	}
	if out.Evicted, err = r.Ledger.Evict(ctx, holders, r.Now().UTC()); err != nil {
		return out, err
	}
	for _, h := range out.Evicted {
		log.WarnContext(ctx, "job slot holder evicted: its lease ended", "holder", h.Execution, "jobId", h.JobID, "acquiredAt", h.AcquiredAt, "startFailed", h.StartFailed)
	}
	h, ok := Find(holders, d.ExecutionArn)
	switch {
	case !ok || containsHolder(out.Evicted, h):
		log.InfoContext(ctx, "execution held no job slot")
	case h.JobID == "":
		out.Kept = &h
		log.WarnContext(ctx, "job slot kept until its lease ends: the execution ended before it learnt its job id, so a job it started may still run",
			"expiresAt", h.ExpiresAt, "startFailed", h.StartFailed)
	default:
		if out.Released, err = r.Ledger.Remove(ctx, h); err != nil {
			return out, err
		}
		log.InfoContext(ctx, "job slot released after the execution ended", "jobId", h.JobID, "released", out.Released)
	}
	if (out.Released || len(out.Evicted) > 0) && r.Wake != nil {
		// A failed wake fails nothing: the slot is back, and the waiters'
		// fallback timeout finds it. Returning the error would make Lambda
		// deliver the event again for a release that is done.
		woken, err := r.Wake(ctx, d.ExecutionArn)
		out.Woken = woken
		if err != nil {
			out.WakeError = failure.Clip(err.Error(), 300)
			log.WarnContext(ctx, "waking a waiting export failed: it finds the slot at its fallback timeout", "error", out.WakeError)
		}
	}
	return out, nil
}

// endedDimensions are ExportsEnded's Status and Error. The status is one
// of EndedStatuses (Handle checked); the error is Step Functions' error
// name or our vocabulary's, and anything that does not look like a name
// becomes "Other" (metrics.Name), so an event sent by hand cannot put an
// address or a message into a dimension.
func endedDimensions(d EventDetail) []metrics.Dimension {
	errName := metrics.NoError
	if d.Error != "" {
		errName = metrics.Name(d.Error)
	}
	return []metrics.Dimension{{Name: metrics.Status, Value: d.Status}, {Name: metrics.Error, Value: errName}}
}

// StatusChangeEvent is the event Step Functions sends EventBridge when an
// execution's status changes, in the shape AWS documents (input and
// output left out: Step Functions includes them only up to 248 KiB, and
// the releaser reads neither). Tests feed it to the releaser as the rule
// would, and an operator can invoke the function with it by hand to free
// a slot (README, "Job slots").
func StatusChangeEvent(executionArn, stateMachineArn, status string, started, stopped time.Time) []byte {
	name := executionArn[strings.LastIndexByte(executionArn, ':')+1:]
	region, account := "", ""
	if parts := strings.Split(executionArn, ":"); len(parts) > 4 {
		region, account = parts[3], parts[4]
	}
	ev := map[string]any{
		"version":     "0",
		"id":          fmt.Sprintf("%x", sha256.Sum256([]byte(executionArn+status))),
		"detail-type": EventDetailType,
		"source":      EventSource,
		"account":     account,
		"time":        stopped.UTC().Format(time.RFC3339),
		"region":      region,
		"resources":   []string{executionArn},
		"detail": map[string]any{
			"executionArn":    executionArn,
			"stateMachineArn": stateMachineArn,
			"name":            name,
			"status":          status,
			"startDate":       started.UnixMilli(),
			"stopDate":        stopped.UnixMilli(),
			"input":           nil,
			"output":          nil,
			"inputDetails":    map[string]any{"included": false},
			"outputDetails":   nil,
			"error":           nil,
			"cause":           nil,
		},
	}
	b, _ := json.Marshal(ev) // plain maps and strings: cannot fail
	return b
}
