package slots

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
)

const exportMachine = "arn:aws:states:us-east-1:123456789012:stateMachine:insights-export-Export"

func TestReleaser(t *testing.T) {
	l := newLedger(t)
	ctx := t.Context()
	if err := l.Create(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	c := &clock{t: now}
	r := &Releaser{Ledger: l, Log: discard(), Now: c.Now}
	withJob, lost, expired, other := executionARN("with-job"), executionARN("lost"), executionARN("expired"), executionARN("other")
	for _, arn := range []string{withJob, lost, other} {
		if err := acquire(ctx, t, l, 5, arn, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := acquire(ctx, t, l, 5, expired, now.Add(-testLease-time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, arn := range []string{withJob, other} {
		_, err := l.DB.UpdateItem(ctx, updateFromASL(t, aslTask(t, "RecordJobOnSlot", 5, l.Table), map[string]string{
			"$$.Execution.Id": arn, "$.jobId": "67890", "$.startedAt": now.Format(time.RFC3339),
		}))
		if err != nil {
			t.Fatal(err)
		}
	}
	// Through failure.Handler, with the event as Step Functions sends it.
	release := func(execution, status string) (ReleaseOutput, error) {
		raw := StatusChangeEvent(execution, exportMachine, status, now.Add(-time.Hour), now)
		out, err := failure.Handler(r.Handle).Invoke(ctx, raw)
		var ro ReleaseOutput
		if err == nil {
			err = json.Unmarshal(out, &ro)
		}
		return ro, err
	}

	out, err := release(withJob, "ABORTED")
	if err != nil || !out.Released || out.Kept != nil || len(out.Evicted) != 1 || out.Evicted[0].Execution != expired {
		t.Fatalf("aborted with a job: %+v %v", out, err)
	}
	out, err = release(lost, "FAILED")
	if err != nil || out.Released || out.Kept == nil || out.Kept.Execution != lost {
		t.Fatalf("failed before its job id was known: %+v %v; want the slot kept", out, err)
	}
	out, err = release(withJob, "TIMED_OUT") // a second delivery of the event
	if err != nil || out.Released || out.Kept != nil {
		t.Fatalf("redelivered event: %+v %v", out, err)
	}
	holders, _, _ := l.Holders(ctx)
	if len(holders) != 2 {
		t.Fatalf("holders %+v, want lost and other", holders)
	}
	if _, ok := Find(holders, other); !ok {
		t.Fatal("another execution's slot was touched")
	}

	for _, tc := range []struct {
		name  string
		event string
	}{
		{"succeeded", string(StatusChangeEvent(other, exportMachine, "SUCCEEDED", now, now))},
		{"another source", `{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}`},
		{"no execution", `{"source":"aws.states","detail-type":"Step Functions Execution Status Change","detail":{"status":"FAILED"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := failure.Handler(r.Handle).Invoke(ctx, []byte(tc.event))
			var ve *failure.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err %v, want ValidationError", err)
			}
		})
	}
	if _, ok := Find(holders, other); !ok {
		t.Fatal("a refused event touched the ledger")
	}
}

// A slot the releaser gives back wakes one waiting export; a failed wake
// is reported, not returned (the release is done, and Lambda would only
// deliver the event again); a release that frees nothing wakes nobody.
func TestReleaserWakesAWaiter(t *testing.T) {
	l := newLedger(t)
	ctx := t.Context()
	if err := l.Create(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var woke []string
	wakeErr := error(nil)
	r := &Releaser{Ledger: l, Log: discard(), Now: (&clock{t: now}).Now, Wake: func(_ context.Context, releasedBy string) (string, error) {
		woke = append(woke, releasedBy)
		return "arn:waiter", wakeErr
	}}
	held := func(name string) string {
		arn := executionARN(name)
		if err := acquire(ctx, t, l, 5, arn, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.DB.UpdateItem(ctx, updateFromASL(t, aslTask(t, "RecordJobOnSlot", 5, l.Table), map[string]string{
			"$$.Execution.Id": arn, "$.jobId": "67890", "$.startedAt": now.Format(time.RFC3339),
		})); err != nil {
			t.Fatal(err)
		}
		return arn
	}
	release := func(arn string) ReleaseOutput {
		t.Helper()
		out, err := r.Handle(ctx, Event{Source: EventSource, DetailType: EventDetailType, Detail: EventDetail{ExecutionArn: arn, StateMachineArn: exportMachine, Status: "ABORTED"}})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a := held("a")
	if out := release(a); !out.Released || out.Woken != "arn:waiter" || out.WakeError != "" || len(woke) != 1 || woke[0] != a {
		t.Fatalf("release %+v, woke %v", out, woke)
	}
	if out := release(a); out.Released || len(woke) != 1 {
		t.Fatalf("a release that freed nothing woke someone: %+v %v", out, woke)
	}
	wakeErr = &failure.ThrottledError{Reason: "Step Functions throttled SendTaskSuccess"}
	if out := release(held("b")); !out.Released || out.WakeError == "" || len(woke) != 2 {
		t.Fatalf("failed wake: %+v", out)
	}
}
