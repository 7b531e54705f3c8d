package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/clocktest"
)

// testKey has the shape of a keygate API key (never a real one).
const testKey = "kg_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_zzzzzz"

// fakeKeygate plays keygate's token endpoints and one protected route, enough to drive the
// client through exchange, refresh, revocation and failures. The real service is exercised by
// infra/test/e2e/client_test.go.
type fakeKeygate struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	n         int
	valid     map[string]bool // access tokens the protected route accepts
	refreshOK map[string]bool // refresh tokens not yet spent
	expiresIn int
	// queued answers for the protected route, served before normal handling
	script []func(w http.ResponseWriter)
	// answers for POST /v1/auth/refresh, served before normal handling
	refreshScript []func(w http.ResponseWriter)
	bodies        []string // bodies the protected route saw
	lastTokenBody string
	adminCalls    []string

	exchanges, refreshes, apiCalls atomic.Int64
	refreshDelay                   time.Duration
}

func newFake(t *testing.T) *fakeKeygate {
	f := &fakeKeygate{t: t, valid: map[string]bool{}, refreshOK: map[string]bool{}, expiresIn: 900}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/auth/token", f.token)
	mux.HandleFunc("POST /v1/auth/refresh", f.refresh)
	mux.HandleFunc("POST /v1/auth/revoke", f.revoke)
	mux.HandleFunc("/v1/customers", f.protected)
	mux.HandleFunc("GET /v1/auth/validate", f.validate)
	mux.HandleFunc("/v1/keys", f.admin)
	mux.HandleFunc("/v1/keys/", f.admin)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func writeErr(w http.ResponseWriter, status int, code, typ string, extra map[string]any) {
	e := map[string]any{"code": code, "message": "fake " + code, "type": typ}
	for k, v := range extra {
		e[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func (f *fakeKeygate) pair(w http.ResponseWriter) {
	f.n++
	at, rt := fmt.Sprintf("eyJfake.access.%d", f.n), fmt.Sprintf("rt_fake_refresh_%d", f.n)
	f.valid[at] = true
	f.refreshOK[rt] = true
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": at, "token_type": "Bearer",
		"expires_in": f.expiresIn, "refresh_token": rt, "scope": "customers:read"})
}

func (f *fakeKeygate) token(w http.ResponseWriter, r *http.Request) {
	f.exchanges.Add(1)
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastTokenBody = string(b)
	if r.Header.Get("Authorization") != "Bearer "+testKey {
		writeErr(w, 401, "invalid_api_key", "authentication_error", nil)
		return
	}
	f.pair(w)
}

func (f *fakeKeygate) refresh(w http.ResponseWriter, r *http.Request) {
	f.refreshes.Add(1)
	if f.refreshDelay > 0 {
		time.Sleep(f.refreshDelay)
	}
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.refreshScript) > 0 {
		next := f.refreshScript[0]
		f.refreshScript = f.refreshScript[1:]
		next(w)
		return
	}
	if !f.refreshOK[req.RefreshToken] {
		writeErr(w, 400, "invalid_grant", "invalid_request_error", nil)
		return
	}
	delete(f.refreshOK, req.RefreshToken)
	f.pair(w)
}

func (f *fakeKeygate) revoke(w http.ResponseWriter, r *http.Request) {
	var req struct{ Token string }
	_ = json.NewDecoder(r.Body).Decode(&req)
	if r.Header.Get("Authorization") != "Bearer "+testKey {
		writeErr(w, 401, "invalid_api_key", "authentication_error", nil)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.valid, req.Token)
	delete(f.refreshOK, req.Token)
	_, _ = io.WriteString(w, "{}")
}

// revokeAll makes every issued access token fail at the protected route.
func (f *fakeKeygate) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.valid = map[string]bool{}
}

func (f *fakeKeygate) queue(answers ...func(w http.ResponseWriter)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, answers...)
}

func (f *fakeKeygate) protected(w http.ResponseWriter, r *http.Request) {
	f.apiCalls.Add(1)
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(b))
	if len(f.script) > 0 {
		next := f.script[0]
		f.script = f.script[1:]
		f.mu.Unlock()
		next(w)
		return
	}
	ok := f.valid[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	f.mu.Unlock()
	if !ok {
		writeErr(w, 401, "invalid_token", "authentication_error", nil)
		return
	}
	if r.URL.Query().Get("forbid") != "" {
		writeErr(w, 403, "insufficient_permissions", "authorization_error", map[string]any{"required_scope": "customers:delete"})
		return
	}
	_, _ = io.WriteString(w, `{"data":[]}`)
}

func (f *fakeKeygate) validate(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	ok := f.valid[tok]
	f.mu.Unlock()
	switch {
	case tok == testKey:
		_, _ = io.WriteString(w, `{"valid":true,"key_id":"key_01234567890123456789","scopes":["admin:full"],"rate_limit":1000,"token_type":"api_key"}`)
	case ok:
		_, _ = io.WriteString(w, `{"valid":true,"key_id":"key_01234567890123456789","scopes":["customers:read"],"rate_limit":1000,"token_type":"access_token","expires_at":"2030-01-02T03:04:05Z"}`)
	default:
		writeErr(w, 401, "invalid_token", "authentication_error", nil)
	}
}

// admin answers /v1/keys… with canned views and records "METHOD path?query body".
func (f *fakeKeygate) admin(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.adminCalls = append(f.adminCalls, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(b)))
	f.mu.Unlock()
	view := `"key_id":"key_01234567890123456789","name":"svc","scopes":["customers:read"],"allowed_ips":[],"rate_limit":600,"tier":"standard","status":"active","key_gen":2,"created_at":"2026-11-30T10:00:00Z"`
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/keys":
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{`+view+`,"key":"`+testKey+`","warning":"Store this key now."}`)
	case strings.HasSuffix(r.URL.Path, "/rotate"):
		_, _ = io.WriteString(w, `{`+view+`,"previous_key_valid_until":"2026-12-01T10:00:00Z","key":"`+testKey+`","warning":"Store this key now."}`)
	case strings.HasSuffix(r.URL.Path, "/events"):
		_, _ = io.WriteString(w, `{"data":[{"time":"2026-11-30T10:00:00.5Z","action":"key.created","key_id":"key_01234567890123456789"}],"next_cursor":"c2"}`)
	case r.URL.Path == "/v1/keys":
		_, _ = io.WriteString(w, `{"data":[{`+view+`}],"next_cursor":"abc"}`)
	case strings.HasSuffix(r.URL.Path, "/key_missing"):
		writeErr(w, 404, "not_found", "invalid_request_error", nil)
	default:
		_, _ = io.WriteString(w, `{`+view+`}`)
	}
}

// fakeClock is an injected clock: Now moves only when told to, Sleep records the wait and
// moves the clock by it (or returns at once when ctx is done).
type fakeClock struct {
	*clocktest.Clock
	mu     sync.Mutex
	sleeps []time.Duration
	block  bool // Sleep waits for ctx instead of returning
}

func newClock() *fakeClock {
	return &fakeClock{Clock: clocktest.New(time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC))}
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	block := c.block
	c.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}
