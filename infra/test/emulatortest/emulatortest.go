// Package emulatortest connects tests to the local emulators that `make test` starts (moto for
// DynamoDB and for Secrets Manager) through the real AWS SDK clients, and creates
// throwaway tables and secrets on them: DynamoDB tables with the schema of template.yaml, so a
// test table cannot drift from the deployed one.
//
// It is for tests only. Functions and the packages they build on must never import it (a test
// here checks that); it reads the process environment, fails tests and creates resources.
//
// Without an emulator endpoint a test is skipped, unless KEYGATE_REQUIRE_EMULATORS=1 (make test
// sets it), where a missing emulator fails the test rather than passing it silently.
package emulatortest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go/logging"
	"github.com/keygate/keygate/infra/local/provision"
	"github.com/keygate/keygate/infra/local/samtpl"
)

// The variables infra/local/stack/with-stack.sh exports for a running stack.
const (
	DynamoDBEndpointEnv = "KEYGATE_DYNAMODB_ENDPOINT"
	SecretsEndpointEnv  = "KEYGATE_SECRETS_ENDPOINT"
	RequireEnv          = "KEYGATE_REQUIRE_EMULATORS"
)

// Region is the region every emulator client uses; the emulators accept any.
const Region = "us-east-1"

// DynamoDB returns a client on the DynamoDB emulator (moto, infra/local/stack/moto_serialised.py) at $KEYGATE_DYNAMODB_ENDPOINT.
func DynamoDB(t testing.TB) *dynamodb.Client {
	t.Helper()
	cfg := emulator(t, DynamoDBEndpointEnv, "the DynamoDB emulator")
	return dynamodb.NewFromConfig(cfg.aws, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(cfg.endpoint) })
}

// SecretsManager returns a client on moto server at $KEYGATE_SECRETS_ENDPOINT.
func SecretsManager(t testing.TB) *secretsmanager.Client {
	t.Helper()
	cfg := emulator(t, SecretsEndpointEnv, "moto server (Secrets Manager)")
	return secretsmanager.NewFromConfig(cfg.aws, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(cfg.endpoint) })
}

// APIGateway returns a client on API Gateway's control plane (API keys, usage plans) of moto
// server at $KEYGATE_SECRETS_ENDPOINT: one moto process serves every service on its port.
func APIGateway(t testing.TB) *apigateway.Client {
	t.Helper()
	cfg := emulator(t, SecretsEndpointEnv, "moto server (API Gateway)")
	return apigateway.NewFromConfig(cfg.aws, func(o *apigateway.Options) { o.BaseEndpoint = aws.String(cfg.endpoint) })
}

// MotoAccount gives a test a moto account of its own on the emulator at
// $KEYGATE_SECRETS_ENDPOINT (a random 12-digit id, sent as moto's x-moto-account-id header), so
// the API Gateway state it makes and reads is its alone, however broken a pinned gap leaves it.
// It returns the emulator's endpoint and a maker of API Gateway clients in that account, at the
// emulator or at a proxy in front of it. Skips or fails like the other clients here.
func MotoAccount(t testing.TB) (endpoint string, client func(at string) *apigateway.Client) {
	t.Helper()
	cfg := emulator(t, SecretsEndpointEnv, "moto server (API Gateway)")
	n, err := rand.Int(rand.Reader, big.NewInt(9e11))
	if err != nil {
		t.Fatal(err)
	}
	account := fmt.Sprintf("%012d", n.Int64()+1e11)
	return cfg.endpoint, func(at string) *apigateway.Client {
		c := cfg.aws.Copy()
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: inAccount{account: account}}
		return apigateway.NewFromConfig(c, func(o *apigateway.Options) { o.BaseEndpoint = aws.String(at) })
	}
}

// inAccount sends every request to one moto account.
type inAccount struct{ account string }

func (a inAccount) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("x-moto-account-id", a.account)
	return http.DefaultTransport.RoundTrip(r)
}

type emulatorConfig struct {
	aws      aws.Config
	endpoint string
}

// emulator skips or fails t when the endpoint variable is unset. The configuration is built
// here rather than by LoadDefaultConfig, so that nothing from the environment (profiles,
// AWS_ENDPOINT_URL_*, real credentials) can point a test at anything but the emulator.
func emulator(t testing.TB, env, name string) emulatorConfig {
	t.Helper()
	endpoint := os.Getenv(env)
	if endpoint == "" {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s=1 but %s is not set: start %s with infra/local/stack/up.sh (make test does)", RequireEnv, env, name)
		}
		t.Skipf("%s is not set: skipping a test against %s "+
			"(make test runs it, or eval \"$(bash infra/local/stack/up.sh unit 8500 8501)\" first)", env, name)
	}
	cfg := clientConfig(endpoint)
	cfg.aws.ClientLogMode = aws.LogRetries
	cfg.aws.Logger = retryLog{t}
	return cfg
}

// retryLog puts the SDK's retry decisions into the test's log: against an emulator on this
// machine a retry is rare, and why it happened (a lost answer, a timeout) is what explains a
// non-idempotent call that then meets its own earlier write.
type retryLog struct{ t testing.TB }

func (l retryLog) Logf(c logging.Classification, format string, v ...any) {
	l.t.Logf("aws sdk %s: "+format, append([]any{c}, v...)...)
}

func clientConfig(endpoint string) emulatorConfig {
	return emulatorConfig{
		endpoint: endpoint,
		aws: aws.Config{
			Region: Region,
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test", Source: "keygate emulator tests"}, nil
			}),
			// A hung emulator fails the request, not the whole test binary at its timeout.
			HTTPClient: awshttp.NewBuildableClient().WithTimeout(30 * time.Second),
		},
	}
}

// UnreachableDynamoDB returns a client on a local endpoint where nothing listens, without
// retries, for the paths where DynamoDB is down. It needs no emulator.
func UnreachableDynamoDB(t testing.TB) *dynamodb.Client {
	t.Helper()
	cfg := unreachable(t)
	return dynamodb.NewFromConfig(cfg.aws, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(cfg.endpoint) })
}

// UnreachableSecretsManager is UnreachableDynamoDB for Secrets Manager.
func UnreachableSecretsManager(t testing.TB) *secretsmanager.Client {
	t.Helper()
	cfg := unreachable(t)
	return secretsmanager.NewFromConfig(cfg.aws, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(cfg.endpoint) })
}

// unreachable takes a free port from the kernel and closes it again, so connections to it are
// refused at once; one attempt keeps the SDK's retry backoff out of the test's time.
func unreachable(t testing.TB) emulatorConfig {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	endpoint := "http://" + l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("close %s: %v", endpoint, err)
	}
	cfg := clientConfig(endpoint)
	cfg.aws.RetryMaxAttempts = 1
	return cfg
}

// Table creates a uniquely named table with the schema of template.yaml's logicalID on db, waits
// until it is active and deletes it when the test ends. It returns the table's name.
func Table(t testing.TB, db *dynamodb.Client, logicalID string) string {
	t.Helper()
	name := fmt.Sprintf("keygate-test-%s-%s", strings.ToLower(strings.TrimSuffix(logicalID, "Table")), uniqueSuffix())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The name is this call's alone, so ResourceInUseException can only mean that the SDK
	// retried a CreateTable whose answer it lost and met the table the first attempt made (seen
	// on a loaded machine; the retry's cause is in the test log, see retryLog). The waiter below
	// still proves the table exists and is active.
	if _, err := db.CreateTable(ctx, createInput(TemplateTable(t, logicalID), name)); err != nil &&
		!errors.As(err, new(*types.ResourceInUseException)) {
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

// Secret creates a uniquely named secret without a value on sm, as the template creates the
// signing-key secret, and deletes it when the test ends. It returns the secret's name; values
// and version stages are the test's to put.
func Secret(t testing.TB, sm *secretsmanager.Client) string {
	t.Helper()
	name := "keygate-test/" + uniqueSuffix()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name)}); err != nil {
		t.Fatalf("create secret %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
			SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true),
		}); err != nil && !errors.As(err, new(*smtypes.ResourceNotFoundException)) { // a test may delete it itself
			t.Logf("delete secret %s: %v", name, err)
		}
	})
	return name
}

// UniqueName returns prefix followed by a random suffix, for resources that must not collide
// with those of other tests running against the same emulator (a missing secret, a key id).
func UniqueName(prefix string) string { return prefix + uniqueSuffix() }

func uniqueSuffix() string { return strings.ToLower(rand.Text()[:12]) }

// TemplateTable returns a table of template.yaml, the single source of truth, as the local
// stack's provisioning reads it (samtpl resolves the template the way CloudFormation would).
func TemplateTable(t testing.TB, logicalID string) samtpl.Table {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := samtpl.Load(filepath.Join(root, "template.yaml"), samtpl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tpl.Tables {
		if tb.LogicalID == logicalID {
			if len(tb.KeySchema) == 0 {
				t.Fatalf("template.yaml %s has no KeySchema", logicalID)
			}
			return tb
		}
	}
	t.Fatalf("template.yaml has no table %s", logicalID)
	return samtpl.Table{}
}

// RepoRoot returns the directory of the module's go.mod, found by walking up from the working
// directory (go test runs a test in its package's directory), so a package can move without
// its tests losing the template.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "template.yaml")); err != nil {
				return "", fmt.Errorf("the module root %s has no template.yaml: %w", dir, err)
			}
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// createInput is provisioning's CreateTable request for the template's table under name.
func createInput(tb samtpl.Table, name string) *dynamodb.CreateTableInput {
	tb.Name = name
	return provision.CreateTableInput(tb)
}

// DynamoDBOneAttempt is DynamoDB without the SDK's retries, for races: a retried write whose
// first answer was lost meets its own earlier write (a conditional one then fails its
// condition), which would show as a wrong outcome instead of the transport fault it is.
func DynamoDBOneAttempt(t testing.TB) *dynamodb.Client {
	t.Helper()
	cfg := emulator(t, DynamoDBEndpointEnv, "the DynamoDB emulator")
	cfg.aws.RetryMaxAttempts = 1
	return dynamodb.NewFromConfig(cfg.aws, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(cfg.endpoint) })
}
