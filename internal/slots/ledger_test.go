package slots

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The state machine's own acquisition, fired by many executions at once,
// never lets more than the slots hold: exactly slots writes succeed, the
// rest fail on their condition, and the ledger lists exactly the winners.
func TestASLAcquisitionNeverHoldsMoreThanTheSlots(t *testing.T) {
	const slots, executions = 5, 24
	l := newLedger(t)
	ctx := t.Context()
	now := time.Now().UTC()

	// Before the ledger exists the write fails on its condition (not on a
	// malformed path), which sends the execution to CheckJobSlots.
	var ccf *types.ConditionalCheckFailedException
	if err := acquire(ctx, t, l, slots, executionARN("early"), now); !errors.As(err, &ccf) {
		t.Fatalf("acquiring before the ledger exists: %v, want ConditionalCheckFailedException", err)
	}
	if err := l.Create(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Create(ctx); err != nil {
		t.Fatalf("a second Create must be a no-op: %v", err)
	}

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     = map[string]bool{}
		refused int
	)
	start := make(chan struct{})
	for i := range executions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			arn := executionARN(fmt.Sprintf("e%02d", i))
			err := acquire(ctx, t, l, slots, arn, now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won[arn] = true
			case errors.As(err, &ccf):
				refused++
			default:
				t.Errorf("%s: %v", arn, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(won) != slots || refused != executions-slots {
		t.Fatalf("%d acquisitions succeeded and %d were refused; want %d and %d", len(won), refused, slots, executions-slots)
	}
	holders, exists, err := l.Holders(ctx)
	if err != nil || !exists || len(holders) != slots {
		t.Fatalf("holders %v exists %v err %v", holders, exists, err)
	}
	for _, h := range holders {
		if !won[h.Execution] || !h.AcquiredAt.Equal(now.Truncate(time.Millisecond)) || !h.ExpiresAt.Equal(h.AcquiredAt.Add(testLease)) {
			t.Errorf("holder %+v", h)
		}
	}

	// A holder acquiring again (its first answer was lost) passes and
	// takes no second slot.
	var again string
	for arn := range won {
		again = arn
		break
	}
	if err := acquire(ctx, t, l, slots, again, now.Add(time.Second)); err != nil {
		t.Fatalf("re-acquisition by a holder: %v", err)
	}
	if holders, _, _ := l.Holders(ctx); len(holders) != slots {
		t.Fatalf("%d holders after a re-acquisition", len(holders))
	}
}

// RecordJobOnSlot, HoldJobSlotForLostJob and the two release states do
// what the releaser and the waiter rely on.
func TestASLRecordAndRelease(t *testing.T) {
	l := newLedger(t)
	ctx := t.Context()
	if err := l.Create(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	a, b := executionARN("a"), executionARN("b")
	for _, arn := range []string{a, b} {
		if err := acquire(ctx, t, l, 5, arn, now); err != nil {
			t.Fatal(err)
		}
	}
	run := func(state, execution string, paths map[string]string) error {
		p := map[string]string{"$$.Execution.Id": execution}
		for k, v := range paths {
			p[k] = v
		}
		_, err := l.DB.UpdateItem(ctx, updateFromASL(t, aslTask(t, state, 5, l.Table), p))
		return err
	}
	if err := run("RecordJobOnSlot", a, map[string]string{"$.jobId": "67890", "$.startedAt": "2026-11-25T09:12:04Z"}); err != nil {
		t.Fatal(err)
	}
	if err := run("HoldJobSlotForLostJob", b, map[string]string{"$.Error": "TransientError"}); err != nil {
		t.Fatal(err)
	}
	holders, _, _ := l.Holders(ctx)
	ha, _ := Find(holders, a)
	hb, _ := Find(holders, b)
	if ha.JobID != "67890" || ha.JobStartedAt != "2026-11-25T09:12:04Z" || hb.JobID != "" || hb.StartFailed != "TransientError" {
		t.Fatalf("holders %+v", holders)
	}
	// Recording on a slot that is gone fails (the state goes on anyway).
	var ccf *types.ConditionalCheckFailedException
	if err := run("RecordJobOnSlot", executionARN("gone"), map[string]string{"$.jobId": "1", "$.startedAt": "x"}); !errors.As(err, &ccf) {
		t.Fatalf("record on a missing holder: %v", err)
	}
	for _, state := range []string{"ReleaseJobSlot", "ReleaseJobSlotAfterFailure"} {
		if err := run(state, a, nil); err != nil {
			t.Fatalf("%s: %v", state, err)
		}
	}
	holders, _, _ = l.Holders(ctx)
	if len(holders) != 1 || holders[0].Execution != b {
		t.Fatalf("holders %+v, want only b", holders)
	}
}

func TestRemoveLeavesAHolderThatAcquiredAgain(t *testing.T) {
	l := newLedger(t)
	ctx := t.Context()
	if err := l.Create(ctx); err != nil {
		t.Fatal(err)
	}
	arn := executionARN("again")
	t0 := time.Now().UTC().Add(-2 * testLease)
	if err := acquire(ctx, t, l, 5, arn, t0); err != nil {
		t.Fatal(err)
	}
	stale, _, _ := l.Holders(ctx)
	// It re-acquired since it was read (a fresh time).
	if err := acquire(ctx, t, l, 5, arn, time.Now()); err != nil {
		t.Fatal(err)
	}
	evicted, err := l.Evict(ctx, stale, time.Now())
	if err != nil || len(evicted) != 0 {
		t.Fatalf("evicted %v (%v): a stale read must not remove a renewed holder", evicted, err)
	}
	if holders, _, _ := l.Holders(ctx); len(holders) != 1 {
		t.Fatalf("holders %v", holders)
	}
}
