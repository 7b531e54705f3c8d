package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/infra/local"
	"github.com/keygate/keygate/infra/local/gateway"
	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/rotation"
	"github.com/keygate/keygate/shared/secret"
)

// The route every end-to-end measurement calls: protected, served by EchoFunction, allowed by
// customers:read.
const protectedPath = "/v1/customers"

// benchStack is the local stack the end-to-end parts run on: the template's functions behind
// the local API Gateway, on the bench emulators. Requests made while setting it up go through
// a recording gateway, so every function's event is a real API Gateway event to replay.
type benchStack struct {
	c      *config
	stack  *local.Stack     // quiet: no per-invocation log lines on the measured path
	server *httptest.Server // the stack's own gateway
	rec    *recorder
	record *httptest.Server // a gateway over rec

	adminKey, key string // key has customers:read and billing:read
	access        string // an access token of key
	events        map[string][]byte
}

// recorder is an Invoker that remembers the last payload each function received.
type recorder struct {
	next gateway.Invoker
	mu   sync.Mutex
	last map[string][]byte
}

func (r *recorder) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, error) {
	r.mu.Lock()
	r.last[fn] = append([]byte(nil), payload...)
	r.mu.Unlock()
	return r.next.Invoke(ctx, fn, payload)
}

func (c *config) stackOptions(params map[string]string, quiet bool, logs io.Writer) local.Options {
	return local.Options{
		Template: filepath.Join(c.root, "template.yaml"),
		Params:   params,
		BinDir:   c.bin,
		DynamoDB: c.ddb,
		Secrets:  c.sm,
		Logs:     logs,
		Quiet:    quiet,
	}
}

// benchParams are the template parameters of every bench stack: the template's defaults
// (authorizer cache 30 s, revocation bound 30 s), stage local.
func benchParams(extra map[string]string) map[string]string {
	p := map[string]string{"Stage": "local"}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

// startBenchStack provisions the emulators, creates an admin key and a client key, and
// records one real event per function by calling each route once.
func startBenchStack(ctx context.Context, c *config) (*benchStack, error) {
	o := c.stackOptions(benchParams(nil), true, c.functionLogs)
	o.Provision = true
	st, err := local.Start(ctx, o)
	if err != nil {
		return nil, err
	}
	b := &benchStack{c: c, stack: st, rec: &recorder{next: st, last: map[string][]byte{}}}
	b.server = httptest.NewServer(st.Gateway)
	gw, err := gateway.New(gateway.Config{Template: st.Template, Invoker: b.rec})
	if err != nil {
		b.Close()
		return nil, err
	}
	b.record = httptest.NewServer(gw)
	if b.adminKey, err = b.createKey(ctx, []string{"admin:full"}); err != nil {
		b.Close()
		return nil, err
	}
	if b.key, err = b.createKey(ctx, []string{"customers:read", "billing:read"}); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.recordEvents(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Close stops the function processes and the servers.
func (b *benchStack) Close() {
	for _, s := range []*httptest.Server{b.server, b.record} {
		if s != nil {
			s.Close()
		}
	}
	_ = b.stack.Close()
}

// createKey writes a key straight to DynamoDB, as `authctl bootstrap` does. Its rate limit is
// out of reach: the bench measures cost, not the limiter's refusals.
func (b *benchStack) createKey(ctx context.Context, scopes []string) (string, error) {
	return b.stack.MintKey(ctx, apikey.Spec{Name: "bench", Scopes: scopes, RateLimit: 1_000_000, Tier: "enterprise"}, "make bench")
}

// tokenPair is what POST /v1/auth/token and /v1/auth/refresh answer.
type tokenPair struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

// call sends one request and fails on any status but want.
func call(ctx context.Context, base, method, path, bearer string, body any, want int) ([]byte, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	status, _, out, err := local.Request(ctx, base, method, path, bearer, raw)
	if err != nil {
		return nil, err
	}
	if status != want {
		return nil, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, status, want, out)
	}
	return out, nil
}

// newPair gets a token pair for the client key through base.
func (b *benchStack) newPair(ctx context.Context, base string) (tokenPair, error) {
	out, err := call(ctx, base, http.MethodPost, "/v1/auth/token", "", map[string]any{"api_key": b.key}, http.StatusOK)
	if err != nil {
		return tokenPair{}, err
	}
	var p tokenPair
	if err := json.Unmarshal(out, &p); err != nil || p.Access == "" || p.Refresh == "" {
		return tokenPair{}, fmt.Errorf("token response %s: %v", out, err)
	}
	return p, nil
}

// recordEvents calls every route once through the recording gateway.
func (b *benchStack) recordEvents(ctx context.Context) error {
	base := b.record.URL
	p, err := b.newPair(ctx, base)
	if err != nil {
		return err
	}
	b.access = p.Access
	steps := []struct {
		method, path, bearer string
		body                 any
	}{
		// The admin API is behind the authorizer too: its call comes first, so the event the
		// authorizer keeps is the protected route's, with the access token.
		{http.MethodGet, "/v1/keys?limit=10", b.adminKey, nil},
		{http.MethodGet, protectedPath, p.Access, nil}, // AuthorizerFunction + EchoFunction
		{http.MethodGet, "/v1/auth/validate", p.Access, nil},
		{http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": p.Refresh}},
		{http.MethodGet, "/.well-known/jwks.json", "", nil},
		{http.MethodGet, "/console", "", nil},
	}
	for _, s := range steps {
		if _, err := call(ctx, base, s.method, s.path, s.bearer, s.body, http.StatusOK); err != nil {
			return err
		}
	}
	// Revoke last: it spends a pair of its own (revoking a revoked token answers 200 again,
	// so the recorded event replays).
	spare, err := b.newPair(ctx, base)
	if err != nil {
		return err
	}
	if _, err := call(ctx, base, http.MethodPost, "/v1/auth/revoke", b.key, map[string]any{"token": spare.Refresh}, http.StatusOK); err != nil {
		return err
	}
	b.rec.mu.Lock()
	b.events = b.rec.last
	b.rec.last = map[string][]byte{}
	b.rec.mu.Unlock()

	// RotateFunction has no route: a step for the version that is already current is the
	// no-op Secrets Manager may send on a retry (one DescribeSecret).
	env := b.stack.Env("RotateFunction")
	cur, err := secret.Read(ctx, b.stack.Secrets, env["KEYGATE_SIGNING_SECRET"], secret.StageCurrent)
	if err != nil {
		return err
	}
	rot, err := json.Marshal(rotation.Event{SecretID: env["KEYGATE_SIGNING_SECRET"], ClientRequestToken: cur.ID, Step: rotation.StepSet})
	if err != nil {
		return err
	}
	b.events["RotateFunction"] = rot
	// Functions on a schedule (PlansFunction) get EventBridge's scheduled event.
	for _, sc := range b.stack.Template.Schedules {
		ev, err := json.Marshal(map[string]any{"version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
			"account": b.stack.Template.AccountID, "region": b.stack.Template.Region, "time": time.Now().UTC().Format(time.RFC3339),
			"resources": []string{}, "detail": map[string]any{}})
		if err != nil {
			return err
		}
		b.events[sc.FunctionID] = ev
	}
	for _, fn := range b.stack.Functions() {
		if b.events[fn] == nil {
			return fmt.Errorf("no event recorded for %s: add a request for one of its routes (or its Schedule)", fn)
		}
	}
	return nil
}

// withBody returns a recorded proxy event with another JSON body.
func withBody(event []byte, body any) ([]byte, error) {
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	ev.Body = string(raw)
	return json.Marshal(ev)
}

// checkInvocation accepts a function's answer: an authorizer policy, a rotation step's null,
// or a proxy response with a 2xx status.
func checkInvocation(fn string, out []byte) error {
	var resp struct {
		StatusCode   *int            `json:"statusCode"`
		PolicyDoc    json.RawMessage `json:"policyDocument"`
		ErrorMessage string          `json:"errorMessage"`
	}
	if bytes.Equal(bytes.TrimSpace(out), []byte("null")) {
		return nil
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return fmt.Errorf("%s answered %q: %w", fn, out, err)
	}
	switch {
	case resp.PolicyDoc != nil:
		return nil
	case resp.StatusCode != nil && *resp.StatusCode/100 == 2:
		return nil
	}
	return fmt.Errorf("%s answered %s", fn, tail(string(out), 300))
}

// percentile returns the p-th percentile (0..1) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted)-1) + 0.5)
	return sorted[i]
}
