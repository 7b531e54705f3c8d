// Package ratelimit enforces per-key request budgets (requests per minute) shared by every
// function instance: each minute window is one DynamoDB item whose counter is bumped by a
// single conditional UpdateItem, so all containers see the same count without coordination.
// Window items carry a ttl and are ignored once their window has passed.
//
// The token endpoints (token and refresh) spend a key's budget here, its issued tokens and its
// refused attempts alike, so a key's budget is one budget whichever way it is spent. The
// authorizer does not use it: a DynamoDB write per protected call would put network I/O on its
// warm path; it passes rate_limit to backends in its context instead, and per-request limits
// belong to API Gateway usage plans or the backend.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Window is the length of a rate-limit window.
const Window = time.Minute

// API is the part of the DynamoDB client the limiter uses.
type API interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Decision is the outcome of one Take.
type Decision struct {
	Allowed   bool
	Limit     int
	Remaining int
	Reset     time.Time // end of the current window
	// FirstRefusal marks the one refused Take of a key's window (one across all containers):
	// callers that record refusals (the audit trail) record that one, so a key hammered past
	// its limit costs one audit item per window, not one per request.
	FirstRefusal bool
}

// RetryAfter is the whole number of seconds until the window resets, rounded up (a client
// that waits that long is past the reset) and at least 1.
func (d Decision) RetryAfter(now time.Time) int {
	return max(int((d.Reset.Sub(now)+time.Second-1)/time.Second), 1)
}

// Limiter counts requests in the tokens table.
type Limiter struct {
	api   API
	table string
	now   func() time.Time
}

// New returns a limiter on table.
func New(api API, table string, now func() time.Time) *Limiter {
	return &Limiter{api: api, table: table, now: now}
}

// Take spends one request of keyID's budget of limit per minute. A limit < 1 allows nothing.
// Errors are dependency failures (the caller answers 503, never 429 or an allow).
func (l *Limiter) Take(ctx context.Context, keyID string, limit int) (Decision, error) {
	now := l.now()
	start := now.Truncate(Window)
	reset := start.Add(Window)
	d := Decision{Limit: limit, Reset: reset}
	if limit < 1 {
		return d, nil
	}
	out, err := l.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "rl#" + keyID},
			"sk": &types.AttributeValueMemberS{Value: strconv.FormatInt(start.Unix(), 10)},
		},
		UpdateExpression:    aws.String("ADD #c :one SET #t = if_not_exists(#t, :ttl)"),
		ConditionExpression: aws.String("attribute_not_exists(#c) OR #c < :limit"),
		ExpressionAttributeNames: map[string]string{
			"#c": "count", "#t": "ttl",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one":   &types.AttributeValueMemberN{Value: "1"},
			":limit": &types.AttributeValueMemberN{Value: strconv.Itoa(limit)},
			// Kept one window past its end, then DynamoDB may delete it.
			":ttl": &types.AttributeValueMemberN{Value: strconv.FormatInt(reset.Add(Window).Unix(), 10)},
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		d.FirstRefusal = l.markRefused(ctx, keyID, start)
		return d, nil
	}
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit %s: %w", keyID, err)
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
		TableName: aws.String(l.table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "rl#" + keyID},
			"sk": &types.AttributeValueMemberS{Value: strconv.FormatInt(start.Unix(), 10)},
		},
		UpdateExpression:         aws.String("SET #r = :true"),
		ConditionExpression:      aws.String("attribute_exists(#c) AND attribute_not_exists(#r)"),
		ExpressionAttributeNames: map[string]string{"#c": "count", "#r": "refused"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":true": &types.AttributeValueMemberBOOL{Value: true},
		},
	})
	return err == nil
}

// Headers are the X-RateLimit-* response headers for d.
func (d Decision) Headers() map[string]string {
	return map[string]string{
		"X-RateLimit-Limit":     strconv.Itoa(d.Limit),
		"X-RateLimit-Remaining": strconv.Itoa(d.Remaining),
		"X-RateLimit-Reset":     strconv.FormatInt(d.Reset.Unix(), 10),
	}
}
