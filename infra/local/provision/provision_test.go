package provision_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/keygate/keygate/infra/local/provision"
	"github.com/keygate/keygate/infra/local/samtpl"
)

const realTemplate = "../../../template.yaml"

func TestGenerateSecretString(t *testing.T) {
	tests := []struct {
		name    string
		g       samtpl.GenerateSecretString
		check   func(t *testing.T, v string)
		wantErr string
	}{
		{"the pepper: 64 characters without punctuation", samtpl.GenerateSecretString{PasswordLength: 64, ExcludePunctuation: true, RequireEachIncludedType: true},
			func(t *testing.T, v string) {
				if len(v) != 64 || strings.ContainsAny(v, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ") {
					t.Errorf("value %q", v)
				}
				if !strings.ContainsAny(v, "abcdefghijklmnopqrstuvwxyz") || !strings.ContainsAny(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") || !strings.ContainsAny(v, "0123456789") {
					t.Errorf("value %q lacks a required class", v)
				}
			}, ""},
		{"excluded characters never appear", samtpl.GenerateSecretString{PasswordLength: 200, ExcludeCharacters: "aA0!"},
			func(t *testing.T, v string) {
				if strings.ContainsAny(v, "aA0!") {
					t.Errorf("value %q has an excluded character", v)
				}
			}, ""},
		{"digits only", samtpl.GenerateSecretString{PasswordLength: 12, ExcludeLowercase: true, ExcludeUppercase: true, ExcludePunctuation: true, RequireEachIncludedType: true},
			func(t *testing.T, v string) {
				if strings.Trim(v, "0123456789") != "" || len(v) != 12 {
					t.Errorf("value %q", v)
				}
			}, ""},
		{"a JSON template gets the password under the key", samtpl.GenerateSecretString{PasswordLength: 16, SecretStringTemplate: `{"user":"svc"}`, GenerateStringKey: "password"},
			func(t *testing.T, v string) {
				var m map[string]string
				if err := json.Unmarshal([]byte(v), &m); err != nil || m["user"] != "svc" || len(m["password"]) != 16 {
					t.Errorf("value %q", v)
				}
			}, ""},
		{"every class excluded", samtpl.GenerateSecretString{PasswordLength: 8, ExcludeLowercase: true, ExcludeUppercase: true, ExcludePunctuation: true, ExcludeNumbers: true}, nil, "excluded"},
		{"too short for the required classes", samtpl.GenerateSecretString{PasswordLength: 2, RequireEachIncludedType: true}, nil, "shorter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := provision.GenerateSecretString(tc.g, rand.Reader)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, v)
		})
	}
}

// fakeDDB is an in-memory stand-in that behaves like DynamoDB for the calls Apply makes.
type fakeDDB struct {
	mu     sync.Mutex
	tables map[string]*dynamodb.CreateTableInput
	ttl    map[string]string
	calls  []string
}

func (f *fakeDDB) CreateTable(_ context.Context, in *dynamodb.CreateTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "CreateTable")
	if f.tables == nil {
		f.tables, f.ttl = map[string]*dynamodb.CreateTableInput{}, map[string]string{}
	}
	name := aws.ToString(in.TableName)
	if _, ok := f.tables[name]; ok {
		return nil, &ddbtypes.ResourceInUseException{Message: aws.String("Table already exists: " + name)}
	}
	f.tables[name] = in
	return &dynamodb.CreateTableOutput{}, nil
}

func (f *fakeDDB) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tables[aws.ToString(in.TableName)]
	if !ok {
		return nil, &ddbtypes.ResourceNotFoundException{Message: aws.String("no table")}
	}
	d := &ddbtypes.TableDescription{TableName: t.TableName, TableStatus: ddbtypes.TableStatusActive, KeySchema: t.KeySchema}
	for _, g := range t.GlobalSecondaryIndexes {
		d.GlobalSecondaryIndexes = append(d.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndexDescription{IndexName: g.IndexName, KeySchema: g.KeySchema})
	}
	return &dynamodb.DescribeTableOutput{Table: d}, nil
}

func (f *fakeDDB) UpdateTimeToLive(_ context.Context, in *dynamodb.UpdateTimeToLiveInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "UpdateTimeToLive")
	name := aws.ToString(in.TableName)
	if _, ok := f.ttl[name]; ok {
		return nil, errors.New("ValidationException: TimeToLive is already enabled")
	}
	f.ttl[name] = aws.ToString(in.TimeToLiveSpecification.AttributeName)
	return &dynamodb.UpdateTimeToLiveOutput{}, nil
}

func (f *fakeDDB) DescribeTimeToLive(_ context.Context, in *dynamodb.DescribeTimeToLiveInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := &ddbtypes.TimeToLiveDescription{TimeToLiveStatus: ddbtypes.TimeToLiveStatusDisabled}
	if attr, ok := f.ttl[aws.ToString(in.TableName)]; ok {
		d = &ddbtypes.TimeToLiveDescription{TimeToLiveStatus: ddbtypes.TimeToLiveStatusEnabled, AttributeName: aws.String(attr)}
	}
	return &dynamodb.DescribeTimeToLiveOutput{TimeToLiveDescription: d}, nil
}

// fakeSM keeps secrets as version id → stages plus values.
type fakeSM struct {
	mu      sync.Mutex
	secrets map[string]map[string][]string // name → version → stages
	values  map[string]string              // name/version → value
}

func (f *fakeSM) init() {
	if f.secrets == nil {
		f.secrets, f.values = map[string]map[string][]string{}, map[string]string{}
	}
}

func (f *fakeSM) CreateSecret(_ context.Context, in *secretsmanager.CreateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	name := aws.ToString(in.Name)
	if _, ok := f.secrets[name]; ok {
		return nil, &smtypes.ResourceExistsException{Message: aws.String("exists")}
	}
	f.secrets[name] = map[string][]string{}
	if in.SecretString != nil {
		f.secrets[name]["v1"] = []string{"AWSCURRENT"}
		f.values[name+"/v1"] = *in.SecretString
	}
	return &secretsmanager.CreateSecretOutput{Name: in.Name}, nil
}

func (f *fakeSM) DescribeSecret(_ context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	s, ok := f.secrets[aws.ToString(in.SecretId)]
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("no secret")}
	}
	stages := map[string][]string{}
	for k, v := range s {
		stages[k] = append([]string(nil), v...)
	}
	return &secretsmanager.DescribeSecretOutput{Name: in.SecretId, VersionIdsToStages: stages}, nil
}

func (f *fakeSM) PutSecretValue(_ context.Context, in *secretsmanager.PutSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	name := aws.ToString(in.SecretId)
	version := aws.ToString(in.ClientRequestToken)
	if version == "" {
		version = "put"
	}
	stages := in.VersionStages
	if len(stages) == 0 || len(f.secrets[name]) == 0 {
		// Like Secrets Manager: the first version of a secret is always AWSCURRENT.
		stages = append(stages, "AWSCURRENT")
	}
	f.secrets[name][version] = stages
	f.values[name+"/"+version] = aws.ToString(in.SecretString)
	return &secretsmanager.PutSecretValueOutput{}, nil
}

// rotator is a rotation function double that follows the Secrets Manager contract on
// whatever client it is given, recording the events it receives.
type rotator struct {
	sm     rotationClient
	mu     sync.Mutex
	events []provision.RotationEvent
	fn     []string
}

type rotationClient interface {
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
}

// promote moves AWSCURRENT to the pending version (UpdateSecretVersionStage on a real client).
type promoter interface {
	promote(ctx context.Context, secretID, token string) error
}

func (r *rotator) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, error) {
	var ev provision.RotationEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.fn = append(r.fn, fn)
	r.mu.Unlock()
	switch ev.Step {
	case "createSecret":
		_, err := r.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(ev.SecretID), ClientRequestToken: aws.String(ev.ClientRequestToken),
			SecretString: aws.String(`{"kid":"k1"}`), VersionStages: []string{"AWSPENDING"},
		})
		return []byte("null"), err
	case "finishSecret":
		return []byte("null"), r.sm.(promoter).promote(ctx, ev.SecretID, ev.ClientRequestToken)
	}
	return []byte("null"), nil
}

func (f *fakeSM) promote(_ context.Context, secretID, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for v := range f.secrets[secretID] {
		f.secrets[secretID][v] = nil
	}
	f.secrets[secretID][token] = []string{"AWSCURRENT"}
	return nil
}

func loadTemplate(t *testing.T) *samtpl.Template {
	t.Helper()
	tpl, err := samtpl.Load(realTemplate, samtpl.Options{Parameters: map[string]string{"Stage": "local"}})
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestApplyCreatesWhatTheTemplateDeclares(t *testing.T) {
	tpl := loadTemplate(t)
	ddb, sm := &fakeDDB{}, &fakeSM{}
	rot := &rotator{sm: sm}
	if err := provision.Apply(context.Background(), tpl, ddb, sm, rot); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tpl.Tables {
		in, ok := ddb.tables[tb.Name]
		if !ok {
			t.Fatalf("table %s not created", tb.Name)
		}
		if in.BillingMode != ddbtypes.BillingModePayPerRequest || len(in.GlobalSecondaryIndexes) != len(tb.GlobalSecondaryIndexes) {
			t.Errorf("table %s created as %+v", tb.Name, in)
		}
		if ddb.ttl[tb.Name] != tb.TTLAttribute {
			t.Errorf("table %s TTL = %q, want %q", tb.Name, ddb.ttl[tb.Name], tb.TTLAttribute)
		}
	}

	signing, pepper := tpl.Secrets[0], tpl.Secrets[1]
	if len(rot.events) != 4 {
		t.Fatalf("rotation events = %+v", rot.events)
	}
	for i, ev := range rot.events {
		if ev.Step != provision.RotationSteps()[i] || ev.SecretID != signing.Name || ev.ClientRequestToken != rot.events[0].ClientRequestToken ||
			len(ev.ClientRequestToken) != 36 || rot.fn[i] != "RotateFunction" {
			t.Errorf("event %d = %+v to %s", i, ev, rot.fn[i])
		}
	}
	if got := sm.secrets[signing.Name][rot.events[0].ClientRequestToken]; len(got) != 1 || got[0] != "AWSCURRENT" {
		t.Errorf("signing key stages = %v", sm.secrets[signing.Name])
	}
	if v := sm.values[pepper.Name+"/v1"]; len(v) != 64 {
		t.Errorf("pepper value has length %d, want 64", len(v))
	}

	// A second run changes nothing: no second rotation, no new value.
	if err := provision.Apply(context.Background(), tpl, ddb, sm, rot); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if len(rot.events) != 4 || len(sm.secrets[pepper.Name]) != 1 {
		t.Errorf("second Apply was not idempotent: %d rotation events, pepper versions %v", len(rot.events), sm.secrets[pepper.Name])
	}
}

func TestApplyRefusesAStaleTable(t *testing.T) {
	tpl := loadTemplate(t)
	ddb := &fakeDDB{}
	stale := tpl.Tables[0]
	_, _ = ddb.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName: aws.String(stale.Name),
		KeySchema: []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
	})
	err := provision.Apply(context.Background(), tpl, ddb, &fakeSM{}, &rotator{})
	if err == nil || !strings.Contains(err.Error(), "reset the emulator") {
		t.Errorf("err = %v, want a stale-schema error", err)
	}
}

func TestApplyReportsAFailingRotationStep(t *testing.T) {
	tpl := loadTemplate(t)
	failing := invokerFunc(func(_ context.Context, _ string, payload []byte) ([]byte, error) {
		if strings.Contains(string(payload), "testSecret") {
			return nil, errors.New("new key does not verify")
		}
		return nil, nil
	})
	err := provision.Apply(context.Background(), tpl, &fakeDDB{}, &fakeSM{}, failing)
	if err == nil || !strings.Contains(err.Error(), "rotation step testSecret") {
		t.Errorf("err = %v", err)
	}
}

func TestApplyChecksTheRotationResult(t *testing.T) {
	tpl := loadTemplate(t)
	noop := invokerFunc(func(context.Context, string, []byte) ([]byte, error) { return nil, nil })
	err := provision.Apply(context.Background(), tpl, &fakeDDB{}, &fakeSM{}, noop)
	if err == nil || !strings.Contains(err.Error(), "no AWSCURRENT") {
		t.Errorf("err = %v", err)
	}
}

type invokerFunc func(ctx context.Context, fn string, payload []byte) ([]byte, error)

func (f invokerFunc) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, error) {
	return f(ctx, fn, payload)
}
