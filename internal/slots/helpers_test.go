package slots

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/insights-export/insights-export/internal/testing/moto"
)

const testLease = time.Hour

var tableSeq struct {
	sync.Mutex
	n int
}

// newLedger creates a table of its own on the shared moto_server.
func newLedger(t *testing.T) *Ledger {
	t.Helper()
	db := dynamodb.NewFromConfig(moto.Start(t).AWSConfig(t))
	tableSeq.Lock()
	tableSeq.n++
	n := tableSeq.n
	tableSeq.Unlock()
	name := fmt.Sprintf("slots-%d-%s", n, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "-"))
	if len(name) > 200 {
		name = name[:200]
	}
	_, err := db.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(KeyAttribute), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(KeyAttribute), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Ledger{DB: db, Table: name, Lease: testLease}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// aslTask reads a DynamoDB task of statemachine/export.asl.json with the
// template's substitutions made, so that the tests run the state
// machine's own expressions.
func aslTask(t *testing.T, state string, slots int, table string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "statemachine", "export.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("${AvePointJobSlots}", fmt.Sprint(slots), "${JobSlotsTableName}", table, "${Partition}", "aws").Replace(string(raw))
	var doc struct{ States map[string]map[string]any }
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	st := doc.States[state]
	if st == nil || st["Resource"] != "arn:aws:states:::dynamodb:updateItem" {
		t.Fatalf("state %s is not a DynamoDB updateItem task: %v", state, st)
	}
	return st["Parameters"].(map[string]any)
}

// updateFromASL turns a task's Parameters into the UpdateItem call Step
// Functions makes: paths (keys ending in .$) resolved from paths.
func updateFromASL(t *testing.T, params map[string]any, paths map[string]string) *dynamodb.UpdateItemInput {
	t.Helper()
	resolve := pathResolver(t, paths)
	in := &dynamodb.UpdateItemInput{TableName: aws.String(params["TableName"].(string))}
	in.Key = attrMap(t, params["Key"].(map[string]any), resolve)
	in.UpdateExpression = aws.String(params["UpdateExpression"].(string))
	if c, ok := params["ConditionExpression"].(string); ok {
		in.ConditionExpression = aws.String(c)
	}
	if names, ok := params["ExpressionAttributeNames"].(map[string]any); ok {
		in.ExpressionAttributeNames = map[string]string{}
		for k, v := range names {
			k, v := resolve(k, v)
			in.ExpressionAttributeNames[k] = v.(string)
		}
	}
	if vals, ok := params["ExpressionAttributeValues"].(map[string]any); ok {
		in.ExpressionAttributeValues = attrMap(t, vals, resolve)
	}
	return in
}

// pathResolver resolves a Parameters key ending in .$ to its value in
// paths (the key without the suffix); other keys stand as they are.
func pathResolver(t *testing.T, paths map[string]string) func(string, any) (string, any) {
	return func(k string, v any) (string, any) {
		if name, ok := strings.CutSuffix(k, ".$"); ok {
			val, found := paths[v.(string)]
			if !found {
				t.Fatalf("no value for path %s", v)
			}
			return name, val
		}
		return k, v
	}
}

func attrMap(t *testing.T, m map[string]any, resolve func(string, any) (string, any)) map[string]types.AttributeValue {
	out := map[string]types.AttributeValue{}
	for k, v := range m {
		out[k] = attr(t, v.(map[string]any), resolve)
	}
	return out
}

// attr reads one value in DynamoDB JSON ({"S": …}, {"N": …}, {"M": …}).
func attr(t *testing.T, v map[string]any, resolve func(string, any) (string, any)) types.AttributeValue {
	t.Helper()
	if len(v) != 1 {
		t.Fatalf("attribute value %v has %d types", v, len(v))
	}
	for k, x := range v {
		k, x := resolve(k, x)
		switch k {
		case "S":
			return &types.AttributeValueMemberS{Value: x.(string)}
		case "N":
			return &types.AttributeValueMemberN{Value: x.(string)}
		case "M":
			return &types.AttributeValueMemberM{Value: attrMap(t, x.(map[string]any), resolve)}
		}
		t.Fatalf("attribute type %s not handled", k)
	}
	return nil
}

func executionARN(name string) string {
	return "arn:aws:states:us-east-1:123456789012:execution:insights-export-Export:" + name
}

// acquire runs AcquireJobSlot's write for execution.
func acquire(ctx context.Context, t *testing.T, l *Ledger, slots int, execution string, at time.Time) error {
	in := updateFromASL(t, aslTask(t, "AcquireJobSlot", slots, l.Table), map[string]string{
		"$$.Execution.Id": execution, "$$.State.EnteredTime": at.UTC().Format("2006-01-02T15:04:05.000Z"),
	})
	_, err := l.DB.UpdateItem(ctx, in)
	return err
}
