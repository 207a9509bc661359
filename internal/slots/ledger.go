package slots

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/insights-export/insights-export/internal/failure"
)

// The ledger is one item of the job slot table:
//
//	ledger  (S, the table's partition key) = LedgerKey
//	holders (M): execution ARN → {acquiredAt (S), jobId (S), jobStartedAt (S), startFailed (S)}
//
// A holder is added by the state machine's conditional write, which lets
// at most the number of slots hold at once (size(holders) < :slots) and
// never adds an execution twice; jobId is set once the job has started;
// startFailed when StartExport failed in a way that may have started a job
// whose id never came back. One item, so that one conditional write sees
// every holder: there is no counter to drift from the holders.
const (
	KeyAttribute     = "ledger"
	LedgerKey        = "avepoint-export-jobs"
	HoldersAttribute = "holders"
)

// Holder is one execution holding a slot.
type Holder struct {
	Execution string `json:"execution"`
	// AcquiredAt is when the slot was taken ($$.State.EnteredTime of the
	// acquiring state); ExpiresAt is AcquiredAt + the lease.
	AcquiredAt time.Time `json:"acquiredAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	// JobID is the AvePoint job the execution started with the slot.
	JobID        string `json:"jobId,omitempty"`
	JobStartedAt string `json:"jobStartedAt,omitempty"`
	// StartFailed names StartExport's error when it may have started a
	// job whose answer was lost: such a holder stays until its lease ends.
	StartFailed string `json:"startFailed,omitempty"`

	rawAcquiredAt string // as stored, for conditional writes
}

// dynamo is the part of the DynamoDB client the ledger uses.
type dynamo interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Ledger reads and corrects the slot ledger.
type Ledger struct {
	DB    dynamo
	Table string
	// Lease is how long a holder may keep a slot after AcquiredAt at most:
	// the longest an export can legitimately hold one (its StartExport
	// retries, the job up to JOB_DEADLINE_SECONDS, a last poll wait, its
	// CheckJob retries). A holder past it is evicted: its execution is
	// gone without giving the slot back (every cleanup path failed), or
	// its job — one whose id was lost — can no longer be running.
	Lease time.Duration
}

func (l *Ledger) key() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: LedgerKey}}
}

// Holders reads the ledger (a strongly consistent read: the caller acts on
// it). exists is false when the item has not been created yet.
func (l *Ledger) Holders(ctx context.Context) (holders []Holder, exists bool, err error) {
	out, err := l.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.Table), Key: l.key(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, false, tableError("read", err)
	}
	if out.Item == nil {
		return nil, false, nil
	}
	m, ok := out.Item[HoldersAttribute].(*types.AttributeValueMemberM)
	if !ok {
		// Edited by hand into something acquisition can never match: say
		// so rather than wait for a slot that cannot come.
		return nil, true, &TableError{Op: "read", Code: "MalformedLedger", Permanent: true,
			Err: fmt.Errorf("item %s=%s has no %s map (delete the item: the next export creates it again)", KeyAttribute, LedgerKey, HoldersAttribute)}
	}
	for execution, v := range m.Value {
		h := Holder{Execution: execution}
		if fields, ok := v.(*types.AttributeValueMemberM); ok {
			h.rawAcquiredAt = str(fields.Value["acquiredAt"])
			h.JobID = str(fields.Value["jobId"])
			h.JobStartedAt = str(fields.Value["jobStartedAt"])
			h.StartFailed = str(fields.Value["startFailed"])
		}
		// An unreadable time is treated as long past: a holder nobody can
		// date must not keep a slot for ever.
		if t, err := time.Parse(time.RFC3339Nano, h.rawAcquiredAt); err == nil {
			h.AcquiredAt = t.UTC()
		}
		h.ExpiresAt = h.AcquiredAt.Add(l.Lease)
		holders = append(holders, h)
	}
	slices.SortFunc(holders, func(a, b Holder) int { return a.AcquiredAt.Compare(b.AcquiredAt) })
	return holders, true, nil
}

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// Create writes the empty ledger unless it exists. The state machine's
// acquisition needs the holders map to exist (a nested SET cannot create
// it), and CloudFormation cannot write an item, so the first execution
// that finds no ledger makes it.
func (l *Ledger) Create(ctx context.Context) error {
	item := l.key()
	item[HoldersAttribute] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}}
	_, err := l.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(l.Table), Item: item,
		ConditionExpression:      aws.String("attribute_not_exists(#key)"),
		ExpressionAttributeNames: map[string]string{"#key": KeyAttribute},
	})
	if err != nil && !conditionFailed(err) { // someone else made it first: fine
		return tableError("create", err)
	}
	return nil
}

// Remove takes execution's holder off the ledger, if it is the one read
// (same AcquiredAt: a holder that re-acquired since is left alone).
// removed is false when there was nothing of that description to remove.
func (l *Ledger) Remove(ctx context.Context, h Holder) (removed bool, err error) {
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(l.Table), Key: l.key(),
		UpdateExpression:         aws.String("REMOVE #holders.#execution"),
		ConditionExpression:      aws.String("#holders.#execution.acquiredAt = :acquiredAt"),
		ExpressionAttributeNames: map[string]string{"#holders": HoldersAttribute, "#execution": h.Execution},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":acquiredAt": &types.AttributeValueMemberS{Value: h.rawAcquiredAt},
		},
	}
	if h.rawAcquiredAt == "" {
		// A holder without a readable time (edited by hand): nothing to
		// compare, so only its existence is checked.
		in.ConditionExpression, in.ExpressionAttributeValues = aws.String("attribute_exists(#holders.#execution)"), nil
	}
	_, err = l.DB.UpdateItem(ctx, in)
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, tableError("update", err)
	}
	return true, nil
}

// Evict removes every holder whose lease ended before now, each with its
// own conditional write, and returns those it removed.
func (l *Ledger) Evict(ctx context.Context, holders []Holder, now time.Time) ([]Holder, error) {
	var evicted []Holder
	for _, h := range holders {
		if now.Before(h.ExpiresAt) {
			continue
		}
		ok, err := l.Remove(ctx, h)
		if err != nil {
			return evicted, err
		}
		if ok {
			evicted = append(evicted, h)
		}
	}
	return evicted, nil
}

// Find returns execution's holder among holders.
func Find(holders []Holder, execution string) (Holder, bool) {
	for _, h := range holders {
		if h.Execution == execution {
			return h, true
		}
	}
	return Holder{}, false
}

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// TableError is a ledger read or write that failed. Permanent is set for
// the failures retrying cannot mend: a table that does not exist, a role
// without access, a request DynamoDB refuses as malformed.
type TableError struct {
	Op        string
	Code      string
	Permanent bool
	Err       error
}

func (e *TableError) Error() string {
	return fmt.Sprintf("job slot ledger %s failed (%s): %s", e.Op, e.Code, failure.Clip(e.Err.Error(), 300))
}

func (e *TableError) Unwrap() error { return e.Err }

// permanentCodes are DynamoDB error codes no retry mends.
var permanentCodes = []string{"ResourceNotFoundException", "AccessDeniedException", "ValidationException", "UnrecognizedClientException", "MissingAuthenticationTokenException"}

func tableError(op string, err error) error {
	te := &TableError{Op: op, Code: "network", Err: err}
	var api smithy.APIError
	if errors.As(err, &api) {
		te.Code = api.ErrorCode()
		te.Permanent = slices.Contains(permanentCodes, te.Code)
	}
	return te
}
