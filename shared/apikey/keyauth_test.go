package apikey_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/clocktest"

	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/memstore"
)

var (
	ctx    = context.Background()
	pepper = []byte("0123456789abcdef0123456789abcdef")
	start  = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

// fakePepper returns the pepper or a programmed error, counting calls.
type fakePepper struct {
	mu    sync.Mutex
	value []byte
	err   error
	calls int
}

func (p *fakePepper) Get(context.Context) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.err != nil {
		return nil, p.err
	}
	return p.value, nil
}

func (p *fakePepper) set(v []byte, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.value, p.err = v, err
}

type fixture struct {
	clock  *clocktest.Clock
	keys   *memstore.Keys
	pepper *fakePepper
	auth   *apikey.Authenticator
	hasher *apikey.Hasher
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{clock: clocktest.New(start), pepper: &fakePepper{value: pepper}}
	f.keys = memstore.NewKeys(f.clock.Now)
	f.auth = apikey.NewAuthenticator("kg_live", f.pepper, f.keys, f.clock.Now)
	h, err := apikey.NewHasher(pepper)
	if err != nil {
		t.Fatal(err)
	}
	f.hasher = h
	return f
}

// add stores a new live key with the given tweaks and returns the plain key.
func (f *fixture) add(t *testing.T, tweak func(*store.Key)) (string, store.Key) {
	t.Helper()
	raw, err := apikey.Generate("kg_live", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := apikey.NewKeyID(rand.Reader)
	k := store.Key{
		Hash: f.hasher.Hash(raw), KeyID: id, Name: "test", Scopes: []string{"customers:read"},
		RateLimit: 100, Tier: "pro", Status: store.StatusActive, CreatedAt: start, KeyGen: 1,
	}
	if tweak != nil {
		tweak(&k)
	}
	if err := f.keys.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	return raw, k
}

func TestAValidKeyAuthenticates(t *testing.T) {
	f := newFixture(t)
	raw, want := f.add(t, nil)
	got, err := f.auth.Authenticate(ctx, raw, netip.MustParseAddr("203.0.113.7"))
	if err != nil {
		t.Fatalf("Authenticate = %v", err)
	}
	if got.KeyID != want.KeyID || got.Hash != want.Hash || got.Tier != "pro" {
		t.Errorf("Authenticate returned %+v, want %+v", got, want)
	}
	if f.keys.Reads() != 1 {
		t.Errorf("%d store reads, want exactly one lookup", f.keys.Reads())
	}
}

func TestEveryBadKeyIsTheSameErrInvalid(t *testing.T) {
	f := newFixture(t)
	good, _ := f.add(t, nil)
	testKey, _ := apikey.Generate("kg_test", rand.Reader)
	unknown, _ := apikey.Generate("kg_live", rand.Reader)
	revoked, _ := f.add(t, func(k *store.Key) { k.Status = store.StatusRevoked })
	odd, _ := f.add(t, func(k *store.Key) { k.Status = "" })
	other := "A"
	if good[10] == 'A' {
		other = "B"
	}
	flipped := good[:10] + other + good[11:] // one character of the secret changed

	tests := []struct {
		name      string
		key       string
		wantReads int // store reads this key may cause
	}{
		{"bad checksum", flipped, 0},
		{"wrong environment", testKey, 0},
		{"empty", "", 0},
		{"1 MB", "kg_live_" + strings.Repeat("A", 1<<20), 0},
		{"a JWT", "eyJhbGciOiJSUzI1NiJ9.eyJ9.c2ln", 0},
		{"truncated", good[:len(good)-1], 0},
		{"unknown", unknown, 1},
		{"revoked", revoked, 1},
		{"an unknown status", odd, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.keys.Reads()
			_, err := f.auth.Authenticate(ctx, tt.key, netip.Addr{})
			if err != apikey.ErrInvalid { // the very same value, so callers cannot tell cases apart
				t.Errorf("Authenticate = %v, want exactly ErrInvalid", err)
			}
			if got := f.keys.Reads() - before; got != tt.wantReads {
				t.Errorf("%d store reads, want %d", got, tt.wantReads)
			}
		})
	}
}

func TestAnExpiredKeyIsInvalidByTheClock(t *testing.T) {
	f := newFixture(t)
	raw, _ := f.add(t, func(k *store.Key) { k.ExpiresAt = start.Add(time.Hour) })
	if _, err := f.auth.Authenticate(ctx, raw, netip.Addr{}); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	f.clock.Advance(time.Hour - time.Second)
	if _, err := f.auth.Authenticate(ctx, raw, netip.Addr{}); err != nil {
		t.Fatalf("one second before expiry: %v", err)
	}
	f.clock.Advance(time.Second)
	if _, err := f.auth.Authenticate(ctx, raw, netip.Addr{}); err != apikey.ErrInvalid {
		t.Errorf("at expiry: %v, want ErrInvalid", err)
	}
}

// staticFinder returns one stored key for every hash, like a store that does not filter
// expired items: Authenticate must still check status, expiry and the hash itself.
type staticFinder struct {
	key store.Key
	err error
}

func (s staticFinder) KeyByHash(context.Context, string) (store.Key, error) { return s.key, s.err }

func TestAuthenticateChecksWhatTheStoreReturns(t *testing.T) {
	raw, _ := apikey.Generate("kg_live", rand.Reader)
	h, _ := apikey.NewHasher(pepper)
	ok := store.Key{Hash: h.Hash(raw), KeyID: "key_1", Status: store.StatusActive}
	tests := []struct {
		name    string
		found   store.Key
		findErr error
		want    error // nil: accepted; errAnyDependency: neither ErrInvalid nor ErrIPNotAllowed
	}{
		{"a matching active key", ok, nil, nil},
		{"an expired key the store still returns", withExpiry(ok, start.Add(-time.Second)), nil, apikey.ErrInvalid},
		{"a revoked key", withStatus(ok, store.StatusRevoked), nil, apikey.ErrInvalid},
		{"a record under another hash", withHash(ok, h.Hash(raw+"x")), nil, apikey.ErrInvalid},
		{"a record without a hash", withHash(ok, ""), nil, apikey.ErrInvalid},
		{"not found", store.Key{}, store.ErrNotFound, apikey.ErrInvalid},
		{"a wrapped not found", store.Key{}, errors.Join(errors.New("get"), store.ErrNotFound), apikey.ErrInvalid},
		{"a throttled store", store.Key{}, errors.New("ProvisionedThroughputExceededException"), errAnyDependency},
		{"a timed-out store", store.Key{}, context.DeadlineExceeded, errAnyDependency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := apikey.NewAuthenticator("kg_live", &fakePepper{value: pepper}, staticFinder{tt.found, tt.findErr}, func() time.Time { return start })
			_, err := a.Authenticate(ctx, raw, netip.Addr{})
			switch tt.want {
			case nil:
				if err != nil {
					t.Errorf("Authenticate = %v", err)
				}
			case errAnyDependency:
				if err == nil || errors.Is(err, apikey.ErrInvalid) || errors.Is(err, apikey.ErrIPNotAllowed) {
					t.Errorf("Authenticate = %v, want a dependency error (503), not a 401/403", err)
				}
				if !errors.Is(err, tt.findErr) {
					t.Errorf("Authenticate = %v, want the store error wrapped for the log", err)
				}
				if strings.Contains(err.Error(), raw) {
					t.Errorf("the error carries the key")
				}
			default:
				if !errors.Is(err, tt.want) {
					t.Errorf("Authenticate = %v, want %v", err, tt.want)
				}
			}
		})
	}
}

var errAnyDependency = errors.New("a dependency error")

func withExpiry(k store.Key, at time.Time) store.Key { k.ExpiresAt = at; return k }
func withStatus(k store.Key, s string) store.Key     { k.Status = s; return k }
func withHash(k store.Key, h string) store.Key       { k.Hash = h; return k }

func TestIPAllowlist(t *testing.T) {
	tests := []struct {
		name   string
		cidrs  []string
		source string // "" means unknown
		want   bool
	}{
		{"an empty list allows anyone", nil, "198.51.100.1", true},
		{"an empty list allows an unknown source", []string{}, "", true},
		{"inside an IPv4 /24", []string{"203.0.113.0/24"}, "203.0.113.200", true},
		{"outside an IPv4 /24", []string{"203.0.113.0/24"}, "203.0.114.1", false},
		{"an IPv4 /32", []string{"203.0.113.7/32"}, "203.0.113.7", true},
		{"next to an IPv4 /32", []string{"203.0.113.7/32"}, "203.0.113.8", false},
		{"inside an IPv6 /64", []string{"2001:db8:1:2::/64"}, "2001:db8:1:2:ffff::1", true},
		{"outside an IPv6 /64", []string{"2001:db8:1:2::/64"}, "2001:db8:1:3::1", false},
		{"an IPv4-mapped source inside an IPv4 prefix", []string{"203.0.113.0/24"}, "::ffff:203.0.113.9", true},
		{"an IPv4-mapped source outside an IPv4 prefix", []string{"203.0.113.0/24"}, "::ffff:198.51.100.9", false},
		{"an IPv4 source against an IPv6 prefix", []string{"2001:db8::/32"}, "203.0.113.9", false},
		{"the second of two prefixes", []string{"10.0.0.0/8", "203.0.113.0/24"}, "203.0.113.1", true},
		{"an unknown source with a list is refused", []string{"0.0.0.0/0"}, "", false},
		{"a garbage CIDR matches nothing", []string{"not-a-cidr"}, "203.0.113.7", false},
		{"a bare address (no prefix length) matches nothing", []string{"203.0.113.7"}, "203.0.113.7", false},
		{"a garbage CIDR next to a good one", []string{"garbage", "203.0.113.0/24"}, "203.0.113.7", true},
		{"an empty-string entry matches nothing", []string{""}, "203.0.113.7", false},
		{"IPv4 everywhere", []string{"0.0.0.0/0"}, "198.51.100.1", true},
		{"IPv4 everywhere does not include IPv6", []string{"0.0.0.0/0"}, "2001:db8::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var src netip.Addr
			if tt.source != "" {
				src = netip.MustParseAddr(tt.source)
			}
			if got := apikey.IPAllowed(tt.cidrs, src); got != tt.want {
				t.Errorf("IPAllowed(%v, %v) = %v, want %v", tt.cidrs, src, got, tt.want)
			}

			f := newFixture(t)
			raw, _ := f.add(t, func(k *store.Key) { k.AllowedIPs = tt.cidrs })
			_, err := f.auth.Authenticate(ctx, raw, src)
			switch {
			case tt.want && err != nil:
				t.Errorf("Authenticate from %v = %v, want allowed", src, err)
			case !tt.want && !errors.Is(err, apikey.ErrIPNotAllowed):
				t.Errorf("Authenticate from %v = %v, want ErrIPNotAllowed", src, err)
			}
		})
	}
}

func TestAFailingPepperIsADependencyErrorAndIsRetried(t *testing.T) {
	f := newFixture(t)
	raw, _ := f.add(t, nil)
	outage := errors.New("secretsmanager: dial tcp: i/o timeout")
	f.pepper.set(nil, outage)

	_, err := f.auth.Authenticate(ctx, raw, netip.Addr{})
	if err == nil || errors.Is(err, apikey.ErrInvalid) || errors.Is(err, apikey.ErrIPNotAllowed) {
		t.Fatalf("Authenticate with the pepper down = %v, want a dependency error", err)
	}
	if !errors.Is(err, outage) {
		t.Errorf("Authenticate = %v, want the cause wrapped", err)
	}
	if f.keys.Reads() != 0 {
		t.Errorf("the store was read without a pepper")
	}

	f.pepper.set(pepper, nil)
	if _, err := f.auth.Authenticate(ctx, raw, netip.Addr{}); err != nil {
		t.Fatalf("after the pepper came back: %v", err)
	}
	if f.pepper.calls != 2 {
		t.Errorf("pepper fetched %d times, want 2 (the failure is not cached)", f.pepper.calls)
	}
	for i := 0; i < 10; i++ {
		if _, err := f.auth.Authenticate(ctx, raw, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
	}
	if f.pepper.calls != 2 {
		t.Errorf("pepper fetched %d times after success, want it cached", f.pepper.calls)
	}
}

func TestAShortPepperIsADependencyErrorNotAnInvalidKey(t *testing.T) {
	f := newFixture(t)
	raw, _ := f.add(t, nil)
	f.pepper.set([]byte("too short"), nil)
	_, err := f.auth.Authenticate(ctx, raw, netip.Addr{})
	if err == nil || errors.Is(err, apikey.ErrInvalid) {
		t.Errorf("Authenticate with a short pepper = %v, want a configuration/dependency error", err)
	}
}

func TestTheHasherIsLoadedOnceUnderConcurrency(t *testing.T) {
	f := newFixture(t)
	raw, _ := f.add(t, nil)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.auth.Authenticate(ctx, raw, netip.Addr{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if f.pepper.calls != 1 {
		t.Errorf("pepper fetched %d times by 50 concurrent requests, want 1", f.pepper.calls)
	}
}
