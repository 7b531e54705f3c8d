package e2e_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// expectDenied checks a 403 from the ACCESS_DENIED gateway response rendered from the
// authorizer's context.
func expectDenied(t *testing.T, r response, code, requiredScope string) {
	t.Helper()
	if standIn(t, r, http.StatusForbidden, code) {
		return // SAM local drops the gateway response that carries required_scope
	}
	expect(t, r, http.StatusForbidden, code)
	if got := r.json(t)["error"].(map[string]any)["required_scope"]; got != requiredScope {
		t.Fatalf("required_scope = %v, want %q; body %s", got, requiredScope, r.Body)
	}
}

// With API Gateway's authorizer cache on, the same credential is allowed on a route its scopes
// cover and denied on one they do not, whichever route it calls first, and repeated calls
// (answered from the cache) give the same answers.
func TestAuthorizerAnswersEveryRouteRightUnderCaching(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	allowed := func(t *testing.T, cred string) {
		t.Helper()
		expect(t, call(t, http.MethodGet, "/v1/customers/c1", cred, nil), http.StatusOK, "")
	}
	denied := func(t *testing.T, cred string) {
		t.Helper()
		expectDenied(t, call(t, http.MethodGet, "/v1/billing", cred, nil), "insufficient_permissions", "billing:read")
	}
	for _, order := range []struct {
		name         string
		first, after func(*testing.T, string)
	}{
		{"allowed route first", allowed, denied},
		{"denied route first", denied, allowed},
	} {
		for _, kind := range []string{"access token", "API key"} {
			t.Run(order.name+", "+kind, func(t *testing.T) {
				cred := key
				if kind == "access token" {
					cred, _ = tokenFor(t, key, nil) // a fresh credential: nothing cached yet
				}
				for i := 0; i < 2; i++ { // the second round is answered from the cache
					order.first(t, cred)
					order.after(t, cred)
				}
				// The write level of the same resource needs another scope.
				expectDenied(t, call(t, http.MethodDelete, "/v1/customers/c1", cred, nil), "insufficient_permissions", "customers:delete")
			})
		}
	}
}

// The admin API is behind the same authorizer: anything short of admin:full is a 403 naming it.
func TestAdminRoutesNeedAdminFull(t *testing.T) {
	need(t)
	key, id := createKey(t, map[string]any{"scopes": []string{"customers:read", "customers:write", "billing:write"}})
	access, _ := tokenFor(t, key, nil)
	for _, cred := range []string{key, access} {
		expectDenied(t, call(t, http.MethodGet, "/v1/keys", cred, nil), "insufficient_permissions", "admin:full")
		expectDenied(t, call(t, http.MethodGet, "/v1/keys/"+id, cred, nil), "insufficient_permissions", "admin:full")
		expectDenied(t, call(t, http.MethodPost, "/v1/keys", cred, map[string]any{"name": "x"}), "insufficient_permissions", "admin:full")
	}
	expect(t, call(t, http.MethodGet, "/v1/keys/"+id, adminKey, nil), http.StatusOK, "")
}

// The backend receives the authorizer's flat context, never the credential. principalId is the
// key that authenticated, never the customer_id its caller chose, even one spelled as another
// key's id; owner_id is the key's owner, which only the admin API sets.
func TestTheBackendGetsTheContextNotTheToken(t *testing.T) {
	need(t)
	_, otherID := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	key, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "tier": "growth", "rate_limit": 77, "owner_id": "org_acme"})
	access, _ := tokenFor(t, key, map[string]any{"customer_id": otherID})
	if sub := claimsOf(t, access)["sub"]; sub != id+":"+otherID {
		t.Errorf("sub = %v, want %q: the key id qualified by the customer", sub, id+":"+otherID)
	}
	tests := []struct {
		name string
		cred string
		want map[string]string
	}{
		{"an access token whose customer_id is another key's id", access, map[string]string{"principalId": id, "key_id": id,
			"owner_id": "org_acme", "customer_id": otherID, "scope": "customers:read", "tier": "growth", "token_type": "access_token", "rate_limit": "77"}},
		{"the API key itself", key, map[string]string{"principalId": id, "key_id": id,
			"owner_id": "org_acme", "customer_id": "", "scope": "customers:read", "tier": "growth", "token_type": "api_key", "rate_limit": "77"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, http.MethodGet, "/v1/customers/c1", tt.cred, nil)
			expect(t, r, http.StatusOK, "")
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin = %q, want the template's default *", got)
			}
			ctx, _ := r.json(t)["authorizer"].(map[string]any)
			for k, v := range tt.want {
				if ctx[k] != v {
					t.Errorf("context[%s] = %v, want %q (body %s)", k, ctx[k], v, r.Body)
				}
			}
			if strings.Contains(string(r.Body), tt.cred) {
				t.Error("the backend saw the credential")
			}
			v := call(t, http.MethodGet, "/v1/auth/validate", tt.cred, nil)
			expect(t, v, http.StatusOK, "")
			m := v.json(t)
			customer, _ := m["customer_id"].(string)
			if m["key_id"] != id || m["owner_id"] != "org_acme" || customer != tt.want["customer_id"] {
				t.Errorf("validate answered %s, want key_id %s, owner_id org_acme, customer_id %q", v.Body, id, tt.want["customer_id"])
			}
		})
	}
}

// A key with an allowlist used from elsewhere is refused at the authorizer with 403
// ip_not_allowed (the local API sees 127.0.0.1).
func TestTheAuthorizerEnforcesAllowedIPs(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "allowed_ips": []string{"10.0.0.0/8"}})
	expectDenied(t, call(t, http.MethodGet, "/v1/customers/c1", key, nil), "ip_not_allowed", "customers:read")
	ok, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "allowed_ips": []string{"127.0.0.1/32", "::1/128"}})
	expect(t, call(t, http.MethodGet, "/v1/customers/c1", ok, nil), http.StatusOK, "")
}

// revocationBound is how long a revocation may take to reach every route of the e2e stack.
const revocationBound = time.Duration(authorizerCacheTTL+revocationMaxAge) * time.Second

// refusedWithinTheBound polls a protected route (the authorizer behind API Gateway's cache) and
// /v1/auth/validate with cred until each answers 401. It fails if either still accepts cred a
// second past the revocation bound after revokedAt, or answers anything but its old 200 or a 401
// meanwhile.
func refusedWithinTheBound(t *testing.T, cred string, revokedAt time.Time) {
	t.Helper()
	pending := []string{"/v1/customers/c1", "/v1/auth/validate"}
	for len(pending) > 0 {
		still := pending[:0]
		for _, path := range pending {
			r := call(t, http.MethodGet, path, cred, nil)
			switch {
			case r.Status == http.StatusUnauthorized && path == "/v1/auth/validate": // its code names the credential's kind
				t.Logf("%s refused it %v after the revocation (bound %v)", path, time.Since(revokedAt).Round(time.Millisecond), revocationBound)
			case r.Status == http.StatusUnauthorized:
				expect(t, r, http.StatusUnauthorized, "invalid_token")
				t.Logf("%s refused it %v after the revocation (bound %v)", path, time.Since(revokedAt).Round(time.Millisecond), revocationBound)
			case r.Status == http.StatusForbidden && path != "/v1/auth/validate":
				// A revoked key's API key is deleted at once: while API Gateway still holds the
				// authorizer's cached Allow, the usage plan refuses the call (docs/usage-plans.md).
				expect(t, r, http.StatusForbidden, "key_not_provisioned")
				t.Logf("%s refused it (no usage plan) %v after the revocation (bound %v)", path, time.Since(revokedAt).Round(time.Millisecond), revocationBound)
			default:
				expect(t, r, http.StatusOK, "") // never anything but the old answer, 401, or the usage plan's 403
				if time.Since(revokedAt) > revocationBound+time.Second {
					t.Fatalf("%s still accepts it %v after the revocation; bound %v", path, time.Since(revokedAt), revocationBound)
				}
				still = append(still, path)
			}
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// Revoking a key, rotating it without grace, or revoking one access token reaches the
// authorizer and validate within AuthorizerCacheTTL + RevocationMaxAge, though both caches are
// on.
func TestRevocationReachesTheAuthorizerWithinTheBound(t *testing.T) {
	need(t)
	tests := []struct {
		name   string
		revoke func(t *testing.T, key, id, access string)
		useKey bool
	}{
		{"key revoked, access token", func(t *testing.T, _, id, _ string) {
			expect(t, call(t, http.MethodDelete, "/v1/keys/"+id, adminKey, nil), http.StatusOK, "")
		}, false},
		{"key revoked, API key", func(t *testing.T, _, id, _ string) {
			expect(t, call(t, http.MethodDelete, "/v1/keys/"+id, adminKey, nil), http.StatusOK, "")
		}, true},
		{"key rotated with grace 0, access token", func(t *testing.T, _, id, _ string) {
			expect(t, call(t, http.MethodPost, "/v1/keys/"+id+"/rotate", adminKey, map[string]any{"grace_period_seconds": 0}), http.StatusOK, "")
		}, false},
		{"access token revoked", func(t *testing.T, key, _, access string) {
			expect(t, call(t, http.MethodPost, "/v1/auth/revoke", key, map[string]any{"token": access}), http.StatusOK, "")
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
			access, _ := tokenFor(t, key, nil)
			cred := access
			if tt.useKey {
				cred = key
			}
			expect(t, call(t, http.MethodGet, "/v1/customers/c1", cred, nil), http.StatusOK, "")
			tt.revoke(t, key, id, access)
			refusedWithinTheBound(t, cred, time.Now())
		})
	}
}

// SECURITY-CASES 18: revoking a login (a refresh-token family) ends the access tokens minted in
// it, the first one and those its refreshes minted, at the authorizer and at validate within the
// revocation bound; another login of the same key keeps working. A family is revoked when a
// spent refresh token comes back after the grace window (here a thief spent the victim's first,
// so the victim's own refresh is the reuse) or when its key revokes a refresh token (RFC 7009).
func TestRevokingAFamilyEndsItsAccessTokensAtTheAuthorizer(t *testing.T) {
	need(t)
	tests := []struct {
		name string
		// revoke revokes the family; spent is its first refresh token, current its successor.
		revoke func(t *testing.T, key, spent, current string)
	}{
		{"the victim refreshes after the thief spent its refresh token", func(t *testing.T, _, spent, _ string) {
			time.Sleep(refreshGrace + 100*time.Millisecond)
			expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": spent}), http.StatusBadRequest, "invalid_grant")
		}},
		{"the key revokes the current refresh token (RFC 7009)", func(t *testing.T, key, _, current string) {
			expect(t, call(t, http.MethodPost, "/v1/auth/revoke", key, map[string]any{"token": current, "token_type_hint": "refresh_token"}), http.StatusOK, "")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
			at1, rt1 := tokenFor(t, key, nil)
			r := call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt1})
			expect(t, r, http.StatusOK, "")
			at2, rt2 := r.json(t)["access_token"].(string), r.json(t)["refresh_token"].(string)
			remember(at2, rt2)
			otherLogin, _ := tokenFor(t, key, nil)
			// Each token is presented once before the revocation: API Gateway caches the Allow
			// for AuthorizerCacheTTL, which the bound includes.
			for _, at := range []string{at1, at2, otherLogin} {
				expect(t, call(t, http.MethodGet, "/v1/customers/c1", at, nil), http.StatusOK, "")
				expect(t, call(t, http.MethodGet, "/v1/auth/validate", at, nil), http.StatusOK, "")
			}

			tt.revoke(t, key, rt1, rt2)
			revokedAt := time.Now()
			for _, at := range []struct{ name, token string }{{"the login's first access token", at1}, {"the access token its refresh minted", at2}} {
				t.Run(at.name, func(t *testing.T) { refusedWithinTheBound(t, at.token, revokedAt) })
			}
			expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt2}), http.StatusBadRequest, "invalid_grant")

			// Past the bound the authorizer answers for the other login afresh, from the same
			// key's revocation state: it was not revoked.
			time.Sleep(time.Until(revokedAt.Add(revocationBound)))
			expect(t, call(t, http.MethodGet, "/v1/customers/c1", otherLogin, nil), http.StatusOK, "")
			expect(t, call(t, http.MethodGet, "/v1/auth/validate", otherLogin, nil), http.StatusOK, "")
		})
	}
}
