package ddbcontract_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/infra/local/awsproxy"
	"github.com/keygate/keygate/infra/test/emulatortest"
)

// keygate tells a lost race from an outage by the SDK's error types: a single-item write's
// failed condition is *types.ConditionalCheckFailedException (ratelimit: 429, not 503), a
// transaction's is *types.TransactionCanceledException with the ConditionalCheckFailed reason
// (store.ErrConflict). The emulator's error bodies must deserialise into those types.
func TestFailedConditionsArriveAsTheSDKErrorTypesKeygateMaps(t *testing.T) {
	db := emulatortest.DynamoDB(t)
	tb := tokensTable(t, db)
	ctx := testContext(t)
	key := tb.key("err#existing", "x")
	put(ctx, t, db, tb, tb.item("err#existing", "x", item{"v": str("1")}))
	notExists := aws.String("attribute_not_exists(#pk)")
	names := map[string]string{"#pk": tb.hash}

	tests := []struct {
		name string
		call func() error
		is   func(error) bool
	}{
		{"a PutItem whose condition fails is a ConditionalCheckFailedException", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tb.name), Item: withV(key, "2"),
				ConditionExpression: notExists, ExpressionAttributeNames: names})
			return err
		}, isConditionalCheckFailed},
		{"an UpdateItem whose condition fails is a ConditionalCheckFailedException", func() error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(tb.name), Key: key,
				UpdateExpression: aws.String("SET v = :v"), ConditionExpression: aws.String("v = :old"),
				ExpressionAttributeValues: item{":v": str("2"), ":old": str("0")}})
			return err
		}, isConditionalCheckFailed},
		{"a DeleteItem whose condition fails is a ConditionalCheckFailedException", func() error {
			_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(tb.name), Key: key,
				ConditionExpression: notExists, ExpressionAttributeNames: names})
			return err
		}, isConditionalCheckFailed},
		{"a TransactWriteItems whose condition fails is a TransactionCanceledException naming ConditionalCheckFailed", func() error {
			_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				{Put: &types.Put{TableName: aws.String(tb.name), Item: withV(key, "2"), ConditionExpression: notExists, ExpressionAttributeNames: names}},
			}})
			return err
		}, func(err error) bool {
			codes, ok := reasons(err)
			return ok && len(codes) == 1 && codes[0] == "ConditionalCheckFailed" && !isConditionalCheckFailed(err)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !tt.is(err) {
				t.Errorf("error = %T %v (code %q)", err, err, errorCode(err))
			}
			if s := httpStatus(err); s != http.StatusBadRequest {
				t.Errorf("HTTP status = %d, want 400 (a client error the SDK does not retry)", s)
			}
		})
	}
	if got := text(get(ctx, t, db, tb, key), "v"); got != "1" {
		t.Errorf("after the failed writes the item has v = %q, want it unchanged (1)", got)
	}
}

func isConditionalCheckFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// noBackoff retries at once: the retry count is what is tested, not the SDK's delays.
type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// The emulator never throttles, so throttling is injected by infra/local/awsproxy, answering as
// DynamoDB does (HTTP 400, the exception's type in the body and X-Amzn-ErrorType). keygate maps
// a throttled call to a dependency failure (503, never 401 or 429); that needs the SDK to
// surface it as its typed exception after its own retries, each retry being a real request.
func TestAThrottledCallSurfacesAsTheSDKsThrottlingTypeAfterItsRetries(t *testing.T) {
	db := emulatortest.DynamoDB(t)
	tb := tokensTable(t, db)
	ctx := testContext(t)
	proxy, err := awsproxy.Start(aws.ToString(db.Options().BaseEndpoint))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	key := tb.key("throttled", "x")
	put(ctx, t, db, tb, withV(key, "1"))

	attempts := func(n int) func(*dynamodb.Options) {
		return func(o *dynamodb.Options) {
			o.BaseEndpoint = aws.String(proxy.URL)
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = n
				so.Backoff = noBackoff{}
				so.RateLimiter = ratelimit.None
			})
		}
	}
	getItem := func(ctx context.Context, opt func(*dynamodb.Options)) error {
		_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tb.name), Key: key, ConsistentRead: aws.Bool(true)}, opt)
		return err
	}
	transact := func(ctx context.Context, opt func(*dynamodb.Options)) error {
		_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{TableName: aws.String(tb.name), Key: key, UpdateExpression: aws.String("SET v = :v"),
				ExpressionAttributeValues: item{":v": str("2")}}},
		}}, opt)
		return err
	}
	isPTEE := func(err error) bool { return errors.As(err, new(*types.ProvisionedThroughputExceededException)) }
	isThrottling := func(err error) bool { return errors.As(err, new(*types.ThrottlingException)) }
	const prefix = "com.amazonaws.dynamodb.v20120810#"

	tests := []struct {
		name     string
		op       string
		call     func(context.Context, func(*dynamodb.Options)) error
		errType  string
		is       func(error) bool
		attempts int
	}{
		{"a throttled GetItem without retries is a ProvisionedThroughputExceededException", "GetItem", getItem,
			"ProvisionedThroughputExceededException", isPTEE, 1},
		{"a throttled GetItem is retried, then surfaces as a ProvisionedThroughputExceededException", "GetItem", getItem,
			"ProvisionedThroughputExceededException", isPTEE, 3},
		{"a throttled TransactWriteItems is retried, then surfaces as a ProvisionedThroughputExceededException", "TransactWriteItems", transact,
			"ProvisionedThroughputExceededException", isPTEE, 3},
		{"a GetItem throttled with ThrottlingException is retried, then surfaces as a ThrottlingException", "GetItem", getItem,
			"ThrottlingException", isThrottling, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy.Inject(awsproxy.Fault{Kind: awsproxy.Throttled, ThrottleType: prefix + tt.errType})
			before := proxy.Snapshot()
			err := tt.call(ctx, attempts(tt.attempts))
			ops, _ := proxy.Since(before)
			proxy.Clear()
			if !tt.is(err) {
				t.Errorf("error = %T %v (code %q), want the SDK's %s type", err, err, errorCode(err), tt.errType)
			}
			if ops[tt.op] != tt.attempts {
				t.Errorf("%d %s requests reached the proxy, want %d (the SDK's attempts)", ops[tt.op], tt.op, tt.attempts)
			}
			// The proxy itself is transparent: the same call through it succeeds once the fault ends.
			if err := tt.call(ctx, attempts(1)); err != nil {
				t.Errorf("the same call through the proxy without a fault: %v", err)
			}
		})
	}
}
