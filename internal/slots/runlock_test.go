package slots

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// batchTask reads a DynamoDB task of statemachine/batch.asl.json with the
// template's substitutions made.
func batchTask(t *testing.T, state, resource, table string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "statemachine", "batch.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("${JobSlotsTableName}", table, "${Partition}", "aws").Replace(string(raw))
	var doc struct{ States map[string]map[string]any }
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	st := doc.States[state]
	if st == nil || st["Resource"] != "arn:aws:states:::dynamodb:"+resource {
		t.Fatalf("state %s is not a DynamoDB %s task: %v", state, resource, st)
	}
	return st["Parameters"].(map[string]any)
}

func batchARN(name string) string {
	return "arn:aws:states:us-east-1:123456789012:execution:insights-export-BatchExport:" + name
}

// acquireRun runs AcquireRunLock's write for execution at now, with a
// lock that lasts lease.
func acquireRun(ctx context.Context, t *testing.T, l *Ledger, execution string, now time.Time, lease time.Duration) error {
	p := batchTask(t, "AcquireRunLock", "putItem", l.Table)
	paths := map[string]string{
		"$$.Execution.Id":     execution,
		"$.runLock.now":       now.UTC().Format(time.RFC3339),
		"$.runLock.expiresAt": now.Add(lease).UTC().Format(time.RFC3339),
	}
	resolve := pathResolver(t, paths)
	in := &dynamodb.PutItemInput{
		TableName:                 aws.String(p["TableName"].(string)),
		Item:                      attrMap(t, p["Item"].(map[string]any), resolve),
		ConditionExpression:       aws.String(p["ConditionExpression"].(string)),
		ExpressionAttributeValues: attrMap(t, p["ExpressionAttributeValues"].(map[string]any), resolve),
	}
	_, err := l.DB.PutItem(ctx, in)
	return err
}

// releaseRun runs ReleaseRunLock's delete for execution.
func releaseRun(ctx context.Context, t *testing.T, l *Ledger, execution string) error {
	p := batchTask(t, "ReleaseRunLock", "deleteItem", l.Table)
	resolve := pathResolver(t, map[string]string{"$$.Execution.Id": execution})
	_, err := l.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(p["TableName"].(string)),
		Key:                       attrMap(t, p["Key"].(map[string]any), resolve),
		ConditionExpression:       aws.String(p["ConditionExpression"].(string)),
		ExpressionAttributeValues: attrMap(t, p["ExpressionAttributeValues"].(map[string]any), resolve),
	})
	return err
}

// The state machine's own writes keep incremental runs one at a time:
// of runs starting together exactly one takes the lock; a retry of the
// holder passes; a lock past its lease is taken over; only the holder's
// release frees it, and the status-change rule frees a failed run's.
func TestRunLockKeepsIncrementalRunsOneAtATime(t *testing.T) {
	ctx := t.Context()
	l := newLedger(t)
	now := time.Date(2026, 12, 1, 0, 15, 0, 0, time.UTC)
	const lease = 7 * 24 * time.Hour

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     []string
		refused int
	)
	var ccf *types.ConditionalCheckFailedException
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arn := batchARN(fmt.Sprintf("run-%02d", i))
			err := acquireRun(ctx, t, l, arn, now, lease)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, arn)
			case errors.As(err, &ccf):
				refused++
			default:
				t.Errorf("%s: %v", arn, err)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 || refused != 11 {
		t.Fatalf("%d runs took the lock, %d were refused; want 1 and 11", len(won), refused)
	}
	holder := won[0]
	if err := acquireRun(ctx, t, l, holder, now.Add(time.Minute), lease); err != nil {
		t.Errorf("the holder's retry: %v", err)
	}
	if err := acquireRun(ctx, t, l, batchARN("next-day"), now.Add(24*time.Hour), lease); !errors.As(err, &ccf) {
		t.Errorf("the next day's run while the first still runs: %v, want ConditionalCheckFailedException", err)
	}
	// Another run's release changes nothing; the holder's frees it.
	if err := releaseRun(ctx, t, l, batchARN("next-day")); !errors.As(err, &ccf) {
		t.Errorf("a non-holder's release: %v, want ConditionalCheckFailedException", err)
	}
	if h, _, found, err := l.RunLock(ctx); err != nil || !found || h != holder {
		t.Fatalf("lock %q found %v err %v, want held by %s", h, found, err, holder)
	}
	if err := releaseRun(ctx, t, l, holder); err != nil {
		t.Fatal(err)
	}
	if _, _, found, _ := l.RunLock(ctx); found {
		t.Fatal("the holder's release left the lock")
	}

	// A lock nobody gave back counts until its lease ends.
	stuck := batchARN("stuck")
	if err := acquireRun(ctx, t, l, stuck, now, lease); err != nil {
		t.Fatal(err)
	}
	if err := acquireRun(ctx, t, l, batchARN("early"), now.Add(lease-time.Second), lease); !errors.As(err, &ccf) {
		t.Errorf("before the lease ends: %v, want ConditionalCheckFailedException", err)
	}
	late := batchARN("late")
	if err := acquireRun(ctx, t, l, late, now.Add(lease+time.Second), lease); err != nil {
		t.Errorf("after the lease ended: %v", err)
	}

	// The execution-status rule gives back a failed run's lock, and only
	// for the batch state machine.
	r := &Releaser{Ledger: l, Log: discard(), Now: func() time.Time { return now }, BatchStateMachine: "arn:aws:states:us-east-1:123456789012:stateMachine:insights-export-BatchExport"}
	var ev Event
	if err := json.Unmarshal(StatusChangeEvent(stuck, r.BatchStateMachine, "FAILED", now, now), &ev); err != nil {
		t.Fatal(err)
	}
	if out, err := r.Handle(ctx, ev); err != nil || out.RunLockReleased {
		t.Fatalf("the stale holder's end: %+v %v; the lock is late's now", out, err)
	}
	if err := json.Unmarshal(StatusChangeEvent(late, r.BatchStateMachine, "ABORTED", now, now), &ev); err != nil {
		t.Fatal(err)
	}
	if out, err := r.Handle(ctx, ev); err != nil || !out.RunLockReleased {
		t.Fatalf("the holder's end: %+v %v, want the lock released", out, err)
	}
	if _, _, found, _ := l.RunLock(ctx); found {
		t.Fatal("the rule left the lock")
	}
}
