package authapi_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

// failingRevokeFamily is the token store whose family revocation fails.
type failingRevokeFamily struct{ *tokenStore }

func (failingRevokeFamily) RevokeFamily(context.Context, string, string, time.Time, ...store.Event) error {
	return errOutage
}

// Reuse of a spent refresh token means it leaked: the answer may only say the family is
// revoked once it is. If revoking fails, the caller gets a 503 (and its retry revokes), and the
// thief's successor must not go on refreshing under a 400 that claims otherwise.
func TestReuseWhoseFamilyRevocationFailsIsA503(t *testing.T) {
	e := newEnv(t)
	key, _ := e.addKey(t, nil)
	rt := e.token(t, tokenRequest(jsonBody(map[string]string{"api_key": key}), nil)).Payload["refresh_token"].(string)
	serve := e.refreshHandler(failingRevokeFamily{e.tokens}).Router().Serve

	first := e.serve(t, serve, refreshRequest(rt))
	if first.StatusCode != 200 {
		t.Fatalf("first refresh: %d %s", first.StatusCode, first.Body)
	}
	e.clock.Advance(time.Minute) // past the grace window: a second use is reuse
	reuse := e.serve(t, serve, refreshRequest(rt))
	if reuse.StatusCode != 503 || reuse.Error["code"] != "service_unavailable" {
		t.Errorf("reuse with the revocation failing answered %d %s, want 503 service_unavailable", reuse.StatusCode, reuse.Body)
	}

	// Once revoking works again, the retry revokes the family: the successor is dead too.
	healthy := e.refreshHandler(e.tokens).Router().Serve
	if r := e.serve(t, healthy, refreshRequest(rt)); r.StatusCode != 400 || r.Error["code"] != "invalid_grant" {
		t.Fatalf("retried reuse: %d %s, want 400 invalid_grant", r.StatusCode, r.Body)
	}
	if r := e.serve(t, healthy, refreshRequest(first.Payload["refresh_token"].(string))); r.StatusCode != 400 {
		t.Errorf("the successor of a reused token still refreshes: %d %s", r.StatusCode, r.Body)
	}
}

// lostRace is the token store as seen by a refresh that loses the race for its token
// (Rotate conflicts) while the store then fails to answer the re-read.
type lostRace struct {
	*tokenStore
	mu      sync.Mutex
	rotated bool
	reread  error
}

func (l *lostRace) Rotate(context.Context, store.RefreshToken, store.RefreshToken, ...store.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rotated = true
	return store.ErrConflict
}

func (l *lostRace) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	l.mu.Lock()
	rotated := l.rotated
	l.mu.Unlock()
	if rotated {
		return store.RefreshToken{}, l.reread
	}
	return l.tokenStore.RefreshToken(ctx, hash)
}

// After losing a concurrent refresh, the handler re-reads the token to see what won: an outage
// then is a 503 (the token may be good; a 400 would make the client throw it away), and only
// a token that is gone is invalid_grant.
func TestARefreshThatLosesARaceAnswersByWhatTheReReadSays(t *testing.T) {
	tests := []struct {
		name   string
		reread error
		status int
		code   string
	}{
		{"an outage on the re-read is a 503", errOutage, 503, "service_unavailable"},
		{"a token gone on the re-read is invalid_grant", store.ErrNotFound, 400, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			key, _ := e.addKey(t, nil)
			rt := e.token(t, tokenRequest(jsonBody(map[string]string{"api_key": key}), nil)).Payload["refresh_token"].(string)
			r := e.serve(t, e.refreshHandler(&lostRace{tokenStore: e.tokens, reread: tt.reread}).Router().Serve, refreshRequest(rt))
			if r.StatusCode != tt.status || r.Error["code"] != tt.code {
				t.Errorf("got %d %s, want %d %s", r.StatusCode, r.Body, tt.status, tt.code)
			}
		})
	}
}

// allReadFirst makes every revocation read the deny-list before any of them writes: the worst
// interleaving of concurrent revocations of one key.
type allReadFirst struct {
	*tokenStore
	read *sync.WaitGroup
}

func (a allReadFirst) DeniedTokens(ctx context.Context, keyID string) (map[string]time.Time, error) {
	m, err := a.tokenStore.DeniedTokens(ctx, keyID)
	a.read.Done()
	a.read.Wait()
	return m, err
}

// The revoke endpoint checks the deny-list's length, then writes, so concurrent revocations
// can overshoot MaxDeniedPerKey. Readers accept up to MaxDeniedRead, so that overshoot never
// turns into a 503 for every token of the key.
func TestConcurrentRevocationsPastTheLimitStayReadable(t *testing.T) {
	e := newEnv(t)
	key, k := e.addKey(t, nil)
	e.tokens.denyMany(t, k.KeyID, store.MaxDeniedPerKey-1, start.Add(time.Hour))
	const n = 5
	var read, done sync.WaitGroup
	read.Add(n)
	serve := e.revokeHandler(allReadFirst{e.tokens, &read}).Router().Serve
	for range n {
		raw, _, err := e.issuer.Issue(ctx, token.Grant{KeyID: k.KeyID, KeyGen: k.KeyGen, Scopes: []string{"customers:read"}, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		done.Add(1)
		go func() {
			defer done.Done()
			if r := e.serve(t, serve, revokeRequest(key, raw)); r.StatusCode != 200 {
				t.Errorf("revoke: %d %s", r.StatusCode, r.Body)
			}
		}()
	}
	done.Wait()
	list, err := e.tokens.DeniedTokens(ctx, k.KeyID)
	switch denied := len(list); {
	case errors.Is(err, store.ErrTooManyDenied):
		t.Errorf("deny-list holds more entries than readers accept (%d)", store.MaxDeniedRead)
	case err != nil:
		t.Fatal(err)
	case denied <= store.MaxDeniedPerKey:
		t.Fatalf("the interleaving did not overshoot (%d entries): the test proves nothing", denied)
	}
	// At the limit, revoking a token already revoked is still an idempotent 200.
	raw, _, err := e.issuer.Issue(ctx, token.Grant{KeyID: k.KeyID, KeyGen: k.KeyGen, Scopes: []string{"customers:read"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.tokens.DenyAccessToken(ctx, k.KeyID, c.ID, c.ExpiresAt.Time); err != nil {
		t.Fatal(err)
	}
	if r := e.revoke(t, key, raw); r.StatusCode != 200 {
		t.Errorf("revoking an already revoked token at the limit: %d %s, want 200", r.StatusCode, r.Body)
	}
}

// A retry of a spent refresh token inside the grace window gets the same successor and a new
// access token, so it spends the key's budget like any refresh: a key out of budget gets 429.
func TestARetryInsideTheGraceWindowIsRateLimited(t *testing.T) {
	e := newEnv(t)
	key, _ := e.addKey(t, nil)
	rt := e.token(t, tokenRequest(jsonBody(map[string]string{"api_key": key}), nil)).Payload["refresh_token"].(string)
	serve := e.refreshHandler(e.tokens).Router().Serve
	first := e.serve(t, serve, refreshRequest(rt))
	if first.StatusCode != 200 {
		t.Fatalf("first refresh: %d %s", first.StatusCode, first.Body)
	}
	e.clock.Advance(time.Second) // inside the 10 s grace
	retry := e.serve(t, serve, refreshRequest(rt))
	if retry.StatusCode != 200 || retry.Payload["refresh_token"] != first.Payload["refresh_token"] {
		t.Fatalf("retry in grace: %d %s, want 200 with the same successor", retry.StatusCode, retry.Body)
	}
	e.limiter.mu.Lock()
	e.limiter.refuse = true
	e.limiter.mu.Unlock()
	if r := e.serve(t, serve, refreshRequest(rt)); r.StatusCode != 429 || r.Error["code"] != "rate_limit_exceeded" {
		t.Errorf("retry in grace with the budget spent: %d %s, want 429 rate_limit_exceeded", r.StatusCode, r.Body)
	}
}
