package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keygate/keygate/shared/client"
)

func newClient(t *testing.T, f *fakeKeygate, clk *fakeClock, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithClock(clk), client.WithRefreshMargin(60*time.Second, 0)}, opts...)
	c, err := client.New(f.srv.URL, testKey, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func get(t *testing.T, c *client.Client, url string) *http.Response {
	t.Helper()
	resp, err := c.HTTPClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestNewRefusesBadArguments(t *testing.T) {
	for _, tc := range []struct{ base, key string }{
		{"", testKey}, {"ftp://x", testKey}, {"http://", testKey}, {"https://api.example.com", ""}, {"not a url", testKey},
	} {
		if _, err := client.New(tc.base, tc.key); err == nil {
			t.Errorf("New(%q, %q) succeeded", tc.base, tc.key)
		} else if strings.Contains(err.Error(), testKey) {
			t.Errorf("New's error shows the key: %v", err)
		}
	}
}

func TestTheKeyIsExchangedOnceAndTheTokenReused(t *testing.T) {
	f, clk := newFake(t), newClock()
	c := newClient(t, f, clk, client.WithScopes("customers:read"), client.WithCustomerID("cust-1"), client.WithTokenTTL(10*time.Minute))
	for range 3 {
		if r := get(t, c, f.srv.URL+"/v1/customers"); r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
	}
	tok, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}
	if f.exchanges.Load() != 1 || f.refreshes.Load() != 0 {
		t.Fatalf("exchanges=%d refreshes=%d, want 1 and 0", f.exchanges.Load(), f.refreshes.Load())
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken != "" || !tok.Expiry.Equal(clk.Now().Add(900*time.Second)) {
		t.Fatalf("token %q type %q refresh %q expiry %v", tok.AccessToken, tok.TokenType, tok.RefreshToken, tok.Expiry)
	}
	var body map[string]any
	_ = json.Unmarshal([]byte(f.lastTokenBody), &body)
	if fmt.Sprint(body["scopes"]) != "[customers:read]" || body["customer_id"] != "cust-1" || body["expires_in"] != 600.0 {
		t.Fatalf("token request body %s", f.lastTokenBody)
	}
}

func TestTheTokenIsRefreshedAMarginBeforeItExpires(t *testing.T) {
	f, clk := newFake(t), newClock()
	c := newClient(t, f, clk) // margin 60 s, no jitter; tokens live 900 s
	first, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(900*time.Second - 61*time.Second)
	if tok, _ := c.Token(); tok.AccessToken != first.AccessToken || f.refreshes.Load() != 0 {
		t.Fatal("refreshed before the margin")
	}
	clk.Advance(2 * time.Second) // 59 s before expiry: due
	second, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessToken == first.AccessToken || f.refreshes.Load() != 1 || f.exchanges.Load() != 1 {
		t.Fatalf("refreshes=%d exchanges=%d, want one refresh with the refresh token", f.refreshes.Load(), f.exchanges.Load())
	}
}

func TestJitterSpreadsRefreshesWithinItsBound(t *testing.T) {
	f := newFake(t)
	seen := map[time.Duration]bool{}
	for range 20 {
		clk := newClock()
		c := newClient(t, f, clk, client.WithRefreshMargin(60*time.Second, 30*time.Second))
		tok, err := c.Token()
		if err != nil {
			t.Fatal(err)
		}
		// Step forward a second at a time until the client refreshes.
		start := f.refreshes.Load()
		var lead time.Duration
		for i := 0; i < 120; i++ {
			clk.Advance(time.Second)
			if _, err := c.Token(); err != nil {
				t.Fatal(err)
			}
			if f.refreshes.Load() != start {
				lead = tok.Expiry.Sub(clk.Now())
				break
			}
			if i == 0 {
				clk.Advance(800 * time.Second)
			}
		}
		if lead < 60*time.Second || lead > 91*time.Second {
			t.Fatalf("refreshed %v before expiry, want between 60 s and 90 s", lead)
		}
		seen[lead] = true
	}
	if len(seen) < 3 {
		t.Fatalf("20 clients refreshed at only %d distinct leads: no jitter", len(seen))
	}
}

func TestARefusedRefreshTokenFallsBackToAnExchange(t *testing.T) {
	f, clk := newFake(t), newClock()
	c := newClient(t, f, clk)
	if _, err := c.Token(); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.refreshOK = map[string]bool{} // the family was revoked
	f.mu.Unlock()
	clk.Advance(899 * time.Second)
	if _, err := c.Token(); err != nil {
		t.Fatal(err)
	}
	if f.refreshes.Load() != 1 || f.exchanges.Load() != 2 {
		t.Fatalf("refreshes=%d exchanges=%d, want 1 refused refresh then a second exchange", f.refreshes.Load(), f.exchanges.Load())
	}
}

func TestATransientRefreshFailureKeepsTheValidToken(t *testing.T) {
	f, clk := newFake(t), newClock()
	c := newClient(t, f, clk, client.WithRetry(client.RetryPolicy{MaxAttempts: 1}))
	first, _ := c.Token()
	f.refreshScript = []func(http.ResponseWriter){func(w http.ResponseWriter) {
		writeErr(w, 503, "service_unavailable", "api_error", map[string]any{"retry_after": 5})
	}}
	clk.Advance(850 * time.Second)
	tok, err := c.Token()
	if err != nil || tok.AccessToken != first.AccessToken {
		t.Fatalf("Token = %v, %v; want the held, still valid token", tok, err)
	}
	clk.Advance(6 * time.Second) // the client tries again shortly after
	tok, err = c.Token()
	if err != nil || tok.AccessToken == first.AccessToken || f.refreshes.Load() != 2 {
		t.Fatalf("second try: refreshes=%d err=%v", f.refreshes.Load(), err)
	}
	// Past expiry, a failing refresh is an error, not a stale token.
	clk.Advance(901 * time.Second)
	f.refreshScript = []func(http.ResponseWriter){func(w http.ResponseWriter) {
		writeErr(w, 503, "service_unavailable", "api_error", nil)
	}}
	if _, err := c.Token(); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("expired token, refresh 503: %v, want ErrUnavailable", err)
	}
}

func TestConcurrentCallersShareOneRefresh(t *testing.T) {
	f, clk := newFake(t), newClock()
	f.refreshDelay = 50 * time.Millisecond // keep the flight open while the others arrive
	c := newClient(t, f, clk)
	var wg sync.WaitGroup
	start := make(chan struct{})
	tokens := make([]string, 50)
	for i := range tokens {
		wg.Go(func() {
			<-start
			tok, err := c.Token()
			if err != nil {
				t.Error(err)
				return
			}
			tokens[i] = tok.AccessToken
		})
	}
	close(start)
	wg.Wait()
	if f.exchanges.Load() != 1 {
		t.Fatalf("50 first callers made %d exchanges, want 1", f.exchanges.Load())
	}
	clk.Advance(899 * time.Second)
	start = make(chan struct{})
	for range tokens {
		wg.Go(func() {
			<-start
			resp, err := c.HTTPClient().Get(f.srv.URL + "/v1/customers")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	close(start)
	wg.Wait()
	if f.refreshes.Load() != 1 || f.exchanges.Load() != 1 {
		t.Fatalf("50 callers of a due token: refreshes=%d exchanges=%d, want 1 and 1", f.refreshes.Load(), f.exchanges.Load())
	}
}

func TestA401RefreshesOnceAndRetriesReplayableRequests(t *testing.T) {
	f, clk := newFake(t), newClock()
	c := newClient(t, f, clk)
	hc := c.HTTPClient()
	if r := get(t, c, f.srv.URL+"/v1/customers"); r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	f.revokeAll()

	// A body http.NewRequest can replay: refreshed once, retried with the same bytes.
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/customers", strings.NewReader(`{"n":1}`))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || f.refreshes.Load() != 1 {
		t.Fatalf("status %d refreshes %d, want 200 after one refresh", resp.StatusCode, f.refreshes.Load())
	}
	if got := f.bodies[len(f.bodies)-2:]; got[0] != `{"n":1}` || got[1] != `{"n":1}` {
		t.Fatalf("bodies sent %q, want the same body twice", got)
	}

	// A body that cannot be replayed: the 401 comes back as is, nothing refreshed.
	f.revokeAll()
	req, _ = http.NewRequest(http.MethodPost, f.srv.URL+"/v1/customers", io.NopCloser(strings.NewReader(`{"n":2}`)))
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || f.refreshes.Load() != 1 {
		t.Fatalf("non-replayable: status %d refreshes %d, want 401 and no refresh", resp.StatusCode, f.refreshes.Load())
	}

	// Still 401 after the refresh: returned, not retried again.
	f.queue(func(w http.ResponseWriter) { writeErr(w, 401, "invalid_token", "authentication_error", nil) },
		func(w http.ResponseWriter) { writeErr(w, 401, "invalid_token", "authentication_error", nil) })
	before := f.apiCalls.Load()
	resp, err = hc.Get(f.srv.URL + "/v1/customers")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 401 || f.apiCalls.Load()-before != 2 || f.refreshes.Load() != 2 {
		t.Fatalf("status %d, %d calls, %d refreshes; want 401 after exactly one retry", resp.StatusCode, f.apiCalls.Load()-before, f.refreshes.Load())
	}
	if err := client.CheckResponse(resp); !errors.Is(err, client.ErrInvalidToken) {
		t.Fatalf("CheckResponse = %v, want ErrInvalidToken", err)
	}
}

func TestRetriesHonourRetryAfter(t *testing.T) {
	rateLimited := func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "2")
		writeErr(w, 429, "rate_limit_exceeded", "rate_limit_error", map[string]any{"retry_after": 2})
	}
	bodyOnly := func(w http.ResponseWriter) {
		writeErr(w, 429, "rate_limit_exceeded", "rate_limit_error", map[string]any{"retry_after": 7})
	}
	unavailable := func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "3")
		writeErr(w, 503, "service_unavailable", "api_error", nil)
	}
	bare503 := func(w http.ResponseWriter) { w.WriteHeader(503) }
	tests := []struct {
		name       string
		answers    []func(http.ResponseWriter)
		policy     client.RetryPolicy
		wantStatus int
		wantSleeps []time.Duration // nil: check only the count with wantCount
		wantCount  int
	}{
		{"429 with Retry-After is retried after it", []func(http.ResponseWriter){rateLimited, rateLimited}, client.RetryPolicy{}, 200, []time.Duration{2 * time.Second, 2 * time.Second}, 2},
		{"429 with only retry_after in the body is retried after it", []func(http.ResponseWriter){bodyOnly}, client.RetryPolicy{}, 200, []time.Duration{7 * time.Second}, 1},
		{"503 with Retry-After is retried after it", []func(http.ResponseWriter){unavailable}, client.RetryPolicy{}, 200, []time.Duration{3 * time.Second}, 1},
		{"attempts are bounded", []func(http.ResponseWriter){unavailable, unavailable, unavailable, unavailable, unavailable}, client.RetryPolicy{}, 503, []time.Duration{3 * time.Second, 3 * time.Second, 3 * time.Second}, 3},
		{"a Retry-After beyond MaxWait is not waited for", []func(http.ResponseWriter){bodyOnly}, client.RetryPolicy{MaxWait: 5 * time.Second}, 429, []time.Duration{}, 0},
		{"without a delay the backoff is exponential and bounded", []func(http.ResponseWriter){bare503, bare503, bare503}, client.RetryPolicy{MaxAttempts: 4, BaseDelay: time.Second, MaxWait: 3 * time.Second}, 200, nil, 3},
		{"MaxAttempts 1 turns retries off", []func(http.ResponseWriter){rateLimited}, client.RetryPolicy{MaxAttempts: 1}, 429, []time.Duration{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, clk := newFake(t), newClock()
			c := newClient(t, f, clk, client.WithRetry(tt.policy))
			if _, err := c.Token(); err != nil {
				t.Fatal(err)
			}
			f.queue(tt.answers...)
			resp, err := c.HTTPClient().Post(f.srv.URL+"/v1/customers", "application/json", bytes.NewReader([]byte(`{"q":1}`)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			sleeps := clk.Sleeps()
			if len(sleeps) != tt.wantCount {
				t.Fatalf("slept %v, want %d waits", sleeps, tt.wantCount)
			}
			if tt.wantSleeps != nil && fmt.Sprint(sleeps) != fmt.Sprint(tt.wantSleeps) {
				t.Fatalf("slept %v, want %v", sleeps, tt.wantSleeps)
			}
			for i, s := range sleeps {
				if ceiling := min(time.Second<<i, 3*time.Second); tt.wantSleeps == nil && (s <= 0 || s > ceiling) {
					t.Fatalf("backoff %d = %v, want in (0, %v]", i, s, ceiling)
				}
			}
			if resp.StatusCode != 200 {
				var e *client.Error
				if err := client.CheckResponse(resp); !errors.As(err, &e) || e.StatusCode != tt.wantStatus {
					t.Fatalf("CheckResponse = %v", err)
				}
			}
			for _, b := range f.bodies {
				if b != `{"q":1}` {
					t.Fatalf("a retry sent body %q", b)
				}
			}
		})
	}
}

func TestARetryWaitEndsWithTheContext(t *testing.T) {
	f, clk := newFake(t), newClock()
	clk.block = true
	c := newClient(t, f, clk)
	if _, err := c.Token(); err != nil {
		t.Fatal(err)
	}
	f.queue(func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "20")
		writeErr(w, 429, "rate_limit_exceeded", "rate_limit_error", nil)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/v1/customers", nil)
	start := time.Now()
	_, err := c.HTTPClient().Do(req)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v, want the context's deadline promptly", err, time.Since(start))
	}
}

func TestTokenEndpointsAreRetriedToo(t *testing.T) {
	f, clk := newFake(t), newClock()
	c := newClient(t, f, clk)
	if _, err := c.Token(); err != nil {
		t.Fatal(err)
	}
	f.refreshScript = []func(http.ResponseWriter){func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "1")
		writeErr(w, 429, "rate_limit_exceeded", "rate_limit_error", map[string]any{"retry_after": 1})
	}}
	clk.Advance(900 * time.Second) // expired: the refresh must succeed
	if _, err := c.Token(); err != nil {
		t.Fatal(err)
	}
	if f.refreshes.Load() != 2 || fmt.Sprint(clk.Sleeps()) != "[1s]" {
		t.Fatalf("refreshes=%d sleeps=%v, want 2 and [1s]", f.refreshes.Load(), clk.Sleeps())
	}
}

func TestErrorsAreTyped(t *testing.T) {
	f, clk := newFake(t), newClock()
	bad, _ := client.New(f.srv.URL, "kg_test_wrong", client.WithClock(clk))
	_, err := bad.Token()
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 401 || e.Code != "invalid_api_key" || e.Type != "authentication_error" {
		t.Fatalf("bad key: %#v", err)
	}
	if !errors.Is(err, client.ErrInvalidAPIKey) || errors.Is(err, client.ErrInvalidToken) {
		t.Fatalf("errors.Is does not match by code: %v", err)
	}
	// Through the http.Client the same error arrives wrapped in *url.Error.
	_, err = bad.HTTPClient().Get(f.srv.URL + "/v1/customers")
	if !errors.Is(err, client.ErrInvalidAPIKey) {
		t.Fatalf("through HTTPClient: %v", err)
	}

	c := newClient(t, f, clk)
	resp := get(t, c, f.srv.URL+"/v1/customers?forbid=1")
	err = client.CheckResponse(resp)
	if !errors.As(err, &e) || e.StatusCode != 403 || e.RequiredScope != "customers:delete" || !errors.Is(err, client.ErrInsufficientPermissions) {
		t.Fatalf("403: %#v", err)
	}
	if b, _ := io.ReadAll(resp.Body); !bytes.Contains(b, []byte("insufficient_permissions")) {
		t.Fatalf("CheckResponse did not put the body back: %q", b)
	}
	if client.CheckResponse(get(t, c, f.srv.URL+"/v1/customers")) != nil {
		t.Fatal("CheckResponse of a 200 is not nil")
	}
	if err := (&client.Error{StatusCode: 502, Message: "Bad Gateway"}); err.Error() != "keygate: 502: Bad Gateway" {
		t.Fatalf("Error() = %q", err.Error())
	}
}

func TestValidateRevokeAndClose(t *testing.T) {
	f, clk := newFake(t), newClock()
	c := newClient(t, f, clk)
	v, err := c.Validate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !v.Valid || v.TokenType != "access_token" || v.KeyID == "" || v.ExpiresAt.Year() != 2030 {
		t.Fatalf("Validate = %+v", v)
	}
	tok, _ := c.Token()
	if err := c.RevokeToken(context.Background(), tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if r := get(t, c, f.srv.URL+"/v1/customers"); r.StatusCode != 200 || f.refreshes.Load() != 1 {
		t.Fatalf("after revoking the access token: status %d refreshes %d", r.StatusCode, f.refreshes.Load())
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	left := len(f.refreshOK)
	f.mu.Unlock()
	if left != 0 {
		t.Fatalf("Close left %d refresh tokens alive", left)
	}
}

func TestWithoutTokenExchangePresentsTheCredentialAsIs(t *testing.T) {
	f, clk := newFake(t), newClock()
	c := newClient(t, f, clk, client.WithoutTokenExchange())
	v, err := c.Validate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.TokenType != "api_key" || f.exchanges.Load() != 0 {
		t.Fatalf("token_type %q exchanges %d", v.TokenType, f.exchanges.Load())
	}
	if r := get(t, c, f.srv.URL+"/v1/customers"); r.StatusCode != 401 || f.refreshes.Load() != 0 {
		t.Fatalf("status %d refreshes %d; want the 401 as is", r.StatusCode, f.refreshes.Load())
	}
}

func TestTheTokenGoesOnlyToTheServicesOrigins(t *testing.T) {
	f, clk := newFake(t), newClock()
	var got []string
	var mu sync.Mutex
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/landing", http.StatusFound)
		}
	}))
	defer other.Close()
	c := newClient(t, f, clk)
	get(t, c, other.URL+"/redirect")
	if len(got) != 2 || got[0] != "" || got[1] != "" {
		t.Fatalf("a third-party host saw Authorization %q", got)
	}
	got = nil
	c2 := newClient(t, f, clk, client.WithAPIOrigins(other.URL))
	get(t, c2, other.URL+"/x")
	if len(got) != 1 || !strings.HasPrefix(got[0], "Bearer eyJ") {
		t.Fatalf("a WithAPIOrigins origin saw %q", got)
	}
}

func TestNothingPrintsOrLogsASecret(t *testing.T) {
	f, clk := newFake(t), newClock()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, f, clk, client.WithLogger(logger))

	// Drive every logged path: exchange, refresh, 401 + refresh, retry, refused refresh.
	get(t, c, f.srv.URL+"/v1/customers")
	clk.Advance(899 * time.Second)
	get(t, c, f.srv.URL+"/v1/customers")
	f.revokeAll()
	get(t, c, f.srv.URL+"/v1/customers")
	f.queue(func(w http.ResponseWriter) { w.Header().Set("Retry-After", "1"); w.WriteHeader(429) })
	get(t, c, f.srv.URL+"/v1/customers")
	f.mu.Lock()
	f.refreshOK = map[string]bool{}
	f.mu.Unlock()
	clk.Advance(899 * time.Second)
	get(t, c, f.srv.URL+"/v1/customers")

	created, err := c.Keys().Create(context.Background(), client.KeySpec{Name: "svc", Scopes: []string{"customers:read"}})
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("objects", "client", c, "secret", created.Secret, "created", created)

	tok, _ := c.Token()
	secrets := []string{testKey, strings.TrimPrefix(testKey, "kg_test_"), tok.AccessToken, "rt_fake_refresh_", "eyJfake"}
	printed := []string{
		logs.String(), c.String(), c.GoString(), created.Secret.String(),
		fmt.Sprintf("%v %+v %#v %s %q %x %d", c, c, c, c, c, c, c),
		fmt.Sprintf("%v %+v %#v %s %q %x", created.Secret, created.Secret, created.Secret, created.Secret, created.Secret, created.Secret),
		fmt.Sprintf("%v %+v %#v %s %x %q", created, *created, created, *created, *created, created),
	}
	if b, err := json.Marshal(created); err == nil {
		printed = append(printed, string(b))
	}
	for _, p := range printed {
		for _, s := range secrets {
			if strings.Contains(p, s) {
				t.Fatalf("%q leaks into %s", s, p)
			}
		}
	}
	if !strings.Contains(c.String(), "kg_test_…[redacted]") || created.Secret.Reveal() != testKey {
		t.Fatalf("String() = %s, Reveal() = %s", c, created.Secret.String())
	}
	for _, want := range []string{"refreshed", "401 from a protected route", "retrying", "refresh token refused"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line mentions %q:\n%s", want, logs.String())
		}
	}
}

func TestAdminHelpers(t *testing.T) {
	f, clk := newFake(t), newClock()
	c := newClient(t, f, clk, client.WithoutTokenExchange())
	k := c.Keys()
	ctx := context.Background()
	exp := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)
	created, err := k.Create(ctx, client.KeySpec{Name: "svc", Scopes: []string{"customers:read"}, RateLimit: 600, ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	if created.KeyID != "key_01234567890123456789" || created.Secret.Reveal() != testKey || created.RateLimit != 600 || created.CreatedAt.IsZero() {
		t.Fatalf("Create = %+v", created)
	}
	if !bytes.Contains(created.RawJSON(), []byte(testKey)) {
		t.Fatal("RawJSON lost the service's answer")
	}
	page, err := k.List(ctx, client.PageOptions{Limit: 10, Cursor: "abc"})
	if err != nil || len(page.Keys) != 1 || page.NextCursor != "abc" {
		t.Fatalf("List = %+v, %v", page, err)
	}
	name, ips := "renamed", []string{}
	if _, err := k.Update(ctx, "key_01234567890123456789", client.KeyUpdate{Name: &name, AllowedIPs: &ips}); err != nil {
		t.Fatal(err)
	}
	rot, err := k.Rotate(ctx, "key_01234567890123456789", time.Hour)
	if err != nil || rot.GraceUntil.IsZero() {
		t.Fatalf("Rotate = %+v, %v", rot, err)
	}
	if _, err := k.Get(ctx, "key_01234567890123456789"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Revoke(ctx, "key_01234567890123456789"); err != nil {
		t.Fatal(err)
	}
	ev, err := k.Events(ctx, "key_01234567890123456789", client.PageOptions{Limit: 5})
	if err != nil || len(ev.Events) != 1 || ev.Events[0].Action != "key.created" || ev.NextCursor != "c2" {
		t.Fatalf("Events = %+v, %v", ev, err)
	}
	if _, err := k.Get(ctx, "key_missing"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	want := []string{
		`POST /v1/keys {"name":"svc","scopes":["customers:read"],"rate_limit":600,"expires_at":"2027-01-31T00:00:00Z"}`,
		`GET /v1/keys?cursor=abc&limit=10`,
		`PATCH /v1/keys/key_01234567890123456789 {"name":"renamed","allowed_ips":[]}`,
		`POST /v1/keys/key_01234567890123456789/rotate {"grace_period_seconds":3600}`,
		`GET /v1/keys/key_01234567890123456789`,
		`DELETE /v1/keys/key_01234567890123456789`,
		`GET /v1/keys/key_01234567890123456789/events?limit=5`,
		`GET /v1/keys/key_missing`,
	}
	if strings.Join(f.adminCalls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("admin calls:\n%s\nwant:\n%s", strings.Join(f.adminCalls, "\n"), strings.Join(want, "\n"))
	}
}

func TestClientIsAnOAuth2TokenSource(t *testing.T) {
	f, clk := newFake(t), newClock()
	c := newClient(t, f, clk)
	hc := oauth2.NewClient(context.Background(), c)
	resp, err := hc.Get(f.srv.URL + "/v1/customers")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d through oauth2.NewClient", resp.StatusCode)
	}
}
