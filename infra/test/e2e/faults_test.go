package e2e_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/keygate/keygate/infra/local/awsproxy"
)

// SECURITY-CASES 23–25: dependency failures injected by the proxies in front of the emulators,
// so they reach the functions' real SDK clients. Every answer during an outage is a 503
// service_unavailable with Retry-After (never 401, 403 or an Allow), comes well before API
// Gateway's 29 s limit, and service recovers without a restart once the dependency is back.

// maxOutageAnswer bounds how long any answer may take during an outage: the functions' own
// limits (2 s per attempt, 3 attempts, the invocation deadline) keep it far below 29 s.
const maxOutageAnswer = 12 * time.Second

func expectUnavailable(t *testing.T, what string, r response, took time.Duration) {
	t.Helper()
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("%s: status %d, want 503; body %s", what, r.Status, r.Body)
	}
	if code := r.errorCode(t); code != "service_unavailable" {
		t.Fatalf("%s: code %q", what, code)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("%s: Retry-After = %q", what, r.Header.Get("Retry-After"))
	}
	if took > maxOutageAnswer {
		t.Fatalf("%s: answered after %v", what, took)
	}
	t.Logf("%s: 503 after %v", what, took.Round(time.Millisecond))
}

func timed(t *testing.T, method, path, bearer string, body any) (response, time.Duration) {
	t.Helper()
	start := time.Now()
	r := call(t, method, path, bearer, body)
	return r, time.Since(start)
}

// 23 and 25: DynamoDB unreachable, throttling or slower than the client timeout.
func TestSecurityCase23DynamoDBFailuresAre503AndRecover(t *testing.T) {
	need(t)
	tests := []struct {
		name string
		f    awsproxy.Fault
	}{
		{"unreachable", awsproxy.Fault{Kind: awsproxy.Unreachable}},
		{"throttling", awsproxy.Fault{Kind: awsproxy.Throttled, ThrottleType: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}},
		{"slower than the client timeout", awsproxy.Fault{Kind: awsproxy.Slow, Delay: 2500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Credentials made before the outage; the authorizer has not seen the second and
			// third, so it must read DynamoDB for them.
			key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
			unseenKey, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
			otherKey, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
			unseenToken, _ := tokenFor(t, otherKey, nil)
			tokenFor(t, key, nil) // the token function is warm

			inject(t, ddbCalls, tt.f)
			r, took := timed(t, http.MethodPost, "/v1/auth/token", "", map[string]any{"api_key": key})
			expectUnavailable(t, "token", r, took)
			r, took = timed(t, http.MethodGet, "/v1/customers/c1", unseenToken, nil)
			expectUnavailable(t, "authorizer, access token", r, took)
			if tt.f.Kind != awsproxy.Slow { // the slow case is the same code path, only slower
				r, took = timed(t, http.MethodGet, "/v1/customers/c1", unseenKey, nil)
				expectUnavailable(t, "authorizer, API key", r, took)
				r, took = timed(t, http.MethodGet, "/v1/auth/validate", unseenToken, nil)
				expectUnavailable(t, "validate", r, took)
			}

			ddbCalls.Clear()
			// Recovery without a restart, and no outage answer was cached by API Gateway.
			tokenFor(t, key, nil)
			expect(t, call(t, http.MethodGet, "/v1/customers/c1", unseenToken, nil), http.StatusOK, "")
			expect(t, call(t, http.MethodGet, "/v1/customers/c1", unseenKey, nil), http.StatusOK, "")
			expect(t, call(t, http.MethodGet, "/v1/auth/validate", unseenToken, nil), http.StatusOK, "")
		})
	}
}

// 24: Secrets Manager unreachable. Warm functions keep using the keys they hold; cold ones
// answer 503 until it is back, then recover without a restart.
func TestSecurityCase24SecretsManagerOutage(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	access, _ := tokenFor(t, key, nil)
	// Warm the token, authorizer and validate functions (a function that cold-starts during
	// the outage is the next case).
	expect(t, call(t, http.MethodGet, "/v1/customers/c1", access, nil), http.StatusOK, "")
	expect(t, call(t, http.MethodGet, "/v1/auth/validate", access, nil), http.StatusOK, "")

	t.Run("while warm, cached keys keep working", func(t *testing.T) {
		inject(t, smCalls, awsproxy.Fault{Kind: awsproxy.Unreachable})
		fresh, _ := tokenFor(t, key, nil) // pepper and signing key are cached
		expect(t, call(t, http.MethodGet, "/v1/customers/c1", fresh, nil), http.StatusOK, "")
		expect(t, call(t, http.MethodGet, "/v1/auth/validate", fresh, nil), http.StatusOK, "")
	})

	t.Run("at cold start, 503 until it is back", func(t *testing.T) {
		unseen, _ := tokenFor(t, key, nil) // API Gateway has no cached answer for it
		inject(t, smCalls, awsproxy.Fault{Kind: awsproxy.Unreachable})
		if err := stack.Restart(); err != nil { // every function cold-starts, as after a deployment
			t.Fatal(err)
		}
		r, took := timed(t, http.MethodPost, "/v1/auth/token", "", map[string]any{"api_key": key})
		expectUnavailable(t, "token", r, took)
		r, took = timed(t, http.MethodGet, "/v1/customers/c2", unseen, nil)
		expectUnavailable(t, "authorizer", r, took)

		smCalls.Clear()
		fresh, _ := tokenFor(t, key, nil)
		expect(t, call(t, http.MethodGet, "/v1/customers/c2", unseen, nil), http.StatusOK, "")
		expect(t, call(t, http.MethodGet, "/v1/customers/c2", fresh, nil), http.StatusOK, "")
	})
}
