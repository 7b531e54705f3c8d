package signing_test

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/signing"
)

// The tests in this file run the keyring on moto through the real Secrets Manager client: the
// versions and their stages are written as Secrets Manager and the rotation function write
// them (PutSecretValue with VersionStages, UpdateSecretVersionStage), and read back by the
// keyring's own GetSecretValue calls.

var _ secret.Getter = (*secretsmanager.Client)(nil)

var emuStart = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func emuContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// emuKey is a generated signing-key secret value and its kid.
type emuKey struct {
	value []byte
	kid   string
}

func newEmuKey(t *testing.T, created time.Time) emuKey {
	t.Helper()
	v, err := signing.Generate(signing.EdDSA, rand.Reader, created)
	if err != nil {
		t.Fatal(err)
	}
	return emuKey{value: v, kid: kidOf(t, v)}
}

// putVersion stores value as a new version of name with stages (none: Secrets Manager makes it
// AWSCURRENT and moves AWSPREVIOUS) and returns the version id.
func putVersion(t *testing.T, sm *secretsmanager.Client, name string, value []byte, stages ...string) string {
	t.Helper()
	out, err := sm.PutSecretValue(emuContext(t), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(name), SecretString: aws.String(string(value)), VersionStages: stages,
	})
	if err != nil {
		t.Fatalf("PutSecretValue %s: %v", name, err)
	}
	return aws.ToString(out.VersionId)
}

// moveStage attaches stage to version to (when not empty) and removes it from version from
// (when not empty), as the rotation function does.
func moveStage(t *testing.T, sm *secretsmanager.Client, name, stage, to, from string) {
	t.Helper()
	in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(name), VersionStage: aws.String(stage)}
	if to != "" {
		in.MoveToVersionId = aws.String(to)
	}
	if from != "" {
		in.RemoveFromVersionId = aws.String(from)
	}
	if _, err := sm.UpdateSecretVersionStage(emuContext(t), in); err != nil {
		t.Fatalf("UpdateSecretVersionStage %s %s → %q (from %q): %v", name, stage, to, from, err)
	}
}

// stageLog records the stages the keyring reads through it.
type stageLog struct {
	api    secret.Getter
	mu     sync.Mutex
	stages []string
}

func (s *stageLog) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	s.mu.Lock()
	s.stages = append(s.stages, aws.ToString(in.VersionStage))
	s.mu.Unlock()
	return s.api.GetSecretValue(ctx, in, optFns...)
}

func (s *stageLog) read(stage string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.stages, stage)
}

func kidsOf(keys []*signing.Key, err error) []string {
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	return kids(keys)
}

func TestKeyringUsesTheStagesOfASecretInSecretsManager(t *testing.T) {
	const malformed = -1
	type version struct {
		key    int      // index of the key stored; malformed stores a value that is no key
		stages []string // the PutSecretValue's VersionStages; none makes it AWSCURRENT
		tested bool     // then labelled KEYGATE_TESTED, as the rotation's testSecret does
	}
	pending := []string{secret.StagePending}
	tests := []struct {
		name      string
		versions  []version
		noPublish bool
		sign      int   // the key Signing returns
		verify    []int // Keys, in order; each also found by Verification
		published []int
		unknown   []int // keys Verification does not know
	}{
		{
			name:     "the first key of a secret signs and is the only one to verify",
			versions: []version{{key: 0}},
			sign:     0, verify: []int{0}, published: []int{0},
		},
		{
			name:     "AWSCURRENT signs and AWSCURRENT and AWSPREVIOUS verify",
			versions: []version{{key: 0}, {key: 1}},
			sign:     1, verify: []int{1, 0}, published: []int{1, 0},
		},
		{
			name:     "a key older than AWSPREVIOUS verifies nothing",
			versions: []version{{key: 0}, {key: 1}, {key: 2}},
			sign:     2, verify: []int{2, 1}, published: []int{2, 1}, unknown: []int{0},
		},
		{
			name:     "an untested AWSPENDING key is neither used nor published",
			versions: []version{{key: 0}, {key: 1}, {key: 2, stages: pending}},
			sign:     1, verify: []int{1, 0}, published: []int{1, 0}, unknown: []int{2},
		},
		{
			name:     "a tested pending key is published after the verification keys and never used",
			versions: []version{{key: 0}, {key: 1}, {key: 2, stages: pending, tested: true}},
			sign:     1, verify: []int{1, 0}, published: []int{1, 0, 2}, unknown: []int{2},
		},
		{
			name:      "a keyring that does not publish does not read the tested key",
			versions:  []version{{key: 0}, {key: 1}, {key: 2, stages: pending, tested: true}},
			noPublish: true,
			sign:      1, verify: []int{1, 0}, published: []int{1, 0}, unknown: []int{2},
		},
		{
			name:     "a malformed AWSPREVIOUS does not stop AWSCURRENT from signing",
			versions: []version{{key: malformed}, {key: 1}},
			sign:     1, verify: []int{1}, published: []int{1},
		},
	}
	sm := emulatortest.SecretsManager(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := []emuKey{newEmuKey(t, emuStart.Add(-72*time.Hour)), newEmuKey(t, emuStart.Add(-48*time.Hour)), newEmuKey(t, emuStart.Add(-time.Hour))}
			name := emulatortest.Secret(t, sm)
			for _, v := range tt.versions {
				value := []byte(`{"kid":"not-a-key"}`)
				if v.key != malformed {
					value = keys[v.key].value
				}
				id := putVersion(t, sm, name, value, v.stages...)
				if v.tested {
					moveStage(t, sm, name, secret.StageTested, id, "")
				}
			}
			api := &stageLog{api: sm}
			ring := signing.New(api, name, signing.Options{Now: clocktest.New(emuStart).Now, Publish: !tt.noPublish})
			kidList := func(idx []int) []string {
				var out []string
				for _, i := range idx {
					out = append(out, keys[i].kid)
				}
				return out
			}

			signer, err := ring.Signing(emuContext(t))
			if err != nil || signer.Kid != keys[tt.sign].kid {
				t.Errorf("Signing = %v, %v; want key %d", signer, err, tt.sign)
			}
			if got := kidsOf(ring.Keys(emuContext(t))); !slices.Equal(got, kidList(tt.verify)) {
				t.Errorf("Keys = %v, want keys %v = %v", got, tt.verify, kidList(tt.verify))
			}
			if got := kidsOf(ring.Published(emuContext(t))); !slices.Equal(got, kidList(tt.published)) {
				t.Errorf("Published = %v, want keys %v = %v", got, tt.published, kidList(tt.published))
			}
			for _, i := range tt.verify {
				if k, err := ring.Verification(emuContext(t), keys[i].kid); err != nil || k.Kid != keys[i].kid {
					t.Errorf("Verification(key %d) = %v, %v", i, k, err)
				}
			}
			for _, i := range tt.unknown {
				if k, err := ring.Verification(emuContext(t), keys[i].kid); !errors.Is(err, signing.ErrUnknownKid) {
					t.Errorf("Verification(key %d) = %v, %v; want ErrUnknownKid", i, k, err)
				}
			}
			if api.read(secret.StagePending) {
				t.Errorf("the keyring read AWSPENDING")
			}
			if got := api.read(secret.StageTested); got == tt.noPublish {
				t.Errorf("read KEYGATE_TESTED = %v with Publish %v", got, !tt.noPublish)
			}
		})
	}
}

// A rotation as the rotation function performs it, step by step on moto, seen by a publishing
// keyring (the JWKS function's) and a verifying one only once their refresh interval has passed.
func TestKeyringSeesARotationAfterTheRefreshInterval(t *testing.T) {
	const every = 5 * time.Minute
	sm := emulatortest.SecretsManager(t)
	name := emulatortest.Secret(t, sm)
	clock := clocktest.New(emuStart)
	k1, k2 := newEmuKey(t, emuStart.Add(-48*time.Hour)), newEmuKey(t, emuStart.Add(-24*time.Hour))
	putVersion(t, sm, name, k1.value)
	v2 := putVersion(t, sm, name, k2.value)
	jwks := signing.New(sm, name, signing.Options{Now: clock.Now, RefreshEvery: every, Publish: true})
	verifier := signing.New(sm, name, signing.Options{Now: clock.Now, RefreshEvery: every})

	type want struct {
		sign      emuKey
		verify    []emuKey
		published []emuKey
		fetches   int64 // of the JWKS keyring so far
	}
	k3 := newEmuKey(t, emuStart.Add(time.Minute)) // created by createSecret, below
	var v3 string
	steps := []struct {
		name   string
		at     time.Duration // since emuStart
		change func(t *testing.T)
		want   want
	}{
		{"first use loads AWSCURRENT and AWSPREVIOUS", 0, nil,
			want{k2, []emuKey{k2, k1}, []emuKey{k2, k1}, 1}},
		{"createSecret and testSecret are not seen within the interval", time.Minute, func(t *testing.T) {
			v3 = putVersion(t, sm, name, k3.value, secret.StagePending)
			moveStage(t, sm, name, secret.StageTested, v3, "")
		}, want{k2, []emuKey{k2, k1}, []emuKey{k2, k1}, 1}},
		{"after the interval the tested key is published and still unused", every, nil,
			want{k2, []emuKey{k2, k1}, []emuKey{k2, k1, k3}, 2}},
		{"finishSecret is not seen within the interval", every + time.Minute, func(t *testing.T) {
			moveStage(t, sm, name, secret.StageCurrent, v3, v2)
			moveStage(t, sm, name, secret.StagePending, "", v3)
			moveStage(t, sm, name, secret.StageTested, "", v3)
		}, want{k2, []emuKey{k2, k1}, []emuKey{k2, k1, k3}, 2}},
		{"after the interval the new key signs and the old AWSCURRENT still verifies", 2 * every, nil,
			want{k3, []emuKey{k3, k2}, []emuKey{k3, k2}, 3}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clock.Set(emuStart.Add(s.at))
			if s.change != nil {
				s.change(t)
			}
			signing, err := jwks.Signing(emuContext(t))
			if err != nil || signing.Kid != s.want.sign.kid {
				t.Errorf("Signing = %v, %v; want %s", signing, err, s.want.sign.kid)
			}
			if got, want := kidsOf(jwks.Keys(emuContext(t))), emuKids(s.want.verify); !slices.Equal(got, want) {
				t.Errorf("Keys = %v, want %v", got, want)
			}
			if got, want := kidsOf(jwks.Published(emuContext(t))), emuKids(s.want.published); !slices.Equal(got, want) {
				t.Errorf("Published = %v, want %v", got, want)
			}
			if got, want := kidsOf(verifier.Keys(emuContext(t))), emuKids(s.want.verify); !slices.Equal(got, want) {
				t.Errorf("the verifier's Keys = %v, want %v", got, want)
			}
			if got := jwks.Fetches(); got != s.want.fetches {
				t.Errorf("Fetches = %d, want %d", got, s.want.fetches)
			}
		})
	}
	if k, err := verifier.Verification(emuContext(t), k1.kid); !errors.Is(err, signing.ErrUnknownKid) {
		t.Errorf("after the rotation the verifier still knows the key rotated out: %v, %v", k, err)
	}

	// A verifier that loaded before finishSecret meets a token signed with the new key: one
	// forced refresh finds it, and the next unknown kid within the interval costs no read.
	t.Run("a verifier meets the new kid before its interval has passed", func(t *testing.T) {
		late := signing.New(sm, name, signing.Options{Now: clock.Now, RefreshEvery: every})
		k4 := newEmuKey(t, clock.Now())
		if _, err := late.Keys(emuContext(t)); err != nil {
			t.Fatal(err)
		}
		// Promoted as finishSecret does. (A plain PutSecretValue would do as well on AWS, but
		// moto 5.2.5 then moves AWSCURRENT from the version it last made current itself, not
		// from v3, and leaves two versions labelled AWSCURRENT.)
		v4 := putVersion(t, sm, name, k4.value, secret.StagePending)
		moveStage(t, sm, name, secret.StageCurrent, v4, v3)
		clock.Advance(time.Second)
		if k, err := late.Verification(emuContext(t), k4.kid); err != nil || k.Kid != k4.kid {
			t.Errorf("Verification(new kid) = %v, %v; want one forced refresh to find it", k, err)
		}
		if _, err := late.Verification(emuContext(t), "forged-kid-after-the-refresh"); !errors.Is(err, signing.ErrUnknownKid) {
			t.Errorf("Verification(forged kid) = %v, want ErrUnknownKid", err)
		}
		if got := late.Fetches(); got != 2 {
			t.Errorf("Fetches = %d, want 2 (first use and one forced refresh)", got)
		}
	})
}

func emuKids(keys []emuKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.kid)
	}
	return out
}

// Without a usable AWSCURRENT the keyring has nothing to sign or verify with, and says so with
// ErrUnavailable (which the handlers answer with 503), never with an empty key set or a panic.
func TestKeyringWithoutItsSecretIsUnavailable(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (secret.Getter, string)
	}{
		{"a secret that does not exist", func(t *testing.T) (secret.Getter, string) {
			return emulatortest.SecretsManager(t), emulatortest.UniqueName("keygate-test/missing-")
		}},
		{"a secret created without a value, before its first rotation", func(t *testing.T) (secret.Getter, string) {
			sm := emulatortest.SecretsManager(t)
			return sm, emulatortest.Secret(t, sm)
		}},
		{"an AWSCURRENT that is not a signing key", func(t *testing.T) (secret.Getter, string) {
			sm := emulatortest.SecretsManager(t)
			name := emulatortest.Secret(t, sm)
			putVersion(t, sm, name, []byte("not a signing key"))
			return sm, name
		}},
		{"Secrets Manager unreachable", func(t *testing.T) (secret.Getter, string) {
			return emulatortest.UnreachableSecretsManager(t), "keygate-test/any"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api, name := tt.setup(t)
			ring := signing.New(api, name, signing.Options{Now: clocktest.New(emuStart).Now, Publish: true})
			if k, err := ring.Signing(emuContext(t)); !errors.Is(err, signing.ErrUnavailable) || k != nil {
				t.Errorf("Signing = %v, %v; want nil, ErrUnavailable", k, err)
			}
			if k, err := ring.Verification(emuContext(t), "some-kid"); !errors.Is(err, signing.ErrUnavailable) || errors.Is(err, signing.ErrUnknownKid) || k != nil {
				t.Errorf("Verification = %v, %v; want nil, ErrUnavailable (a 503, not a 401)", k, err)
			}
			if keys, err := ring.Keys(emuContext(t)); !errors.Is(err, signing.ErrUnavailable) || keys != nil {
				t.Errorf("Keys = %v, %v; want nil, ErrUnavailable", kids(keys), err)
			}
			if keys, err := ring.Published(emuContext(t)); !errors.Is(err, signing.ErrUnavailable) || keys != nil {
				t.Errorf("Published = %v, %v; want nil, ErrUnavailable", kids(keys), err)
			}
		})
	}
}

// A cold keyring holds nothing to serve, so it retries on every use: the first key of a new
// stage is signed with as soon as the first rotation has put it.
func TestAColdKeyringSignsAsSoonAsTheFirstKeyIsPut(t *testing.T) {
	sm := emulatortest.SecretsManager(t)
	name := emulatortest.Secret(t, sm)
	ring := signing.New(sm, name, signing.Options{Now: clocktest.New(emuStart).Now})
	if _, err := ring.Signing(emuContext(t)); !errors.Is(err, signing.ErrUnavailable) {
		t.Fatalf("Signing before the first key = %v, want ErrUnavailable", err)
	}
	first := newEmuKey(t, emuStart)
	putVersion(t, sm, name, first.value, secret.StagePending, secret.StageCurrent) // as the rotation puts a first key
	if k, err := ring.Signing(emuContext(t)); err != nil || k.Kid != first.kid {
		t.Errorf("Signing after the first key was put = %v, %v; want %s", k, err, first.kid)
	}
}

// A warm keyring whose secret disappears keeps its keys for MaxStale, then fails closed.
func TestADeletedSecretIsServedFromCacheUntilMaxStale(t *testing.T) {
	const every, stale = 5 * time.Minute, time.Hour
	sm := emulatortest.SecretsManager(t)
	name := emulatortest.Secret(t, sm)
	key := newEmuKey(t, emuStart)
	putVersion(t, sm, name, key.value)
	clock := clocktest.New(emuStart)
	ring := signing.New(sm, name, signing.Options{Now: clock.Now, RefreshEvery: every, MaxStale: stale})
	if _, err := ring.Signing(emuContext(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.DeleteSecret(emuContext(t), &secretsmanager.DeleteSecretInput{
		SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		at      time.Duration
		wantErr error
	}{
		{"after the refresh interval the cached key still signs", every, nil},
		{"just before MaxStale the cached key still signs", stale - time.Second, nil},
		{"at MaxStale the keyring fails closed", stale, signing.ErrUnavailable},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clock.Set(emuStart.Add(s.at))
			k, err := ring.Signing(emuContext(t))
			if s.wantErr != nil {
				if !errors.Is(err, s.wantErr) || k != nil {
					t.Errorf("Signing = %v, %v; want nil, %v", k, err, s.wantErr)
				}
				return
			}
			if err != nil || k.Kid != key.kid {
				t.Errorf("Signing = %v, %v; want the cached %s", k, err, key.kid)
			}
		})
	}
}

// On moto, through the real client: a rotation whose finishSecret runs an hour after its
// createSecret, with the stages and labels written as the rotation function writes them. The
// keyring reads the promotion label from GetSecretValue's VersionStages (no other call) and keeps
// signing with the old key until the activation delay has passed since the promotion.
func TestKeyringCountsTheActivationDelayFromThePromotionOnSecretsManager(t *testing.T) {
	const every = 5 * time.Minute
	delay := signing.DefaultActivationDelay(every)
	promotedAt := emuStart.Add(time.Hour)
	type check struct {
		at   time.Duration // since emuStart
		sign int           // 1: the old key, 2: the new one
	}
	tests := []struct {
		name   string
		labels []string // attached to the new version before AWSCURRENT moves to it
		checks []check
	}{
		{
			name:   "with the promotion label the old key signs until the delay has passed since the promotion",
			labels: []string{promotedLabel(promotedAt)},
			checks: []check{{time.Hour + every, 1}, {time.Hour + delay - time.Second, 1}, {time.Hour + delay, 2}},
		},
		{
			name:   "without it (a rotation function older than the label) the delay counts from the creation",
			checks: []check{{time.Hour + every, 2}},
		},
		{
			name:   "a malformed promotion label is ignored",
			labels: []string{"KEYGATE_PROMOTED_soon"},
			checks: []check{{time.Hour + every, 2}},
		},
	}
	sm := emulatortest.SecretsManager(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := emulatortest.Secret(t, sm)
			clock := clocktest.New(emuStart)
			k1, k2 := newEmuKey(t, emuStart.Add(-48*time.Hour)), newEmuKey(t, emuStart) // k2 by createSecret at emuStart
			v1 := putVersion(t, sm, name, k1.value)
			ring := signing.New(sm, name, signing.Options{Now: clock.Now, RefreshEvery: every, ActivationDelay: delay})
			if k, err := ring.Signing(emuContext(t)); err != nil || k.Kid != k1.kid {
				t.Fatalf("Signing before the rotation = %v, %v; want the first key", k, err)
			}
			v2 := putVersion(t, sm, name, k2.value, secret.StagePending)
			moveStage(t, sm, name, secret.StageTested, v2, "")
			// finishSecret, an hour late.
			clock.Set(promotedAt)
			for _, l := range tt.labels {
				moveStage(t, sm, name, l, v2, "")
			}
			moveStage(t, sm, name, secret.StageCurrent, v2, v1)
			moveStage(t, sm, name, secret.StagePending, "", v2)
			moveStage(t, sm, name, secret.StageTested, "", v2)
			keys := map[int]emuKey{1: k1, 2: k2}
			for _, c := range tt.checks {
				clock.Set(emuStart.Add(c.at))
				if k, err := ring.Signing(emuContext(t)); err != nil || k.Kid != keys[c.sign].kid {
					t.Errorf("Signing at +%v = %v, %v; want key %d", c.at, k, err, c.sign)
				}
				if got := kidsOf(ring.Keys(emuContext(t))); !slices.Equal(got, []string{k2.kid, k1.kid}) {
					t.Errorf("Keys at +%v = %v, want [new, old]", c.at, got)
				}
			}
		})
	}
}
