package slots

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The run lock keeps incremental batch runs one at a time: a second run
// over the same high-water marks while one still runs would export every
// user the first has not reached yet a second time (a tenant of 100,000
// users takes days at AvePoint's 5 jobs; a daily schedule fires again
// meanwhile). It is a second item of the job slot table:
//
//	ledger    (S) = RunLockKey
//	holder    (S): the batch execution's ARN
//	expiresAt (S): RFC 3339 UTC, when a lock nobody released stops counting
//
// The batch state machine takes it after PrepareBatch with a conditional
// write (free, held by this execution already, or expired: RFC 3339 UTC
// strings of one layout order as their times do) and skips the run when it
// cannot; it gives it back after WriteManifest. A run that fails, times
// out or is stopped before that is cleaned up by the execution-status
// rule (Releaser), and the lease is the last resort.
const (
	RunLockKey       = "incremental-batch-run"
	RunLockHolder    = "holder"
	RunLockExpiresAt = "expiresAt"
)

// ReleaseRunLock removes the run lock if execution holds it; released is
// false when it does not (never taken, taken over after its lease, or
// given back already).
func (l *Ledger) ReleaseRunLock(ctx context.Context, execution string) (released bool, err error) {
	_, err = l.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(l.Table),
		Key:                      map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: RunLockKey}},
		ConditionExpression:      aws.String("#holder = :me"),
		ExpressionAttributeNames: map[string]string{"#holder": RunLockHolder},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":me": &types.AttributeValueMemberS{Value: execution},
		},
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, tableError("delete", err)
	}
	return true, nil
}

// RunLock reads the run lock: its holder and expiry, found false when
// nobody holds it.
func (l *Ledger) RunLock(ctx context.Context) (holder, expiresAt string, found bool, err error) {
	out, err := l.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(l.Table),
		Key:            map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: RunLockKey}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", "", false, tableError("get", err)
	}
	if out.Item == nil {
		return "", "", false, nil
	}
	h, _ := out.Item[RunLockHolder].(*types.AttributeValueMemberS)
	e, _ := out.Item[RunLockExpiresAt].(*types.AttributeValueMemberS)
	if h != nil {
		holder = h.Value
	}
	if e != nil {
		expiresAt = e.Value
	}
	return holder, expiresAt, true, nil
}
