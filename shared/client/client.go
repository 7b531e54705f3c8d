package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// Defaults of New.
const (
	DefaultRefreshMargin = 60 * time.Second
	DefaultRefreshJitter = 30 * time.Second
	// flightTimeout bounds one shared exchange or refresh, retries included, whatever the
	// contexts of the callers waiting for it.
	flightTimeout = 2 * time.Minute
	maxBody       = 4 << 20
)

// Clock is the time source: Now decides when a token is due, Sleep waits between retries.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, whichever comes first, and returns ctx.Err() in
	// the second case.
	Sleep(ctx context.Context, d time.Duration) error
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RetryPolicy bounds the retries of 429 and 503 answers.
type RetryPolicy struct {
	// MaxAttempts is the number of tries in all, the first included (default 4; 1 = no retry).
	MaxAttempts int
	// MaxWait caps one wait. A Retry-After longer than this is not waited for: the 429/503 is
	// returned at once (default 30 s).
	MaxWait time.Duration
	// BaseDelay starts the exponential backoff used when the answer names no delay
	// (default 500 ms; doubled per retry, full jitter).
	BaseDelay time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the client whose Transport, Timeout, redirect policy and cookie jar the
// Client uses underneath (default http.DefaultClient).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithClock replaces the system clock (tests).
func WithClock(clk Clock) Option { return func(c *Client) { c.clock = clk } }

// WithRefreshMargin sets how long before expiry a token is refreshed (default 60 s) and the
// random extra spread on top of it (default up to 30 s). The margin is capped at half of a
// token's lifetime and the jitter at a quarter, so a short-lived token is still used.
func WithRefreshMargin(margin, jitter time.Duration) Option {
	return func(c *Client) { c.margin, c.jitter = max(margin, 0), max(jitter, 0) }
}

// WithRetry sets the retry policy for 429 and 503 answers; zero fields keep their defaults.
func WithRetry(p RetryPolicy) Option {
	return func(c *Client) {
		if p.MaxAttempts > 0 {
			c.retry.MaxAttempts = p.MaxAttempts
		}
		if p.MaxWait > 0 {
			c.retry.MaxWait = p.MaxWait
		}
		if p.BaseDelay > 0 {
			c.retry.BaseDelay = p.BaseDelay
		}
	}
}

// WithLogger sets where the client logs what it does (token obtained, refreshed, retries),
// never with a credential in it (default: no logging).
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithScopes asks for tokens narrowed to these scopes (a subset of the key's).
func WithScopes(scopes ...string) Option {
	return func(c *Client) { c.scopes = append([]string(nil), scopes...) }
}

// WithCustomerID asks for tokens that carry this customer id.
func WithCustomerID(id string) Option { return func(c *Client) { c.customerID = id } }

// WithTokenTTL asks for access tokens of this lifetime on exchange (60 s to the service's
// maximum; refreshed tokens get the service's default lifetime).
func WithTokenTTL(d time.Duration) Option { return func(c *Client) { c.ttl = d } }

// WithAPIOrigins names more origins ("https://api2.example.com", "https://api.example.com:8443")
// whose requests get the credential from Transport, besides the base URL's own. Each is a
// scheme, a host and an optional port, nothing else; New refuses any other spelling, and a
// plain-http origin when the base URL is https.
func WithAPIOrigins(origins ...string) Option {
	return func(c *Client) { c.extraOrigins = append(c.extraOrigins, origins...) }
}

// WithoutTokenExchange presents the credential given to New as it is, on every request: no
// exchange, no refresh, no retry on 401. For tools that hold an access token already, or that
// present an API key directly (the authorizer accepts both), such as authctl.
func WithoutTokenExchange() Option { return func(c *Client) { c.static = true } }

// Client gets and keeps access tokens for one API key. It is safe for concurrent use.
type Client struct {
	base       *url.URL
	apiKey     string
	hc         *http.Client
	clock      Clock
	margin     time.Duration
	jitter     time.Duration
	retry      RetryPolicy
	log        *slog.Logger
	scopes     []string
	customerID string
	ttl        time.Duration
	static     bool
	// origins are the scheme, host and port that Transport sends the credential to: the base
	// URL's and WithAPIOrigins'.
	origins      map[origin]bool
	extraOrigins []string

	mu     sync.Mutex
	cur    *tokenState
	flight singleflight.Group
}

var _ oauth2.TokenSource = (*Client)(nil)

// tokenState is one access token with the refresh token that came with it. It is replaced,
// never changed, so a caller holding one reads it without a lock.
type tokenState struct {
	access    string
	refresh   string
	scope     string
	expiry    time.Time // zero: does not expire (WithoutTokenExchange)
	refreshAt time.Time
	bad       bool // a protected route refused it: do not fall back to it
}

// New returns a client of the keygate service at baseURL (scheme and host, optionally a path
// prefix, e.g. "https://api.example.com") for apiKey. It does no I/O: the first request or
// Token call exchanges the key.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	var baseOrigin origin
	ok := err == nil
	if ok {
		baseOrigin, ok = originOf(u)
	}
	if !ok {
		return nil, fmt.Errorf("client: base URL must be http(s)://host[:port][/prefix], got %q", baseURL)
	}
	if apiKey == "" {
		return nil, errors.New("client: empty API key")
	}
	c := &Client{
		base: u, apiKey: apiKey, hc: http.DefaultClient, clock: systemClock{},
		margin: DefaultRefreshMargin, jitter: DefaultRefreshJitter,
		retry: RetryPolicy{MaxAttempts: 4, MaxWait: 30 * time.Second, BaseDelay: 500 * time.Millisecond},
		log:   slog.New(slog.DiscardHandler), origins: map[origin]bool{baseOrigin: true},
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	var bad []error
	for _, s := range c.extraOrigins {
		o, err := parseOrigin(s)
		switch {
		case err != nil:
			bad = append(bad, err)
		case baseOrigin.scheme == "https" && o.scheme != "https":
			bad = append(bad, fmt.Errorf("client: WithAPIOrigins: %q is plain http and the base URL is https: the credential would cross the network in clear text", s))
		default:
			c.origins[o] = true
		}
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	return c, nil
}

// String shows the base URL and a redacted key, never the key or a token.
func (c *Client) String() string {
	return fmt.Sprintf("keygate.Client{base: %s, key: %s}", c.base, redact(c.apiKey))
}

// GoString redacts too (%#v).
func (c *Client) GoString() string { return c.String() }

// Format redacts for every fmt verb.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue redacts in slog records.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", c.base.String()), slog.String("api_key", redact(c.apiKey)))
}

// Token returns a valid access token, exchanging or refreshing as needed (oauth2.TokenSource).
// The returned token has no refresh token: the client keeps that to itself.
func (c *Client) Token() (*oauth2.Token, error) { return c.TokenContext(context.Background()) }

// TokenContext is Token with a context for the exchange or refresh it may wait for.
func (c *Client) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	st, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: st.access, TokenType: "Bearer", Expiry: st.expiry}, nil
}

// current returns the token to use now: the held one while it is not due, else the result of
// the one shared exchange or refresh.
func (c *Client) current(ctx context.Context) (*tokenState, error) {
	if c.static {
		return &tokenState{access: c.apiKey}, nil
	}
	c.mu.Lock()
	st := c.cur
	c.mu.Unlock()
	if st != nil && !st.bad && c.clock.Now().Before(st.refreshAt) {
		return st, nil
	}
	ch := c.flight.DoChan("token", func() (any, error) {
		// The flight outlives any one caller: a caller that gives up must not fail the others.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flightTimeout)
		defer cancel()
		return c.renew(fctx)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*tokenState), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// renew runs inside the single flight: it refreshes the held token, falls back to an exchange
// when the refresh token is refused, and stores the result.
func (c *Client) renew(ctx context.Context) (*tokenState, error) {
	c.mu.Lock()
	prev := c.cur
	c.mu.Unlock()
	now := c.clock.Now()
	if prev != nil && !prev.bad && now.Before(prev.refreshAt) {
		return prev, nil // another flight renewed it while this caller queued
	}
	var next *tokenState
	var err error
	if prev != nil && prev.refresh != "" {
		next, err = c.grant(ctx, "/v1/auth/refresh", "", map[string]any{"refresh_token": prev.refresh})
		switch {
		case err == nil:
			c.log.Debug("keygate: access token refreshed", "scope", next.scope, "expires_at", next.expiry)
		case errors.Is(err, ErrInvalidGrant):
			c.log.Info("keygate: refresh token refused, exchanging the API key again")
			next, err = nil, nil
		case !prev.bad && now.Before(prev.expiry):
			// A transient failure while the held token is still good: keep using it and try
			// again shortly, rather than failing requests that would succeed.
			retry := min(5*time.Second, prev.expiry.Sub(now)/2)
			kept := *prev
			kept.refreshAt = now.Add(retry)
			c.store(&kept)
			c.log.Warn("keygate: refresh failed, using the current token until it expires", "error", err.Error(), "retry_in", retry)
			return &kept, nil
		default:
			return nil, err
		}
	}
	if next == nil {
		body := map[string]any{}
		if len(c.scopes) > 0 {
			body["scopes"] = c.scopes
		}
		if c.customerID != "" {
			body["customer_id"] = c.customerID
		}
		if c.ttl > 0 {
			body["expires_in"] = int(c.ttl / time.Second)
		}
		if next, err = c.grant(ctx, "/v1/auth/token", c.apiKey, body); err != nil {
			return nil, err
		}
		c.log.Debug("keygate: API key exchanged for an access token", "scope", next.scope, "expires_at", next.expiry)
	}
	c.store(next)
	return next, nil
}

func (c *Client) store(st *tokenState) {
	c.mu.Lock()
	c.cur = st
	c.mu.Unlock()
}

// invalidate marks st as refused by a protected route, so the next current() renews it. A
// token that was already replaced is left alone: its replacement is what callers should use.
func (c *Client) invalidate(st *tokenState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == st {
		bad := *st
		bad.bad = true
		c.cur = &bad
	}
}

type grantResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// grant POSTs to a token endpoint and turns the answer into a tokenState due for renewal a
// margin (plus jitter) before it expires.
func (c *Client) grant(ctx context.Context, path, bearer string, body any) (*tokenState, error) {
	start := c.clock.Now() // the lifetime counts from before the request, to err on the early side
	var out grantResponse
	if err := c.call(ctx, false, http.MethodPost, path, bearer, body, &out); err != nil {
		return nil, err
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return nil, fmt.Errorf("client: %s answered without an access token or expires_in", path)
	}
	life := time.Duration(out.ExpiresIn) * time.Second
	lead := min(c.margin, life/2)
	if j := min(c.jitter, life/4); j > 0 {
		lead += rand.N(j)
	}
	exp := start.Add(life)
	return &tokenState{access: out.AccessToken, refresh: out.RefreshToken, scope: out.Scope,
		expiry: exp, refreshAt: exp.Add(-lead)}, nil
}

func (c *Client) baseTransport() http.RoundTripper {
	if c.hc.Transport != nil {
		return c.hc.Transport
	}
	return http.DefaultTransport
}

// call sends one JSON request with retries on 429/503 and decodes a 2xx answer into out (when
// out is not nil); any other answer becomes an *Error. With withToken it goes through
// Transport (the access token, refresh on 401), else with bearer as its credential.
func (c *Client) call(ctx context.Context, withToken bool, method, path, bearer string, body, out any) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return err
		}
	}
	req, err := c.newRequest(ctx, method, path, raw)
	if err != nil {
		return err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	var rt http.RoundTripper = retrying{c: c, next: c.baseTransport()}
	if withToken {
		rt = c.Transport()
	}
	hc := &http.Client{Transport: rt, Timeout: c.hc.Timeout, CheckRedirect: noRedirect}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseError(resp.StatusCode, resp.Header, b, c.clock.Now())
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("client: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// noRedirect keeps the client's own calls (which carry the API key) on the service's origin.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func (c *Client) newRequest(ctx context.Context, method, path string, raw []byte) (*http.Request, error) {
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// Validation is what GET /v1/auth/validate says about the client's credential.
type Validation struct {
	Valid      bool      `json:"valid"`
	KeyID      string    `json:"key_id"`
	Scopes     []string  `json:"scopes"`
	RateLimit  int       `json:"rate_limit"`
	Tier       string    `json:"tier,omitempty"`
	TokenType  string    `json:"token_type"` // "access_token", or "api_key" with WithoutTokenExchange
	CustomerID string    `json:"customer_id,omitempty"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
}

// Validate asks the service to describe the client's current access token (exchanging the key
// first if needed): a quick end-to-end check of the key, its scopes and the service.
func (c *Client) Validate(ctx context.Context) (*Validation, error) {
	var v Validation
	if err := c.call(ctx, true, http.MethodGet, "/v1/auth/validate", "", nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// RevokeToken revokes an access token or a refresh token (and its whole family) of this
// client's API key (POST /v1/auth/revoke, RFC 7009). Revoking a token the key does not own is
// not an error: the service answers the same for every token.
func (c *Client) RevokeToken(ctx context.Context, token string) error {
	return c.call(ctx, false, http.MethodPost, "/v1/auth/revoke", c.apiKey, map[string]string{"token": token}, nil)
}

// Close revokes the client's refresh token family, if it holds one, and forgets its tokens. A
// later request starts over with an exchange.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	st := c.cur
	c.cur = nil
	c.mu.Unlock()
	if st == nil || st.refresh == "" {
		return nil
	}
	return c.RevokeToken(ctx, st.refresh)
}
