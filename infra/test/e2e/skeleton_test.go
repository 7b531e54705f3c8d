package e2e_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// The walking skeleton: API key → POST /v1/auth/token → protected route with the JWT.
func TestThinPathFromAPIKeyToProtectedRoute(t *testing.T) {
	need(t)
	key, keyID := createKey(t, map[string]any{"scopes": []string{"customers:read", "customers:write"}, "tier": "startup"})
	access, _ := tokenFor(t, key, map[string]any{"customer_id": "cust-42"})

	r := call(t, http.MethodGet, "/v1/customers", access, nil)
	expect(t, r, http.StatusOK, "")
	body := r.json(t)
	ctx, _ := body["authorizer"].(map[string]any)
	want := map[string]string{"key_id": keyID, "customer_id": "cust-42", "tier": "startup", "token_type": "access_token", "scope": "customers:read customers:write"}
	for k, v := range want {
		if ctx[k] != v {
			t.Errorf("authorizer context %s = %v, want %q (context %v)", k, ctx[k], v, ctx)
		}
	}
	if ctx["principalId"] != keyID {
		t.Errorf("principalId = %v, want the key id (never the caller-chosen customer id)", ctx["principalId"])
	}
	if strings.Contains(string(r.Body), access) {
		t.Error("the backend received the token itself in its context")
	}
}

func TestGatewayAnswersInTheErrorShape(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	access, _ := tokenFor(t, key, nil)
	tampered := access[:len(access)-4] + "AAAA"

	for _, tc := range []struct {
		name, method, path, bearer string
		body                       any
		status                     int
		code                       string
	}{
		{"no credentials on a protected route is 401", http.MethodGet, "/v1/customers", "", nil, 401, "invalid_token"},
		{"a garbage token is 401", http.MethodGet, "/v1/customers", "not-a-token", nil, 401, "invalid_token"},
		{"a tampered signature is 401", http.MethodGet, "/v1/customers/7", tampered, nil, 401, "invalid_token"},
		{"a scope the token lacks is 403", http.MethodDelete, "/v1/customers/7", access, nil, 403, "insufficient_permissions"},
		{"the admin API without admin:full is 403", http.MethodGet, "/v1/keys", access, nil, 403, "insufficient_permissions"},
		{"an unknown route is 404", http.MethodGet, "/v1/nope", "", nil, 404, "not_found"},
		{"a wrong method on a known route is 405", http.MethodGet, "/v1/auth/token", "", nil, 405, "method_not_allowed"},
		{"a body over 10 MB is 413", http.MethodPost, "/v1/auth/token", "", strings.Repeat("x", 10<<20+1), 413, "request_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, tc.method, tc.path, tc.bearer, tc.body)
			expect(t, r, tc.status, tc.code)
			if tc.status == 405 && r.Header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", r.Header.Get("Allow"))
			}
		})
	}
}

func TestJWKSPublishesTheKeyThatSignsTokens(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"inference:read"}})
	access, _ := tokenFor(t, key, nil)
	header, err := base64.RawURLEncoding.DecodeString(strings.Split(access, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Alg, Kid, Typ string }
	if err := json.Unmarshal(header, &h); err != nil {
		t.Fatal(err)
	}
	if h.Alg != "RS256" || h.Typ != "at+jwt" || h.Kid == "" {
		t.Fatalf("token header = %+v, want RS256 at+jwt with a kid", h)
	}
	r := call(t, http.MethodGet, "/.well-known/jwks.json", "", nil)
	expect(t, r, http.StatusOK, "")
	if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control = %q", cc)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(r.Body, &set); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS serves private member %q", private)
			}
		}
		if k["kid"] == h.Kid {
			found = true
		}
	}
	if !found {
		t.Fatalf("JWKS %s lacks the signing kid %s", r.Body, h.Kid)
	}
}
