package authorizer_test

import (
	"testing"
	"time"

	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

// revoke marks k revoked in the store the way the admin API's DELETE does.
func (e *env) revoke(t *testing.T, k store.Key) {
	t.Helper()
	cur, err := e.keys.KeyByID(ctx, k.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	next := cur
	next.Status = store.StatusRevoked
	next.KeyGen++
	next.Version++
	if err := e.keys.SaveKey(ctx, &cur, next); err != nil {
		t.Fatal(err)
	}
}

// Revocations reach the authorizer within the configured bound (MaxAge), with no storage
// read per request before that: the clock is injected, nothing sleeps.
func TestRevocationTakesEffectWithinTheBound(t *testing.T) {
	tests := []struct {
		name   string
		revoke func(t *testing.T, e *env, k store.Key, jti string)
		apiKey bool
	}{
		{"access token: key revoked", func(t *testing.T, e *env, k store.Key, _ string) { e.revoke(t, k) }, false},
		{"access token: key rotated without grace", func(t *testing.T, e *env, k store.Key, _ string) {
			cur, _ := e.keys.KeyByID(ctx, k.KeyID)
			next := cur
			next.KeyGen++
			next.Version++
			if err := e.keys.SaveKey(ctx, &cur, next); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"access token: the token revoked", func(t *testing.T, e *env, k store.Key, jti string) {
			e.denied.deny(k.KeyID, jti, start.Add(time.Hour))
		}, false},
		{"API key: key revoked", func(t *testing.T, e *env, k store.Key, _ string) { e.revoke(t, k) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var cred, jti string
			var k store.Key
			if tt.apiKey {
				cred, k = e.addKey(t, nil)
			} else {
				cred, k = e.tokenFor(t, token.Grant{}, "customers:read")
				c, err := e.verify.v.Verify(ctx, cred)
				if err != nil {
					t.Fatal(err)
				}
				jti = c.ID
			}
			if _, err := e.authz.Handle(ctx, fixture(t, "request.json", cred)); err != nil {
				t.Fatalf("before revocation: %v", err)
			}
			tt.revoke(t, e, k, jti)
			e.clock.Advance(maxAge - time.Second)
			if _, err := e.authz.Handle(ctx, fixture(t, "request.json", cred)); err != nil {
				t.Fatalf("inside the bound the cached state answers (no read per request): %v", err)
			}
			e.clock.Advance(time.Second)
			resp, err := e.authz.Handle(ctx, fixture(t, "request.json", cred))
			assertUnauthorized(t, resp, err)
		})
	}
}

// A token seen before is not verified again (the signature check is skipped) until it has
// been trusted for the remember interval; a token that differs is always verified.
func TestARepeatedTokenSkipsTheSignatureCheck(t *testing.T) {
	e := newEnv(t)
	tok, _ := e.tokenFor(t, token.Grant{}, "customers:read")
	for i := 0; i < 5; i++ {
		if _, err := e.authz.Handle(ctx, fixture(t, "request.json", tok)); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.verify.calls.Load(); n != 1 {
		t.Fatalf("%d verifications for 5 requests with one token, want 1", n)
	}
	// A forged variant (one signature byte changed, still base64url) is verified, and refused.
	resp, err := e.authz.Handle(ctx, fixture(t, "request.json", forge(t, tok)))
	assertUnauthorized(t, resp, err)
	if n := e.verify.calls.Load(); n != 2 {
		t.Fatalf("the forged token was not verified (%d verifications)", n)
	}
	e.clock.Advance(maxAge)
	if _, err := e.authz.Handle(ctx, fixture(t, "request.json", tok)); err != nil {
		t.Fatal(err)
	}
	if n := e.verify.calls.Load(); n != 3 {
		t.Fatalf("after the remember interval the token must be verified again (%d verifications)", n)
	}
}

// A remembered token still expires with its exp.
func TestARememberedTokenExpiresOnTime(t *testing.T) {
	e := newEnv(t)
	tok, _ := e.tokenFor(t, token.Grant{TTL: time.Minute}, "customers:read")
	if _, err := e.authz.Handle(ctx, fixture(t, "request.json", tok)); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute + token.DefaultLeeway + time.Second)
	resp, err := e.authz.Handle(ctx, fixture(t, "request.json", tok))
	assertUnauthorized(t, resp, err)
}

// The decision is per route (method and resource are identity sources, so API Gateway caches
// per route): the context names the scope this route needs, which the ACCESS_DENIED gateway
// response shows when the policy does not allow it.
func TestTheContextNamesTheScopeTheCalledRouteNeeds(t *testing.T) {
	e := newEnv(t)
	tok, _ := e.tokenFor(t, token.Grant{}, "customers:read")
	tests := []struct{ fixture, want string }{
		{"request.json", "customers:read"},
		{"request-admin-route.json", "admin:full"},
	}
	for _, tt := range tests {
		resp, err := e.authz.Handle(ctx, fixture(t, tt.fixture, tok))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Context["required_scope"]; got != tt.want {
			t.Errorf("%s: required_scope = %v, want %s", tt.fixture, got, tt.want)
		}
		if resp.Context["deny_code"] != "insufficient_permissions" {
			t.Errorf("%s: deny_code = %v", tt.fixture, resp.Context["deny_code"])
		}
	}
}

// An oversized Authorization header is refused before any parsing.
func TestAnOversizedHeaderIsUnauthorized(t *testing.T) {
	e := newEnv(t)
	big := make([]byte, 9<<10)
	for i := range big {
		big[i] = 'a'
	}
	resp, err := e.authz.Handle(ctx, fixture(t, "request.json", string(big)))
	assertUnauthorized(t, resp, err)
	if e.verify.calls.Load() != 0 {
		t.Error("an oversized header reached the verifier")
	}
}
