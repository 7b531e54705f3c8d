package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keygate/keygate/infra/local/samtpl"
	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/dynamo"
	"github.com/keygate/keygate/shared/store/storetest"
)

var _ storetest.Store = (*dynamo.Keys)(nil)

func TestDynamoConformsToTheStoreContract(t *testing.T) {
	db := emulatortest.DynamoDB(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Store {
		keys := emulatortest.Table(t, db, "KeysTable")
		tokens := emulatortest.Table(t, db, "TokensTable")
		return dynamo.NewKeys(db, keys, now, dynamo.NewEvents(db, tokens, 0, now))
	})
}

// The tests below need no emulator: a recording fake checks the requests the store sends.

type recordingAPI struct {
	mu       sync.Mutex
	gets     []*dynamodb.GetItemInput
	item     map[string]types.AttributeValue
	getErr   error
	transErr error
	trans    []*dynamodb.TransactWriteItemsInput
}

func (r *recordingAPI) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gets = append(r.gets, in)
	if r.getErr != nil {
		return nil, r.getErr
	}
	return &dynamodb.GetItemOutput{Item: r.item}, nil
}

func (r *recordingAPI) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return &dynamodb.PutItemOutput{}, nil
}

func (r *recordingAPI) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return &dynamodb.QueryOutput{}, nil
}

func (r *recordingAPI) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trans = append(r.trans, in)
	return &dynamodb.TransactWriteItemsOutput{}, r.transErr
}

var _ dynamo.API = (*recordingAPI)(nil)

func lookupItem(hash string, ttl int64) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "key#" + hash}, "kind": &types.AttributeValueMemberS{Value: "current"},
		"hash": &types.AttributeValueMemberS{Value: hash}, "key_id": &types.AttributeValueMemberS{Value: "key_1"},
		"status": &types.AttributeValueMemberS{Value: store.StatusActive}, "version": &types.AttributeValueMemberN{Value: "1"},
		"scopes": &types.AttributeValueMemberL{}, "allowed_ips": &types.AttributeValueMemberL{},
	}
	if ttl != 0 {
		item["ttl"] = &types.AttributeValueMemberN{Value: fmt.Sprint(ttl)}
		item["expires_at"] = &types.AttributeValueMemberN{Value: fmt.Sprint(ttl)}
	}
	return item
}

func TestKeyByHashIsOneStronglyConsistentGetItem(t *testing.T) {
	api := &recordingAPI{item: lookupItem("h1", 0)}
	s := dynamo.NewKeys(api, "keys", func() time.Time { return storetest.Start }, nil)
	k, err := s.KeyByHash(context.Background(), "h1")
	if err != nil || k.KeyID != "key_1" {
		t.Fatalf("KeyByHash = %+v, %v", k, err)
	}
	if len(api.gets) != 1 {
		t.Fatalf("%d GetItem calls, want 1", len(api.gets))
	}
	in := api.gets[0]
	if !aws.ToBool(in.ConsistentRead) || aws.ToString(in.TableName) != "keys" {
		t.Errorf("GetItem = consistent %v on %q; a revocation must be seen by the next request", aws.ToBool(in.ConsistentRead), aws.ToString(in.TableName))
	}
	if pk := in.Key["pk"].(*types.AttributeValueMemberS).Value; pk != "key#h1" {
		t.Errorf("pk = %q", pk)
	}
}

func TestAnItemPastItsTTLIsNotFoundBeforeDynamoDBDeletesIt(t *testing.T) {
	now := storetest.Start
	for _, tt := range []struct {
		name string
		ttl  int64
		want error
	}{
		{"a second before the ttl", now.Unix() + 1, nil},
		{"at the ttl", now.Unix(), store.ErrNotFound},
		{"a week after the ttl", now.Unix() - 7*86400, store.ErrNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := dynamo.NewKeys(&recordingAPI{item: lookupItem("h1", tt.ttl)}, "keys", func() time.Time { return now }, nil)
			_, err := s.KeyByHash(context.Background(), "h1")
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("KeyByHash = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAThrottledReadIsADependencyErrorNotNotFound(t *testing.T) {
	throttled := &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
	s := dynamo.NewKeys(&recordingAPI{getErr: throttled}, "keys", time.Now, nil)
	_, err := s.KeyByHash(context.Background(), "h1")
	if err == nil || errors.Is(err, store.ErrNotFound) || !errors.Is(err, throttled) {
		t.Errorf("KeyByHash = %v, want the throttling error wrapped (→ 503), never ErrNotFound (→ 401)", err)
	}
	_, err = s.KeyByID(context.Background(), "key_1")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("KeyByID = %v, want a dependency error", err)
	}
}

func TestALostConditionIsErrConflictAndOtherCancellationsAreNot(t *testing.T) {
	reason := func(code string) types.CancellationReason { return types.CancellationReason{Code: aws.String(code)} }
	tests := []struct {
		name         string
		err          error
		wantConflict bool
	}{
		{"a failed condition", &types.TransactionCanceledException{CancellationReasons: []types.CancellationReason{reason("None"), reason("ConditionalCheckFailed")}}, true},
		{"a transaction conflict", &types.TransactionCanceledException{CancellationReasons: []types.CancellationReason{reason("TransactionConflict")}}, false},
		{"throttling", &types.TransactionCanceledException{CancellationReasons: []types.CancellationReason{reason("ThrottlingError")}}, false},
		{"a network error", errors.New("dial tcp: i/o timeout"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &recordingAPI{transErr: tt.err}
			s := dynamo.NewKeys(api, "keys", time.Now, nil)
			err := s.CreateKey(context.Background(), store.Key{Hash: "h", KeyID: "key_1", Status: store.StatusActive})
			if got := errors.Is(err, store.ErrConflict); got != tt.wantConflict || err == nil {
				t.Errorf("CreateKey = %v, want conflict %v", err, tt.wantConflict)
			}
		})
	}
}

func TestCreateKeyIsOneConditionalTransaction(t *testing.T) {
	api := &recordingAPI{}
	s := dynamo.NewKeys(api, "keys", time.Now, nil)
	if err := s.CreateKey(context.Background(), store.Key{Hash: "h", KeyID: "key_1", Status: store.StatusActive}); err != nil {
		t.Fatal(err)
	}
	if len(api.trans) != 1 {
		t.Fatalf("%d transactions, want 1", len(api.trans))
	}
	for i, it := range api.trans[0].TransactItems {
		if it.Put == nil || aws.ToString(it.Put.ConditionExpression) != "attribute_not_exists(pk)" {
			t.Errorf("item %d of a create is not a conditional put: %+v", i, it)
		}
	}
}

func TestAuditEventsNeedAnEventsStore(t *testing.T) {
	api := &recordingAPI{}
	s := dynamo.NewKeys(api, "keys", time.Now, nil)
	err := s.CreateKey(context.Background(), store.Key{Hash: "h", KeyID: "key_1"}, store.Event{KeyID: "key_1", Action: "key.created"})
	if err == nil {
		t.Errorf("CreateKey with an audit event and no events store succeeded (the event would be lost)")
	}
	if len(api.trans) != 0 {
		t.Errorf("the key was written without its audit event")
	}
}

// The store's key layout must match the deployed tables: a pk-only keys table with the list
// index over (list_pk, list_sk), and a pk+sk tokens table for the audit trail.
func TestTheTemplateTablesMatchWhatTheStoreUses(t *testing.T) {
	type keyElement = samtpl.KeyElement
	keys := emulatortest.TemplateTable(t, "KeysTable")
	if len(keys.KeySchema) != 1 || keys.KeySchema[0] != (keyElement{AttributeName: "pk", KeyType: "HASH"}) {
		t.Errorf("KeysTable key schema = %+v, want pk HASH", keys.KeySchema)
	}
	found := false
	for _, g := range keys.GlobalSecondaryIndexes {
		if g.IndexName == dynamo.ListIndex {
			found = true
			if len(g.KeySchema) != 2 || g.KeySchema[0] != (keyElement{AttributeName: "list_pk", KeyType: "HASH"}) || g.KeySchema[1] != (keyElement{AttributeName: "list_sk", KeyType: "RANGE"}) ||
				g.ProjectionType != "ALL" {
				t.Errorf("%s = %+v", dynamo.ListIndex, g)
			}
		}
	}
	if !found {
		t.Errorf("KeysTable has no %s index", dynamo.ListIndex)
	}
	tokens := emulatortest.TemplateTable(t, "TokensTable")
	if len(tokens.KeySchema) != 2 || tokens.KeySchema[0] != (keyElement{AttributeName: "pk", KeyType: "HASH"}) || tokens.KeySchema[1] != (keyElement{AttributeName: "sk", KeyType: "RANGE"}) {
		t.Errorf("TokensTable key schema = %+v, want pk HASH + sk RANGE", tokens.KeySchema)
	}
}
