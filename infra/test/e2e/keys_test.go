package e2e_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Issue 4 acceptance: create → use → rotate (both secrets work in the grace period, the old one
// fails after) → revoke (the key and its tokens fail), with an audit event for each action.
func TestKeyLifecycleCreateUseRotateRevoke(t *testing.T) {
	need(t)
	oldKey, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	oldAccess, _ := tokenFor(t, oldKey, nil)

	rotateAt := time.Now()
	r := call(t, http.MethodPost, "/v1/keys/"+id+"/rotate", adminKey, map[string]any{"grace_period_seconds": 3})
	expect(t, r, http.StatusOK, "")
	newKey := r.json(t)["key"].(string)
	if newKey == oldKey || !strings.HasPrefix(newKey, "kg_test_") {
		t.Fatalf("rotate returned %q", newKey)
	}
	// Inside the grace period both secrets work, and so do tokens minted before.
	expect(t, call(t, http.MethodGet, "/v1/auth/validate", oldAccess, nil), http.StatusOK, "")
	tokenFor(t, oldKey, nil)
	tokenFor(t, newKey, nil)
	if time.Since(rotateAt) > 3*time.Second {
		t.Fatalf("the grace-period checks took %v, longer than the grace period: the machine is too slow for this test", time.Since(rotateAt))
	}

	// The grace ends 3 s after the server handled the rotation, a little after rotateAt: poll.
	time.Sleep(time.Until(rotateAt.Add(3 * time.Second)))
	for deadline := time.Now().Add(2 * time.Second); ; {
		r := call(t, http.MethodPost, "/v1/auth/token", oldKey, nil)
		if r.Status == http.StatusUnauthorized || time.Now().After(deadline) {
			expect(t, r, http.StatusUnauthorized, "invalid_api_key")
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	expect(t, call(t, http.MethodGet, "/v1/auth/validate", oldAccess, nil), http.StatusUnauthorized, "invalid_token")
	newAccess, _ := tokenFor(t, newKey, nil)

	r = call(t, http.MethodDelete, "/v1/keys/"+id, adminKey, nil)
	expect(t, r, http.StatusOK, "")
	if r.json(t)["status"] != "revoked" {
		t.Fatalf("revoke answered %s", r.Body)
	}
	expect(t, call(t, http.MethodPost, "/v1/auth/token", newKey, nil), http.StatusUnauthorized, "invalid_api_key")
	expect(t, call(t, http.MethodGet, "/v1/auth/validate", newAccess, nil), http.StatusUnauthorized, "invalid_token")

	r = call(t, http.MethodGet, "/v1/keys/"+id+"/events", adminKey, nil)
	expect(t, r, http.StatusOK, "")
	actions := map[string]int{}
	for _, e := range r.json(t)["data"].([]any) {
		ev := e.(map[string]any)
		actions[ev["action"].(string)]++
		if ev["request_id"] == "" {
			t.Errorf("event without request id: %v", ev)
		}
	}
	for _, want := range []string{"key.created", "key.rotated", "key.revoked", "token.issued"} {
		if actions[want] == 0 {
			t.Errorf("no %s event; got %v", want, actions)
		}
	}
	if strings.Contains(string(r.Body), oldKey) || strings.Contains(string(r.Body), newKey) {
		t.Fatal("the audit trail contains a key")
	}
}

func TestRotationWithoutGraceKillsTheOldSecretAndItsTokensAtOnce(t *testing.T) {
	need(t)
	oldKey, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	access, _ := tokenFor(t, oldKey, nil)
	r := call(t, http.MethodPost, "/v1/keys/"+id+"/rotate", adminKey, map[string]any{"grace_period_seconds": 0})
	expect(t, r, http.StatusOK, "")
	expect(t, call(t, http.MethodPost, "/v1/auth/token", oldKey, nil), http.StatusUnauthorized, "invalid_api_key")
	expect(t, call(t, http.MethodGet, "/v1/auth/validate", access, nil), http.StatusUnauthorized, "invalid_token")
	tokenFor(t, r.json(t)["key"].(string), nil)
}

// The Location of a created key leads to it when resolved against the URL posted to.
func TestTheLocationOfACreatedKeyLeadsToIt(t *testing.T) {
	need(t)
	r := call(t, http.MethodPost, "/v1/keys", adminKey, map[string]any{"name": t.Name(), "scopes": []string{"customers:read"}})
	expect(t, r, http.StatusCreated, "")
	base, err := url.Parse(apiURL + "/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := base.Parse(r.Header.Get("Location"))
	if err != nil {
		t.Fatalf("Location %q: %v", r.Header.Get("Location"), err)
	}
	got := call(t, http.MethodGet, loc.Path, adminKey, nil)
	expect(t, got, http.StatusOK, "")
	if got.json(t)["key_id"] != r.json(t)["key_id"] {
		t.Fatalf("Location %s led to %s", loc.Path, got.Body)
	}
}

// Tokens carry their scopes: taking a scope away from a key ends the access and refresh tokens
// minted before (they would otherwise keep it until they expire, and refresh for ever); the
// client exchanges its key again and gets the narrower set.
func TestTakingAScopeAwayEndsTheKeysTokens(t *testing.T) {
	need(t)
	key, id := createKey(t, map[string]any{"scopes": []string{"customers:read", "billing:read"}})
	access, refreshTok := tokenFor(t, key, nil)

	r := call(t, http.MethodPatch, "/v1/keys/"+id, adminKey, map[string]any{"scopes": []string{"customers:read"}})
	expect(t, r, http.StatusOK, "")

	expect(t, call(t, http.MethodGet, "/v1/auth/validate", access, nil), http.StatusUnauthorized, "invalid_token")
	expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": refreshTok}), http.StatusBadRequest, "invalid_grant")
	r = call(t, http.MethodPost, "/v1/auth/token", "", map[string]any{"api_key": key})
	expect(t, r, http.StatusOK, "")
	if got := r.json(t)["scope"]; got != "customers:read" {
		t.Fatalf("a new token after the PATCH has scope %v, want customers:read", got)
	}
	// Adding a scope back ends nothing.
	fresh, _ := tokenFor(t, key, nil)
	expect(t, call(t, http.MethodPatch, "/v1/keys/"+id, adminKey, map[string]any{"scopes": []string{"customers:read", "billing:read"}}), http.StatusOK, "")
	expect(t, call(t, http.MethodGet, "/v1/auth/validate", fresh, nil), http.StatusOK, "")
}

func TestAdminAPIListsGetsAndUpdatesWithoutSecrets(t *testing.T) {
	need(t)
	key, id := createKey(t, map[string]any{"scopes": []string{"billing:read"}, "allowed_ips": []string{"10.0.0.0/8"}, "rate_limit": 50})
	r := call(t, http.MethodPatch, "/v1/keys/"+id, adminKey, map[string]any{"scopes": []string{"billing:read", "billing:write"}, "rate_limit": 60, "allowed_ips": []string{}})
	expect(t, r, http.StatusOK, "")
	got := r.json(t)
	if got["rate_limit"].(float64) != 60 || len(got["scopes"].([]any)) != 2 || len(got["allowed_ips"].([]any)) != 0 {
		t.Fatalf("update answered %s", r.Body)
	}
	r = call(t, http.MethodGet, "/v1/keys/"+id, adminKey, nil)
	expect(t, r, http.StatusOK, "")
	if r.json(t)["rate_limit"].(float64) != 60 {
		t.Fatalf("get after update: %s", r.Body)
	}
	// Pages of 1 walk the whole list; no page carries a secret or a hash.
	seen, cursor := map[string]bool{}, ""
	for i := 0; i < 1000; i++ {
		path := "/v1/keys?limit=1"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r = call(t, http.MethodGet, path, adminKey, nil)
		expect(t, r, http.StatusOK, "")
		for _, field := range []string{key, `"hash"`, `"key"`, "previous_hash"} {
			if strings.Contains(string(r.Body), field) {
				t.Fatalf("list page leaks %q: %s", field, r.Body)
			}
		}
		m := r.json(t)
		for _, k := range m["data"].([]any) {
			seen[k.(map[string]any)["key_id"].(string)] = true
		}
		next, _ := m["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if !seen[id] {
		t.Fatalf("paging through the list never showed %s", id)
	}
	// A forged cursor is the caller's mistake (400), whether it is garbage or well-formed but
	// pointing outside the listing (DynamoDB itself would refuse that query).
	foreign := base64.RawURLEncoding.EncodeToString([]byte(`{"pk":"id#key_x","list_pk":"other","list_sk":"x"}`))
	for _, c := range []string{"bogus", foreign} {
		expect(t, call(t, http.MethodGet, "/v1/keys?cursor="+c, adminKey, nil), http.StatusBadRequest, "invalid_request")
	}
	expect(t, call(t, http.MethodGet, "/v1/keys/key_doesnotexist0000000", adminKey, nil), http.StatusNotFound, "not_found")
}

func TestAdminAPIValidationSaysWhatToFix(t *testing.T) {
	need(t)
	_, id := createKey(t, map[string]any{"scopes": []string{"billing:read"}})
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		code   string
		hint   string
	}{
		{"an unknown scope lists the valid ones", "POST", "/v1/keys", map[string]any{"name": "x", "scopes": []string{"root"}}, "invalid_scope", "Valid scopes"},
		{"no scopes", "POST", "/v1/keys", map[string]any{"name": "x", "scopes": []string{}}, "invalid_scope", "at least one"},
		{"a CIDR with host bits set names the network", "POST", "/v1/keys", map[string]any{"name": "x", "scopes": []string{"billing:read"}, "allowed_ips": []string{"10.1.2.3/8"}}, "invalid_request", "10.0.0.0/8"},
		{"an IPv6 CIDR with host bits set", "POST", "/v1/keys", map[string]any{"name": "x", "scopes": []string{"billing:read"}, "allowed_ips": []string{"2001:db8::1/32"}}, "invalid_request", "2001:db8::/32"},
		{"a CIDR that does not parse", "POST", "/v1/keys", map[string]any{"name": "x", "scopes": []string{"billing:read"}, "allowed_ips": []string{"10.0.0.0/33"}}, "invalid_request", "CIDR"},
		{"rate_limit 0", "POST", "/v1/keys", map[string]any{"name": "x", "scopes": []string{"billing:read"}, "rate_limit": 0}, "invalid_request", "1 to 1000000"},
		{"rate_limit above a million", "POST", "/v1/keys", map[string]any{"name": "x", "scopes": []string{"billing:read"}, "rate_limit": 1000001}, "invalid_request", "1 to 1000000"},
		{"an empty name", "POST", "/v1/keys", map[string]any{"name": "", "scopes": []string{"billing:read"}}, "invalid_request", "name"},
		{"a 129-character name", "POST", "/v1/keys", map[string]any{"name": strings.Repeat("n", 129), "scopes": []string{"billing:read"}}, "invalid_request", "name"},
		{"a name with a control character", "POST", "/v1/keys", map[string]any{"name": "a\x07b", "scopes": []string{"billing:read"}}, "invalid_request", "printable"},
		{"expires_at in the past", "POST", "/v1/keys", map[string]any{"name": "x", "scopes": []string{"billing:read"}, "expires_at": past}, "invalid_request", "future"},
		{"expires_at not RFC 3339", "POST", "/v1/keys", map[string]any{"name": "x", "scopes": []string{"billing:read"}, "expires_at": "tomorrow"}, "invalid_request", "RFC 3339"},
		{"an unknown field", "POST", "/v1/keys", map[string]any{"name": "x", "scopes": []string{"billing:read"}, "admin": true}, "invalid_request", "admin"},
		{"a body over 16 KB", "POST", "/v1/keys", map[string]any{"name": "x", "scopes": []string{"billing:read"}, "owner_id": strings.Repeat("o", 17<<10)}, "request_too_large", ""},
		{"an empty update", "PATCH", "/v1/keys/" + id, map[string]any{}, "invalid_request", "Nothing to update"},
		{"a grace period over 7 days", "POST", "/v1/keys/" + id + "/rotate", map[string]any{"grace_period_seconds": 604801}, "invalid_request", "604800"},
		{"a negative grace period", "POST", "/v1/keys/" + id + "/rotate", map[string]any{"grace_period_seconds": -1}, "invalid_request", "604800"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, tc.method, tc.path, adminKey, tc.body)
			status := http.StatusBadRequest
			if tc.code == "request_too_large" {
				status = http.StatusRequestEntityTooLarge
			}
			expect(t, r, status, tc.code)
			if !strings.Contains(string(r.Body), tc.hint) {
				t.Errorf("message does not say %q: %s", tc.hint, r.Body)
			}
		})
	}
}
