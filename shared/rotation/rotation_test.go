package rotation_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/rotation"
	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/secret/secrettest"
	"github.com/keygate/keygate/shared/signing"
)

var _ rotation.SecretsAPI = (*secrettest.SecretsManager)(nil)

const secretName = "keygate/test/signing"

var (
	ctx   = context.Background()
	start = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

func newRotator(sm *secrettest.SecretsManager, alg string) (*rotation.Rotator, *bytes.Buffer) {
	var logs bytes.Buffer
	return &rotation.Rotator{
		API: sm, Alg: alg, Now: func() time.Time { return start }, Random: rand.Reader,
		Log: slog.New(slog.NewJSONHandler(&logs, nil)),
	}, &logs
}

func step(t *testing.T, r *rotation.Rotator, name, tok string) {
	t.Helper()
	if err := r.Handle(ctx, rotation.Event{SecretID: secretName, ClientRequestToken: tok, Step: name}); err != nil {
		t.Fatalf("%s(%s): %v", name, tok, err)
	}
}

var allSteps = []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish}

func rotate(t *testing.T, r *rotation.Rotator, tok string) {
	t.Helper()
	for _, s := range allSteps {
		step(t, r, s, tok)
	}
}

// promotedLabel is the staging label finishSecret attaches to the version it promotes, spelled
// out here rather than taken from package secret: keyrings already deployed read what later
// rotation functions write, so the format must not change unnoticed.
func promotedLabel(at time.Time) string {
	return "KEYGATE_PROMOTED_" + strconv.FormatInt(at.UnixMilli(), 10)
}

// promoted is the label of every promotion at start, the tests' fixed time.
var promoted = promotedLabel(start)

// label attaches stage to version to and removes it from version from (either may be empty),
// as a rotation function would, or one that died part way.
func label(t *testing.T, sm rotation.SecretsAPI, stage, to, from string) {
	t.Helper()
	in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(secretName), VersionStage: aws.String(stage)}
	if to != "" {
		in.MoveToVersionId = aws.String(to)
	}
	if from != "" {
		in.RemoveFromVersionId = aws.String(from)
	}
	if _, err := sm.UpdateSecretVersionStage(ctx, in); err != nil {
		t.Fatalf("label %s → %q (from %q): %v", stage, to, from, err)
	}
}

func want(t *testing.T, sm *secrettest.SecretsManager, expected map[string][]string) {
	t.Helper()
	got := sm.Stages()
	for id := range expected {
		slices.Sort(expected[id])
	}
	if fmt.Sprint(got) != fmt.Sprint(expected) {
		t.Fatalf("stages = %v, want %v", got, expected)
	}
}

func TestAFullRotationFromAnEmptySecret(t *testing.T) {
	for _, alg := range []string{signing.ES256, signing.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			sm := secrettest.New(secretName)
			r, logs := newRotator(sm, alg)
			step(t, r, rotation.StepCreate, "v1")
			step(t, r, rotation.StepCreate, "v1") // retried
			step(t, r, rotation.StepSet, "v1")
			step(t, r, rotation.StepTest, "v1")
			step(t, r, rotation.StepFinish, "v1")
			// No AWSPENDING may be left on the current version: the next rotation's createSecret
			// would take it for its own pending key.
			want(t, sm, map[string][]string{"v1": {secret.StageCurrent}})
			step(t, r, rotation.StepFinish, "v1") // retried
			want(t, sm, map[string][]string{"v1": {secret.StageCurrent}})
			k, err := signing.Parse([]byte(sm.Value("v1")))
			if err != nil {
				t.Fatalf("AWSCURRENT does not parse: %v", err)
			}
			if k.Alg != alg || !k.CreatedAt.Equal(start) {
				t.Errorf("key alg %s created %v", k.Alg, k.CreatedAt)
			}
			// The keyring picks it up.
			ring := signing.New(sm, secretName, signing.Options{})
			if got, err := ring.Signing(ctx); err != nil || got.Kid != k.Kid {
				t.Errorf("keyring Signing = %v, %v", got, err)
			}
			if strings.Contains(logs.String(), "PRIVATE KEY") || strings.Contains(logs.String(), "MII") {
				t.Errorf("the rotation log contains private key material")
			}
		})
	}
}

// The fake must model AWS where the rotation depends on it: the first version of a secret gets
// AWSCURRENT even when only AWSPENDING was asked for.
func TestTheFakeAttachesAWSCURRENTToAFirstVersion(t *testing.T) {
	sm := secrettest.New(secretName)
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretName),
		ClientRequestToken: aws.String("v1"), SecretString: aws.String("x"), VersionStages: []string{secret.StagePending}}); err != nil {
		t.Fatal(err)
	}
	want(t, sm, map[string][]string{"v1": {secret.StageCurrent, secret.StagePending}})
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretName),
		ClientRequestToken: aws.String("v2"), SecretString: aws.String("y"), VersionStages: []string{secret.StagePending}}); err != nil {
		t.Fatal(err)
	}
	want(t, sm, map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending}})
	if _, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(secretName),
		VersionStage: aws.String(secret.StageCurrent), MoveToVersionId: aws.String("v2")}); err == nil {
		t.Errorf("moving AWSCURRENT without RemoveFromVersionId succeeded")
	}
	if _, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(secretName),
		VersionStage: aws.String(secret.StageCurrent), MoveToVersionId: aws.String("v2"), RemoveFromVersionId: aws.String("v1")}); err != nil {
		t.Fatal(err)
	}
	want(t, sm, map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, secret.StagePending}})
}

func TestASecondRotationMakesTheFirstKeyPrevious(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	rotate(t, r, "v1")
	rotate(t, r, "v2")
	want(t, sm, map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, promoted}})

	rotate(t, r, "v3")
	want(t, sm, map[string][]string{"v2": {secret.StagePrevious}, "v3": {secret.StageCurrent, promoted}})

	ring := signing.New(sm, secretName, signing.Options{})
	keys, err := ring.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := signing.Parse([]byte(sm.Value("v2")))
	k3, _ := signing.Parse([]byte(sm.Value("v3")))
	if len(keys) != 2 || keys[0].Kid != k3.Kid || keys[1].Kid != k2.Kid {
		t.Errorf("keyring keys = %v, want [v3, v2]", keys)
	}
}

func TestEveryStepIsIdempotent(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	rotate(t, r, "v1")

	step(t, r, rotation.StepCreate, "v2")
	pending := sm.Value("v2")
	step(t, r, rotation.StepCreate, "v2")
	step(t, r, rotation.StepCreate, "v2")
	if sm.Value("v2") != pending {
		t.Fatalf("a retried createSecret replaced the pending value")
	}
	want(t, sm, map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending}})

	step(t, r, rotation.StepSet, "v2")
	step(t, r, rotation.StepSet, "v2")
	want(t, sm, map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending}})
	step(t, r, rotation.StepTest, "v2")
	step(t, r, rotation.StepTest, "v2")
	want(t, sm, map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending, secret.StageTested}})
	step(t, r, rotation.StepFinish, "v2")
	step(t, r, rotation.StepFinish, "v2")
	step(t, r, rotation.StepFinish, "v2")
	want(t, sm, map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, promoted}})
	if sm.Value("v2") != pending {
		t.Errorf("the value promoted is not the one created")
	}
}

func TestFinishWhenAlreadyCurrentIsANoOp(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	rotate(t, r, "v1")
	rotate(t, r, "v2")
	before := sm.Calls(secrettest.OpUpdateSecretVersionStage)
	puts := sm.Calls(secrettest.OpPutSecretValue)
	for _, s := range allSteps {
		step(t, r, s, "v2") // every step of an already-current version is a no-op
	}
	if sm.Calls(secrettest.OpUpdateSecretVersionStage) != before || sm.Calls(secrettest.OpPutSecretValue) != puts {
		t.Errorf("steps on the current version wrote to Secrets Manager")
	}
	want(t, sm, map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, promoted}})
}

func TestStepsOtherThanCreateFailOnAnUnknownToken(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	rotate(t, r, "v1")
	for _, s := range []string{rotation.StepSet, rotation.StepTest, rotation.StepFinish} {
		if err := r.Handle(ctx, rotation.Event{SecretID: secretName, ClientRequestToken: "nope", Step: s}); err == nil {
			t.Errorf("%s on an unknown token succeeded", s)
		}
	}
	want(t, sm, map[string][]string{"v1": {secret.StageCurrent}})
}

func TestStepsOnAVersionThatIsNotPendingFail(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	rotate(t, r, "v1")
	rotate(t, r, "v2") // v1 is now AWSPREVIOUS
	for _, s := range allSteps {
		if err := r.Handle(ctx, rotation.Event{SecretID: secretName, ClientRequestToken: "v1", Step: s}); err == nil {
			t.Errorf("%s on the AWSPREVIOUS version succeeded", s)
		}
	}
	want(t, sm, map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, promoted}})
}

func TestTestSecretFailsOnAMalformedPendingValue(t *testing.T) {
	for name, value := range map[string]string{
		"garbage":              "not json",
		"empty object":         "{}",
		"a forged kid":         forgedKid(t),
		"a weak RSA key label": `{"kid":"x","alg":"RS256","private_key":"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"}`,
	} {
		t.Run(name, func(t *testing.T) {
			sm := secrettest.New(secretName)
			r, _ := newRotator(sm, signing.EdDSA)
			rotate(t, r, "v1")
			if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretName),
				ClientRequestToken: aws.String("bad"), SecretString: aws.String(value), VersionStages: []string{secret.StagePending}}); err != nil {
				t.Fatal(err)
			}
			if err := r.Handle(ctx, rotation.Event{SecretID: secretName, ClientRequestToken: "bad", Step: rotation.StepTest}); err == nil {
				t.Fatalf("testSecret accepted a malformed pending value")
			} else if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("the error carries key material: %v", err)
			}
			want(t, sm, map[string][]string{"v1": {secret.StageCurrent}, "bad": {secret.StagePending}})
		})
	}
}

func forgedKid(t *testing.T) string {
	a, _ := signing.Generate(signing.EdDSA, rand.Reader, start)
	b, _ := signing.Generate(signing.EdDSA, rand.Reader, start)
	ka, _ := signing.Parse(a)
	kb, _ := signing.Parse(b)
	return strings.Replace(string(a), ka.Kid, kb.Kid, 1)
}

func TestCreateReplacesAnAbandonedPendingVersion(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	rotate(t, r, "v1")
	step(t, r, rotation.StepCreate, "abandoned") // a rotation that never finished
	rotate(t, r, "v2")
	want(t, sm, map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, promoted}})
}

func TestBadEventsFail(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	rotate(t, r, "v1")
	step(t, r, rotation.StepCreate, "v2")
	for name, ev := range map[string]rotation.Event{
		"no secret id":      {ClientRequestToken: "v2", Step: rotation.StepTest},
		"no token":          {SecretID: secretName, Step: rotation.StepTest},
		"an unknown step":   {SecretID: secretName, ClientRequestToken: "v2", Step: "deleteSecret"},
		"an unknown secret": {SecretID: "other", ClientRequestToken: "v2", Step: rotation.StepTest},
	} {
		if err := r.Handle(ctx, ev); err == nil {
			t.Errorf("%s: Handle succeeded", name)
		}
	}
}

// testSecret labels the proven pending key KEYGATE_TESTED so the JWKS publishes it before it
// signs; the keyring publishes it but neither signs nor verifies with it; finishSecret removes
// the label.
func TestATestedPendingKeyIsPublishedButNotUsedUntilFinish(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	rotate(t, r, "v1")
	step(t, r, rotation.StepCreate, "v2")
	step(t, r, rotation.StepSet, "v2")
	k1, _ := signing.Parse([]byte(sm.Value("v1")))
	k2, _ := signing.Parse([]byte(sm.Value("v2")))

	ring := signing.New(sm, secretName, signing.Options{Publish: true})
	if pub, err := ring.Published(ctx); err != nil || fmt.Sprint(kidList(pub)) != fmt.Sprint([]string{k1.Kid}) {
		t.Fatalf("before testSecret Published = %v, %v; want only the current key", kidList(pub), err)
	}

	step(t, r, rotation.StepTest, "v2")
	want(t, sm, map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending, secret.StageTested}})
	ring = signing.New(sm, secretName, signing.Options{Publish: true})
	pub, err := ring.Published(ctx)
	if err != nil || fmt.Sprint(kidList(pub)) != fmt.Sprint([]string{k1.Kid, k2.Kid}) {
		t.Fatalf("after testSecret Published = %v, %v; want [current, tested pending]", kidList(pub), err)
	}
	if s, _ := ring.Signing(ctx); s == nil || s.Kid != k1.Kid {
		t.Errorf("the keyring signs with %v, want the current key", s)
	}
	if _, err := ring.Verification(ctx, k2.Kid); err == nil {
		t.Errorf("the tested pending key verifies tokens before finishSecret")
	}

	step(t, r, rotation.StepFinish, "v2")
	want(t, sm, map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, promoted}})
	ring = signing.New(sm, secretName, signing.Options{Publish: true})
	if pub, err := ring.Published(ctx); err != nil || fmt.Sprint(kidList(pub)) != fmt.Sprint([]string{k2.Kid, k1.Kid}) {
		t.Errorf("after finishSecret Published = %v, %v; want [new current, previous]", kidList(pub), err)
	}
}

func kidList(keys []*signing.Key) []string {
	out := []string{}
	for _, k := range keys {
		out = append(out, k.Kid)
	}
	return out
}

func TestARetriedFinishAfterAPartialFinishClearsBothLabels(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	rotate(t, r, "v1")
	step(t, r, rotation.StepCreate, "v2")
	step(t, r, rotation.StepTest, "v2")
	// finishSecret died right after promoting: AWSPENDING and KEYGATE_TESTED are still on v2.
	label(t, sm, promoted, "v2", "")
	label(t, sm, secret.StageCurrent, "v2", "v1")
	want(t, sm, map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, secret.StagePending, secret.StageTested, promoted}})
	step(t, r, rotation.StepFinish, "v2")
	want(t, sm, map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, promoted}})
}

func TestAnAbandonedTestedKeyStopsBeingPublished(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	rotate(t, r, "v1")
	step(t, r, rotation.StepCreate, "abandoned")
	step(t, r, rotation.StepTest, "abandoned") // then the rotation never finished
	want(t, sm, map[string][]string{"v1": {secret.StageCurrent}, "abandoned": {secret.StagePending, secret.StageTested}})

	step(t, r, rotation.StepCreate, "v2")
	want(t, sm, map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending}})
	step(t, r, rotation.StepTest, "v2")
	step(t, r, rotation.StepFinish, "v2")
	want(t, sm, map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, promoted}})
}

// Secrets Manager refuses to attach a label held by another version unless that version is
// named in RemoveFromVersionId; testSecret must name it.
func TestTestSecretMovesTheLabelFromAnotherVersion(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	rotate(t, r, "v1")
	step(t, r, rotation.StepCreate, "a")
	step(t, r, rotation.StepTest, "a")
	value, _ := signing.Generate(signing.EdDSA, rand.Reader, start)
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretName),
		ClientRequestToken: aws.String("b"), SecretString: aws.String(string(value)), VersionStages: []string{secret.StagePending}}); err != nil {
		t.Fatal(err)
	}
	step(t, r, rotation.StepTest, "b")
	want(t, sm, map[string][]string{"v1": {secret.StageCurrent}, "b": {secret.StagePending, secret.StageTested}})
}

// A late or repeated finishSecret of an earlier rotation clears only its own labels: the next
// rotation's tested key stays published in the JWKS until that rotation finishes.
func TestAStaleFinishDoesNotUnpublishTheNextTestedKey(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	rotate(t, r, "v1")
	rotate(t, r, "v2")
	step(t, r, rotation.StepCreate, "v3")
	step(t, r, rotation.StepTest, "v3")
	before := map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, promoted}, "v3": {secret.StagePending, secret.StageTested}}
	want(t, sm, before)
	step(t, r, rotation.StepFinish, "v2") // v2 finished long ago
	want(t, sm, before)

	// v3's finishSecret labelled it, then died before the promotion: a stale finishSecret of
	// v2 must not take that label away either.
	later := promotedLabel(start.Add(time.Hour))
	label(t, sm, later, "v3", "")
	before["v3"] = append(before["v3"], later)
	step(t, r, rotation.StepFinish, "v2")
	want(t, sm, before)
}

// finishSecret promotes only a version testSecret proved (and the JWKS published).
func TestFinishRefusesAVersionThatWasNotTested(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	rotate(t, r, "v1")
	step(t, r, rotation.StepCreate, "v2")
	err := r.Handle(ctx, rotation.Event{SecretID: secretName, ClientRequestToken: "v2", Step: rotation.StepFinish})
	if err == nil || !strings.Contains(err.Error(), "testSecret") {
		t.Fatalf("finishSecret before testSecret = %v, want a refusal naming testSecret", err)
	}
	want(t, sm, map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending}})
}

// A version's value cannot be replaced: createSecret on a version that already holds
// something other than a signing key says how to get out, instead of failing every retry
// with Secrets Manager's ResourceExistsException.
func TestCreateOnAMalformedPendingVersionSaysToCancelTheRotation(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	rotate(t, r, "v1")
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(secretName),
		ClientRequestToken: aws.String("bad"), SecretString: aws.String("not json"), VersionStages: []string{secret.StagePending}}); err != nil {
		t.Fatal(err)
	}
	err := r.Handle(ctx, rotation.Event{SecretID: secretName, ClientRequestToken: "bad", Step: rotation.StepCreate})
	if err == nil || !strings.Contains(err.Error(), "cancel-rotate-secret") {
		t.Fatalf("createSecret on a malformed pending version = %v, want the way out", err)
	}
	want(t, sm, map[string][]string{"v1": {secret.StageCurrent}, "bad": {secret.StagePending}})
}

// finishSecret labels the version it promotes with the promotion time, before AWSCURRENT moves
// (so no reader ever sees the new AWSCURRENT without it), keeps the first time on a retry after
// the promotion, and takes every older promotion label off the other versions: a labelled
// version is never deprecated, and Secrets Manager allows 20 labels across all versions of a
// secret, so stale ones would pile up until rotations fail.
func TestFinishLabelsThePromotionTime(t *testing.T) {
	type op struct {
		at     time.Duration // since start
		step   string
		token  string
		stages map[string][]string // after the step
		writes bool                // whether the step may write to Secrets Manager
	}
	at := func(d time.Duration) string { return promotedLabel(start.Add(d)) }
	h := time.Hour
	tests := []struct {
		name  string
		setup func(t *testing.T, sm *secrettest.SecretsManager, r *rotation.Rotator) // after v1 is current
		ops   []op
	}{
		{
			name: "a finishSecret an hour after createSecret labels the hour of the promotion",
			ops: []op{
				{0, rotation.StepCreate, "v2", map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending}}, true},
				{0, rotation.StepTest, "v2", map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending, secret.StageTested}}, true},
				{h, rotation.StepFinish, "v2", map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, at(h)}}, true},
			},
		},
		{
			name: "a finishSecret retried after the promotion keeps the first time and writes nothing",
			ops: []op{
				{0, rotation.StepCreate, "v2", map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending}}, true},
				{0, rotation.StepTest, "v2", map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending, secret.StageTested}}, true},
				{h, rotation.StepFinish, "v2", map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, at(h)}}, true},
				{2 * h, rotation.StepFinish, "v2", map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, at(h)}}, false},
				{3 * h, rotation.StepFinish, "v2", map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, at(h)}}, false},
			},
		},
		{
			name: "the next rotation takes the label off the version it demotes",
			ops: []op{
				{0, rotation.StepCreate, "v2", map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending}}, true},
				{0, rotation.StepTest, "v2", map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending, secret.StageTested}}, true},
				{h, rotation.StepFinish, "v2", map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, at(h)}}, true},
				{2 * h, rotation.StepCreate, "v3", map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, at(h)}, "v3": {secret.StagePending}}, true},
				{2 * h, rotation.StepTest, "v3", map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, at(h)}, "v3": {secret.StagePending, secret.StageTested}}, true},
				{2 * h, rotation.StepFinish, "v3", map[string][]string{"v2": {secret.StagePrevious}, "v3": {secret.StageCurrent, at(2 * h)}}, true},
			},
		},
		{
			name: "a finishSecret that died between labelling and promoting labels its retry's time, once",
			setup: func(t *testing.T, sm *secrettest.SecretsManager, r *rotation.Rotator) {
				step(t, r, rotation.StepCreate, "v2")
				step(t, r, rotation.StepTest, "v2")
				label(t, sm, at(h), "v2", "") // then the function timed out
			},
			ops: []op{
				{3 * h, rotation.StepFinish, "v2", map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, at(3 * h)}}, true},
				{4 * h, rotation.StepFinish, "v2", map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, at(3 * h)}}, false},
			},
		},
		{
			name: "a finishSecret that died between labelling and promoting, retried within the second, keeps its label",
			setup: func(t *testing.T, sm *secrettest.SecretsManager, r *rotation.Rotator) {
				step(t, r, rotation.StepCreate, "v2")
				step(t, r, rotation.StepTest, "v2")
				label(t, sm, at(h), "v2", "")
			},
			ops: []op{
				{h, rotation.StepFinish, "v2", map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, at(h)}}, true},
			},
		},
		{
			name: "a promotion within the same second as the last one moves the label",
			ops: []op{
				{0, rotation.StepCreate, "v2", map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending}}, true},
				{0, rotation.StepTest, "v2", map[string][]string{"v1": {secret.StageCurrent}, "v2": {secret.StagePending, secret.StageTested}}, true},
				{0, rotation.StepFinish, "v2", map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, at(0)}}, true},
				{0, rotation.StepCreate, "v3", map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, at(0)}, "v3": {secret.StagePending}}, true},
				{0, rotation.StepTest, "v3", map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, at(0)}, "v3": {secret.StagePending, secret.StageTested}}, true},
				{0, rotation.StepFinish, "v3", map[string][]string{"v2": {secret.StagePrevious}, "v3": {secret.StageCurrent, at(0)}}, true},
			},
		},
		{
			name: "stale and malformed promotion labels on other versions are removed, the running rotation's kept",
			setup: func(t *testing.T, sm *secrettest.SecretsManager, r *rotation.Rotator) {
				step(t, r, rotation.StepCreate, "abandoned")
				step(t, r, rotation.StepTest, "abandoned")
				label(t, sm, at(-h), "abandoned", "") // its finishSecret died before the promotion
				label(t, sm, "KEYGATE_PROMOTED_garbage", "v1", "")
				label(t, sm, at(-2*h), "v1", "")
			},
			ops: []op{
				{h, rotation.StepCreate, "v2", map[string][]string{"v1": {secret.StageCurrent, at(-2 * h), "KEYGATE_PROMOTED_garbage"}, "abandoned": {at(-h)}, "v2": {secret.StagePending}}, true},
				{h, rotation.StepTest, "v2", map[string][]string{"v1": {secret.StageCurrent, at(-2 * h), "KEYGATE_PROMOTED_garbage"}, "abandoned": {at(-h)}, "v2": {secret.StagePending, secret.StageTested}}, true},
				{h, rotation.StepFinish, "v2", map[string][]string{"v1": {secret.StagePrevious}, "v2": {secret.StageCurrent, at(h)}}, true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sm := secrettest.New(secretName)
			r, _ := newRotator(sm, signing.EdDSA)
			clk := clocktest.New(start)
			r.Now = clk.Now
			rotate(t, r, "v1")
			if tt.setup != nil {
				tt.setup(t, sm, r)
			}
			for _, o := range tt.ops {
				clk.Set(start.Add(o.at))
				writes := sm.Calls(secrettest.OpUpdateSecretVersionStage) + sm.Calls(secrettest.OpPutSecretValue)
				step(t, r, o.step, o.token)
				want(t, sm, o.stages)
				if wrote := sm.Calls(secrettest.OpUpdateSecretVersionStage)+sm.Calls(secrettest.OpPutSecretValue) > writes; wrote && !o.writes {
					t.Errorf("%s(%s) at +%v wrote to Secrets Manager", o.step, o.token, o.at)
				}
			}
		})
	}
}

// Rotations go on for years: promotion labels must not pile up towards Secrets Manager's 20
// labels per secret (the fake enforces that quota).
func TestManyRotationsLeaveOnlyTheCurrentPromotionLabel(t *testing.T) {
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	clk := clocktest.New(start)
	r.Now = clk.Now
	rotate(t, r, "v0")
	for i := 1; i <= 40; i++ {
		clk.Advance(30 * 24 * time.Hour)
		rotate(t, r, fmt.Sprintf("v%d", i))
	}
	want(t, sm, map[string][]string{"v39": {secret.StagePrevious}, "v40": {secret.StageCurrent, promotedLabel(clk.Now())}})
}

// The late finishSecret end to end, on the fake: createSecret and testSecret at start,
// finishSecret an hour later; a signing keyring keeps signing with the old key until the
// activation delay has passed since the promotion, also when finishSecret is retried later.
func TestALateFinishSignsOnlyAfterTheActivationDelay(t *testing.T) {
	const every = 5 * time.Minute
	delay := signing.DefaultActivationDelay(every)
	sm := secrettest.New(secretName)
	r, _ := newRotator(sm, signing.EdDSA)
	clk := clocktest.New(start.Add(-48 * time.Hour))
	r.Now = clk.Now
	rotate(t, r, "v1")
	clk.Set(start)
	ring := signing.New(sm, secretName, signing.Options{RefreshEvery: every, Now: clk.Now, ActivationDelay: delay})
	k1, _ := signing.Parse([]byte(sm.Value("v1")))
	step(t, r, rotation.StepCreate, "v2")
	step(t, r, rotation.StepTest, "v2")
	k2, _ := signing.Parse([]byte(sm.Value("v2")))

	promotion := start.Add(time.Hour)
	checks := []struct {
		at     time.Time
		finish bool // run (or retry) finishSecret first
		want   *signing.Key
	}{
		{start, false, k1},
		{promotion, true, k1},
		{promotion.Add(every), false, k1},
		{promotion.Add(every + time.Minute), true, k1}, // a retry must not restart or shorten the delay
		{promotion.Add(delay - time.Second), false, k1},
		{promotion.Add(delay), false, k2},
	}
	for _, c := range checks {
		clk.Set(c.at)
		if c.finish {
			step(t, r, rotation.StepFinish, "v2")
		}
		if k, err := ring.Signing(ctx); err != nil || k.Kid != c.want.Kid {
			t.Errorf("Signing at start+%v = %v, %v; want %v", c.at.Sub(start), k, err, c.want)
		}
	}
}

// lostAnswers applies every UpdateSecretVersionStage and then reports an error instead of its
// answer, as an SDK retry after a broken read does (the retry finds the label moved and is
// refused); refuse makes the move itself fail.
type lostAnswers struct {
	*secrettest.SecretsManager
	refuse bool
}

func (l lostAnswers) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	if !l.refuse {
		if _, err := l.SecretsManager.UpdateSecretVersionStage(ctx, in, opts...); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("the answer was lost")
}

// A stage move whose answer was lost has happened all the same: the step reads the stages
// again and goes on, as its own retry would. A move that did not happen stays an error.
func TestAStageMoveWhoseAnswerWasLostStillCompletesTheStep(t *testing.T) {
	for _, tt := range []struct {
		name   string
		refuse bool
	}{{"the moves happened", false}, {"the moves did not happen", true}} {
		t.Run(tt.name, func(t *testing.T) {
			sm := secrettest.New(secretName)
			r, _ := newRotator(sm, signing.EdDSA)
			rotate(t, r, "v1")
			r.API = lostAnswers{SecretsManager: sm, refuse: tt.refuse}
			var err error
			for _, s := range allSteps {
				if err = r.Handle(context.Background(), rotation.Event{SecretID: secretName, ClientRequestToken: "v2", Step: s}); err != nil {
					break
				}
			}
			stages := sm.Stages()["v2"]
			switch {
			case !tt.refuse && (err != nil || !slices.Contains(stages, secret.StageCurrent) || slices.Contains(stages, secret.StagePending)):
				t.Errorf("rotation with lost answers = %v, version stages %v; want it promoted", err, stages)
			case tt.refuse && err == nil:
				t.Errorf("rotation whose stage moves all failed succeeded; stages %v", stages)
			}
		})
	}
}
