package dynamo_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"

	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/dynamo"
	"github.com/keygate/keygate/shared/store/storetest"
)

var _ storetest.Store = (*dynamo.Keys)(nil)

// emulator returns a DynamoDB client on DynamoDB Local at KEYGATE_DYNAMODB_ENDPOINT. Without the
// variable the test is skipped, unless KEYGATE_REQUIRE_EMULATORS=1 (make test), where a missing
// emulator is a failure rather than a silent skip.
func emulator(t *testing.T) *dynamodb.Client {
	t.Helper()
	endpoint := os.Getenv("KEYGATE_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("KEYGATE_REQUIRE_EMULATORS") == "1" {
			t.Fatal("KEYGATE_REQUIRE_EMULATORS=1 but KEYGATE_DYNAMODB_ENDPOINT is not set; start DynamoDB Local with infra/stack/up.sh")
		}
		t.Skip("KEYGATE_DYNAMODB_ENDPOINT is not set: skipping the DynamoDB Local conformance run " +
			"(eval \"$(bash infra/stack/up.sh unit 8500 8501)\" to run it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test", Source: "keygate tests"}, nil
		})),
	)
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// tableSpec is the part of an AWS::DynamoDB::Table we recreate.
type tableSpec struct {
	AttributeDefinitions []struct {
		AttributeName string `yaml:"AttributeName"`
		AttributeType string `yaml:"AttributeType"`
	} `yaml:"AttributeDefinitions"`
	KeySchema              []keyElement `yaml:"KeySchema"`
	GlobalSecondaryIndexes []struct {
		IndexName  string       `yaml:"IndexName"`
		KeySchema  []keyElement `yaml:"KeySchema"`
		Projection struct {
			ProjectionType string `yaml:"ProjectionType"`
		} `yaml:"Projection"`
	} `yaml:"GlobalSecondaryIndexes"`
}

type keyElement struct {
	AttributeName string `yaml:"AttributeName"`
	KeyType       string `yaml:"KeyType"`
}

// templateTable reads a table's schema from template.yaml, the single source of truth, so the
// test tables cannot drift from the deployed ones.
func templateTable(t *testing.T, logicalID string) tableSpec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources map[string]struct {
			Type       string    `yaml:"Type"`
			Properties yaml.Node `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	res, ok := doc.Resources[logicalID]
	if !ok || res.Type != "AWS::DynamoDB::Table" {
		t.Fatalf("template.yaml has no table %s", logicalID)
	}
	var spec tableSpec
	if err := res.Properties.Decode(&spec); err != nil {
		t.Fatalf("template.yaml %s: %v", logicalID, err)
	}
	if len(spec.KeySchema) == 0 {
		t.Fatalf("template.yaml %s has no KeySchema", logicalID)
	}
	return spec
}

func (s tableSpec) createInput(name string) *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest}
	for _, a := range s.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(a.AttributeName), AttributeType: types.ScalarAttributeType(a.AttributeType)})
	}
	keys := func(ks []keyElement) []types.KeySchemaElement {
		var out []types.KeySchemaElement
		for _, k := range ks {
			out = append(out, types.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: types.KeyType(k.KeyType)})
		}
		return out
	}
	in.KeySchema = keys(s.KeySchema)
	for _, g := range s.GlobalSecondaryIndexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: aws.String(g.IndexName), KeySchema: keys(g.KeySchema),
			Projection: &types.Projection{ProjectionType: types.ProjectionType(g.Projection.ProjectionType)},
		})
	}
	return in
}

// createTable creates a uniquely named table from the template and deletes it after the test.
func createTable(t *testing.T, db *dynamodb.Client, logicalID string) string {
	t.Helper()
	name := fmt.Sprintf("keygate-test-%s-%s", strings.ToLower(strings.TrimSuffix(logicalID, "Table")), strings.ToLower(rand.Text()[:12]))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.CreateTable(ctx, templateTable(t, logicalID).createInput(name)); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			t.Logf("delete table %s: %v", name, err)
		}
	})
	if err := dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 20*time.Second); err != nil {
		t.Fatalf("table %s never became active: %v", name, err)
	}
	return name
}

func TestDynamoConformsToTheStoreContract(t *testing.T) {
	db := emulator(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Store {
		keys := createTable(t, db, "KeysTable")
		tokens := createTable(t, db, "TokensTable")
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
	keys := templateTable(t, "KeysTable")
	if len(keys.KeySchema) != 1 || keys.KeySchema[0] != (keyElement{"pk", "HASH"}) {
		t.Errorf("KeysTable key schema = %+v, want pk HASH", keys.KeySchema)
	}
	found := false
	for _, g := range keys.GlobalSecondaryIndexes {
		if g.IndexName == dynamo.ListIndex {
			found = true
			if len(g.KeySchema) != 2 || g.KeySchema[0] != (keyElement{"list_pk", "HASH"}) || g.KeySchema[1] != (keyElement{"list_sk", "RANGE"}) ||
				g.Projection.ProjectionType != "ALL" {
				t.Errorf("%s = %+v", dynamo.ListIndex, g)
			}
		}
	}
	if !found {
		t.Errorf("KeysTable has no %s index", dynamo.ListIndex)
	}
	tokens := templateTable(t, "TokensTable")
	if len(tokens.KeySchema) != 2 || tokens.KeySchema[0] != (keyElement{"pk", "HASH"}) || tokens.KeySchema[1] != (keyElement{"sk", "RANGE"}) {
		t.Errorf("TokensTable key schema = %+v, want pk HASH + sk RANGE", tokens.KeySchema)
	}
}
