package secret_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/secret"
)

var _ secret.Getter = (*secretsmanager.Client)(nil)

// Values the tests store. No error may ever contain one of them.
const (
	firstValue  = "first-value-a1b2c3d4e5f6-must-never-appear-in-an-error"
	secondValue = "second-value-f6e5d4c3b2a1-must-never-appear-in-an-error"
	// rejectedValue is a value the Lazy tests' check refuses.
	rejectedValue = "rejected-value-0a9b8c7d-must-never-appear-in-an-error"
)

var binaryValue = []byte{0x00, 0xff, 0x10, 0x80, 'k', 'g'}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// put stores value as a new version of name (AWSCURRENT, the old one AWSPREVIOUS) and returns
// the version's id.
func put(t *testing.T, sm *secretsmanager.Client, in *secretsmanager.PutSecretValueInput) string {
	t.Helper()
	out, err := sm.PutSecretValue(testContext(t), in)
	if err != nil {
		t.Fatalf("PutSecretValue %s: %v", aws.ToString(in.SecretId), err)
	}
	return aws.ToString(out.VersionId)
}

func putString(t *testing.T, sm *secretsmanager.Client, name, value string) string {
	t.Helper()
	return put(t, sm, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)})
}

// noValueIn fails t if err's message carries a stored value.
func noValueIn(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, v := range []string{firstValue, secondValue, rejectedValue, string(binaryValue)} {
		if strings.Contains(err.Error(), v) {
			t.Errorf("the error %q contains a secret value", err)
		}
	}
}

// Against moto through the real SDK client: stages, versions and the mapping of a missing
// secret, stage or version to ErrNotFound.
func TestReadReturnsTheVersionAtTheStageOrErrNotFound(t *testing.T) {
	sm := emulatortest.SecretsManager(t)
	rotated := emulatortest.Secret(t, sm)
	firstID := putString(t, sm, rotated, firstValue)
	secondID := putString(t, sm, rotated, secondValue)
	binary := emulatortest.Secret(t, sm)
	binaryID := put(t, sm, &secretsmanager.PutSecretValueInput{SecretId: aws.String(binary), SecretBinary: binaryValue})
	empty := emulatortest.Secret(t, sm)
	missing := emulatortest.UniqueName("keygate-test/missing-")

	tests := []struct {
		name       string
		secretID   string
		versionID  string
		stage      string
		wantValue  []byte
		wantID     string
		wantErr    error
		wantAnyErr bool
	}{
		{name: "AWSCURRENT is the value put last", secretID: rotated, stage: secret.StageCurrent, wantValue: []byte(secondValue), wantID: secondID},
		{name: "AWSPREVIOUS is the value put before it", secretID: rotated, stage: secret.StagePrevious, wantValue: []byte(firstValue), wantID: firstID},
		{name: "a binary secret reads as its bytes", secretID: binary, stage: secret.StageCurrent, wantValue: binaryValue, wantID: binaryID},
		{name: "a missing secret is ErrNotFound", secretID: missing, stage: secret.StageCurrent, wantErr: secret.ErrNotFound},
		{name: "a stage no version carries is ErrNotFound", secretID: rotated, stage: secret.StagePending, wantErr: secret.ErrNotFound},
		{name: "keygate's own stage on no version is ErrNotFound", secretID: rotated, stage: secret.StageTested, wantErr: secret.ErrNotFound},
		{name: "a secret created without a value has no AWSCURRENT", secretID: empty, stage: secret.StageCurrent, wantErr: secret.ErrNotFound},
		{name: "a secret without a value has no AWSPREVIOUS either", secretID: empty, stage: secret.StagePrevious, wantErr: secret.ErrNotFound},
		{name: "a version carrying the stage is read by its id", secretID: rotated, versionID: secondID, stage: secret.StageCurrent, wantValue: []byte(secondValue), wantID: secondID},
		{name: "an older version is read by its id and its stage", secretID: rotated, versionID: firstID, stage: secret.StagePrevious, wantValue: []byte(firstValue), wantID: firstID},
		{name: "a version id the secret never had is ErrNotFound", secretID: rotated, versionID: "00000000-0000-4000-8000-000000000000", stage: secret.StageCurrent, wantErr: secret.ErrNotFound},
		{name: "a version id on a missing secret is ErrNotFound", secretID: missing, versionID: secondID, stage: secret.StageCurrent, wantErr: secret.ErrNotFound},
		// moto answers InvalidRequestException ("You provided a VersionStage that is not
		// associated to the provided VersionId"), which ReadVersion passes on unmapped; what
		// matters here is that the version's value is never returned for the wrong stage.
		{name: "a version that does not carry the stage is an error, never its value", secretID: rotated, versionID: firstID, stage: secret.StageCurrent, wantAnyErr: true},
		{name: "the current version asked for as AWSPREVIOUS is an error, never its value", secretID: rotated, versionID: secondID, stage: secret.StagePrevious, wantAnyErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				got secret.Version
				err error
			)
			if tt.versionID == "" {
				got, err = secret.Read(testContext(t), sm, tt.secretID, tt.stage)
			} else {
				got, err = secret.ReadVersion(testContext(t), sm, tt.secretID, tt.versionID, tt.stage)
			}
			noValueIn(t, err)
			switch {
			case tt.wantAnyErr:
				if err == nil {
					t.Fatalf("got version %s (%d bytes), want an error", got.ID, len(got.Value))
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("err = %v, want version %s", err, tt.wantID)
			}
			if err != nil {
				if got.ID != "" || got.Value != nil {
					t.Errorf("an error came with a version: %s (%d bytes)", got.ID, len(got.Value))
				}
				return
			}
			if got.ID != tt.wantID || string(got.Value) != string(tt.wantValue) {
				t.Errorf("got version %s = %q, want %s = %q", got.ID, got.Value, tt.wantID, tt.wantValue)
			}
		})
	}
}

// A dependency failure (here, nothing listening) must stay a dependency failure: callers turn
// ErrNotFound into "no such key" and anything else into a 503.
func TestAnUnreachableSecretsManagerIsNotErrNotFound(t *testing.T) {
	sm := emulatortest.UnreachableSecretsManager(t)
	_, err := secret.Read(testContext(t), sm, "keygate-test/any", secret.StageCurrent)
	if err == nil || errors.Is(err, secret.ErrNotFound) {
		t.Errorf("Read = %v, want a dependency error that is not ErrNotFound", err)
	}
	lazy := secret.NewLazy(sm, "keygate-test/any", nil)
	if v, err := lazy.Get(testContext(t)); err == nil || errors.Is(err, secret.ErrNotFound) || v != nil {
		t.Errorf("Lazy.Get = %d bytes, %v; want no value and a dependency error", len(v), err)
	}
}

// countingGetter counts GetSecretValue calls to api, failing the first failFirst of them.
type countingGetter struct {
	api       secret.Getter
	failFirst int

	mu     sync.Mutex
	calls  int
	stages []string
}

var errInjected = errors.New("ThrottlingException: rate exceeded (injected)")

func (c *countingGetter) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.mu.Lock()
	c.calls++
	c.stages = append(c.stages, aws.ToString(in.VersionStage))
	fail := c.calls <= c.failFirst
	c.mu.Unlock()
	if fail {
		return nil, errInjected
	}
	return c.api.GetSecretValue(ctx, in, optFns...)
}

func (c *countingGetter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

var errRejected = errors.New("not a usable pepper")

// A Lazy is fetched once from moto per container: every step of a case is a Get, with what
// happened to the secret before it and what the Get must see.
func TestLazyFetchesOnceAndRetriesAfterAFailure(t *testing.T) {
	type step struct {
		before    string // a value put as the new AWSCURRENT before this Get, if any
		want      string // the value Get returns; "" means an error
		wantErr   error  // with want == "", what the error must wrap (nil: any error)
		wantCalls int    // GetSecretValue calls so far
	}
	check := func(b []byte) error {
		if string(b) == rejectedValue {
			return errRejected
		}
		return nil
	}
	tests := []struct {
		name      string
		initial   string // the secret's first value; "" leaves it without one
		failFirst int
		steps     []step
	}{
		{
			name:    "the first Get fetches AWSCURRENT and later Gets make no call",
			initial: firstValue,
			steps:   []step{{want: firstValue, wantCalls: 1}, {want: firstValue, wantCalls: 1}, {want: firstValue, wantCalls: 1}},
		},
		{
			name:    "a rotation under a warm container is not seen: the value is read once",
			initial: firstValue,
			steps:   []step{{want: firstValue, wantCalls: 1}, {before: secondValue, want: firstValue, wantCalls: 1}},
		},
		{
			name:      "a failed fetch is retried by the next Get",
			initial:   firstValue,
			failFirst: 1,
			steps:     []step{{wantErr: errInjected, wantCalls: 1}, {want: firstValue, wantCalls: 2}, {want: firstValue, wantCalls: 2}},
		},
		{
			name:      "every Get retries while the fetch keeps failing",
			initial:   firstValue,
			failFirst: 3,
			steps: []step{
				{wantErr: errInjected, wantCalls: 1}, {wantErr: errInjected, wantCalls: 2},
				{wantErr: errInjected, wantCalls: 3}, {want: firstValue, wantCalls: 4},
			},
		},
		{
			name: "a secret without a value yet is ErrNotFound until one is put",
			steps: []step{
				{wantErr: secret.ErrNotFound, wantCalls: 1}, {wantErr: secret.ErrNotFound, wantCalls: 2},
				{before: secondValue, want: secondValue, wantCalls: 3}, {want: secondValue, wantCalls: 3},
			},
		},
		{
			name:    "a value the check rejects is an error and is not cached",
			initial: rejectedValue,
			steps: []step{
				{wantErr: errRejected, wantCalls: 1}, {wantErr: errRejected, wantCalls: 2},
				{before: secondValue, want: secondValue, wantCalls: 3}, {want: secondValue, wantCalls: 3},
			},
		},
	}
	sm := emulatortest.SecretsManager(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := emulatortest.Secret(t, sm)
			if tt.initial != "" {
				putString(t, sm, name, tt.initial)
			}
			api := &countingGetter{api: sm, failFirst: tt.failFirst}
			lazy := secret.NewLazy(api, name, check)
			for i, s := range tt.steps {
				if s.before != "" {
					putString(t, sm, name, s.before)
				}
				got, err := lazy.Get(testContext(t))
				noValueIn(t, err)
				switch {
				case s.want == "" && err == nil:
					t.Errorf("Get %d = %q, want an error", i+1, got)
				case s.want == "" && s.wantErr != nil && !errors.Is(err, s.wantErr):
					t.Errorf("Get %d: err = %v, want %v", i+1, err, s.wantErr)
				case s.want == "" && got != nil:
					t.Errorf("Get %d: an error came with %d bytes", i+1, len(got))
				case s.want != "" && (err != nil || string(got) != s.want):
					t.Errorf("Get %d = %q, %v; want %q", i+1, got, err, s.want)
				}
				if n := api.count(); n != s.wantCalls {
					t.Errorf("after Get %d: %d GetSecretValue calls, want %d", i+1, n, s.wantCalls)
				}
			}
			for _, stage := range api.stages {
				if stage != secret.StageCurrent {
					t.Errorf("Lazy read stage %q, want only AWSCURRENT", stage)
				}
			}
		})
	}
}

// Cold-start requests arrive together: they must share one fetch, not stampede Secrets Manager.
func TestConcurrentFirstGetsShareOneFetch(t *testing.T) {
	sm := emulatortest.SecretsManager(t)
	name := emulatortest.Secret(t, sm)
	putString(t, sm, name, firstValue)
	api := &countingGetter{api: sm}
	lazy := secret.NewLazy(api, name, nil)
	ctx := testContext(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if got, err := lazy.Get(ctx); err != nil || string(got) != firstValue {
				t.Errorf("Get = %q, %v", got, err)
			}
		})
	}
	wg.Wait()
	if n := api.count(); n != 1 {
		t.Errorf("20 concurrent first Gets made %d GetSecretValue calls, want 1", n)
	}
}

// The SDK fills in CreateSecret's ClientRequestToken and reuses it when it retries a call whose
// answer was lost; Secrets Manager answers that retry with the same success. moto 5.2.5 answers
// ResourceExistsException, and a test's first CreateSecret failed on its own lost success under
// load; the local stack's wrapper (infra/local/stack/moto_serialised.py) makes it idempotent.
// Another token is another request: the name is taken.
func TestARetriedCreateSecretWithItsTokenSucceedsAgain(t *testing.T) {
	sm := emulatortest.SecretsManager(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := emulatortest.UniqueName("keygate-test/idem-")
	in := func(token string) *secretsmanager.CreateSecretInput {
		return &secretsmanager.CreateSecretInput{Name: aws.String(name), ClientRequestToken: aws.String(token)}
	}
	token := "00000000-0000-4000-8000-" + strings.Repeat("1", 12)
	t.Cleanup(func() {
		_, _ = sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
	})
	first, err := sm.CreateSecret(ctx, in(token))
	if err != nil {
		t.Fatal(err)
	}
	again, err := sm.CreateSecret(ctx, in(token))
	if err != nil || aws.ToString(again.ARN) != aws.ToString(first.ARN) {
		t.Fatalf("the same CreateSecret retried with its token = %v, %v; want the first success (%s)", again, err, aws.ToString(first.ARN))
	}
	if _, err := sm.CreateSecret(ctx, in("00000000-0000-4000-8000-"+strings.Repeat("2", 12))); err == nil {
		t.Fatal("a second CreateSecret of the name under another token succeeded; want ResourceExistsException")
	}
}
