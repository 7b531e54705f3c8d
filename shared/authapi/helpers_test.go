package authapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/authapi"
	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/signing/signingtest"

	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/secret/secrettest"
	"github.com/keygate/keygate/shared/signing"
	"github.com/keygate/keygate/shared/token"

	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/memstore"
)

const (
	issuer          = "https://auth.keygate.test"
	audience        = "https://api.keygate.test"
	signingSecretID = "keygate/test/signing"
)

var (
	ctx    = context.Background()
	pepper = []byte("0123456789abcdef0123456789abcdef")
	start  = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

type staticPepper struct{}

func (staticPepper) Get(context.Context) ([]byte, error) { return pepper, nil }

// rateLimiter is memstore's rate limiter, which keeps the DynamoDB limiter's semantics (per key
// and minute window, limit allowed, the window's first refusal marked), with failure injection:
// while err is set every Take fails with it; while refuse is set every Take finds the key's
// budget spent (it spends what is left of the window, as other requests would have) and is
// refused.
type rateLimiter struct {
	*memstore.Limiter
	mu     sync.Mutex
	refuse bool
	err    error
}

var _ authapi.Limiter = (*rateLimiter)(nil)

func (l *rateLimiter) Take(ctx context.Context, keyID string, limit int) (store.RateDecision, error) {
	l.mu.Lock()
	refuse, err := l.refuse, l.err
	l.mu.Unlock()
	if err != nil {
		return store.RateDecision{}, err
	}
	for {
		d, err := l.Limiter.Take(ctx, keyID, limit)
		if err != nil || !refuse || !d.Allowed {
			return d, err
		}
	}
}

// tokenStore is memstore's token store, which keeps the DynamoDB store's semantics, with
// failure injection: while err is set every call fails with it. It remembers the families it
// stored, so tests can count logins without reaching into the store.
type tokenStore struct {
	*memstore.Tokens
	mu       sync.Mutex
	err      error
	families []string
}

var _ authapi.Tokens = (*tokenStore)(nil)

func (f *tokenStore) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *tokenStore) CreateFamily(ctx context.Context, fam store.Family, first store.RefreshToken, touch *store.Touch, audit ...store.Event) error {
	if err := f.failure(); err != nil {
		return err
	}
	if err := f.Tokens.CreateFamily(ctx, fam, first, touch, audit...); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.families = append(f.families, fam.ID)
	return nil
}

func (f *tokenStore) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	if err := f.failure(); err != nil {
		return store.RefreshToken{}, err
	}
	return f.Tokens.RefreshToken(ctx, hash)
}

func (f *tokenStore) Family(ctx context.Context, id string) (store.Family, error) {
	if err := f.failure(); err != nil {
		return store.Family{}, err
	}
	return f.Tokens.Family(ctx, id)
}

func (f *tokenStore) Rotate(ctx context.Context, parent, child store.RefreshToken, audit ...store.Event) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Tokens.Rotate(ctx, parent, child, audit...)
}

func (f *tokenStore) Retire(ctx context.Context, hash string) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Tokens.Retire(ctx, hash)
}

func (f *tokenStore) RevokeFamily(ctx context.Context, keyID, id string, denyUntil time.Time, audit ...store.Event) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Tokens.RevokeFamily(ctx, keyID, id, denyUntil, audit...)
}

func (f *tokenStore) DenyAccessToken(ctx context.Context, keyID, jti string, until time.Time, audit ...store.Event) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Tokens.DenyAccessToken(ctx, keyID, jti, until, audit...)
}

func (f *tokenStore) AccessTokenDenied(ctx context.Context, keyID, jti, familyID string) (bool, error) {
	if err := f.failure(); err != nil {
		return false, err
	}
	return f.Tokens.AccessTokenDenied(ctx, keyID, jti, familyID)
}

func (f *tokenStore) DeniedTokens(ctx context.Context, keyID string) (map[string]time.Time, error) {
	if err := f.failure(); err != nil {
		return nil, err
	}
	return f.Tokens.DeniedTokens(ctx, keyID)
}

func (f *tokenStore) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// familyCount is the number of families (logins) the store has stored.
func (f *tokenStore) familyCount() int { return len(f.familyIDs()) }

func (f *tokenStore) familyIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.families)
}

// denyMany puts n access tokens of keyID ("jti-0", "jti-1", …) on its deny-list until until.
func (f *tokenStore) denyMany(t testing.TB, keyID string, n int, until time.Time) {
	t.Helper()
	for i := range n {
		if err := f.DenyAccessToken(ctx, keyID, fmt.Sprintf("jti-%d", i), until); err != nil {
			t.Fatal(err)
		}
	}
}

// signingSecret is the package's signing key, generated once per test binary.
func signingSecret(t testing.TB) []byte { return signingtest.Secret(t, signing.ES256, start) }

// env wires the real handlers with memstore (keys, their audit trail and tokens), a real keyring
// over a fake Secrets Manager, the real Issuer and Verifier, and memstore's rate limiter.
type env struct {
	clock    *clocktest.Clock
	keys     *memstore.Keys
	sm       *secrettest.SecretsManager
	limiter  *rateLimiter
	tokens   *tokenStore
	hasher   *apikey.Hasher
	issuer   *token.Issuer
	verifier *token.Verifier
	tokenH   *authapi.TokenHandler
	validH   *authapi.ValidateHandler
	logs     *bytes.Buffer
	log      *slog.Logger
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{clock: clocktest.New(start), sm: secrettest.New(signingSecretID), logs: &bytes.Buffer{}}
	e.sm.Set(secret.StageCurrent, signingSecret(t))
	e.keys = memstore.NewKeys(e.clock.Now)
	e.tokens = &tokenStore{Tokens: memstore.NewTokens(e.clock.Now, e.keys)}
	e.limiter = &rateLimiter{Limiter: memstore.NewLimiter(e.clock.Now)}
	e.log = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	if e.hasher, err = apikey.NewHasher(pepper); err != nil {
		t.Fatal(err)
	}
	auth := apikey.NewAuthenticator("kg_live", staticPepper{}, e.keys, e.clock.Now)
	ring := signing.New(e.sm, signingSecretID, signing.Options{Now: e.clock.Now})
	e.issuer = token.NewIssuer(ring, issuer, audience, e.clock.Now)
	if e.verifier, err = token.NewVerifier(ring, issuer, audience, token.DefaultLeeway, e.clock.Now); err != nil {
		t.Fatal(err)
	}
	settings := authapi.Settings{AccessTTL: time.Hour, MaxAccessTTL: 24 * time.Hour, RefreshTTL: 30 * 24 * time.Hour, RefreshGrace: 10 * time.Second}
	e.tokenH = &authapi.TokenHandler{Keys: auth, Issuer: e.issuer, Limiter: e.limiter, Tokens: e.tokens, Audit: e.keys,
		Settings: settings, Now: e.clock.Now, Random: rand.Reader}
	e.validH = &authapi.ValidateHandler{Keys: auth, KeyByID: e.keys, Tokens: e.tokens, Access: e.verifier, Now: e.clock.Now}
	return e
}

// addKey stores a live key (scopes customers:read and billing:read unless tweaked) and returns
// the plain key.
func (e *env) addKey(t testing.TB, tweak func(*store.Key)) (string, store.Key) {
	t.Helper()
	raw, err := apikey.Generate("kg_live", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := apikey.NewKeyID(rand.Reader)
	k := store.Key{Hash: e.hasher.Hash(raw), KeyID: id, Name: "test", Scopes: []string{"customers:read", "billing:read"},
		RateLimit: 100, Tier: "pro", Status: store.StatusActive, CreatedAt: start, KeyGen: 1}
	if tweak != nil {
		tweak(&k)
	}
	if err := e.keys.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	stored, err := e.keys.KeyByID(ctx, k.KeyID)
	if errors.Is(err, store.ErrNotFound) { // already expired
		return raw, k
	}
	if err != nil {
		t.Fatal(err)
	}
	return raw, stored
}

type response struct {
	events.APIGatewayProxyResponse
	Error   map[string]any
	Payload map[string]any
}

func (e *env) serve(t testing.TB, h httpapi.Handler, ev events.APIGatewayProxyRequest) response {
	t.Helper()
	resp, err := httpapi.Lambda(e.log, h)(ctx, ev)
	if err != nil {
		t.Fatalf("Lambda returned an error (API Gateway would answer 502): %v", err)
	}
	r := response{APIGatewayProxyResponse: resp}
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, resp.Body)
	}
	if eb, ok := body["error"].(map[string]any); ok {
		r.Error = eb
	} else {
		r.Payload = body
	}
	return r
}

func (e *env) token(t testing.TB, ev events.APIGatewayProxyRequest) response {
	t.Helper()
	return e.serve(t, e.tokenH.Router().Serve, ev)
}

func (e *env) validate(t testing.TB, ev events.APIGatewayProxyRequest) response {
	t.Helper()
	return e.serve(t, e.validH.Router().Serve, ev)
}

const sourceIP = "203.0.113.7"

// refreshHandler is the real refresh handler over env's stores, with tokens in place of env's
// token store (to inject failures).
func (e *env) refreshHandler(tokens authapi.Tokens) *authapi.RefreshHandler {
	return &authapi.RefreshHandler{Keys: e.tokenH.Keys, KeyByID: e.keys, Issuer: e.issuer, Limiter: e.limiter,
		Tokens: tokens, Audit: e.keys, Settings: e.tokenH.Settings, Now: e.clock.Now}
}

// revokeHandler is the real revoke handler over env's stores, with tokens in place of env's
// token store.
func (e *env) revokeHandler(tokens authapi.Tokens) *authapi.RevokeHandler {
	return &authapi.RevokeHandler{Keys: e.tokenH.Keys, Tokens: tokens, Access: e.verifier,
		Settings: e.tokenH.Settings, Now: e.clock.Now}
}

// refreshRequest is POST /v1/auth/refresh {"refresh_token": rt}.
func refreshRequest(rt string) events.APIGatewayProxyRequest {
	ev := events.APIGatewayProxyRequest{HTTPMethod: "POST", Resource: "/v1/auth/refresh", Path: "/v1/auth/refresh",
		Headers: map[string]string{"Content-Type": "application/json"}, Body: jsonBody(map[string]string{"refresh_token": rt})}
	ev.RequestContext.Identity.SourceIP = sourceIP
	return ev
}

// revokeRequest is POST /v1/auth/revoke {"token": tok} authenticated by key.
func revokeRequest(key, tok string) events.APIGatewayProxyRequest {
	ev := events.APIGatewayProxyRequest{HTTPMethod: "POST", Resource: "/v1/auth/revoke", Path: "/v1/auth/revoke",
		Headers: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + key},
		Body:    jsonBody(map[string]string{"token": tok})}
	ev.RequestContext.Identity.SourceIP = sourceIP
	return ev
}

func tokenRequest(body string, headers map[string]string) events.APIGatewayProxyRequest {
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range headers {
		if v == "" {
			delete(h, k)
			continue
		}
		h[k] = v
	}
	ev := events.APIGatewayProxyRequest{HTTPMethod: "POST", Resource: "/v1/auth/token", Path: "/v1/auth/token", Headers: h, Body: body}
	ev.RequestContext.RequestID = "req-token"
	ev.RequestContext.Identity.SourceIP = sourceIP
	return ev
}

func validateRequest(credential string) events.APIGatewayProxyRequest {
	ev := events.APIGatewayProxyRequest{HTTPMethod: "GET", Resource: "/v1/auth/validate", Path: "/v1/auth/validate"}
	if credential != "" {
		ev.Headers = map[string]string{"Authorization": "Bearer " + credential}
	}
	ev.RequestContext.RequestID = "req-validate"
	ev.RequestContext.Identity.SourceIP = sourceIP
	return ev
}

func jsonBody(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

var errOutage = errors.New("dial tcp 10.0.0.1:443: i/o timeout")

// assertNoLeak fails if any of secrets shows up in s.
func assertNoLeak(t testing.TB, where, s string, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			t.Errorf("%s contains a credential (%.12s…)", where, sec)
		}
	}
}
