package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/shared/store"
)

// LimiterAPI is the part of the DynamoDB client the limiter uses.
type LimiterAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ LimiterAPI = (*dynamodb.Client)(nil)

// Limiter enforces per-key request budgets (requests per store.RateWindow) shared by every
// function instance: each window of a key is one item of the tokens table, "rl#<key_id>" /
// "<window start in Unix seconds>", whose count is bumped by a single conditional UpdateItem, so
// all containers see the same count without coordination. Window items carry a ttl and are
// never read again once their window has passed: the next window is another item.
type Limiter struct {
	api   LimiterAPI
	table string
	now   func() time.Time
}

// NewLimiter returns a limiter on table (the tokens table).
func NewLimiter(api LimiterAPI, table string, now func() time.Time) *Limiter {
	return &Limiter{api: api, table: table, now: now}
}

func windowKey(keyID string, start time.Time) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "rl#" + keyID},
		"sk": &types.AttributeValueMemberS{Value: strconv.FormatInt(start.Unix(), 10)},
	}
}

// Take spends one request of keyID's budget of limit per window. A limit < 1 allows nothing
// and writes nothing. Errors are dependency failures (the caller answers 503, never 429 or an
// allow).
func (l *Limiter) Take(ctx context.Context, keyID string, limit int) (store.RateDecision, error) {
	now := l.now()
	start := now.Truncate(store.RateWindow)
	reset := start.Add(store.RateWindow)
	d := store.RateDecision{Limit: limit, Reset: reset}
	if limit < 1 {
		return d, nil
	}
	out, err := l.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(l.table),
		Key:                 windowKey(keyID, start),
		UpdateExpression:    aws.String("ADD #c :one SET #t = if_not_exists(#t, :ttl)"),
		ConditionExpression: aws.String("attribute_not_exists(#c) OR #c < :limit"),
		ExpressionAttributeNames: map[string]string{
			"#c": "count", "#t": "ttl",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one":   &types.AttributeValueMemberN{Value: "1"},
			":limit": &types.AttributeValueMemberN{Value: strconv.Itoa(limit)},
			// Kept one window past its end, then DynamoDB may delete it.
			":ttl": &types.AttributeValueMemberN{Value: strconv.FormatInt(reset.Add(store.RateWindow).Unix(), 10)},
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		d.FirstRefusal = l.markRefused(ctx, keyID, start)
		return d, nil
	}
	if err != nil {
		return store.RateDecision{}, fmt.Errorf("rate limit %s: %w", keyID, err)
	}
	count := limit
	if n, ok := out.Attributes["count"].(*types.AttributeValueMemberN); ok {
		if c, err := strconv.Atoi(n.Value); err == nil {
			count = c
		}
	}
	d.Allowed = true
	d.Remaining = max(limit-count, 0)
	return d, nil
}

// markRefused claims the window's refusal marker with a conditional write; only the first
// refused Take of the window succeeds. It is best effort: a failure (a dependency error too)
// reads as "not the first", which at worst leaves a window's refusal unrecorded, never a
// refusal recorded twice.
func (l *Limiter) markRefused(ctx context.Context, keyID string, start time.Time) bool {
	_, err := l.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(l.table),
		Key:                      windowKey(keyID, start),
		UpdateExpression:         aws.String("SET #r = :true"),
		ConditionExpression:      aws.String("attribute_exists(#c) AND attribute_not_exists(#r)"),
		ExpressionAttributeNames: map[string]string{"#c": "count", "#r": "refused"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":true": &types.AttributeValueMemberBOOL{Value: true},
		},
	})
	return err == nil
}
