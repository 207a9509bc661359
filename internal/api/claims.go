package api

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// keyClaims records, with one conditional write, which kind of request
// first used an Idempotency-Key. Step Functions keeps execution names
// unique per state machine only, and a single-user body and a batch body
// run on different ones: without the claim, one key sent as both at the
// same moment could start one execution in each.
type keyClaims interface {
	// Claim makes kind the key's owner if it has none and returns the
	// owner (kind itself when this call won).
	Claim(ctx context.Context, keyID, kind string) (owner string, err error)
}

// claimTTL outlives Step Functions' 90 days of name uniqueness, after
// which the key's name is free in both state machines anyway.
const claimTTL = 91 * 24 * time.Hour

type dynamoAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// dynamoClaims keeps claims as items {pk, kind, expiresAt} of a DynamoDB
// table whose TTL attribute is expiresAt (template.yaml).
type dynamoClaims struct {
	client dynamoAPI
	table  string
	now    func() time.Time
}

func (c *dynamoClaims) Claim(ctx context.Context, keyID, kind string) (string, error) {
	_, err := c.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(c.table),
		Item: map[string]types.AttributeValue{
			"pk":        &types.AttributeValueMemberS{Value: keyID},
			"kind":      &types.AttributeValueMemberS{Value: kind},
			"expiresAt": &types.AttributeValueMemberN{Value: strconv.FormatInt(c.now().Add(claimTTL).Unix(), 10)},
		},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	var taken *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return kind, nil
	case !errors.As(err, &taken):
		return "", err
	}
	out, err := c.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(c.table),
		Key:            map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: keyID}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", err
	}
	if owner, ok := out.Item["kind"].(*types.AttributeValueMemberS); ok {
		return owner.Value, nil
	}
	return "", errors.New("api: an Idempotency-Key claim without a kind")
}

// keyID names a key's claim: a hash, never the client's text itself.
func keyID(key string) string { return executionName("claim", "key\x00"+key) }
