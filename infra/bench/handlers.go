package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/shared/authapi"
	"github.com/keygate/keygate/shared/boot"
	"github.com/keygate/keygate/shared/httpx"
)

// handlerFunc is a function's handler as lambda.Start receives it.
type handlerFunc func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// endpoint is one token endpoint: how to wire its handler (as its functions/<name>/main.go
// does) and how to build the next request.
type endpoint struct {
	fn, route string
	wire      func(d *boot.Deps) handlerFunc
	// next returns the event for the next request, given the previous response body.
	next func(prev []byte) (events.APIGatewayProxyRequest, error)
}

// handlerThroughput drives the token and refresh handlers in this process against DynamoDB
// Local and moto, one request at a time as one Lambda container serves them: the real
// handlers, built by shared/boot with the real DynamoDB store and AWS SDK clients, fed the
// events the local API Gateway produced. A second, fresh container counts the DynamoDB and
// Secrets Manager calls through counting proxies (not on the timed path).
func handlerThroughput(ctx context.Context, c *config, b *benchStack) ([]HandlerResult, error) {
	tokenEvent, err := decodeEvent(b.events["TokenFunction"])
	if err != nil {
		return nil, err
	}
	refreshRaw := b.events["RefreshFunction"]
	first, err := b.newPair(ctx, b.server.URL)
	if err != nil {
		return nil, err
	}
	eps := []endpoint{
		{
			fn: "TokenFunction", route: "POST /v1/auth/token (API key → access + refresh token)",
			wire: func(d *boot.Deps) handlerFunc {
				h := &authapi.TokenHandler{Keys: d.KeyAuth, Issuer: d.Issuer(), Limiter: d.Limiter, Tokens: d.Tokens, Audit: d.Events,
					Settings: d.Settings(), Now: d.Now, Random: rand.Reader}
				return httpx.Lambda(d.Log, h.Router().Serve)
			},
			next: func([]byte) (events.APIGatewayProxyRequest, error) { return tokenEvent, nil },
		},
		{
			fn: "RefreshFunction", route: "POST /v1/auth/refresh (spend refresh token → new pair)",
			wire: func(d *boot.Deps) handlerFunc {
				h := &authapi.RefreshHandler{Keys: d.KeyAuth, KeyByID: d.Keys, Issuer: d.Issuer(), Limiter: d.Limiter, Tokens: d.Tokens,
					Audit: d.Events, Settings: d.Settings(), Now: d.Now}
				return httpx.Lambda(d.Log, h.Router().Serve)
			},
			// A chain: each request spends the refresh token the previous one returned.
			next: func(prev []byte) (events.APIGatewayProxyRequest, error) {
				rt := first.Refresh
				if prev != nil {
					var p tokenPair
					if err := json.Unmarshal(prev, &p); err != nil || p.Refresh == "" {
						return events.APIGatewayProxyRequest{}, fmt.Errorf("refresh response %s: %v", tail(string(prev), 200), err)
					}
					rt = p.Refresh
				}
				raw, err := withBody(refreshRaw, map[string]string{"refresh_token": rt})
				if err != nil {
					return events.APIGatewayProxyRequest{}, err
				}
				return decodeEvent(raw)
			},
		},
	}
	var out []HandlerResult
	for _, ep := range eps {
		res, err := measureEndpoint(ctx, c, b, ep)
		if err != nil {
			return out, fmt.Errorf("%s: %w", ep.fn, err)
		}
		out = append(out, res)
	}
	return out, nil
}

func decodeEvent(raw []byte) (events.APIGatewayProxyRequest, error) {
	var ev events.APIGatewayProxyRequest
	err := json.Unmarshal(raw, &ev)
	return ev, err
}

func measureEndpoint(ctx context.Context, c *config, b *benchStack, ep endpoint) (HandlerResult, error) {
	res := HandlerResult{Route: ep.route}
	// The timed container talks to the emulators directly.
	h, err := container(ctx, c, b, ep, c.ddb, c.sm)
	if err != nil {
		return res, err
	}
	var prev []byte
	step := func() (time.Duration, error) {
		ev, err := ep.next(prev)
		if err != nil {
			return 0, err
		}
		t := time.Now()
		resp, err := h(ctx, ev)
		d := time.Since(t)
		if err != nil || resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("status %d, %v: %s", resp.StatusCode, err, tail(resp.Body, 300))
		}
		prev = []byte(resp.Body)
		return d, nil
	}
	for range 5 { // warm: keyring, pepper, connections
		if _, err := step(); err != nil {
			return res, err
		}
	}
	c.logf("handler: %s for %s", ep.fn, c.handlerDuration)
	var lat []time.Duration
	start := time.Now()
	for time.Since(start) < c.handlerDuration {
		d, err := step()
		if err != nil {
			return res, err
		}
		lat = append(lat, d)
	}
	res.Elapsed = time.Since(start)
	res.Requests = len(lat)
	slices.Sort(lat)
	res.P50, res.P99 = percentile(lat, 0.5), percentile(lat, 0.99)

	// A fresh container behind counting proxies: its first request, then warm ones.
	ddbProxy, ddbCount, err := countingProxy(c.ddb)
	if err != nil {
		return res, err
	}
	defer ddbProxy.Close()
	smProxy, smCount, err := countingProxy(c.sm)
	if err != nil {
		return res, err
	}
	defer smProxy.Close()
	if h, err = container(ctx, c, b, ep, ddbProxy.URL, smProxy.URL); err != nil {
		return res, err
	}
	if _, err := step(); err != nil {
		return res, err
	}
	res.FirstDynamoDB, res.FirstSecrets = ddbCount.total(), smCount.total()
	ddbBefore, smBefore := ddbCount.snapshot(), smCount.snapshot()
	const counted = 50
	for range counted {
		if _, err := step(); err != nil {
			return res, err
		}
	}
	res.DynamoDB = perRequest(ddbCount.since(ddbBefore), counted)
	res.Secrets = perRequest(smCount.since(smBefore), counted)
	return res, nil
}

// container builds the function's dependencies the way its bootstrap does (shared/boot reads
// the same environment Lambda would give it) and returns its handler.
func container(ctx context.Context, c *config, b *benchStack, ep endpoint, ddb, sm string) (handlerFunc, error) {
	env := map[string]string{
		"AWS_REGION":                       b.stack.Template.Region,
		"AWS_ACCESS_KEY_ID":                "bench",
		"AWS_SECRET_ACCESS_KEY":            "bench",
		"AWS_SESSION_TOKEN":                "",
		"AWS_CONFIG_FILE":                  os.DevNull, // never the developer's profiles
		"AWS_SHARED_CREDENTIALS_FILE":      os.DevNull,
		"AWS_ENDPOINT_URL_DYNAMODB":        ddb,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": sm,
	}
	for k, v := range b.stack.Env(ep.fn) {
		env[k] = v
	}
	// shared/boot reads the environment once, in Load: set it for that call only.
	defer restoreEnv(env)()
	for k, v := range env {
		if err := setenv(k, v); err != nil {
			return nil, err
		}
	}
	// The functions log JSON to stdout; stdout is the table's. Their logs go to the log file
	// (the logger keeps the *os.File it was built with).
	stdout := os.Stdout
	os.Stdout = c.functionLogFile
	d, err := boot.Load(ctx)
	os.Stdout = stdout
	if err != nil {
		return nil, err
	}
	return ep.wire(d), nil
}

// setenv sets k, or unsets it for an empty value.
func setenv(k, v string) error {
	if v == "" {
		return os.Unsetenv(k)
	}
	return os.Setenv(k, v)
}

// restoreEnv remembers the current values of env's keys and returns what puts them back.
func restoreEnv(env map[string]string) func() {
	old := make(map[string]string, len(env))
	for k := range env {
		old[k] = os.Getenv(k) // unset and empty are the same to the SDK and to shared/config
	}
	return func() {
		for k, v := range old {
			_ = setenv(k, v)
		}
	}
}

// callCounter counts AWS JSON-protocol operations by X-Amz-Target's operation name.
type callCounter struct {
	mu  sync.Mutex
	ops map[string]int
}

func (c *callCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.ops))
	for k, v := range c.ops {
		out[k] = v
	}
	return out
}

func (c *callCounter) total() int {
	n := 0
	for _, v := range c.snapshot() {
		n += v
	}
	return n
}

func (c *callCounter) since(before map[string]int) map[string]int {
	d := map[string]int{}
	for k, v := range c.snapshot() {
		if v-before[k] > 0 {
			d[k] = v - before[k]
		}
	}
	return d
}

func perRequest(m map[string]int, n int) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = float64(v) / float64(n)
	}
	return out
}

// countingProxy is a reverse proxy in front of an emulator that counts each operation.
func countingProxy(target string) (*httptest.Server, *callCounter, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, nil, err
	}
	c := &callCounter{ops: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		if i := strings.LastIndexByte(op, '.'); i >= 0 {
			op = op[i+1:]
		}
		c.mu.Lock()
		c.ops[op]++
		c.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	return srv, c, nil
}
