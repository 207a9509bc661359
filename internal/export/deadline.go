package export

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
)

// CallMargin is how long before the invocation's deadline the start and
// check steps stop waiting for AvePoint. A call that has not answered by
// then ends with a TransientError the state machine retries; without the
// margin the Lambda runtime would kill the function mid-call and Step
// Functions would see Sandbox.Timedout, which no Retry names.
//
// The chain of timeouts, each derived from the next (internal/testing/
// templatecheck asserts the last two links):
//
//	AvePoint call  ≤ function Timeout − CallMargin   (this context)
//	function       = Timeout in template.yaml
//	Task           ≥ function Timeout + TaskTimeoutMargin (the ASL's TimeoutSeconds)
const CallMargin = 3 * time.Second

// TaskTimeoutMargin is how much longer a Task's TimeoutSeconds must be
// than its function's Timeout, so the function's own deadline (and the
// typed error it returns before it) always comes first and States.Timeout
// only stands for a Lambda service that never answered.
const TaskTimeoutMargin = 5 * time.Second

// withCallDeadline bounds ctx to the invocation's deadline less margin.
// Without a deadline (tests, local runs) ctx is returned as it is.
func withCallDeadline(ctx context.Context, margin time.Duration) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline.Add(-margin))
}

// timedOut replaces err by a TransientError when the call ran into the
// margin deadline rather than failing on its own: the invocation itself
// still has time to report it, and a retry may find AvePoint answering.
func timedOut(call, parent context.Context, err error, what string) error {
	if err == nil || parent.Err() != nil || !errors.Is(call.Err(), context.DeadlineExceeded) {
		return err
	}
	var up error
	if up = failure.Upstream(err); up != nil {
		if _, transient := up.(*failure.TransientError); !transient {
			return err // AvePoint answered with something definite
		}
	}
	return &failure.TransientError{Reason: fmt.Sprintf("AvePoint did not answer the %s call before the function's deadline (stopped %s early to report it)", what, CallMargin)}
}
