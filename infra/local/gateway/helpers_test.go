package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/infra/local/gateway"
	"github.com/keygate/keygate/infra/local/lambdarun"
	"github.com/keygate/keygate/infra/local/samtpl"
	"github.com/keygate/keygate/shared/clocktest"
)

const realTemplate = "../../../template.yaml"

// handlerFunc fakes one function.
type handlerFunc func(ctx context.Context, payload []byte) ([]byte, error)

// fakeInvoker stands in for lambdarun: per-function handlers, recorded payloads.
type fakeInvoker struct {
	mu       sync.Mutex
	handlers map[string]handlerFunc
	calls    map[string][][]byte
}

func (f *fakeInvoker) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string][][]byte{}
	}
	f.calls[fn] = append(f.calls[fn], payload)
	h := f.handlers[fn]
	f.mu.Unlock()
	if h == nil {
		return backendEcho(ctx, payload)
	}
	return h(ctx, payload)
}

func (f *fakeInvoker) count(fn string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls[fn])
}

// total counts the invocations of every function.
func (f *fakeInvoker) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += len(c)
	}
	return n
}

func (f *fakeInvoker) last(fn string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls[fn]
	if len(c) == 0 {
		return nil
	}
	return c[len(c)-1]
}

// backendEcho answers 200 with the event it received as the body.
func backendEcho(_ context.Context, payload []byte) ([]byte, error) {
	return json.Marshal(events.APIGatewayProxyResponse{StatusCode: 200, Body: string(payload)})
}

// allowAll is an authorizer that allows every method of the API for any token.
func allowAll(_ context.Context, _ []byte) ([]byte, error) {
	return policyFor("user-1", "Allow", "arn:aws:execute-api:*:*:*/*/*/*", map[string]any{"scope": "admin:full"}), nil
}

func policyFor(principal, effect, resource string, context map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"principalId": principal,
		"policyDocument": map[string]any{
			"Version":   "2012-10-17",
			"Statement": []any{map[string]any{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}},
		},
		"context": context,
	})
	return b
}

func unauthorized(context.Context, []byte) ([]byte, error) {
	return nil, &lambdarun.FunctionError{Type: "errorString", Message: "Unauthorized"}
}

type env struct {
	gw    *gateway.Gateway
	inv   *fakeInvoker
	clock *clocktest.Clock
	tpl   *samtpl.Template
	log   *strings.Builder
	logMu *sync.Mutex
}

type option func(*gateway.Config, *samtpl.Options)

// newEnv builds a gateway for the project's template.
func newEnv(t testing.TB, handlers map[string]handlerFunc, opts ...option) *env {
	t.Helper()
	src, err := os.ReadFile(realTemplate)
	if err != nil {
		t.Fatal(err)
	}
	return newEnvFor(t, src, handlers, opts...)
}

// newEnvFor builds a gateway for the template src.
func newEnvFor(t testing.TB, src []byte, handlers map[string]handlerFunc, opts ...option) *env {
	t.Helper()
	tplOpts := samtpl.Options{}
	cfg := gateway.Config{}
	for _, o := range opts {
		o(&cfg, &tplOpts)
	}
	tpl, err := samtpl.Parse(src, tplOpts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		inv:   &fakeInvoker{handlers: handlers},
		clock: clocktest.New(time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)),
		tpl:   tpl,
		log:   &strings.Builder{},
		logMu: &sync.Mutex{},
	}
	cfg.Template, cfg.Invoker, cfg.Now = tpl, e.inv, e.clock.Now
	cfg.AccessLog = lockedWriter{mu: e.logMu, w: e.log}
	if e.gw, err = gateway.New(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (e *env) accessLog() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.log.String()
}

// do sends one request through the gateway.
func (e *env) do(t *testing.T, method, target, token string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = "198.51.100.7:54321"
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	e.gw.ServeHTTP(w, r)
	return w
}

// event decodes the proxy event the backend received last.
func (e *env) event(t *testing.T, fn string) events.APIGatewayProxyRequest {
	t.Helper()
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(e.inv.last(fn), &ev); err != nil {
		t.Fatalf("decode event: %v", err)
	}
	return ev
}

func errorCode(t *testing.T, body string) string {
	t.Helper()
	var v struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("body %q is not the error shape: %v", body, err)
	}
	return v.Error.Code
}

var _ http.Handler = (*gateway.Gateway)(nil)
