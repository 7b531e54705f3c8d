package authorizer_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/authorizer"
	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/store"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) // ctx is authorizer_test.go's

// fakeStore is a key table plus deny-lists that counts reads.
type fakeStore struct {
	mu     sync.Mutex
	keys   map[string]store.Key // by id
	hashes map[string]string    // hash → id
	denied map[string]map[string]time.Time
	err    error
	reads  int
}

func newStore() *fakeStore {
	return &fakeStore{keys: map[string]store.Key{}, hashes: map[string]string{}, denied: map[string]map[string]time.Time{}}
}

func (f *fakeStore) KeyByID(_ context.Context, id string) (store.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.err != nil {
		return store.Key{}, f.err
	}
	k, ok := f.keys[id]
	if !ok {
		return store.Key{}, store.ErrNotFound
	}
	return k, nil
}

func (f *fakeStore) KeyByHash(ctx context.Context, hash string) (store.Key, error) {
	f.mu.Lock()
	id, ok := f.hashes[hash]
	f.mu.Unlock()
	if !ok {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.reads++
		if f.err != nil {
			return store.Key{}, f.err
		}
		return store.Key{}, store.ErrNotFound
	}
	return f.KeyByID(ctx, id)
}

func (f *fakeStore) DeniedTokens(_ context.Context, keyID string) (map[string]time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]time.Time{}
	for j, e := range f.denied[keyID] {
		out[j] = e
	}
	return out, nil
}

func (f *fakeStore) set(fn func(*fakeStore)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeStore) readCount() int { f.mu.Lock(); defer f.mu.Unlock(); return f.reads }

func liveKey() store.Key {
	return store.Key{KeyID: "key_1", Hash: "h1", Status: store.StatusActive, KeyGen: 3, CreatedAt: t0}
}

func TestChangesTakeEffectWithinMaxAgeAndNotBefore(t *testing.T) {
	const maxAge = 60 * time.Second
	tests := []struct {
		name   string
		change func(*fakeStore)
		jti    string
	}{
		{"key revoked", func(f *fakeStore) { k := f.keys["key_1"]; k.Status = store.StatusRevoked; f.keys["key_1"] = k }, "j1"},
		{"key deleted", func(f *fakeStore) { delete(f.keys, "key_1") }, "j1"},
		{"key rotated without grace", func(f *fakeStore) { k := f.keys["key_1"]; k.KeyGen++; f.keys["key_1"] = k }, "j1"},
		{"token revoked", func(f *fakeStore) { f.denied["key_1"] = map[string]time.Time{"j1": t0.Add(time.Hour)} }, "j1"},
		{"its refresh-token family revoked", func(f *fakeStore) {
			f.denied["key_1"] = map[string]time.Time{store.DeniedFamily("fam_1"): t0.Add(time.Hour)}
		}, "j1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktest.New(t0)
			f := newStore()
			f.keys["key_1"] = liveKey()
			c := authorizer.NewChecker(f, f, authorizer.CacheOptions{MaxAge: maxAge, Now: clk.Now})
			if err := c.Token(ctx, "key_1", 3, tt.jti, "fam_1"); err != nil {
				t.Fatalf("before the change: %v", err)
			}
			f.set(tt.change)
			clk.Advance(maxAge - time.Second)
			if err := c.Token(ctx, "key_1", 3, tt.jti, "fam_1"); err != nil {
				t.Fatalf("inside MaxAge the cached answer should stand (no read per request): %v", err)
			}
			clk.Advance(time.Second)
			if err := c.Token(ctx, "key_1", 3, tt.jti, "fam_1"); !errors.Is(err, authorizer.ErrRevoked) {
				t.Fatalf("at MaxAge after the change: %v, want ErrRevoked", err)
			}
		})
	}
}

func TestAStaleEntryIsNeverServedWhenTheStoreFails(t *testing.T) {
	clk := clocktest.New(t0)
	f := newStore()
	f.keys["key_1"] = liveKey()
	c := authorizer.NewChecker(f, f, authorizer.CacheOptions{MaxAge: time.Minute, Now: clk.Now})
	if err := c.Token(ctx, "key_1", 3, "j", ""); err != nil {
		t.Fatal(err)
	}
	outage := errors.New("dial tcp: i/o timeout")
	f.set(func(f *fakeStore) { f.err = outage })
	clk.Advance(30 * time.Second)
	if err := c.Token(ctx, "key_1", 3, "j", ""); err != nil {
		t.Fatalf("a fresh entry should answer during an outage: %v", err)
	}
	clk.Advance(30 * time.Second)
	err := c.Token(ctx, "key_1", 3, "j", "")
	if !errors.Is(err, outage) || errors.Is(err, authorizer.ErrRevoked) {
		t.Fatalf("past MaxAge during an outage: %v, want the dependency error (503, not 401 nor Allow)", err)
	}
	f.set(func(f *fakeStore) { f.err = nil })
	if err := c.Token(ctx, "key_1", 3, "j", ""); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestGenerationsAndDenyList(t *testing.T) {
	clk := clocktest.New(t0)
	f := newStore()
	k := liveKey()
	k.PreviousHash, k.GraceUntil = "h0", t0.Add(time.Hour)
	f.keys["key_1"] = k
	f.denied["key_1"] = map[string]time.Time{"revoked": t0.Add(time.Hour), "old": t0.Add(-time.Second)}
	c := authorizer.NewChecker(f, f, authorizer.CacheOptions{Now: clk.Now})
	tests := []struct {
		name string
		gen  int64
		jti  string
		ok   bool
	}{
		{"current generation", 3, "a", true},
		{"previous generation inside grace", 2, "a", true},
		{"two generations back", 1, "a", false},
		{"a future generation", 4, "a", false},
		{"a revoked jti", 3, "revoked", false},
		{"a deny entry past its expiry", 3, "old", true},
		{"another key", 3, "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "key_1"
			if tt.name == "another key" {
				id = "key_2"
			}
			err := c.Token(ctx, id, tt.gen, tt.jti, "")
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, authorizer.ErrRevoked)) {
				t.Fatalf("Token = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestOneReadPerKeyPerMaxAge(t *testing.T) {
	clk := clocktest.New(t0)
	f := newStore()
	f.keys["key_1"] = liveKey()
	c := authorizer.NewChecker(f, f, authorizer.CacheOptions{MaxAge: time.Minute, Now: clk.Now})
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Token(ctx, "key_1", 3, "j", ""); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := f.readCount(); n > 2*5 { // singleflight: normally 2 (key + deny-list); allow a few overlaps
		t.Fatalf("%d reads for 50 concurrent checks", n)
	}
	before := f.readCount()
	for i := 0; i < 100; i++ {
		_ = c.Token(ctx, "key_1", 3, "j", "")
	}
	if f.readCount() != before {
		t.Fatalf("warm checks read the store %d times", f.readCount()-before)
	}
}

func TestKeyCacheRemembersHitsNotMissesNorErrors(t *testing.T) {
	clk := clocktest.New(t0)
	f := newStore()
	f.keys["key_1"] = liveKey()
	f.hashes["h1"] = "key_1"
	kc := authorizer.NewKeyCache(f, authorizer.CacheOptions{MaxAge: time.Minute, Now: clk.Now})
	for i := 0; i < 3; i++ {
		if k, err := kc.KeyByHash(ctx, "h1"); err != nil || k.KeyID != "key_1" {
			t.Fatalf("KeyByHash = %v, %v", k.KeyID, err)
		}
		if _, err := kc.KeyByHash(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown hash: %v", err)
		}
	}
	if n := f.readCount(); n != 4 {
		t.Fatalf("%d reads, want 4 (the hit once, the miss every time)", n)
	}
	f.set(func(f *fakeStore) { k := f.keys["key_1"]; k.Status = store.StatusRevoked; f.keys["key_1"] = k })
	clk.Advance(time.Minute)
	if k, err := kc.KeyByHash(ctx, "h1"); err != nil || k.Status != store.StatusRevoked {
		t.Fatalf("after MaxAge the change must show: %v %v", k.Status, err)
	}
	f.set(func(f *fakeStore) { f.err = errors.New("throttled") })
	clk.Advance(time.Minute)
	if _, err := kc.KeyByHash(ctx, "h1"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an outage past MaxAge: %v, want the dependency error", err)
	}
	f.set(func(f *fakeStore) { f.err = nil })
	if _, err := kc.KeyByHash(ctx, "h1"); err != nil {
		t.Fatalf("the error was cached: %v", err)
	}
}

// A secret found through its rotation grace period is remembered no longer than the grace.
func TestKeyCacheForgetsAPreviousSecretWhenItsGraceEnds(t *testing.T) {
	clk := clocktest.New(t0)
	f := newStore()
	k := liveKey()
	k.PreviousHash, k.GraceUntil = "h0", t0.Add(10*time.Second)
	f.keys["key_1"] = k
	f.hashes["h0"] = "key_1"
	finder := previousFinder{f}
	kc := authorizer.NewKeyCache(finder, authorizer.CacheOptions{MaxAge: time.Minute, Now: clk.Now})
	if _, err := kc.KeyByHash(ctx, "h0"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(9 * time.Second)
	before := f.readCount()
	if _, err := kc.KeyByHash(ctx, "h0"); err != nil || f.readCount() != before {
		t.Fatalf("inside the grace the cached answer stands: %v, %d reads", err, f.readCount()-before)
	}
	clk.Advance(time.Second)
	f.set(func(f *fakeStore) { delete(f.hashes, "h0") }) // the store no longer finds it
	if _, err := kc.KeyByHash(ctx, "h0"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("at the end of the grace: %v, want ErrNotFound", err)
	}
}

// previousFinder returns the key as the store does for a previous secret: Hash set to it.
type previousFinder struct{ f *fakeStore }

func (p previousFinder) KeyByHash(ctx context.Context, hash string) (store.Key, error) {
	k, err := p.f.KeyByHash(ctx, hash)
	if err == nil && hash == k.PreviousHash {
		k.Hash, k.KeyGen = hash, k.KeyGen-1
	}
	return k, err
}

// blockingKeys blocks its first read until released: an outage that outlives the caller.
type blockingKeys struct {
	*fakeStore
	once    sync.Once
	release chan struct{}
}

func (b *blockingKeys) KeyByID(ctx context.Context, id string) (store.Key, error) {
	first := false
	b.once.Do(func() { first = true })
	if first {
		<-b.release
		return store.Key{}, errors.New("timed out")
	}
	return b.fakeStore.KeyByID(ctx, id)
}

// A caller that gave up on a stuck read does not make the next caller wait for it: once the
// dependency is back, the next check succeeds at once.
func TestAStuckReadIsNotJoinedAfterItsCallerGaveUp(t *testing.T) {
	f := newStore()
	f.keys["key_1"] = liveKey()
	b := &blockingKeys{fakeStore: f, release: make(chan struct{})}
	defer close(b.release)
	c := authorizer.NewChecker(b, f, authorizer.CacheOptions{Now: (clocktest.New(t0)).Now})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := c.Token(short, "key_1", 3, "j", ""); err == nil {
		t.Fatal("the stuck read answered")
	}
	done := make(chan error, 1)
	go func() { done <- c.Token(ctx, "key_1", 3, "j", "") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after the outage: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the next caller joined the stuck read")
	}
}

// A revoked family denies the access tokens that name it, and no others: another family's, and
// tokens older than the fid claim (no family), keep working; the entry ends at its expiry.
func TestARevokedFamilyDeniesExactlyItsAccessTokens(t *testing.T) {
	clk := clocktest.New(t0)
	f := newStore()
	f.keys["key_1"] = liveKey()
	f.denied["key_1"] = map[string]time.Time{store.DeniedFamily("fam_1"): t0.Add(time.Hour)}
	c := authorizer.NewChecker(f, f, authorizer.CacheOptions{MaxAge: time.Second, Now: clk.Now})
	tests := []struct {
		name, jti, fid string
		revoked        bool
	}{
		{"a token of the revoked family", "j1", "fam_1", true},
		{"another token of the revoked family", "j2", "fam_1", true},
		{"a token of another family", "j3", "fam_2", false},
		{"a token without a family (older than the fid claim)", "j4", "", false},
		{"a token whose jti is the family entry's name", store.DeniedFamily("fam_1"), "fam_2", true}, // cannot happen: jtis are base64url
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Token(ctx, "key_1", 3, tt.jti, tt.fid)
			if got := errors.Is(err, authorizer.ErrRevoked); got != tt.revoked || (!tt.revoked && err != nil) {
				t.Errorf("Token(%s, %s) = %v, want revoked %v", tt.jti, tt.fid, err, tt.revoked)
			}
		})
	}
	clk.Advance(time.Hour)
	if err := c.Token(ctx, "key_1", 3, "j1", "fam_1"); err != nil {
		t.Errorf("after the entry's expiry: %v, want nil (the tokens it covered have expired by then)", err)
	}
}

// A token of a newer generation than the cached key's was minted after a rotation this
// container has not seen: the Checker reads the key again (at most once a second) instead of
// refusing the new secret's tokens until the entry expires.
func TestATokenOfANewerGenerationRereadsTheKey(t *testing.T) {
	clk := clocktest.New(t0)
	f := newStore()
	f.keys["key_1"] = liveKey() // generation 3
	c := authorizer.NewChecker(f, f, authorizer.CacheOptions{MaxAge: 30 * time.Second, Now: clk.Now})
	if err := c.Token(ctx, "key_1", 3, "a", ""); err != nil {
		t.Fatal(err)
	}

	// A lagging store still says generation 3: refused, and re-read at most once a second.
	before := f.readCount()
	clk.Advance(2 * time.Second)
	for i := 0; i < 20; i++ {
		if err := c.Token(ctx, "key_1", 4, "b", ""); !errors.Is(err, authorizer.ErrRevoked) {
			t.Fatalf("generation 4 while the store says 3: %v, want ErrRevoked", err)
		}
	}
	if n := f.readCount() - before; n != 2 { // the key and its deny-list, once
		t.Fatalf("%d reads for 20 checks of a newer generation within a second, want 2", n)
	}

	// The rotation lands: the new generation is good at once, the previous one within grace.
	f.mu.Lock()
	k := f.keys["key_1"]
	k.KeyGen, k.PreviousHash, k.GraceUntil = 4, "h3", clk.Now().Add(time.Hour)
	f.keys["key_1"] = k
	f.mu.Unlock()
	clk.Advance(time.Second)
	if err := c.Token(ctx, "key_1", 4, "c", ""); err != nil {
		t.Fatalf("generation 4 right after the rotation: %v, want it accepted", err)
	}
	if err := c.Token(ctx, "key_1", 3, "d", ""); err != nil {
		t.Fatalf("generation 3 inside its grace: %v", err)
	}
	before = f.readCount()
	for i := 0; i < 20; i++ {
		_ = c.Token(ctx, "key_1", 4, "e", "")
	}
	if f.readCount() != before {
		t.Fatalf("warm checks of the current generation read the store %d times", f.readCount()-before)
	}
}

// The first token of a new generation is accepted even when the key was read a moment ago
// (the rotation came between).
func TestANewGenerationRightAfterALoadIsAccepted(t *testing.T) {
	clk := clocktest.New(t0)
	f := newStore()
	f.keys["key_1"] = liveKey()
	c := authorizer.NewChecker(f, f, authorizer.CacheOptions{MaxAge: 30 * time.Second, Now: clk.Now})
	if err := c.Token(ctx, "key_1", 3, "a", ""); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	k := f.keys["key_1"]
	k.KeyGen, k.PreviousHash, k.GraceUntil = 4, "h3", t0.Add(time.Hour)
	f.keys["key_1"] = k
	f.mu.Unlock()
	clk.Advance(100 * time.Millisecond)
	if err := c.Token(ctx, "key_1", 4, "b", ""); err != nil {
		t.Fatalf("generation 4 100 ms after the key was read at 3: %v, want it accepted", err)
	}
}
