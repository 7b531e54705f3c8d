package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/client"
)

// The Go client (shared/client) against the local stack: the real token endpoints, the real
// authorizer with its caches, the echo backend. A counting RoundTripper under the client sees
// every request it sends, so the tests count exchanges, refreshes and retries exactly.

// countingTransport counts requests by "METHOD /path" and keeps each request's body and
// Authorization header.
type countingTransport struct {
	mu     sync.Mutex
	n      map[string]int
	bodies map[string][]string
	auth   map[string][]string
	next   http.RoundTripper
}

func newCounting() *countingTransport {
	return &countingTransport{n: map[string]int{}, bodies: map[string][]string{}, auth: map[string][]string{}, next: http.DefaultTransport}
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	k := r.Method + " " + r.URL.Path
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	c.mu.Lock()
	c.n[k]++
	c.bodies[k] = append(c.bodies[k], string(body))
	c.auth[k] = append(c.auth[k], r.Header.Get("Authorization"))
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *countingTransport) count(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

func (c *countingTransport) sent(k string) (bodies, auth []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bodies[k]...), append([]string(nil), c.auth[k]...)
}

const (
	exchangeCall = "POST /v1/auth/token"
	refreshCall  = "POST /v1/auth/refresh"
)

// shiftClock is the real clock moved forward by an offset the test sets: the client believes
// its token is about to expire while the service (on the real clock) still accepts it.
type shiftClock struct{ offset atomic.Int64 }

func (c *shiftClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *shiftClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
func (c *shiftClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func stackClient(t *testing.T, key string, opts ...client.Option) (*client.Client, *countingTransport) {
	t.Helper()
	ct := newCounting()
	opts = append([]client.Option{client.WithHTTPClient(&http.Client{Transport: ct, Timeout: 30 * time.Second})}, opts...)
	c, err := client.New(apiURL, key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, ct
}

// echoed GETs path through the client and returns the echo backend's authorizer context.
func echoed(t *testing.T, hc *http.Client, method, path string, body []byte) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, apiURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if err := client.CheckResponse(resp); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	var out struct {
		Authorizer map[string]any `json:"authorizer"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Authorizer
}

// TestClientExampleBackend is the package example (shared/client Example) run for real: a
// backend exchanges its key, calls a protected route, reads the typed 403 of a route its scopes
// do not allow, and validates its credential.
func TestClientExampleBackend(t *testing.T) {
	need(t)
	key, keyID := createKey(t, map[string]any{"scopes": []string{"customers:read", "billing:read"}})
	c, ct := stackClient(t, key, client.WithScopes("customers:read"), client.WithCustomerID("cust-42"))
	hc := c.HTTPClient()

	ctxt := echoed(t, hc, http.MethodGet, "/v1/customers", nil)
	if ctxt["key_id"] != keyID || ctxt["scope"] != "customers:read" || ctxt["token_type"] != "access_token" || ctxt["customer_id"] != "cust-42" {
		t.Fatalf("authorizer context %v", ctxt)
	}
	resp, err := hc.Get(apiURL + "/v1/billing") // the key has billing:read, the token was narrowed
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	err = client.CheckResponse(resp)
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 403 || e.RequiredScope != "billing:read" || !errors.Is(err, client.ErrInsufficientPermissions) {
		t.Fatalf("GET /v1/billing with a narrowed token: %v", err)
	}
	v, err := c.Validate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !v.Valid || v.KeyID != keyID || v.TokenType != "access_token" || v.CustomerID != "cust-42" || v.ExpiresAt.IsZero() {
		t.Fatalf("Validate = %+v", v)
	}
	if n := ct.count(exchangeCall); n != 1 {
		t.Fatalf("%d exchanges for three calls, want 1", n)
	}
	// A wrong key is a typed error, and nothing reaches the protected route.
	// Another last character (a fixed "x" was the key itself once in 62 runs).
	last := "x"
	if strings.HasSuffix(key, last) {
		last = "y"
	}
	bad, _ := stackClient(t, key[:len(key)-1]+last)
	_, err = bad.HTTPClient().Get(apiURL + "/v1/customers")
	if !errors.Is(err, client.ErrInvalidAPIKey) {
		t.Fatalf("bad key: %v, want ErrInvalidAPIKey", err)
	}
}

// TestClientRefreshesProactivelyBeforeExpiry: with the client's clock moved to 30 s before the
// token's expiry (margin 60 s), the next request spends the refresh token, once, and carries the
// new token; the key is not exchanged again.
func TestClientRefreshesProactivelyBeforeExpiry(t *testing.T) {
	need(t)
	key, keyID := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	clk := &shiftClock{}
	c, ct := stackClient(t, key, client.WithClock(clk), client.WithRefreshMargin(time.Minute, 0))
	hc := c.HTTPClient()

	echoed(t, hc, http.MethodGet, "/v1/customers", nil)
	first, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}
	echoed(t, hc, http.MethodGet, "/v1/customers", nil)
	if ct.count(refreshCall) != 0 {
		t.Fatal("refreshed a fresh token")
	}

	lifetime := first.Expiry.Sub(clk.Now()).Round(time.Minute)
	clk.Advance(first.Expiry.Sub(clk.Now()) - 30*time.Second)
	start := time.Now()
	ctxt := echoed(t, hc, http.MethodGet, "/v1/customers", nil)
	took := time.Since(start)
	second, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}
	if ct.count(refreshCall) != 1 || ct.count(exchangeCall) != 1 {
		t.Fatalf("refreshes=%d exchanges=%d, want 1 and 1", ct.count(refreshCall), ct.count(exchangeCall))
	}
	if second.AccessToken == first.AccessToken || ctxt["key_id"] != keyID {
		t.Fatal("the request after the refresh did not carry a new token")
	}
	_, auth := ct.sent("GET /v1/customers")
	if auth[len(auth)-1] != "Bearer "+second.AccessToken {
		t.Fatal("the last request did not carry the refreshed token")
	}
	// And again one lifetime later: one more refresh, with the successor refresh token.
	clk.Advance(second.Expiry.Sub(clk.Now()) - 30*time.Second)
	echoed(t, hc, http.MethodGet, "/v1/customers", nil)
	if ct.count(refreshCall) != 2 || ct.count(exchangeCall) != 1 {
		t.Fatalf("second cycle: refreshes=%d exchanges=%d, want 2 and 1", ct.count(refreshCall), ct.count(exchangeCall))
	}
	t.Logf("token lifetime %v; the request that refreshed 30 s before expiry took %v", lifetime, took.Round(time.Millisecond))
}

// TestClientRevokedTokenTriggersOneRefreshAndRetry: once the authorizer refuses a revoked access
// token, a request with a replayable body gets one 401, one refresh and one retry with the same
// body, and succeeds.
func TestClientRevokedTokenTriggersOneRefreshAndRetry(t *testing.T) {
	need(t)
	key, keyID := createKey(t, map[string]any{"scopes": []string{"customers:read", "inference:write"}})
	c, ct := stackClient(t, key)
	hc := c.HTTPClient()
	body := []byte(`{"prompt":"hello","max_tokens":5}`)
	echoed(t, hc, http.MethodPost, "/v1/inference/completions", body)
	old, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}

	// Revoke the access token with the owning key (RFC 7009), then wait until the authorizer
	// refuses it: within AuthorizerCacheTTL + RevocationMaxAge on this stack.
	if err := c.RevokeToken(context.Background(), old.AccessToken); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	deadline := revoked.Add(time.Duration(authorizerCacheTTL+revocationMaxAge+5) * time.Second)
	for {
		r := call(t, http.MethodPost, "/v1/inference/completions", old.AccessToken, body)
		if r.Status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revoked token still gets %d after %v", r.Status, time.Since(revoked))
		}
		time.Sleep(200 * time.Millisecond)
	}
	refusedAfter := time.Since(revoked)

	before := ct.count("POST /v1/inference/completions")
	ctxt := echoed(t, hc, http.MethodPost, "/v1/inference/completions", body)
	if ctxt["key_id"] != keyID {
		t.Fatalf("authorizer context %v", ctxt)
	}
	calls := ct.count("POST /v1/inference/completions") - before
	if calls != 2 || ct.count(refreshCall) != 1 || ct.count(exchangeCall) != 1 {
		t.Fatalf("calls=%d refreshes=%d exchanges=%d, want 2 (401, retry), 1 and 1", calls, ct.count(refreshCall), ct.count(exchangeCall))
	}
	bodies, auth := ct.sent("POST /v1/inference/completions")
	bodies, auth = bodies[len(bodies)-2:], auth[len(auth)-2:]
	if bodies[0] != string(body) || bodies[1] != string(body) {
		t.Fatalf("the retry sent %q, want the same body twice", bodies)
	}
	if auth[0] != "Bearer "+old.AccessToken || auth[1] == auth[0] {
		t.Fatal("the retry did not carry a new token")
	}
	t.Logf("authorizer refused the revoked token %v after the revocation; one refresh and one retry recovered", refusedAfter.Round(10*time.Millisecond))
}

// TestClientCloseEndsItsLogin: Close revokes the client's refresh token (RFC 7009), which
// revokes its family, so the access token the client held is refused at the authorizer and at
// validate within the revocation bound too; another client of the same key keeps working.
func TestClientCloseEndsItsLogin(t *testing.T) {
	need(t)
	key, keyID := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	c, ct := stackClient(t, key)
	other, otherCT := stackClient(t, key)
	echoed(t, c.HTTPClient(), http.MethodGet, "/v1/customers", nil)
	echoed(t, other.HTTPClient(), http.MethodGet, "/v1/customers", nil)
	held, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}
	remember(held.AccessToken)

	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	revokedAt := time.Now()
	bodies, _ := ct.sent("POST /v1/auth/revoke")
	var sent struct {
		Token string `json:"token"`
	}
	if len(bodies) != 1 || json.Unmarshal([]byte(bodies[0]), &sent) != nil || !strings.HasPrefix(sent.Token, "kgr_") {
		t.Fatalf("Close sent %d revoke requests, want one revoking the refresh token", len(bodies))
	}
	remember(sent.Token)
	refusedWithinTheBound(t, held.AccessToken, revokedAt)
	expect(t, call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": sent.Token}), http.StatusBadRequest, "invalid_grant")

	// Past the bound the other client's token is judged afresh, and still needs no renewal.
	time.Sleep(time.Until(revokedAt.Add(revocationBound)))
	if ctxt := echoed(t, other.HTTPClient(), http.MethodGet, "/v1/customers", nil); ctxt["key_id"] != keyID {
		t.Fatalf("authorizer context %v", ctxt)
	}
	if otherCT.count(refreshCall) != 0 || otherCT.count(exchangeCall) != 1 || otherCT.count("GET /v1/customers") != 2 {
		t.Fatalf("the other client: refreshes=%d exchanges=%d calls=%d, want 0, 1 and 2 (its token never refused)",
			otherCT.count(refreshCall), otherCT.count(exchangeCall), otherCT.count("GET /v1/customers"))
	}
}

// TestClientConcurrentCallersShareOneRefresh: 50 goroutines calling through one client cause one
// exchange when it has no token and one refresh when its token is due.
func TestClientConcurrentCallersShareOneRefresh(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	clk := &shiftClock{}
	c, ct := stackClient(t, key, client.WithClock(clk), client.WithRefreshMargin(time.Minute, 0))
	hc := c.HTTPClient()
	const callers = 50
	round := func() time.Duration {
		var wg sync.WaitGroup
		gate := make(chan struct{})
		var failed atomic.Int64
		for range callers {
			wg.Go(func() {
				<-gate
				resp, err := hc.Get(apiURL + "/v1/customers")
				if err != nil {
					t.Error(err)
					failed.Add(1)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status %d", resp.StatusCode)
				}
			})
		}
		start := time.Now()
		close(gate)
		wg.Wait()
		return time.Since(start)
	}
	d1 := round()
	if n := ct.count(exchangeCall); n != 1 {
		t.Fatalf("%d concurrent first callers made %d exchanges, want 1", callers, n)
	}
	tok, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(tok.Expiry.Sub(clk.Now()) - 30*time.Second)
	d2 := round()
	if ct.count(refreshCall) != 1 || ct.count(exchangeCall) != 1 {
		t.Fatalf("%d concurrent callers of a due token: refreshes=%d exchanges=%d, want 1 and 1", callers, ct.count(refreshCall), ct.count(exchangeCall))
	}
	if n := ct.count("GET /v1/customers"); n != 2*callers {
		t.Fatalf("%d protected calls, want %d (no 401s, no retries)", n, 2*callers)
	}
	t.Logf("%d concurrent callers: 1 exchange (round took %v), then 1 refresh (round took %v)", callers, d1.Round(time.Millisecond), d2.Round(time.Millisecond))
}

// TestClientAdminHelpers drives the admin API through the client's helpers, as authctl does.
func TestClientAdminHelpers(t *testing.T) {
	need(t)
	ctx := context.Background()
	for _, mode := range []struct {
		name string
		opts []client.Option
	}{
		{"with an access token from the admin key", nil},
		{"presenting the admin key itself", []client.Option{client.WithoutTokenExchange()}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			admin, _ := stackClient(t, adminKey, mode.opts...)
			keys := admin.Keys()
			created, err := keys.Create(ctx, client.KeySpec{Name: "client-admin", Scopes: []string{"billing:read"}, RateLimit: 600, Tier: "growth"})
			if err != nil {
				t.Fatal(err)
			}
			if created.Status != "active" || created.RateLimit != 600 || created.Tier != "growth" || !strings.HasPrefix(created.Secret.Reveal(), "kg_") {
				t.Fatalf("Create = %v", created)
			}
			if strings.Contains(created.String(), created.Secret.Reveal()) {
				t.Fatal("CreatedKey.String shows the secret")
			}
			// The new key works.
			svc, _ := stackClient(t, created.Secret.Reveal())
			if v, err := svc.Validate(ctx); err != nil || v.KeyID != created.KeyID {
				t.Fatalf("Validate with the created key: %+v, %v", v, err)
			}
			name := "client-admin-renamed"
			if k, err := keys.Update(ctx, created.KeyID, client.KeyUpdate{Name: &name}); err != nil || k.Name != name {
				t.Fatalf("Update = %+v, %v", k, err)
			}
			if k, err := keys.Get(ctx, created.KeyID); err != nil || k.Name != name || k.CreatedAt.IsZero() {
				t.Fatalf("Get = %+v, %v", k, err)
			}
			if page, err := keys.List(ctx, client.PageOptions{Limit: 100}); err != nil || len(page.Keys) == 0 {
				t.Fatalf("List = %+v, %v", page, err)
			}
			rot, err := keys.Rotate(ctx, created.KeyID, time.Hour)
			if err != nil || rot.Secret.Reveal() == created.Secret.Reveal() || rot.GraceUntil.IsZero() || rot.KeyGen != created.KeyGen+1 {
				t.Fatalf("Rotate = %v (grace %v), %v", rot, rot.GraceUntil, err)
			}
			if k, err := keys.Revoke(ctx, created.KeyID); err != nil || k.Status != "revoked" {
				t.Fatalf("Revoke = %+v, %v", k, err)
			}
			ev, err := keys.Events(ctx, created.KeyID, client.PageOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range ev.Events {
				actions = append(actions, e.Action)
			}
			for _, want := range []string{"key.created", "key.updated", "key.rotated", "key.revoked"} {
				if !strings.Contains(strings.Join(actions, " "), want) {
					t.Fatalf("events %v lack %s", actions, want)
				}
			}
			if _, err := keys.Update(ctx, created.KeyID, client.KeyUpdate{Name: &name}); !errors.Is(err, client.ErrKeyRevoked) {
				t.Fatalf("Update of a revoked key: %v, want ErrKeyRevoked", err)
			}
			if _, err := keys.Get(ctx, "key_00000000000000000000"); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("Get of an unknown key: %v, want ErrNotFound", err)
			}
		})
	}
	// A key without admin:full gets the typed 403.
	plain, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	c, _ := stackClient(t, plain)
	_, err := c.Keys().List(ctx, client.PageOptions{})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 403 || e.RequiredScope != "admin:full" {
		t.Fatalf("List with a customers:read key: %v", err)
	}
}
