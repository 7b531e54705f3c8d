package e2e_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTokenResponseFollowsTheContract(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"inference:read", "inference:write"}, "rate_limit": 100})
	// The key may come in the body or as a bearer credential.
	for _, tc := range []struct {
		name   string
		bearer string
		body   any
	}{
		{"key in the body", "", map[string]any{"api_key": key, "scopes": []string{"inference:read"}, "expires_in": 120}},
		{"key as bearer", key, map[string]any{"scopes": []string{"inference:read"}, "expires_in": 120}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, http.MethodPost, "/v1/auth/token", tc.bearer, tc.body)
			expect(t, r, http.StatusOK, "")
			m := r.json(t)
			if m["token_type"] != "Bearer" || m["expires_in"].(float64) != 120 || m["scope"] != "inference:read" {
				t.Fatalf("response %s", r.Body)
			}
			if rt, _ := m["refresh_token"].(string); !strings.HasPrefix(rt, "kgr_") || strings.Count(rt, ".") != 0 {
				t.Fatalf("refresh token %q is not opaque", rt)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
			}
			for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
				if r.Header.Get(h) == "" {
					t.Errorf("missing %s", h)
				}
			}
		})
	}
}

// At least 25 ways to get the token request wrong, each answered with a status and a code.
func TestTokenEndpointRefusesBadInput(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	other := "kg_live_" + key[len("kg_test_"):]
	// The last checksum character changed to one it is not ('0' or '1' picked by the low bit
	// was the key itself whenever it ended in one of them: 2 runs in 62).
	last := byte('0')
	if key[len(key)-1] == last {
		last = '1'
	}
	flipped := key[:len(key)-1] + string(last)
	for _, tc := range []struct {
		name   string
		bearer string
		body   any
		status int
		code   string
	}{
		{"no credentials", "", map[string]any{}, 401, "invalid_api_key"},
		{"empty body and no bearer", "", nil, 401, "invalid_api_key"},
		{"an unknown key", "", map[string]any{"api_key": "kg_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_000000"}, 401, "invalid_api_key"},
		{"a checksum typo", "", map[string]any{"api_key": flipped}, 401, "invalid_api_key"},
		{"a key of another environment", "", map[string]any{"api_key": other}, 401, "invalid_api_key"},
		{"an empty key", "", map[string]any{"api_key": ""}, 401, "invalid_api_key"},
		{"a 1 MB key", "", map[string]any{"api_key": strings.Repeat("k", 1<<20)}, 413, "request_too_large"},
		{"a 10 KB bearer", strings.Repeat("k", 10<<10), nil, 401, "invalid_api_key"},
		{"key in body and bearer", key, map[string]any{"api_key": key}, 400, "invalid_request"},
		{"not JSON", "", "api_key=" + key, 400, "invalid_request"},
		{"a JSON array", "", `["` + key + `"]`, 400, "invalid_request"},
		{"two JSON objects", "", `{"api_key":"` + key + `"}{}`, 400, "invalid_request"},
		{"an unknown field", "", map[string]any{"api_key": key, "grant_type": "x"}, 400, "invalid_request"},
		{"api_key of the wrong type", "", map[string]any{"api_key": 42}, 400, "invalid_request"},
		{"an unknown scope", "", map[string]any{"api_key": key, "scopes": []string{"root:all"}}, 400, "invalid_scope"},
		{"a scope the key lacks", "", map[string]any{"api_key": key, "scopes": []string{"customers:delete"}}, 400, "invalid_scope"},
		{"a huge scopes array", "", map[string]any{"api_key": key, "scopes": strings.Split(strings.Repeat("customers:read,", 200), ",")}, 400, "invalid_scope"},
		{"scopes not an array", "", map[string]any{"api_key": key, "scopes": "customers:read"}, 400, "invalid_request"},
		{"expires_in 0", "", map[string]any{"api_key": key, "expires_in": 0}, 400, "invalid_request"},
		{"expires_in negative", "", map[string]any{"api_key": key, "expires_in": -1}, 400, "invalid_request"},
		{"expires_in 59", "", map[string]any{"api_key": key, "expires_in": 59}, 400, "invalid_request"},
		{"expires_in above a day", "", map[string]any{"api_key": key, "expires_in": 86401}, 400, "invalid_request"},
		{"expires_in a string", "", map[string]any{"api_key": key, "expires_in": "3600"}, 400, "invalid_request"},
		{"expires_in a float", "", map[string]any{"api_key": key, "expires_in": 60.5}, 400, "invalid_request"},
		{"customer_id empty", "", map[string]any{"api_key": key, "customer_id": ""}, 400, "invalid_request"},
		{"customer_id 129 chars", "", map[string]any{"api_key": key, "customer_id": strings.Repeat("c", 129)}, 400, "invalid_request"},
		{"customer_id with a slash", "", map[string]any{"api_key": key, "customer_id": "a/b"}, 400, "invalid_request"},
		{"customer_id with unicode", "", map[string]any{"api_key": key, "customer_id": "kündin"}, 400, "invalid_request"},
		{"a body over 16 KB", "", map[string]any{"api_key": key, "customer_id": strings.Repeat("c", 17<<10)}, 413, "request_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, http.MethodPost, "/v1/auth/token", tc.bearer, tc.body)
			expect(t, r, tc.status, tc.code)
			if len(key) > 0 && strings.Contains(string(r.Body), key) {
				t.Fatal("the response echoes the key")
			}
		})
	}
}

func TestEveryAPIKeyFailureLooksTheSame(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	bodies := map[string]string{}
	for name, k := range map[string]string{
		"unknown":   "kg_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_000000",
		"checksum":  key[:len(key)-2] + "zz",
		"other env": "kg_live_" + key[len("kg_test_"):],
		"garbage":   "kg_x",
	} {
		r := call(t, http.MethodPost, "/v1/auth/token", k, nil)
		expect(t, r, http.StatusUnauthorized, "invalid_api_key")
		bodies[name] = string(r.Body)
	}
	first := ""
	for name, b := range bodies {
		if first == "" {
			first = b
		} else if b != first {
			t.Errorf("%s answered %s, others %s", name, b, first)
		}
	}
}

func TestRefreshRotatesAndDetectsReuse(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read", "customers:write"}})
	_, rt1 := tokenFor(t, key, map[string]any{"customer_id": "c-1"})

	r := call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt1, "scopes": []string{"customers:read"}})
	expect(t, r, http.StatusOK, "")
	m := r.json(t)
	rt2 := m["refresh_token"].(string)
	if rt2 == rt1 || m["scope"] != "customers:read" {
		t.Fatalf("refresh answered %s", r.Body)
	}
	// Scopes only narrow.
	expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt2, "scopes": []string{"customers:write"}}), 400, "invalid_scope")
	// A retry inside the grace window gets the very same successor.
	r = call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt1, "scopes": []string{"customers:read"}})
	expect(t, r, http.StatusOK, "")
	if got := r.json(t)["refresh_token"]; got != rt2 {
		t.Fatalf("retry in grace got %v, want the same successor", got)
	}
	// After the grace window, reuse revokes the whole family.
	time.Sleep(refreshGrace + 100*time.Millisecond)
	expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt1}), 400, "invalid_grant")
	expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt2}), 400, "invalid_grant")
}

func TestTwentyConcurrentRefreshesYieldOneSuccessor(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	_, rt := tokenFor(t, key, nil)
	var wg sync.WaitGroup
	results := make([]response, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt})
		}()
	}
	wg.Wait()
	successors := map[string]int{}
	for _, r := range results {
		switch r.Status {
		case http.StatusOK:
			successors[r.json(t)["refresh_token"].(string)]++
		case http.StatusBadRequest:
			if r.errorCode(t) != "invalid_grant" {
				t.Fatalf("loser answered %s", r.Body)
			}
		default:
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	}
	if len(successors) != 1 {
		t.Fatalf("%d distinct successors, want exactly 1: %v", len(successors), successors)
	}
	for succ := range successors {
		expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": succ}), http.StatusOK, "")
	}
}

func TestRefreshFailsForRevokedKeysAndNonRefreshTokens(t *testing.T) {
	need(t)
	key, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	access, rt := tokenFor(t, key, nil)
	expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": access}), 400, "invalid_grant")
	expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": "kgr_" + strings.Repeat("A", 43)}), 400, "invalid_grant")
	expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{}), 400, "invalid_request")
	expect(t, call(t, http.MethodDelete, "/v1/keys/"+id, adminKey, nil), http.StatusOK, "")
	expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt}), 400, "invalid_grant")
}

func TestRevokeEndsRefreshFamiliesAndAccessTokens(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	otherKey, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	access, rt := tokenFor(t, key, nil)

	// Another key cannot revoke it (and is not told whether it exists).
	expect(t, call(t, http.MethodPost, "/v1/auth/revoke", otherKey, map[string]any{"token": rt}), http.StatusOK, "")
	expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt}), http.StatusOK, "")

	_, rt = tokenFor(t, key, nil)
	expect(t, call(t, http.MethodPost, "/v1/auth/revoke", key, map[string]any{"token": rt, "token_type_hint": "refresh_token"}), http.StatusOK, "")
	expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt}), 400, "invalid_grant")

	expect(t, call(t, http.MethodGet, "/v1/auth/validate", access, nil), http.StatusOK, "")
	expect(t, call(t, http.MethodPost, "/v1/auth/revoke", key, map[string]any{"token": access}), http.StatusOK, "")
	expect(t, call(t, http.MethodGet, "/v1/auth/validate", access, nil), http.StatusUnauthorized, "invalid_token")

	expect(t, call(t, http.MethodPost, "/v1/auth/revoke", key, map[string]any{"token": "whatever"}), http.StatusOK, "")
	expect(t, call(t, http.MethodPost, "/v1/auth/revoke", "", map[string]any{"token": "whatever"}), http.StatusUnauthorized, "invalid_api_key")
	expect(t, call(t, http.MethodPost, "/v1/auth/revoke", key, map[string]any{"token": "x", "token_type_hint": "id_token"}), http.StatusBadRequest, "invalid_request")
}

func TestIPAllowlistUsesTheGatewaySourceIP(t *testing.T) {
	need(t)
	// The test client is 127.0.0.1; X-Forwarded-For must not help.
	outside, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "allowed_ips": []string{"203.0.113.0/24", "2001:db8::/32"}})
	r := call(t, http.MethodPost, "/v1/auth/token", outside, nil)
	expect(t, r, http.StatusForbidden, "ip_not_allowed")
	expect(t, call(t, http.MethodGet, "/v1/auth/validate", outside, nil), http.StatusForbidden, "ip_not_allowed")

	inside, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "allowed_ips": []string{"127.0.0.0/8"}})
	_, rt := tokenFor(t, inside, nil)
	expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt}), http.StatusOK, "")
	expect(t, call(t, http.MethodGet, "/v1/auth/validate", inside, nil), http.StatusOK, "")
}

func TestRateLimitIsSharedAndAnswers429(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "rate_limit": 3})
	var last response
	for i := 0; i < 4; i++ {
		last = call(t, http.MethodPost, "/v1/auth/token", key, nil)
		if i < 3 {
			expect(t, last, http.StatusOK, "")
			if got := last.Header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(2-i) {
				// Requests may straddle a minute boundary; then the count restarts.
				t.Logf("X-RateLimit-Remaining = %s after %d requests", got, i+1)
			}
		}
	}
	if last.Status == http.StatusOK {
		t.Skip("the four requests straddled a minute boundary; the window restarted")
	}
	expect(t, last, http.StatusTooManyRequests, "rate_limit_exceeded")
	ra, err := strconv.Atoi(last.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After = %q", last.Header.Get("Retry-After"))
	}
	if body := last.json(t)["error"].(map[string]any); body["retry_after"].(float64) != float64(ra) {
		t.Fatalf("retry_after %v != Retry-After %d", body["retry_after"], ra)
	}
	if last.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("X-RateLimit-Remaining = %q on a 429", last.Header.Get("X-RateLimit-Remaining"))
	}
}

// A warm token request costs at most three DynamoDB round trips and no Secrets Manager call
// (counted by proxies in front of the emulators, so these are the real SDK clients' requests).
func TestWarmTokenRequestCostsAtMostThreeDynamoDBRoundTrips(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	tokenFor(t, key, nil) // warm the container and the key's last use
	for i := 0; i < 3; i++ {
		before, smBefore := ddbCalls.Snapshot(), smCalls.Snapshot()
		tokenFor(t, key, nil)
		ops, total := ddbCalls.Since(before)
		if total > 3 {
			t.Fatalf("warm token request made %d DynamoDB calls: %v", total, ops)
		}
		if ops["GetItem"] != 1 || ops["UpdateItem"] != 1 || ops["TransactWriteItems"] != 1 {
			t.Fatalf("unexpected DynamoDB calls %v", ops)
		}
		if sm, n := smCalls.Since(smBefore); n != 0 {
			t.Fatalf("warm token request made %d Secrets Manager calls: %v", n, sm)
		}
	}
}

// A key whose checksum does not match is refused before any storage is touched, on every path
// that accepts a key: token, validate, and the authorizer of a protected route.
func TestBadChecksumCostsZeroDynamoDBCalls(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	tokenFor(t, key, nil) // warm the containers: cold starts may read secrets, not keys
	call(t, "GET", "/v1/auth/validate", key, nil)
	call(t, "GET", "/v1/customers/c1", key, nil)
	bad := []byte(key)
	last := len(bad) - 1
	if bad[last] == 'a' {
		bad[last] = 'b'
	} else {
		bad[last] = 'a'
	}
	for _, tc := range []struct {
		name, method, path, bearer string
		body                       any
		status                     int
		code                       string
	}{
		{"token, key in body", "POST", "/v1/auth/token", "", map[string]any{"api_key": string(bad)}, 401, "invalid_api_key"},
		{"token, key as bearer", "POST", "/v1/auth/token", string(bad), map[string]any{}, 401, "invalid_api_key"},
		{"validate", "GET", "/v1/auth/validate", string(bad), nil, 401, ""},
		{"authorizer", "GET", "/v1/customers/c2", string(bad), nil, 401, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ddbCalls.Snapshot()
			r := call(t, tc.method, tc.path, tc.bearer, tc.body)
			if r.Status != tc.status || (tc.code != "" && r.errorCode(t) != tc.code) {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tc.status, tc.code)
			}
			if ops, n := ddbCalls.Since(before); n != 0 {
				t.Fatalf("bad checksum made %d DynamoDB calls: %v", n, ops)
			}
		})
	}
}
