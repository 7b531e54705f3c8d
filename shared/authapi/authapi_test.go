package authapi_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/policy"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

type badInput struct {
	name   string
	req    func(t *testing.T, e *env, key string) events.APIGatewayProxyRequest
	status int
	code   string
	msgHas []string
}

func body(s string) func(*testing.T, *env, string) events.APIGatewayProxyRequest {
	return func(_ *testing.T, _ *env, key string) events.APIGatewayProxyRequest {
		return tokenRequest(strings.ReplaceAll(s, "$KEY", key), nil)
	}
}

func withKey(fields string) func(*testing.T, *env, string) events.APIGatewayProxyRequest {
	return body(`{"api_key":"$KEY"` + fields + `}`)
}

func TestTokenRefusesBadInput(t *testing.T) {
	manyScopes := make([]string, policy.MaxScopes+1)
	for i := range manyScopes {
		manyScopes[i] = "customers:read"
	}
	otherKey := func(tweak func(*store.Key)) func(*testing.T, *env, string) events.APIGatewayProxyRequest {
		return func(t *testing.T, e *env, _ string) events.APIGatewayProxyRequest {
			raw, _ := e.addKey(t, tweak)
			return tokenRequest(jsonBody(map[string]string{"api_key": raw}), nil)
		}
	}
	tests := []badInput{
		{"a body that is not JSON", body(`api_key=$KEY`), 400, "invalid_request", nil},
		{"a body over 16 KB", body(`{"api_key":"$KEY","customer_id":"` + strings.Repeat("a", 17<<10) + `"}`), 413, "request_too_large", nil},
		{"an unknown field", withKey(`,"grant_type":"client_credentials"`), 400, "invalid_request", []string{"grant_type"}},
		{"a JSON array", body(`["$KEY"]`), 400, "invalid_request", nil},
		{"trailing data after the object", body(`{"api_key":"$KEY"} {}`), 400, "invalid_request", nil},
		{"api_key as a number", body(`{"api_key":12345}`), 400, "invalid_request", []string{"api_key"}},
		{"a body that is invalid base64", func(_ *testing.T, _ *env, key string) events.APIGatewayProxyRequest {
			r := tokenRequest("%%%"+key, nil)
			r.IsBase64Encoded = true
			return r
		}, 400, "invalid_request", nil},
		{"a text/plain body", func(_ *testing.T, _ *env, key string) events.APIGatewayProxyRequest {
			return tokenRequest(`{"api_key":"`+key+`"}`, map[string]string{"Content-Type": "text/plain"})
		}, 415, "invalid_request", nil},
		{"a form body", func(_ *testing.T, _ *env, key string) events.APIGatewayProxyRequest {
			return tokenRequest("api_key="+key, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		}, 415, "invalid_request", nil},
		{"the key in the body and in the header", func(_ *testing.T, _ *env, key string) events.APIGatewayProxyRequest {
			return tokenRequest(`{"api_key":"`+key+`"}`, map[string]string{"Authorization": "Bearer " + key})
		}, 400, "invalid_request", []string{"not both"}},
		{"two different Authorization values", func(_ *testing.T, _ *env, key string) events.APIGatewayProxyRequest {
			ev := tokenRequest(``, map[string]string{"Authorization": "Bearer " + key})
			ev.MultiValueHeaders = map[string][]string{"Authorization": {"Bearer " + key, "Bearer kg_live_other"}}
			return ev
		}, 400, "invalid_request", []string{"one Authorization header"}},
		{"no credentials at all", body(``), 401, "invalid_api_key", nil},
		{"an empty object", body(`{}`), 401, "invalid_api_key", nil},
		{"a Basic credential only", func(_ *testing.T, _ *env, _ string) events.APIGatewayProxyRequest {
			return tokenRequest(``, map[string]string{"Authorization": "Basic dXNlcjpwYXNz"})
		}, 401, "invalid_api_key", nil},
		{"customer_id with a space", withKey(`,"customer_id":"cus 42"`), 400, "invalid_request", []string{"customer_id"}},
		{"customer_id with a slash", withKey(`,"customer_id":"cus/../42"`), 400, "invalid_request", []string{"customer_id"}},
		{"customer_id of 129 characters", withKey(`,"customer_id":"` + strings.Repeat("c", 129) + `"`), 400, "invalid_request", []string{"customer_id"}},
		{"an empty customer_id", withKey(`,"customer_id":""`), 400, "invalid_request", []string{"customer_id"}},
		{"a non-ASCII customer_id", withKey(`,"customer_id":"cüs_42"`), 400, "invalid_request", []string{"customer_id"}},
		{"customer_id as a number", withKey(`,"customer_id":42`), 400, "invalid_request", []string{"customer_id"}},
		{"an unknown scope", withKey(`,"scopes":["foo:bar"]`), 400, "invalid_scope", append([]string{"foo:bar"}, policy.All...)},
		{"a scope the key does not hold", withKey(`,"scopes":["customers:read","customers:write"]`), 400, "invalid_scope", []string{"customers:write"}},
		{"admin:full on a key without it", withKey(`,"scopes":["admin:full"]`), 400, "invalid_scope", []string{"admin:full"}},
		{"more than MaxScopes scopes", withKey(`,"scopes":` + jsonBody(manyScopes)), 400, "invalid_scope", nil},
		{"scopes as a string", withKey(`,"scopes":"customers:read"`), 400, "invalid_request", []string{"scopes"}},
		{"a 10 KB scope", withKey(`,"scopes":["` + strings.Repeat("s", 10<<10) + `"]`), 400, "invalid_scope", nil},
		{"expires_in 59", withKey(`,"expires_in":59`), 400, "invalid_request", []string{"expires_in", "60", "86400"}},
		{"expires_in 86401", withKey(`,"expires_in":86401`), 400, "invalid_request", []string{"expires_in"}},
		{"expires_in 0", withKey(`,"expires_in":0`), 400, "invalid_request", []string{"expires_in"}},
		{"expires_in -1", withKey(`,"expires_in":-1`), 400, "invalid_request", []string{"expires_in"}},
		{"expires_in as a string", withKey(`,"expires_in":"3600"`), 400, "invalid_request", []string{"expires_in"}},
		{"expires_in as a fraction", withKey(`,"expires_in":3600.5`), 400, "invalid_request", []string{"expires_in"}},
		{"expires_in that overflows a Duration", withKey(`,"expires_in":9223372037`), 400, "invalid_request", []string{"expires_in"}},
		{"expires_in of ten billion seconds", withKey(`,"expires_in":10000000000`), 400, "invalid_request", []string{"expires_in"}},
		{"expires_in beyond int64", withKey(`,"expires_in":1e30`), 400, "invalid_request", []string{"expires_in"}},
		{"a key with a bad checksum", func(_ *testing.T, _ *env, key string) events.APIGatewayProxyRequest {
			return tokenRequest(jsonBody(map[string]string{"api_key": mutate(key)}), nil)
		}, 401, "invalid_api_key", nil},
		{"an unknown key", func(_ *testing.T, _ *env, _ string) events.APIGatewayProxyRequest {
			raw, _ := apikey.Generate("kg_live", rand.Reader)
			return tokenRequest(jsonBody(map[string]string{"api_key": raw}), nil)
		}, 401, "invalid_api_key", nil},
		{"a key of another environment", func(_ *testing.T, _ *env, _ string) events.APIGatewayProxyRequest {
			raw, _ := apikey.Generate("kg_test", rand.Reader)
			return tokenRequest(jsonBody(map[string]string{"api_key": raw}), nil)
		}, 401, "invalid_api_key", nil},
		{"a revoked key", otherKey(func(k *store.Key) { k.Status = store.StatusRevoked }), 401, "invalid_api_key", nil},
		{"an expired key", otherKey(func(k *store.Key) { k.ExpiresAt = start.Add(-time.Second) }), 401, "invalid_api_key", nil},
		{"a key used outside its allowed_ips", otherKey(func(k *store.Key) { k.AllowedIPs = []string{"198.51.100.0/24"} }), 403, "ip_not_allowed", nil},
		{"the wrong method", func(_ *testing.T, _ *env, key string) events.APIGatewayProxyRequest {
			r := tokenRequest(`{"api_key":"`+key+`"}`, nil)
			r.HTTPMethod = "GET"
			return r
		}, 405, "method_not_allowed", nil},
	}
	if len(tests) < 25 {
		t.Fatalf("only %d bad-input rows", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			key, _ := e.addKey(t, nil)
			ev := tt.req(t, e, key)
			resp := e.token(t, ev)
			if resp.StatusCode != tt.status || resp.Error == nil || resp.Error["code"] != tt.code {
				t.Fatalf("got %d %v %v, want %d %s", resp.StatusCode, resp.Error, resp.Payload["expires_in"], tt.status, tt.code)
			}
			msg, _ := resp.Error["message"].(string)
			for _, want := range tt.msgHas {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not mention %q", msg, want)
				}
			}
			if len(msg) > 1024 {
				t.Errorf("message is %d bytes; it must not echo large input", len(msg))
			}
			if resp.Headers["Cache-Control"] != "no-store" {
				t.Errorf("Cache-Control = %q", resp.Headers["Cache-Control"])
			}
			assertNoLeak(t, "response", resp.Body, key, strings.TrimPrefix(ev.Headers["Authorization"], "Bearer "))
			assertNoLeak(t, "log", e.logs.String(), key)
			if e.tokens.familyCount() != 0 {
				t.Errorf("a refused request created a refresh-token family")
			}
		})
	}
}

// mutate changes one secret character, keeping the format (so only the checksum fails).
func mutate(key string) string {
	i := len("kg_live_") + 3
	c := byte('A')
	if key[i] == 'A' {
		c = 'B'
	}
	return key[:i] + string(c) + key[i+1:]
}

func TestTokenIssuesAnAccessTokenAndARefreshToken(t *testing.T) {
	e := newEnv(t)
	key, k := e.addKey(t, nil)
	tests := []struct {
		name       string
		ev         events.APIGatewayProxyRequest
		wantScope  string
		wantTTL    int
		wantSub    string
		wantCustID string
	}{
		{"the key in the body, all held scopes", tokenRequest(jsonBody(map[string]string{"api_key": key}), nil),
			"customers:read billing:read", 3600, k.KeyID, ""},
		{"the key as a bearer credential", tokenRequest(``, map[string]string{"Authorization": "Bearer " + key, "Content-Type": ""}),
			"customers:read billing:read", 3600, k.KeyID, ""},
		{"a subset of scopes, a customer and a lifetime", tokenRequest(jsonBody(map[string]any{
			"api_key": key, "scopes": []string{"billing:read", "billing:read"}, "customer_id": "cus_42", "expires_in": 600,
		}), nil), "billing:read", 600, k.KeyID + ":cus_42", "cus_42"},
		{"the maximum lifetime", tokenRequest(jsonBody(map[string]any{"api_key": key, "expires_in": 86400}), nil),
			"customers:read billing:read", 86400, k.KeyID, ""},
		{"the minimum lifetime", tokenRequest(jsonBody(map[string]any{"api_key": key, "expires_in": 60}), nil),
			"customers:read billing:read", 60, k.KeyID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			families := e.tokens.familyCount()
			resp := e.token(t, tt.ev)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
			}
			p := resp.Payload
			if p["token_type"] != "Bearer" || p["scope"] != tt.wantScope || p["expires_in"] != float64(tt.wantTTL) {
				t.Errorf("response = %v", p)
			}
			var keys []string
			for k := range p {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if want := []string{"access_token", "expires_in", "refresh_token", "scope", "token_type"}; !slices.Equal(keys, want) {
				t.Errorf("response members = %v, want %v", keys, want)
			}
			if rt, _ := p["refresh_token"].(string); !strings.HasPrefix(rt, "kgr_") || len(rt) != len("kgr_")+43 {
				t.Errorf("refresh_token = %q", rt)
			}
			if resp.Headers["Cache-Control"] != "no-store" || resp.Headers["Content-Type"] != "application/json" {
				t.Errorf("headers = %v, want Cache-Control no-store", resp.Headers)
			}
			if resp.Headers["X-RateLimit-Limit"] != "100" {
				t.Errorf("X-RateLimit-Limit = %q", resp.Headers["X-RateLimit-Limit"])
			}
			access, _ := p["access_token"].(string)
			c, err := e.verifier.Verify(ctx, access)
			if err != nil {
				t.Fatalf("the access token does not verify: %v", err)
			}
			if c.Scope != tt.wantScope || c.Subject != tt.wantSub || c.CustomerID != tt.wantCustID || c.KeyID != k.KeyID ||
				c.KeyGen != k.KeyGen || c.Tier != "pro" || c.RateLimit != 100 || c.OwnerID != k.OwnerID {
				t.Errorf("claims = %+v", c)
			}
			// The token names its login (refresh-token family), so revoking the family ends it.
			if fams := e.tokens.familyIDs(); c.FamilyID == "" || !slices.Contains(fams, c.FamilyID) {
				t.Errorf("fid = %q, want the new family (families %v)", c.FamilyID, fams)
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != time.Duration(tt.wantTTL)*time.Second {
				t.Errorf("exp - iat = %v, want %ds", got, tt.wantTTL)
			}
			if e.tokens.familyCount() != families+1 {
				t.Errorf("no refresh-token family was created")
			}
			assertNoLeak(t, "log", e.logs.String(), key, access, p["refresh_token"].(string))
		})
	}
	page, err := e.keys.ListEvents(ctx, k.KeyID, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range page.Events {
		assertNoLeak(t, "audit event", fmt.Sprintf("%+v", ev), key, k.Hash)
	}
}

func TestAnAdminKeyMayRequestAnyScope(t *testing.T) {
	e := newEnv(t)
	key, _ := e.addKey(t, func(k *store.Key) { k.Scopes = []string{policy.Admin} })
	resp := e.token(t, tokenRequest(jsonBody(map[string]any{"api_key": key, "scopes": []string{"customers:delete", "webhooks:write"}}), nil))
	if resp.StatusCode != 200 || resp.Payload["scope"] != "customers:delete webhooks:write" {
		t.Errorf("got %d %v", resp.StatusCode, resp.Payload)
	}
}

func TestTokenDependencyFailuresAre503NotAuthErrors(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(e *env)
		status int
		code   string
	}{
		{"the rate limiter refuses", func(e *env) { e.limiter.refuse = true }, 429, "rate_limit_exceeded"},
		{"the rate limiter is down", func(e *env) { e.limiter.err = errOutage }, 503, "service_unavailable"},
		{"Secrets Manager is down at cold start", func(e *env) { e.sm.Fail(errOutage) }, 503, "service_unavailable"},
		{"the token store is down", func(e *env) { e.tokens.fail(errOutage) }, 503, "service_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			key, _ := e.addKey(t, nil)
			tt.break_(e)
			resp := e.token(t, tokenRequest(jsonBody(map[string]string{"api_key": key}), nil))
			if resp.StatusCode != tt.status || resp.Error["code"] != tt.code {
				t.Fatalf("got %d %v, want %d %s", resp.StatusCode, resp.Error, tt.status, tt.code)
			}
			if resp.Headers["Retry-After"] == "" || resp.Error["retry_after"] == nil {
				t.Errorf("a %d without Retry-After (headers %v)", tt.status, resp.Headers)
			}
			if strings.Contains(resp.Body, "10.0.0.1") || strings.Contains(resp.Body, "timeout") {
				t.Errorf("the body leaks the cause: %s", resp.Body)
			}
			assertNoLeak(t, "log", e.logs.String(), key)
		})
	}
}

// SECURITY-CASES 12: every way an API key can be wrong gets the very same 401 body.
func TestEveryAPIKeyFailureGetsTheIdenticalBody(t *testing.T) {
	e := newEnv(t)
	good, _ := e.addKey(t, nil)
	revoked, _ := e.addKey(t, func(k *store.Key) { k.Status = store.StatusRevoked })
	expired, _ := e.addKey(t, func(k *store.Key) { k.ExpiresAt = start.Add(-time.Hour) })
	unknown, _ := apikey.Generate("kg_live", rand.Reader)
	otherEnv, _ := apikey.Generate("kg_test", rand.Reader)
	cases := map[string]events.APIGatewayProxyRequest{
		"unknown key":          tokenRequest(jsonBody(map[string]string{"api_key": unknown}), nil),
		"bad checksum":         tokenRequest(jsonBody(map[string]string{"api_key": mutate(good)}), nil),
		"wrong environment":    tokenRequest(jsonBody(map[string]string{"api_key": otherEnv}), nil),
		"revoked":              tokenRequest(jsonBody(map[string]string{"api_key": revoked}), nil),
		"expired":              tokenRequest(jsonBody(map[string]string{"api_key": expired}), nil),
		"garbage bearer":       tokenRequest(``, map[string]string{"Authorization": "Bearer nonsense"}),
		"empty api_key":        tokenRequest(`{"api_key":""}`, nil),
		"a 9 KB bearer key":    tokenRequest(``, map[string]string{"Authorization": "Bearer kg_live_" + strings.Repeat("A", 9<<10)}),
		"a 10 KB api_key body": tokenRequest(jsonBody(map[string]string{"api_key": "kg_live_" + strings.Repeat("A", 10<<10)}), nil),
	}
	want := e.token(t, cases["unknown key"])
	if want.StatusCode != 401 {
		t.Fatalf("unknown key = %d", want.StatusCode)
	}
	for name, ev := range cases {
		got := e.token(t, ev)
		if got.StatusCode != want.StatusCode || got.Body != want.Body {
			t.Errorf("%s: %d %s\nwant the same body as an unknown key: %d %s", name, got.StatusCode, got.Body, want.StatusCode, want.Body)
		}
	}
}

func TestValidateDescribesAnAPIKey(t *testing.T) {
	e := newEnv(t)
	key, k := e.addKey(t, func(k *store.Key) { k.ExpiresAt = start.Add(48 * time.Hour) })
	resp := e.validate(t, validateRequest(key))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	p := resp.Payload
	if p["valid"] != true || p["key_id"] != k.KeyID || p["token_type"] != "api_key" || p["tier"] != "pro" ||
		p["rate_limit"] != float64(100) || p["expires_at"] != "2025-06-03T12:00:00Z" {
		t.Errorf("response = %v", p)
	}
	if fmt.Sprint(p["scopes"]) != "[customers:read billing:read]" {
		t.Errorf("scopes = %v", p["scopes"])
	}
	if resp.Headers["Cache-Control"] != "no-store" {
		t.Errorf("Cache-Control = %q", resp.Headers["Cache-Control"])
	}
	assertNoLeak(t, "response", resp.Body, key, k.Hash)
}

func TestValidateDescribesAnAccessToken(t *testing.T) {
	e := newEnv(t)
	key, k := e.addKey(t, nil)
	issued := e.token(t, tokenRequest(jsonBody(map[string]any{"api_key": key, "customer_id": "cus_7", "scopes": []string{"customers:read"}}), nil))
	access, _ := issued.Payload["access_token"].(string)
	if access == "" {
		t.Fatalf("no access token: %s", issued.Body)
	}
	resp := e.validate(t, validateRequest(access))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	p := resp.Payload
	if p["valid"] != true || p["key_id"] != k.KeyID || p["token_type"] != "access_token" || p["customer_id"] != "cus_7" ||
		fmt.Sprint(p["scopes"]) != "[customers:read]" || p["expires_at"] != "2025-06-01T13:00:00Z" {
		t.Errorf("response = %v", p)
	}
	assertNoLeak(t, "response", resp.Body, access, key)
	assertNoLeak(t, "log", e.logs.String(), access, key)
}

func TestValidateRefusesBadCredentials(t *testing.T) {
	type setup func(t *testing.T, e *env) (credential string)
	issue := func(t *testing.T, e *env, key string) string {
		resp := e.token(t, tokenRequest(jsonBody(map[string]string{"api_key": key}), nil))
		access, _ := resp.Payload["access_token"].(string)
		if access == "" {
			t.Fatalf("no access token: %s", resp.Body)
		}
		return access
	}
	tests := []struct {
		name   string
		setup  setup
		status int
		code   string
	}{
		{"no credential", func(*testing.T, *env) string { return "" }, 401, "invalid_api_key"},
		{"a garbage token", func(*testing.T, *env) string { return "not.a.token" }, 401, "invalid_token"},
		{"a tampered token", func(t *testing.T, e *env) string {
			key, _ := e.addKey(t, nil)
			tok := issue(t, e, key)
			parts := strings.Split(tok, ".")
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			payload = []byte(strings.Replace(string(payload), "customers:read", "admin:full    ", 1))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
		}, 401, "invalid_token"},
		{"an expired token", func(t *testing.T, e *env) string {
			key, _ := e.addKey(t, nil)
			tok := issue(t, e, key)
			e.clock.Advance(2 * time.Hour)
			return tok
		}, 401, "token_expired"},
		{"a token of a revoked key", func(t *testing.T, e *env) string {
			key, k := e.addKey(t, nil)
			tok := issue(t, e, key)
			next := k
			next.Status, next.KeyGen = store.StatusRevoked, k.KeyGen+1
			if err := e.keys.SaveKey(ctx, &k, next); err != nil {
				t.Fatal(err)
			}
			return tok
		}, 401, "invalid_token"},
		{"a revoked (deny-listed) token", func(t *testing.T, e *env) string {
			key, _ := e.addKey(t, nil)
			tok := issue(t, e, key)
			c, err := e.verifier.Verify(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			_ = e.tokens.DenyAccessToken(ctx, c.KeyID, c.ID, c.ExpiresAt.Time)
			return tok
		}, 401, "invalid_token"},
		{"an unknown API key", func(*testing.T, *env) string { k, _ := apikey.Generate("kg_live", rand.Reader); return k }, 401, "invalid_api_key"},
		{"a revoked API key", func(t *testing.T, e *env) string {
			key, _ := e.addKey(t, func(k *store.Key) { k.Status = store.StatusRevoked })
			return key
		}, 401, "invalid_api_key"},
		{"an API key outside its allowed_ips", func(t *testing.T, e *env) string {
			key, _ := e.addKey(t, func(k *store.Key) { k.AllowedIPs = []string{"10.0.0.0/8"} })
			return key
		}, 403, "ip_not_allowed"},
		{"the deny-list store down", func(t *testing.T, e *env) string {
			key, _ := e.addKey(t, nil)
			tok := issue(t, e, key)
			e.tokens.fail(errOutage)
			return tok
		}, 503, "service_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			cred := tt.setup(t, e)
			resp := e.validate(t, validateRequest(cred))
			if resp.StatusCode != tt.status || resp.Error["code"] != tt.code {
				t.Fatalf("got %d %v, want %d %s", resp.StatusCode, resp.Error, tt.status, tt.code)
			}
			assertNoLeak(t, "response", resp.Body, cred)
			assertNoLeak(t, "log", e.logs.String(), cred)
		})
	}
}

func TestValidateDuringAKeyringOutageIs503(t *testing.T) {
	e := newEnv(t)
	key, _ := e.addKey(t, nil)
	issued := e.token(t, tokenRequest(jsonBody(map[string]string{"api_key": key}), nil))
	access := issued.Payload["access_token"].(string)

	cold := newEnv(t)
	cold.sm.Fail(errOutage)
	resp := cold.validate(t, validateRequest(access))
	if resp.StatusCode != 503 || resp.Error["code"] != "service_unavailable" {
		t.Errorf("got %d %v, want a 503 (never a 401 for an outage)", resp.StatusCode, resp.Error)
	}
}

// A revoked access token stays denied until no verifier would accept it any more: its exp
// plus the largest leeway (a deny entry that lapsed at exp would let it back in for the leeway).
func TestRevokedAccessTokensAreDeniedPastTheirLeeway(t *testing.T) {
	e := newEnv(t)
	key, k := e.addKey(t, nil)
	raw, c, err := e.issuer.Issue(ctx, token.Grant{KeyID: k.KeyID, KeyGen: k.KeyGen, Scopes: []string{"customers:read"}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if resp := e.revoke(t, key, raw); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, resp.Body)
	}
	denied, err := e.tokens.DeniedTokens(ctx, k.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	until := denied[c.ID]
	if want := c.ExpiresAt.Add(token.MaxLeeway); !until.Equal(want) {
		t.Fatalf("denied until %v, want exp + MaxLeeway = %v", until, want)
	}
}

// token_type_hint is refresh_token or access_token, or absent: an empty hint is refused like any
// other unknown one rather than read as no hint (found by the schemathesis contract run).
func TestRevokeRefusesAnUnknownOrEmptyTokenTypeHint(t *testing.T) {
	e := newEnv(t)
	key, _ := e.addKey(t, nil)
	rv := e.revokeHandler(e.tokens)
	tests := []struct {
		name   string
		body   map[string]any
		status int
	}{
		{"no hint", map[string]any{"token": "x"}, 200},
		{"a refresh-token hint", map[string]any{"token": "x", "token_type_hint": "refresh_token"}, 200},
		{"an access-token hint", map[string]any{"token": "x", "token_type_hint": "access_token"}, 200},
		{"an empty hint", map[string]any{"token": "x", "token_type_hint": ""}, 400},
		{"an unknown hint", map[string]any{"token": "x", "token_type_hint": "id_token"}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := events.APIGatewayProxyRequest{HTTPMethod: "POST", Resource: "/v1/auth/revoke", Path: "/v1/auth/revoke",
				Headers: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + key},
				Body:    jsonBody(tt.body)}
			ev.RequestContext.Identity.SourceIP = sourceIP
			resp := e.serve(t, rv.Router().Serve, ev)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, resp.Body)
			}
			if tt.status == 400 && resp.Error["code"] != "invalid_request" {
				t.Errorf("code %v, want invalid_request", resp.Error["code"])
			}
		})
	}
}

// A key's deny-list is bounded (the authorizer reads it whole): past the limit, revoking one
// more access token is a 409 that says to rotate the key instead.
func TestRevokingBeyondTheDenyListLimitIsRefused(t *testing.T) {
	e := newEnv(t)
	key, k := e.addKey(t, nil)
	e.tokens.denyMany(t, k.KeyID, store.MaxDeniedPerKey, start.Add(time.Hour))
	raw, _, err := e.issuer.Issue(ctx, token.Grant{KeyID: k.KeyID, KeyGen: k.KeyGen, Scopes: []string{"customers:read"}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	resp := e.revoke(t, key, raw)
	if resp.StatusCode != 409 || resp.Error["code"] != "too_many_revoked_tokens" {
		t.Fatalf("revoke past the limit: %d %s", resp.StatusCode, resp.Body)
	}
}

// revoke sends POST /v1/auth/revoke {"token": tok} authenticated by key to the real handler.
func (e *env) revoke(t *testing.T, key, tok string) response {
	t.Helper()
	return e.serve(t, e.revokeHandler(e.tokens).Router().Serve, revokeRequest(key, tok))
}

// Failed attempts on a known key spend its rate-limit budget and are audited only within it: a
// leaked key used from outside its allowlist, or asking for scopes it lacks, writes at most
// rate_limit audit items a minute plus one for the window's refusals, never one per request.
func TestFailedAttemptsCannotFloodTheAuditTrail(t *testing.T) {
	const limit, attempts = 5, 40
	tests := []struct {
		name       string
		tweak      func(*store.Key)
		body       func(key string) string
		code       string
		wantDetail string
	}{
		{"from outside allowed_ips", func(k *store.Key) { k.AllowedIPs = []string{"198.51.100.0/24"} },
			func(key string) string { return jsonBody(map[string]string{"api_key": key}) }, "ip_not_allowed", "ip_not_allowed"},
		{"asking for a scope the key does not hold", nil,
			func(key string) string {
				return jsonBody(map[string]any{"api_key": key, "scopes": []string{"billing:write"}})
			},
			"invalid_scope", "invalid_scope"},
		{"over the rate limit with good requests", nil,
			func(key string) string { return jsonBody(map[string]string{"api_key": key}) }, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			key, k := e.addKey(t, func(k *store.Key) {
				k.RateLimit = limit
				if tt.tweak != nil {
					tt.tweak(k)
				}
			})
			codes := map[string]int{}
			for range attempts {
				resp := e.token(t, tokenRequest(tt.body(key), nil))
				code := "ok"
				if resp.Error != nil {
					code, _ = resp.Error["code"].(string)
				}
				codes[code]++
			}
			want := map[string]int{"rate_limit_exceeded": attempts - limit}
			if tt.code == "" {
				want["ok"] = limit
			} else {
				want[tt.code] = limit
			}
			if !maps.Equal(codes, want) {
				t.Errorf("%d attempts answered %v, want %v (the attempts spend the key's budget)", attempts, codes, want)
			}
			page, err := e.keys.ListEvents(ctx, k.KeyID, 100, "")
			if err != nil {
				t.Fatal(err)
			}
			details := map[string]int{}
			for _, ev := range page.Events {
				details[ev.Action+" "+ev.Detail]++
			}
			// The failed attempts within the budget, or the tokens issued within it (audited in
			// the token store's transaction, into the same trail), and the window's first refusal.
			wantEvents, wantIssued := 1+limit, 0
			if tt.code == "" {
				wantIssued = limit
			}
			issued := 0
			for _, ev := range page.Events {
				if ev.Action == "token.issued" {
					issued++
				}
			}
			if len(page.Events) != wantEvents || details["token.issue.failed rate_limit_exceeded"] != 1 || issued != wantIssued {
				t.Errorf("%d attempts wrote %d audit events %v, want %d (1 for the refusals)",
					attempts, len(page.Events), details, wantEvents)
			}
			if tt.wantDetail != "" && details["token.issue.failed "+tt.wantDetail] != limit {
				t.Errorf("audit events %v, want %d of %s", details, limit, tt.wantDetail)
			}
		})
	}
}

// Revoking a login (refresh-token family) ends its access tokens too: a thief who spent a
// stolen refresh token first keeps no working access token once reuse is detected, and RFC 7009
// revocation of a refresh token invalidates the access tokens of the same grant (§2.1).
func TestRevokingAFamilyEndsItsAccessTokens(t *testing.T) {
	for _, how := range []string{"reuse detected", "RFC 7009 revoke of the refresh token"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t)
			key, k := e.addKey(t, nil)
			first := e.token(t, tokenRequest(jsonBody(map[string]string{"api_key": key}), nil)).Payload
			rt1, at1 := first["refresh_token"].(string), first["access_token"].(string)
			other := e.token(t, tokenRequest(jsonBody(map[string]string{"api_key": key}), nil)).Payload["access_token"].(string)
			refresh := e.refreshHandler(e.tokens).Router().Serve
			thief := e.serve(t, refresh, refreshRequest(rt1)).Payload // the thief spends the stolen token first
			at2, _ := thief["access_token"].(string)
			if at2 == "" {
				t.Fatalf("the first refresh failed: %v", thief)
			}
			for _, at := range []string{at1, at2, other} {
				if resp := e.validate(t, validateRequest(at)); resp.StatusCode != 200 {
					t.Fatalf("before the revocation an access token answers %d", resp.StatusCode)
				}
			}
			switch how {
			case "reuse detected":
				e.clock.Advance(time.Minute) // past the grace window: the victim's refresh is reuse
				if resp := e.serve(t, refresh, refreshRequest(rt1)); resp.StatusCode != 400 {
					t.Fatalf("reuse answered %d, want 400 invalid_grant", resp.StatusCode)
				}
			default:
				if resp := e.revoke(t, key, rt1); resp.StatusCode != 200 {
					t.Fatalf("revoke answered %d %s", resp.StatusCode, resp.Body)
				}
			}
			for name, at := range map[string]string{"the login's first access token": at1, "the thief's access token": at2} {
				if resp := e.validate(t, validateRequest(at)); resp.StatusCode != 401 {
					t.Errorf("%s after its family was revoked: %d, want 401", name, resp.StatusCode)
				}
				// Revoking it again adds nothing to the deny-list: its family already covers it.
				before, _ := e.tokens.DeniedTokens(ctx, k.KeyID)
				if resp := e.revoke(t, key, at); resp.StatusCode != 200 {
					t.Errorf("revoking %s again: %d", name, resp.StatusCode)
				}
				if after, _ := e.tokens.DeniedTokens(ctx, k.KeyID); len(after) != len(before) {
					t.Errorf("revoking %s again grew the deny-list from %d to %d", name, len(before), len(after))
				}
			}
			if resp := e.validate(t, validateRequest(other)); resp.StatusCode != 200 {
				t.Errorf("an access token of another login of the same key: %d, want 200", resp.StatusCode)
			}
		})
	}
}

// A session signs out without the API key: its own access token as the credential revokes its
// refresh family (and itself), but no other family of the same key, and no other key's tokens.
func TestASessionRevokesOnlyItsOwnGrantWithItsAccessToken(t *testing.T) {
	e := newEnv(t)
	key, _ := e.addKey(t, nil)
	pair := func() (access, refresh string) {
		p := e.token(t, tokenRequest(jsonBody(map[string]string{"api_key": key}), nil)).Payload
		return p["access_token"].(string), p["refresh_token"].(string)
	}
	mine, myRefresh := pair()
	_, otherRefresh := pair()
	otherKey, _ := e.addKey(t, nil)
	p := e.token(t, tokenRequest(jsonBody(map[string]string{"api_key": otherKey}), nil)).Payload
	otherKeysRefresh := p["refresh_token"].(string)

	for _, tok := range []string{otherRefresh, otherKeysRefresh} {
		if r := e.revoke(t, mine, tok); r.StatusCode != 200 {
			t.Fatalf("revoking a token outside the session: %d %s, want 200 (and no effect)", r.StatusCode, r.Body)
		}
	}
	if r := e.revoke(t, mine, myRefresh); r.StatusCode != 200 {
		t.Fatalf("a session revoking its own refresh token: %d %s", r.StatusCode, r.Body)
	}
	if r := e.serve(t, e.refreshHandler(e.tokens).Router().Serve, refreshRequest(myRefresh)); r.StatusCode != 400 || r.Error["code"] != "invalid_grant" {
		t.Fatalf("the session's refresh token after sign-out: %d %s, want 400 invalid_grant", r.StatusCode, r.Body)
	}
	for name, rt := range map[string]string{"another family of the key": otherRefresh, "another key's": otherKeysRefresh} {
		if r := e.serve(t, e.refreshHandler(e.tokens).Router().Serve, refreshRequest(rt)); r.StatusCode != 200 {
			t.Errorf("%s refresh token after the session signed out: %d %s, want it untouched", name, r.StatusCode, r.Body)
		}
	}
	if r := e.revoke(t, "not-a-token", myRefresh); r.StatusCode != 401 || r.Error["code"] != "invalid_token" {
		t.Errorf("a garbage credential: %d %s, want 401 invalid_token", r.StatusCode, r.Body)
	}
}
