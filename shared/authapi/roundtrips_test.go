package authapi_test

import (
	"context"
	"crypto/rand"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/authapi"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

// tripHold is how long trips holds every call: long enough that calls a handler makes at the
// same time are all in flight together, however the scheduler starts their goroutines.
const tripHold = 40 * time.Millisecond

// trips records a request's storage round trips (each store call is one DynamoDB request) and
// their order. Every call is held for tripHold; its level is one more than the highest level
// among the calls that had finished when it started, so calls made at the same time share a
// level, and the highest level is the request's sequential depth: the round trips its latency
// is made of.
type trips struct {
	mu    sync.Mutex
	ops   map[string]int
	done  int // the highest level of a finished call
	depth int
}

func newTrips() *trips { return &trips{ops: map[string]int{}} }

func (tr *trips) call(op string) (finish func()) {
	tr.mu.Lock()
	level := tr.done + 1
	tr.ops[op]++
	tr.depth = max(tr.depth, level)
	tr.mu.Unlock()
	time.Sleep(tripHold)
	return func() {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.done = max(tr.done, level)
	}
}

// take returns the calls and the depth since the last take, and starts counting afresh.
func (tr *trips) take() (map[string]int, int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	ops, depth := tr.ops, tr.depth
	tr.ops, tr.done, tr.depth = map[string]int{}, 0, 0
	return ops, depth
}

// Recording wrappers: every method a handler calls on storage is one DynamoDB request of the
// DynamoDB stores (KeyByHash, KeyByID, RefreshToken and Family a GetItem, Take an UpdateItem,
// CreateFamily, Rotate and RevokeFamily a TransactWriteItems, Retire an UpdateItem, AppendEvent
// a PutItem).

// tripStore is env's key store (reads by hash and id, the audit trail) and rate limiter.
type tripStore struct {
	e  *env
	tr *trips
}

func (s tripStore) KeyByHash(ctx context.Context, hash string) (store.Key, error) {
	defer s.tr.call("KeyByHash")()
	return s.e.keys.KeyByHash(ctx, hash)
}

func (s tripStore) KeyByID(ctx context.Context, id string) (store.Key, error) {
	defer s.tr.call("KeyByID")()
	return s.e.keys.KeyByID(ctx, id)
}

func (s tripStore) AppendEvent(ctx context.Context, e store.Event) error {
	defer s.tr.call("AppendEvent")()
	return s.e.keys.AppendEvent(ctx, e)
}

func (s tripStore) Take(ctx context.Context, keyID string, limit int) (store.RateDecision, error) {
	defer s.tr.call("Take")()
	return s.e.limiter.Take(ctx, keyID, limit)
}

type tripTokens struct {
	authapi.Tokens
	tr *trips
}

func (t tripTokens) CreateFamily(ctx context.Context, fam store.Family, first store.RefreshToken, touch *store.Touch, audit ...store.Event) error {
	defer t.tr.call("CreateFamily")()
	return t.Tokens.CreateFamily(ctx, fam, first, touch, audit...)
}

func (t tripTokens) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	defer t.tr.call("RefreshToken")()
	return t.Tokens.RefreshToken(ctx, hash)
}

func (t tripTokens) Family(ctx context.Context, id string) (store.Family, error) {
	defer t.tr.call("Family")()
	return t.Tokens.Family(ctx, id)
}

func (t tripTokens) Rotate(ctx context.Context, parent, child store.RefreshToken, audit ...store.Event) error {
	defer t.tr.call("Rotate")()
	return t.Tokens.Rotate(ctx, parent, child, audit...)
}

func (t tripTokens) Retire(ctx context.Context, hash string) error {
	defer t.tr.call("Retire")()
	return t.Tokens.Retire(ctx, hash)
}

func (t tripTokens) RevokeFamily(ctx context.Context, keyID, id string, denyUntil time.Time, audit ...store.Event) error {
	defer t.tr.call("RevokeFamily")()
	return t.Tokens.RevokeFamily(ctx, keyID, id, denyUntil, audit...)
}

// counting is one container's token and refresh handlers over env's stores, every storage
// call recorded in tr, and a key of env.
type counting struct {
	e   *env
	th  *authapi.TokenHandler
	rh  *authapi.RefreshHandler
	tr  *trips
	key string
	k   store.Key
}

func newCounting(t *testing.T, tweak func(*store.Key)) *counting {
	e := newEnv(t)
	tr := newTrips()
	k := tripStore{e: e, tr: tr}
	tokens := tripTokens{Tokens: e.tokens, tr: tr}
	auth := apikey.NewAuthenticator("kg_live", staticPepper{}, k, e.clock.Now)
	c := &counting{e: e, tr: tr,
		th: &authapi.TokenHandler{Keys: auth, Issuer: e.issuer, Limiter: k, Tokens: tokens, Audit: k,
			Settings: e.tokenH.Settings, Now: e.clock.Now, Random: rand.Reader},
		rh: &authapi.RefreshHandler{Keys: auth, KeyByID: k, Issuer: e.issuer, Limiter: k, Tokens: tokens, Audit: k,
			Settings: e.tokenH.Settings, Now: e.clock.Now},
	}
	c.key, c.k = e.addKey(t, tweak)
	return c
}

func (c *counting) token(t *testing.T, key string) response {
	t.Helper()
	return c.e.serve(t, c.th.Router().Serve, tokenRequest(jsonBody(map[string]string{"api_key": key}), nil))
}

func (c *counting) refresh(t *testing.T, rt string) response {
	t.Helper()
	return c.e.serve(t, c.rh.Router().Serve, refreshRequest(rt))
}

// login issues a token pair for c's key and returns its refresh token.
func (c *counting) login(t *testing.T) string {
	t.Helper()
	r := c.token(t, c.key)
	if r.StatusCode != 200 {
		t.Fatalf("token: %d %s", r.StatusCode, r.Body)
	}
	return r.Payload["refresh_token"].(string)
}

// saveKey applies change to c's key as the admin API would (a new version).
func (c *counting) saveKey(t *testing.T, change func(*store.Key)) {
	t.Helper()
	k, err := c.e.keys.KeyByID(ctx, c.k.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	next := k
	change(&next)
	if err := c.e.keys.SaveKey(ctx, &k, next); err != nil {
		t.Fatal(err)
	}
}

// legacyLogin stores a login the way tokens were stored before they carried a key snapshot.
func (c *counting) legacyLogin(t *testing.T) string {
	t.Helper()
	plain, err := token.NewRefresh(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := c.e.clock.Now()
	fam := store.Family{ID: "fam_legacy", KeyID: c.k.KeyID, Status: store.StatusActive, ExpiresAt: now.Add(time.Hour)}
	first := store.RefreshToken{Hash: token.RefreshHash(plain), FamilyID: fam.ID, KeyID: c.k.KeyID, KeyGen: c.k.KeyGen,
		Scopes: c.k.Scopes, Status: store.StatusActive, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := c.e.tokens.CreateFamily(ctx, fam, first, nil); err != nil {
		t.Fatal(err)
	}
	return plain
}

// Issue 22: a token request makes two sequential round trips once the container has seen the
// API key (the key's read and the rate limit at once, then the issuing transaction); a refresh
// makes three calls (its token, the rate limit, the transaction that also checks the family and
// the key). The other rows are the paths that cost more, and what they cost. Each row prepares
// its state through the same handlers (one container), then counts one request.
func TestRoundTripsPerRequest(t *testing.T) {
	tests := []struct {
		name      string
		tweak     func(*store.Key)
		request   func(t *testing.T, c *counting) response // prepares, resets the count, sends
		wantCode  int
		wantOps   map[string]int
		wantDepth int
	}{
		{
			name: "a token request with an API key the container has seen",
			request: func(t *testing.T, c *counting) response {
				c.login(t)
				c.tr.take()
				return c.token(t, c.key)
			},
			wantCode: 200, wantOps: map[string]int{"KeyByHash": 1, "Take": 1, "CreateFamily": 1}, wantDepth: 2,
		},
		{
			name:     "the first token request with an API key in a container",
			request:  func(t *testing.T, c *counting) response { return c.token(t, c.key) },
			wantCode: 200, wantOps: map[string]int{"KeyByHash": 1, "Take": 1, "CreateFamily": 1}, wantDepth: 3,
		},
		{
			name:  "a token request over the key's limit",
			tweak: func(k *store.Key) { k.RateLimit = 1 },
			request: func(t *testing.T, c *counting) response {
				c.login(t)
				c.tr.take()
				return c.token(t, c.key)
			},
			wantCode: 429, wantOps: map[string]int{"KeyByHash": 1, "Take": 1, "AppendEvent": 1}, wantDepth: 2,
		},
		{
			name: "a token request with a seen API key whose key was revoked since",
			request: func(t *testing.T, c *counting) response {
				c.login(t)
				c.saveKey(t, func(k *store.Key) { k.Status = store.StatusRevoked })
				c.tr.take()
				return c.token(t, c.key)
			},
			wantCode: 401, wantOps: map[string]int{"KeyByHash": 1, "Take": 1}, wantDepth: 1,
		},
		{
			name: "the next token request with it: the container forgot it, nothing is spent",
			request: func(t *testing.T, c *counting) response {
				c.login(t)
				c.saveKey(t, func(k *store.Key) { k.Status = store.StatusRevoked })
				c.token(t, c.key)
				c.tr.take()
				return c.token(t, c.key)
			},
			wantCode: 401, wantOps: map[string]int{"KeyByHash": 1}, wantDepth: 1,
		},
		{
			name: "a refresh of a token that carries its key's snapshot",
			request: func(t *testing.T, c *counting) response {
				rt := c.login(t)
				c.tr.take()
				return c.refresh(t, rt)
			},
			wantCode: 200, wantOps: map[string]int{"RefreshToken": 1, "Take": 1, "Rotate": 1}, wantDepth: 3,
		},
		{
			name: "a refresh of a token stored without a snapshot reads the key",
			request: func(t *testing.T, c *counting) response {
				rt := c.legacyLogin(t)
				c.tr.take()
				return c.refresh(t, rt)
			},
			wantCode: 200, wantOps: map[string]int{"RefreshToken": 1, "KeyByID": 1, "Take": 1, "Rotate": 1}, wantDepth: 4,
		},
		{
			name: "a refresh after the key was edited: the transaction refuses the snapshot, the key is read, and it commits",
			request: func(t *testing.T, c *counting) response {
				rt := c.login(t)
				c.saveKey(t, func(k *store.Key) { k.Name = "renamed" })
				c.tr.take()
				return c.refresh(t, rt)
			},
			wantCode: 200, wantOps: map[string]int{"RefreshToken": 1, "Take": 1, "Rotate": 2, "KeyByID": 1}, wantDepth: 5,
		},
		{
			name: "a retry inside the grace window reads the family and the key at once",
			request: func(t *testing.T, c *counting) response {
				rt := c.login(t)
				c.refresh(t, rt)
				c.tr.take()
				return c.refresh(t, rt)
			},
			wantCode: 200, wantOps: map[string]int{"RefreshToken": 1, "Family": 1, "KeyByID": 1, "Take": 1}, wantDepth: 3,
		},
		{
			name: "reuse after the grace window revokes the family",
			request: func(t *testing.T, c *counting) response {
				rt := c.login(t)
				c.refresh(t, rt)
				c.e.clock.Advance(time.Minute)
				c.tr.take()
				return c.refresh(t, rt)
			},
			wantCode: 400, wantOps: map[string]int{"RefreshToken": 1, "Family": 1, "KeyByID": 1, "RevokeFamily": 1}, wantDepth: 3,
		},
		{
			name: "a refresh of a revoked family's live token is refused by the transaction and retires the token",
			request: func(t *testing.T, c *counting) response {
				rt := c.login(t)
				c.revokeLastFamily(t)
				c.tr.take()
				return c.refresh(t, rt)
			},
			wantCode: 400, wantOps: map[string]int{"RefreshToken": 1, "Take": 1, "Rotate": 1, "Retire": 1}, wantDepth: 4,
		},
		{
			name: "the retired token is refused at its read, spending nothing",
			request: func(t *testing.T, c *counting) response {
				rt := c.login(t)
				c.revokeLastFamily(t)
				c.refresh(t, rt)
				c.tr.take()
				return c.refresh(t, rt)
			},
			wantCode: 400, wantOps: map[string]int{"RefreshToken": 1}, wantDepth: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCounting(t, tt.tweak)
			r := tt.request(t, c)
			ops, depth := c.tr.take()
			if r.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, tt.wantCode, r.Body)
			}
			if !maps.Equal(ops, tt.wantOps) || depth != tt.wantDepth {
				t.Errorf("storage calls %v in %d sequential round trips, want %v in %d", ops, depth, tt.wantOps, tt.wantDepth)
			}
		})
	}
}

// revokeLastFamily revokes the family of c's latest login (as RFC 7009 revocation or an
// operator would, not through the handlers under count).
func (c *counting) revokeLastFamily(t *testing.T) {
	t.Helper()
	ids := c.e.tokens.familyIDs()
	if err := c.e.tokens.RevokeFamily(ctx, c.k.KeyID, ids[len(ids)-1], time.Time{}); err != nil {
		t.Fatal(err)
	}
}
