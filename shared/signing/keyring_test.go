package signing_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/keygate/keygate/shared/authapi"
	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/secret/secrettest"
	"github.com/keygate/keygate/shared/signing"
)

var errThrottled = errors.New("ThrottlingException: rate exceeded")

func newSecret(t testing.TB) []byte {
	t.Helper()
	b, err := signing.Generate(signing.EdDSA, rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func kidOf(t testing.TB, s []byte) string {
	t.Helper()
	k, err := signing.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return k.Kid
}

const (
	refreshEvery = 5 * time.Minute
	maxStale     = time.Hour
	secretID     = "keygate/test/signing"
)

type fixture struct {
	sm       *secrettest.SecretsManager
	clock    *clocktest.Clock
	ring     *signing.Keyring
	cur, old []byte
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{sm: secrettest.New(secretID), clock: clocktest.New(time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)), cur: newSecret(t), old: newSecret(t)}
	f.sm.Set(secret.StageCurrent, f.cur)
	f.sm.Set(secret.StagePrevious, f.old)
	f.ring = signing.New(f.sm, secretID, signing.Options{RefreshEvery: refreshEvery, MaxStale: maxStale, Now: f.clock.Now, Publish: true})
	return f
}

var ctx = context.Background()

func TestFirstUseLoadsCurrentAndPrevious(t *testing.T) {
	f := newFixture(t)
	if f.ring.Fetches() != 0 || f.sm.Reads(secret.StageCurrent) != 0 {
		t.Fatalf("New fetched before first use")
	}
	signing, err := f.ring.Signing(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if signing.Kid != kidOf(t, f.cur) {
		t.Errorf("Signing kid = %s, want AWSCURRENT's %s", signing.Kid, kidOf(t, f.cur))
	}
	keys, err := f.ring.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Kid != kidOf(t, f.cur) || keys[1].Kid != kidOf(t, f.old) {
		t.Errorf("Keys = %v, want [current, previous]", kids(keys))
	}
	for _, s := range [][]byte{f.cur, f.old} {
		if k, err := f.ring.Verification(ctx, kidOf(t, s)); err != nil || k.Kid != kidOf(t, s) {
			t.Errorf("Verification(%s) = %v, %v", kidOf(t, s), k, err)
		}
	}
	if got := f.ring.Fetches(); got != 1 {
		t.Errorf("Fetches = %d, want 1", got)
	}
	if c, p := f.sm.Reads(secret.StageCurrent), f.sm.Reads(secret.StagePrevious); c != 1 || p != 1 {
		t.Errorf("GetSecretValue calls: AWSCURRENT %d, AWSPREVIOUS %d; want 1 and 1", c, p)
	}
	if f.sm.Reads(secret.StagePending) != 0 {
		t.Errorf("the keyring read AWSPENDING")
	}
}

func kids(keys []*signing.Key) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Kid)
	}
	return out
}

func TestNoFetchWithinTheRefreshInterval(t *testing.T) {
	f := newFixture(t)
	kid := kidOf(t, f.cur)
	for i := 0; i < 100; i++ {
		if _, err := f.ring.Verification(ctx, kid); err != nil {
			t.Fatal(err)
		}
		if _, err := f.ring.Signing(ctx); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(refreshEvery / 200) // ends at refreshEvery/2
	}
	f.clock.Advance(refreshEvery/2 - time.Nanosecond)
	if _, err := f.ring.Signing(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.ring.Fetches(); got != 1 {
		t.Errorf("Fetches = %d within the refresh interval, want 1", got)
	}
}

func TestOneRefetchAfterTheRefreshInterval(t *testing.T) {
	f := newFixture(t)
	if _, err := f.ring.Signing(ctx); err != nil {
		t.Fatal(err)
	}
	next := newSecret(t)
	f.sm.Rotate(next)
	f.clock.Advance(refreshEvery)
	for i := 0; i < 10; i++ {
		k, err := f.ring.Signing(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k.Kid != kidOf(t, next) {
			t.Fatalf("Signing kid = %s after rotation and refresh, want %s", k.Kid, kidOf(t, next))
		}
	}
	if got := f.ring.Fetches(); got != 2 {
		t.Errorf("Fetches = %d, want 2 (one load, one refresh)", got)
	}
	if _, err := f.ring.Verification(ctx, kidOf(t, f.cur)); err != nil {
		t.Errorf("the old current (now AWSPREVIOUS) no longer verifies: %v", err)
	}
	if _, err := f.ring.Verification(ctx, kidOf(t, f.old)); !errors.Is(err, signing.ErrUnknownKid) {
		t.Errorf("a key two rotations old still verifies (err %v)", err)
	}
}

func TestAnUnknownKidForcesAtMostOneRefreshPerInterval(t *testing.T) {
	f := newFixture(t)
	if _, err := f.ring.Signing(ctx); err != nil { // warm
		t.Fatal(err)
	}
	warm := f.ring.Fetches()

	const burst = 1000
	var wg sync.WaitGroup
	errs := make(chan error, burst)
	for i := 0; i < burst; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			kid := strings.Repeat("x", 10) + string(rune('a'+i%26)) + strings.Repeat("y", i%20)
			_, err := f.ring.Verification(ctx, kid)
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, signing.ErrUnknownKid) {
			t.Fatalf("Verification(unknown) = %v, want ErrUnknownKid", err)
		}
	}
	if got := f.ring.Fetches() - warm; got > 1 {
		t.Errorf("%d unknown kids caused %d Secrets Manager loads, want at most 1", burst, got)
	}
	if got := f.sm.Reads(secret.StageCurrent); got > 2 {
		t.Errorf("AWSCURRENT read %d times, want at most 2", got)
	}

	// Still inside the interval: no more forced refreshes.
	f.clock.Advance(refreshEvery - time.Second)
	before := f.ring.Fetches()
	for i := 0; i < 100; i++ {
		_, _ = f.ring.Verification(ctx, "unknown-"+string(rune('a'+i%26)))
	}
	if got := f.ring.Fetches() - before; got != 0 {
		t.Errorf("%d forced refreshes inside the same interval, want 0", got)
	}
}

func TestAForcedRefreshFindsAKeyRotatedInSinceTheLastLoad(t *testing.T) {
	f := newFixture(t)
	if _, err := f.ring.Signing(ctx); err != nil {
		t.Fatal(err)
	}
	next := newSecret(t)
	f.sm.Rotate(next) // another container rotated and signed with the new key
	f.clock.Advance(time.Second)
	k, err := f.ring.Verification(ctx, kidOf(t, next))
	if err != nil || k.Kid != kidOf(t, next) {
		t.Fatalf("Verification(new kid) = %v, %v; want the new key after one forced refresh", k, err)
	}
	if got := f.ring.Fetches(); got != 2 {
		t.Errorf("Fetches = %d, want 2", got)
	}
}

func TestAnOversizeOrEmptyKidIsUnknownWithoutAFetch(t *testing.T) {
	for _, kid := range []string{"", strings.Repeat("A", signing.MaxKidLen+1), strings.Repeat("../", 3000)} {
		f := newFixture(t)
		if _, err := f.ring.Verification(ctx, kid); !errors.Is(err, signing.ErrUnknownKid) {
			t.Errorf("Verification(%.20q…) = %v, want ErrUnknownKid", kid, err)
		}
		if f.ring.Fetches() != 0 || f.sm.Reads(secret.StageCurrent) != 0 {
			t.Errorf("a %d-byte kid caused a Secrets Manager read", len(kid))
		}
	}
}

func TestCachedKeysAreServedUntilMaxStaleWhenSecretsManagerFails(t *testing.T) {
	f := newFixture(t)
	kid := kidOf(t, f.cur)
	start := f.clock.Now()
	if _, err := f.ring.Signing(ctx); err != nil {
		t.Fatal(err)
	}
	f.sm.FailStage(secret.StageCurrent, errThrottled)

	for _, at := range []time.Duration{refreshEvery, 30 * time.Minute, maxStale - time.Second} {
		f.clock.Set(start.Add(at))
		if k, err := f.ring.Signing(ctx); err != nil || k.Kid != kid {
			t.Errorf("Signing %v after load during an outage = %v, %v; want the cached key", at, k, err)
		}
		if _, err := f.ring.Verification(ctx, kid); err != nil {
			t.Errorf("Verification %v after load during an outage: %v", at, err)
		}
		if keys, err := f.ring.Keys(ctx); err != nil || len(keys) != 2 {
			t.Errorf("Keys %v after load during an outage = %d keys, %v", at, len(keys), err)
		}
	}

	f.clock.Set(start.Add(maxStale))
	if _, err := f.ring.Signing(ctx); !errors.Is(err, signing.ErrUnavailable) {
		t.Errorf("Signing at MaxStale = %v, want ErrUnavailable (fail closed)", err)
	}
	if _, err := f.ring.Verification(ctx, kid); !errors.Is(err, signing.ErrUnavailable) {
		t.Errorf("Verification at MaxStale = %v, want ErrUnavailable", err)
	}
	if _, err := f.ring.Keys(ctx); !errors.Is(err, signing.ErrUnavailable) {
		t.Errorf("Keys at MaxStale = %v, want ErrUnavailable", err)
	}

	f.sm.FailStage(secret.StageCurrent, nil)
	if _, err := f.ring.Signing(ctx); err != nil {
		t.Errorf("Signing after Secrets Manager recovered: %v", err)
	}
}

// During an outage every request re-tries Secrets Manager, each one paying the SDK's timeouts
// and retries (up to ~9 s with app.AWSConfig) before the cached key is served.
func TestADownSecretsManagerIsNotCalledOnEveryRequest(t *testing.T) {
	f := newFixture(t)
	if _, err := f.ring.Signing(ctx); err != nil {
		t.Fatal(err)
	}
	f.sm.FailStage(secret.StageCurrent, errThrottled)
	f.clock.Advance(refreshEvery)
	before := f.sm.Reads(secret.StageCurrent)
	for i := 0; i < 100; i++ {
		if _, err := f.ring.Signing(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.sm.Reads(secret.StageCurrent) - before; got > 1 {
		t.Errorf("BUG: 100 requests at one instant during an outage made %d Secrets Manager calls; back off after a failed refresh (e.g. record the failure time and retry at most once per few seconds)", got)
	}
}

func TestSecretsManagerDownAtColdStartIsUnavailable(t *testing.T) {
	for _, tt := range []struct {
		name  string
		stage string
		err   error
	}{
		{"AWSCURRENT throttled", secret.StageCurrent, errThrottled},
		{"AWSCURRENT access denied", secret.StageCurrent, errors.New("AccessDeniedException")},
		{"AWSCURRENT missing", secret.StageCurrent, &smtypes.ResourceNotFoundException{Message: aws.String("gone")}},
		{"AWSPREVIOUS throttled", secret.StagePrevious, errThrottled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.sm.FailStage(tt.stage, tt.err)
			if _, err := f.ring.Signing(ctx); !errors.Is(err, signing.ErrUnavailable) {
				t.Errorf("Signing = %v, want ErrUnavailable", err)
			}
			if _, err := f.ring.Verification(ctx, kidOf(t, f.cur)); !errors.Is(err, signing.ErrUnavailable) || errors.Is(err, signing.ErrUnknownKid) {
				t.Errorf("Verification = %v, want ErrUnavailable (a 503, not a 401)", err)
			}
			if _, err := f.ring.Keys(ctx); !errors.Is(err, signing.ErrUnavailable) {
				t.Errorf("Keys = %v, want ErrUnavailable", err)
			}
			// The failure is not cached: the next call after recovery succeeds.
			f.sm.FailStage(tt.stage, nil)
			if _, err := f.ring.Signing(ctx); err != nil {
				t.Errorf("Signing after recovery = %v", err)
			}
		})
	}
}

func TestTheSecretValuesDecideWhatIsLoaded(t *testing.T) {
	good := newSecret(t)
	tests := []struct {
		name      string
		current   []byte
		previous  []byte // nil: no AWSPREVIOUS version
		wantErr   error
		wantKeys  int
		wantNoKid bool
	}{
		{"malformed AWSPREVIOUS is ignored", good, []byte(`{"kid":"x","alg":"RS256","private_key":"garbage"}`), nil, 1, false},
		{"empty AWSPREVIOUS is ignored", good, []byte(` `), nil, 1, false},
		{"missing AWSPREVIOUS is fine", good, nil, nil, 1, false},
		{"AWSPREVIOUS equal to AWSCURRENT is listed once", good, good, nil, 1, false},
		{"malformed AWSCURRENT is unavailable", []byte(`not json`), newSecret(t), signing.ErrUnavailable, 0, true},
		{"AWSCURRENT with a forged kid is unavailable", forgedKid(t, good), newSecret(t), signing.ErrUnavailable, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sm := secrettest.New(secretID)
			sm.Set(secret.StageCurrent, tt.current)
			sm.Set(secret.StagePrevious, tt.previous)
			ring := signing.New(sm, secretID, signing.Options{})
			keys, err := ring.Keys(ctx)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Keys = %v, want %v", err, tt.wantErr)
			}
			if len(keys) != tt.wantKeys {
				t.Errorf("got %d keys, want %d", len(keys), tt.wantKeys)
			}
			if tt.wantErr == nil {
				if _, err := ring.Signing(ctx); err != nil {
					t.Errorf("Signing = %v", err)
				}
			}
		})
	}
}

func forgedKid(t testing.TB, s []byte) []byte {
	t.Helper()
	other := kidOf(t, newSecret(t))
	return []byte(strings.Replace(string(s), kidOf(t, s), other, 1))
}

func TestPendingIsNeverUsed(t *testing.T) {
	f := newFixture(t)
	pending := newSecret(t)
	f.sm.Set(secret.StagePending, pending)
	if _, err := f.ring.Verification(ctx, kidOf(t, pending)); !errors.Is(err, signing.ErrUnknownKid) {
		t.Errorf("an AWSPENDING key verifies (err %v)", err)
	}
	if k, _ := f.ring.Signing(ctx); k == nil || k.Kid == kidOf(t, pending) {
		t.Errorf("the keyring signs with AWSPENDING")
	}
	if f.sm.Reads(secret.StagePending) != 0 {
		t.Errorf("the keyring read AWSPENDING")
	}
}

func TestAFailedForcedRefreshKeepsTheKnownKeys(t *testing.T) {
	f := newFixture(t)
	if _, err := f.ring.Signing(ctx); err != nil {
		t.Fatal(err)
	}
	f.sm.FailStage(secret.StageCurrent, errThrottled)
	// The kid may be a real new key: an outage is ErrUnavailable (a 503), never the 401 of an
	// unknown kid, which API Gateway would cache.
	if _, err := f.ring.Verification(ctx, "unknown-kid"); !errors.Is(err, signing.ErrUnavailable) || errors.Is(err, signing.ErrUnknownKid) {
		t.Errorf("unknown kid during an outage = %v, want ErrUnavailable", err)
	}
	// The forced refresh was spent: within the interval another unknown kid is unknown, at
	// no Secrets Manager read.
	if _, err := f.ring.Verification(ctx, "another-unknown-kid"); !errors.Is(err, signing.ErrUnknownKid) {
		t.Errorf("a second unknown kid within the interval = %v, want ErrUnknownKid", err)
	}
	if _, err := f.ring.Verification(ctx, kidOf(t, f.cur)); err != nil {
		t.Errorf("known kid after a failed forced refresh = %v", err)
	}
}

func TestConcurrentUseIsSafe(t *testing.T) {
	f := newFixture(t)
	kid := kidOf(t, f.cur)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if i%10 == 0 && j%10 == 0 {
					f.clock.Advance(refreshEvery / 10)
				}
				if _, err := f.ring.Verification(ctx, kid); err != nil {
					t.Errorf("Verification: %v", err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	if f.ring.Fetches() < 1 {
		t.Errorf("no fetch recorded")
	}
}

var sinkKey *signing.Key

func BenchmarkVerificationByKid(b *testing.B) {
	f := newFixture(b)
	kid := kidOf(b, f.cur)
	if _, err := f.ring.Verification(ctx, kid); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		k, err := f.ring.Verification(ctx, kid)
		if err != nil {
			b.Fatal(err)
		}
		sinkKey = k
	}
}

// The pending key the rotation has tested is published (JWKS) ahead of use, never used.
func TestATestedPendingKeyIsPublishedOnly(t *testing.T) {
	tested := newSecret(t)
	f := newFixture(t)
	f.sm.Set(secret.StageTested, tested)
	pub, err := f.ring.Published(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kids(pub), []string{kidOf(t, f.cur), kidOf(t, f.old), kidOf(t, tested)}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Published = %v, want [current, previous, tested]", got)
	}
	if keys, _ := f.ring.Keys(ctx); len(keys) != 2 {
		t.Errorf("Keys (verification) = %v, want only current and previous", kids(keys))
	}
	if got := f.ring.Fetches(); got != 1 {
		t.Errorf("Fetches = %d, want 1 (the tested key comes with the same load)", got)
	}
	if _, err := f.ring.Verification(ctx, kidOf(t, tested)); !errors.Is(err, signing.ErrUnknownKid) {
		t.Errorf("the tested pending key verifies (err %v)", err)
	}
	if k, _ := f.ring.Signing(ctx); k == nil || k.Kid != kidOf(t, f.cur) {
		t.Errorf("Signing = %v, want AWSCURRENT", k)
	}
	if f.sm.Reads(secret.StagePending) != 0 {
		t.Errorf("the keyring read AWSPENDING")
	}
}

func TestABadTestedKeyIsLeftOutAndChangesNothingElse(t *testing.T) {
	for _, tt := range []struct {
		name   string
		value  []byte // nil: no such version
		err    error
		dupCur bool
	}{
		{"no tested version", nil, nil, false},
		{"an empty value", []byte(" "), nil, false},
		{"garbage", []byte("not json"), nil, false},
		{"a forged kid", nil, nil, false},
		{"the current key itself", nil, nil, true},
		{"a read error", newSecret(t), errThrottled, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			switch {
			case tt.dupCur:
				f.sm.Set(secret.StageTested, f.cur)
			case tt.name == "a forged kid":
				f.sm.Set(secret.StageTested, forgedKid(t, newSecret(t)))
			default:
				f.sm.Set(secret.StageTested, tt.value)
			}
			f.sm.FailStage(secret.StageTested, tt.err)
			pub, err := f.ring.Published(ctx)
			if err != nil {
				t.Fatalf("Published = %v", err)
			}
			if got, want := kids(pub), []string{kidOf(t, f.cur), kidOf(t, f.old)}; strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("Published = %v, want [current, previous]", got)
			}
			if _, err := f.ring.Signing(ctx); err != nil {
				t.Errorf("Signing = %v", err)
			}
		})
	}
}

// Published must not alias Keys: appending the tested key may not show up in the verification
// list through a shared backing array.
func TestPublishedDoesNotLeakIntoVerificationKeys(t *testing.T) {
	f := newFixture(t)
	f.sm.Set(secret.StageTested, newSecret(t))
	pub, _ := f.ring.Published(ctx)
	keys, _ := f.ring.Keys(ctx)
	if len(pub) != 3 || len(keys) != 2 || len(keys[:cap(keys)]) != 2 {
		t.Errorf("Published %d keys, Keys %d (cap %d); want 3, 2 and a capped slice", len(pub), len(keys), cap(keys))
	}
}

// An unknown kid inside the refresh interval costs a map miss, not a Secrets Manager call.
func BenchmarkVerificationOfAnUnknownKid(b *testing.B) {
	f := newFixture(b)
	if _, err := f.ring.Verification(ctx, "forged-kid"); !errors.Is(err, signing.ErrUnknownKid) { // warm + the one forced refresh
		b.Fatal(err)
	}
	fetches := f.ring.Fetches()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.ring.Verification(ctx, "forged-kid"); !errors.Is(err, signing.ErrUnknownKid) {
			b.Fatal(err)
		}
	}
	if f.ring.Fetches() != fetches {
		b.Fatalf("unknown kids caused %d more Secrets Manager loads", f.ring.Fetches()-fetches)
	}
}

// A new AWSCURRENT signs only once every verifier has had a refresh interval to load it; until
// then AWSPREVIOUS signs, and both verify. The first key of a secret signs at once.
func TestANewKeySignsOnlyAfterTheActivationDelay(t *testing.T) {
	clk := clocktest.New(time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC))
	delay := signing.DefaultActivationDelay(refreshEvery)
	if delay <= refreshEvery {
		t.Fatalf("DefaultActivationDelay(%v) = %v: it must exceed one refresh interval", refreshEvery, delay)
	}
	gen := func(at time.Time) []byte {
		b, err := signing.Generate(signing.EdDSA, rand.Reader, at)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sm := secrettest.New(secretID)
	first := gen(clk.Now())
	sm.Set(secret.StageCurrent, first)
	ring := signing.New(sm, secretID, signing.Options{RefreshEvery: refreshEvery, MaxStale: maxStale, Now: clk.Now, ActivationDelay: delay})
	if k, err := ring.Signing(ctx); err != nil || k.Kid != kidOf(t, first) {
		t.Fatalf("the first key must sign at once: %v %v", k, err)
	}

	clk.Advance(time.Hour)
	next := gen(clk.Now()) // rotated now
	sm.Rotate(next)
	clk.Advance(refreshEvery) // this keyring (like every verifier) has reloaded by now
	tests := []struct {
		at   time.Duration // since the rotation
		want []byte
	}{
		{refreshEvery, first},
		{delay - time.Second, first},
		{delay, next},
		{delay + time.Hour, next},
	}
	rotatedAt := clk.Now().Add(-refreshEvery)
	for _, tt := range tests {
		clk.Set(rotatedAt.Add(tt.at))
		k, err := ring.Signing(ctx)
		if err != nil || k.Kid != kidOf(t, tt.want) {
			t.Errorf("Signing %v after the rotation = %v, %v; want %s", tt.at, k, err, kidOf(t, tt.want))
		}
		for _, v := range [][]byte{first, next} {
			if _, err := ring.Verification(ctx, kidOf(t, v)); err != nil {
				t.Errorf("%v after the rotation, %s does not verify: %v", tt.at, kidOf(t, v), err)
			}
		}
	}
}

// Only a publishing keyring (the JWKS function's) reads the tested pending key: the others
// would pay a Secrets Manager read per refresh for a key they never use.
func TestOnlyAPublishingKeyringReadsTheTestedKey(t *testing.T) {
	for _, publish := range []bool{false, true} {
		sm := secrettest.New(secretID)
		sm.Set(secret.StageCurrent, newSecret(t))
		sm.Set(secret.StageTested, newSecret(t))
		ring := signing.New(sm, secretID, signing.Options{Publish: publish})
		pub, err := ring.Published(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantReads, wantKeys := 0, 1
		if publish {
			wantReads, wantKeys = 1, 2
		}
		if n := sm.Reads(secret.StageTested); n != wantReads || len(pub) != wantKeys {
			t.Errorf("Publish %v: %d reads of the tested key, %d published keys; want %d, %d", publish, n, len(pub), wantReads, wantKeys)
		}
	}
}

// The signers' activation delay outlasts a JWKS an outside verifier cached just before the
// new key was published: by the time the key signs, every cached copy that lacks it has
// expired (its max-age is signing.PublishedMaxAge).
func TestAJWKSCachedForItsMaxAgeKnowsTheKeyBeforeItSigns(t *testing.T) {
	f := newFixture(t)
	t0 := f.clock.Now()
	publisher := signing.New(f.sm, secretID, signing.Options{RefreshEvery: refreshEvery, Now: f.clock.Now, Publish: true})
	signer := signing.New(f.sm, secretID, signing.Options{RefreshEvery: refreshEvery, Now: f.clock.Now,
		ActivationDelay: signing.DefaultActivationDelay(refreshEvery)})
	h := &authapi.JWKSHandler{Keys: publisher, MaxAge: signing.PublishedMaxAge(refreshEvery)}
	if _, err := h.JWKS(ctx, nil); err != nil { // the publisher loads now, before the rotation
		t.Fatal(err)
	}
	if _, err := signer.Signing(ctx); err != nil {
		t.Fatal(err)
	}
	// A whole rotation within one second; the publisher still serves its earlier load.
	f.clock.Advance(time.Second)
	next, err := signing.Generate(signing.EdDSA, rand.Reader, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.sm.Set(secret.StageTested, next)
	f.sm.Rotate(next)
	f.sm.Set(secret.StageTested, nil)
	newKid := kidOf(t, next)

	// The worst case: a verifier fetches the JWKS just before the publisher reloads.
	f.clock.Set(t0.Add(refreshEvery - time.Second))
	resp, err := h.JWKS(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(resp.Body), newKid) {
		t.Fatal("the publisher already serves the new key: the test is not the worst case")
	}
	staleUntil := f.clock.Now().Add(signing.PublishedMaxAge(refreshEvery))
	for f.clock.Now().Before(staleUntil) {
		k, err := signer.Signing(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k.Kid == newKid {
			t.Fatalf("the new key signs at T0+%v while a JWKS without it is fresh until T0+%v", f.clock.Now().Sub(t0), staleUntil.Sub(t0))
		}
		f.clock.Advance(time.Second)
	}
}

// promotedLabel is the staging label finishSecret attaches to the version it promotes, spelled
// out here rather than taken from package secret: keyrings already deployed read what rotation
// functions of later releases write, so the format must not change unnoticed.
func promotedLabel(at time.Time) string {
	return "KEYGATE_PROMOTED_" + strconv.FormatInt(at.UnixMilli(), 10)
}

// A new AWSCURRENT signs ActivationDelay after its promotion (the time finishSecret writes into
// its KEYGATE_PROMOTED_<unix milliseconds> label), so that every verifier, which only learns of the
// promotion at its next refresh, has loaded it first; never earlier than ActivationDelay after
// its creation, and never later than ActivationDelay after this keyring first saw it current.
// Without a usable label the delay counts from the creation, as before the label existed.
func TestTheActivationDelayCountsFromThePromotion(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC) // the new key's CreatedAt (createSecret)
	delay := signing.DefaultActivationDelay(refreshEvery)
	const hour, sec = time.Hour, time.Second
	const (
		previous = "AWSPREVIOUS"
		current  = "AWSCURRENT"
	)
	type check struct {
		at   time.Duration // since t0
		sign string        // the stage whose key Signing returns
	}
	type activationCase struct {
		name       string
		labels     []string // AWSCURRENT's further labels
		noPrevious bool
		firstUse   time.Duration // since t0: the keyring's first load
		checks     []check
	}
	tests := []activationCase{
		{
			name:   "a key promoted an hour after its creation signs only the activation delay after its promotion",
			labels: []string{promotedLabel(t0.Add(hour))}, firstUse: hour,
			checks: []check{{hour, previous}, {hour + refreshEvery + sec, previous}, {hour + delay - sec, previous}, {hour + delay, current}, {5 * hour, current}},
		},
		{
			name:   "a keyring started long after a late promotion signs with the new key at once",
			labels: []string{promotedLabel(t0.Add(hour))}, firstUse: hour + delay,
			checks: []check{{hour + delay, current}},
		},
		{
			name:   "a keyring whose clock is behind the rotation function's counts from when it first saw the key current",
			labels: []string{promotedLabel(t0.Add(hour))}, firstUse: hour - 30*sec,
			checks: []check{{hour - 30*sec, previous}, {hour - 31*sec + delay, previous}, {hour - 30*sec + delay, current}},
		},
		{
			name:     "without a promotion label the delay counts from the creation",
			firstUse: 0,
			checks:   []check{{0, previous}, {delay - sec, previous}, {delay, current}},
		},
		{
			name:     "without a promotion label a key promoted late signs at once (stacks older than the label)",
			firstUse: hour,
			checks:   []check{{hour, current}},
		},
		{
			name:   "a promotion label dated before the creation does not make the key sign earlier",
			labels: []string{promotedLabel(t0.Add(-24 * hour))}, firstUse: 0,
			checks: []check{{0, previous}, {delay - sec, previous}, {delay, current}},
		},
		{
			name:   "a promotion label in the future counts only from when this keyring first saw the key current",
			labels: []string{promotedLabel(t0.Add(100 * 365 * 24 * hour))}, firstUse: hour,
			// Reloads every refreshEvery in between must keep the first sighting, not restart it.
			checks: []check{{hour, previous}, {hour + refreshEvery + sec, previous}, {hour + 2*refreshEvery + 2*sec, previous}, {hour + delay - sec, previous}, {hour + delay, current}},
		},
		{
			name:   "of two promotion labels (a finishSecret retried before its promotion) the later counts",
			labels: []string{promotedLabel(t0.Add(hour)), promotedLabel(t0.Add(30 * time.Minute))}, firstUse: hour,
			checks: []check{{hour + delay - sec, previous}, {hour + delay, current}},
		},
		{
			name:   "a malformed label beside the promotion label does not hide it",
			labels: []string{"KEYGATE_PROMOTED_x", promotedLabel(t0.Add(hour))}, firstUse: hour,
			checks: []check{{hour + delay - sec, previous}, {hour + delay, current}},
		},
		{
			name:       "the first key of a secret signs at once, whatever its label says",
			labels:     []string{promotedLabel(t0.Add(hour))},
			noPrevious: true, firstUse: hour,
			checks: []check{{hour, current}},
		},
	}
	// Labels that are not a finishSecret's promotion label are ignored: the delay counts from the
	// creation, so a key promoted an hour after its creation signs at once.
	late := promotedLabel(t0.Add(hour))
	for _, garbage := range []string{
		"KEYGATE_PROMOTED_", "KEYGATE_PROMOTED_x", "KEYGATE_PROMOTED_-3600", "KEYGATE_PROMOTED_+" + late[len("KEYGATE_PROMOTED_"):],
		"KEYGATE_PROMOTED_0" + late[len("KEYGATE_PROMOTED_"):], late + "x", late + ".5", "KEYGATE_PROMOTED_1e9", " " + late,
		"keygate_promoted_" + late[len("KEYGATE_PROMOTED_"):], "KEYGATE_PROMOTED_99999999999999999999", "KEYGATE_PROMOTED_0",
		"KEYGATE_PROMOTED_" + late[len("KEYGATE_PROMOTED_"):] + "\x00",
	} {
		tests = append(tests, activationCase{
			name:   fmt.Sprintf("the malformed label %q is ignored", garbage),
			labels: []string{garbage}, firstUse: hour,
			checks: []check{{hour, current}},
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur, err := signing.Generate(signing.EdDSA, rand.Reader, t0)
			if err != nil {
				t.Fatal(err)
			}
			prev := newSecret(t)
			sm := secrettest.New(secretID)
			sm.Set(secret.StageCurrent, cur)
			sm.Label(secret.StageCurrent, tt.labels...)
			if !tt.noPrevious {
				sm.Set(secret.StagePrevious, prev)
			}
			clk := clocktest.New(t0.Add(tt.firstUse))
			ring := signing.New(sm, secretID, signing.Options{RefreshEvery: refreshEvery, MaxStale: maxStale, Now: clk.Now, ActivationDelay: delay})
			want := map[string]string{current: kidOf(t, cur), previous: kidOf(t, prev)}
			for _, c := range tt.checks {
				clk.Set(t0.Add(c.at))
				k, err := ring.Signing(ctx)
				if err != nil || k.Kid != want[c.sign] {
					t.Errorf("Signing at t0+%v = %v, %v; want the %s key", c.at, k, err, c.sign)
				}
				if _, err := ring.Verification(ctx, kidOf(t, cur)); err != nil {
					t.Errorf("at t0+%v the new key does not verify: %v", c.at, err)
				}
			}
		})
	}
}
