package api

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/insights-export/insights-export/internal/testing/moto"
)

var claimTables atomic.Int64

// claimsTable creates a claims table on moto_server's DynamoDB, as the
// template does (pk, TTL on expiresAt).
func claimsTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	client := dynamodb.NewFromConfig(moto.Start(t).Config())
	name := fmt.Sprintf("claims-%d", claimTables.Add(1))
	if _, err := client.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	return client, name
}

// With the claims table, one key sent at once as single-user and as batch
// bodies, many times over, starts exactly one execution across both state
// machines (issue 9, item 9), and every other answer is a 409 or a replay
// of that one.
func TestIdempotencyKeyClaimsMakeOneExecutionPerKey(t *testing.T) {
	env := plainStepFunctions(t)
	a, _, logs := newClockedAPI(t, env, time.Now, nil)
	client, table := claimsTable(t)
	a.h.claims = &dynamoClaims{client: client, table: table, now: time.Now}
	single, batch := `{"email":"a@x.io","finishTime":"2026-11-01T00:00:00"}`, `{"emails":["a@x.io","b@x.io"],"finishTime":"2026-11-01T00:00:00"}`
	for i := range 12 {
		key := map[string]string{"Idempotency-Key": fmt.Sprintf("claimed-%d", i)}
		before := allExecutions(t, env, a.user) + allExecutions(t, env, a.batch)
		answers := concurrently(t, a, []string{single, batch, single, batch}, key)
		if n := allExecutions(t, env, a.user) + allExecutions(t, env, a.batch) - before; n != 1 {
			t.Fatalf("iteration %d: %d executions for one key", i, n)
		}
		ids := map[string]bool{}
		for _, ans := range answers {
			switch ans.code {
			case http.StatusAccepted:
				var s Started
				ans.decode(t, &s)
				ids[s.ID] = true
			case http.StatusConflict:
			default:
				t.Fatalf("iteration %d: HTTP %d %s", i, ans.code, ans.body)
			}
		}
		if len(ids) != 1 {
			t.Fatalf("iteration %d: answers name %d executions", i, len(ids))
		}
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("an error was logged:\n%s", logs.String())
	}
	// The claims hold no key text: only hashes.
	out, err := client.Scan(t.Context(), &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 12 {
		t.Errorf("%d claims for 12 keys", len(out.Items))
	}
	for _, item := range out.Items {
		if pk := item["pk"].(*types.AttributeValueMemberS).Value; strings.Contains(pk, "claimed") {
			t.Errorf("a claim names the key itself: %s", pk)
		}
		if _, ok := item["expiresAt"].(*types.AttributeValueMemberN); !ok {
			t.Error("a claim without its expiry")
		}
	}
}
