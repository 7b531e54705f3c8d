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

// The backend receives the authorizer's flat context, never the credential.
func TestTheBackendGetsTheContextNotTheToken(t *testing.T) {
	need(t)
	key, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "tier": "pro", "rate_limit": 77})
	access, _ := tokenFor(t, key, map[string]any{"customer_id": "cus_9"})
	r := call(t, http.MethodGet, "/v1/customers/c1", access, nil)
	expect(t, r, http.StatusOK, "")
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin = %q, want the template's default *", got)
	}
	body := r.json(t)
	ctx, _ := body["authorizer"].(map[string]any)
	want := map[string]string{"key_id": id, "customer_id": "cus_9", "scope": "customers:read", "tier": "pro",
		"token_type": "access_token", "rate_limit": "77", "principalId": "cus_9"}
	for k, v := range want {
		if ctx[k] != v {
			t.Errorf("context[%s] = %v, want %q (body %s)", k, ctx[k], v, r.Body)
		}
	}
	if strings.Contains(string(r.Body), access) {
		t.Error("the backend saw the access token")
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

// Revoking a key, rotating it without grace, or revoking one access token reaches the
// authorizer within AuthorizerCacheTTL + RevocationMaxAge, though both caches are on.
func TestRevocationReachesTheAuthorizerWithinTheBound(t *testing.T) {
	need(t)
	bound := time.Duration(authorizerCacheTTL+revocationMaxAge) * time.Second
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
			revokedAt := time.Now()
			for {
				r := call(t, http.MethodGet, "/v1/customers/c1", cred, nil)
				if r.Status == http.StatusUnauthorized {
					expect(t, r, http.StatusUnauthorized, "invalid_token")
					t.Logf("refused %v after the revocation (bound %v)", time.Since(revokedAt).Round(time.Millisecond), bound)
					return
				}
				expect(t, r, http.StatusOK, "") // never anything but the old answer or 401
				if time.Since(revokedAt) > bound+time.Second {
					t.Fatalf("still allowed %v after the revocation; bound %v", time.Since(revokedAt), bound)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}
