package dynamo_test

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/dynamo"
	"github.com/keygate/keygate/shared/store/storetest"
)

var _ storetest.Limiter = (*dynamo.Limiter)(nil)

var (
	// rlStart is 15 s into the window [rlWindowStart, rlWindowEnd).
	rlStart       = storetest.Start.Add(15 * time.Second)
	rlWindowStart = storetest.Start
	rlWindowEnd   = rlWindowStart.Add(store.RateWindow)
)

// The limiter on the DynamoDB emulator, counting in the tokens table as the functions wire it
// (shared/app passes cfg.TokensTable to NewLimiter).
func TestDynamoLimiterConformsToTheLimiterContract(t *testing.T) {
	db := emulatortest.DynamoDB(t)
	storetest.RunLimiter(t, func(t *testing.T, now func() time.Time) storetest.LimiterStore {
		table := emulatortest.Table(t, db, "TokensTable")
		return storetest.LimiterStore{
			Limiter: dynamo.NewLimiter(db, table, now),
			Count: func(ctx context.Context, keyID string, start time.Time) (int, bool, error) {
				item, err := windowItem(ctx, db, table, keyID, start)
				if err != nil || item == nil {
					return 0, false, err
				}
				n, err := strconv.Atoi(item["count"])
				return n, true, err
			},
		}
	})
}

func rlContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// windowItem reads the window item of key starting at ws as strings, or nil when there is none.
func windowItem(ctx context.Context, db *dynamodb.Client, table, key string, ws time.Time) (map[string]string, error) {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "rl#" + key},
			"sk": &types.AttributeValueMemberS{Value: strconv.FormatInt(ws.Unix(), 10)},
		},
	})
	if err != nil {
		return nil, err
	}
	if out.Item == nil {
		return nil, nil
	}
	item := map[string]string{}
	for k, v := range out.Item {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			item[k] = v.Value
		case *types.AttributeValueMemberN:
			item[k] = v.Value
		default:
			item[k] = "?"
		}
	}
	return item, nil
}

// countingAPI counts the UpdateItem calls that reach api.
type countingAPI struct {
	api   dynamo.LimiterAPI
	calls atomic.Int64
}

func (c *countingAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.calls.Add(1)
	return c.api.UpdateItem(ctx, in, optFns...)
}

// The conformance suite sees no window after a limit below 1; here, not even a call is made.
func TestALimitBelowOneMakesNoCall(t *testing.T) {
	db := emulatortest.DynamoDB(t)
	api := &countingAPI{api: db}
	l := dynamo.NewLimiter(api, emulatortest.Table(t, db, "TokensTable"), clocktest.New(rlStart).Now)
	for _, limit := range []int{0, -1, -1000} {
		if d, err := l.Take(rlContext(t), emulatortest.UniqueName("key_"), limit); err != nil || d.Allowed {
			t.Errorf("Take with a limit of %d = %+v, %v; want a refusal", limit, d, err)
		}
	}
	if n := api.calls.Load(); n != 0 {
		t.Errorf("%d UpdateItem calls for limits below 1, want none", n)
	}
}

func TestTheWindowItemExpiresOneWindowAfterTheWindowEnds(t *testing.T) {
	db := emulatortest.DynamoDB(t)
	table := emulatortest.Table(t, db, "TokensTable")
	clock := clocktest.New(rlStart)
	l := dynamo.NewLimiter(db, table, clock.Now)
	key := emulatortest.UniqueName("key_")
	wantTTL := strconv.FormatInt(rlWindowEnd.Add(store.RateWindow).Unix(), 10)
	for i, at := range []time.Time{rlStart, rlWindowEnd.Add(-time.Second)} {
		clock.Set(at)
		if _, err := l.Take(rlContext(t), key, 10); err != nil {
			t.Fatalf("Take: %v", err)
		}
		item, err := windowItem(rlContext(t), db, table, key, rlWindowStart)
		if err != nil {
			t.Fatalf("GetItem: %v", err)
		}
		want := map[string]string{
			"pk": "rl#" + key, "sk": strconv.FormatInt(rlWindowStart.Unix(), 10),
			"count": strconv.Itoa(i + 1), "ttl": wantTTL, // the window's, whenever in it a request comes
		}
		if !maps.Equal(item, want) {
			t.Errorf("after request %d the item = %v, want %v", i+1, item, want)
		}
	}
}

// A limiter that cannot count must say so: the caller answers 503, never 429 nor an allow.
func TestAFailedUpdateIsAnErrorNeverADecision(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (dynamo.LimiterAPI, string)
	}{
		{"nothing listening at the endpoint", func(t *testing.T) (dynamo.LimiterAPI, string) {
			return emulatortest.UnreachableDynamoDB(t), "keygate-test-tokens"
		}},
		{"a table that does not exist", func(t *testing.T) (dynamo.LimiterAPI, string) {
			return emulatortest.DynamoDB(t), emulatortest.UniqueName("keygate-test-missing-")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api, table := tt.setup(t)
			l := dynamo.NewLimiter(api, table, clocktest.New(rlStart).Now)
			d, err := l.Take(rlContext(t), emulatortest.UniqueName("key_"), 10)
			if err == nil {
				t.Fatalf("Take = %+v, nil; want an error", d)
			}
			if d != (store.RateDecision{}) {
				t.Errorf("Take failed with %v but returned the decision %+v", err, d)
			}
			var ccf *types.ConditionalCheckFailedException
			if errors.As(err, &ccf) {
				t.Errorf("the error is a refusal: %v", err)
			}
		})
	}
}
