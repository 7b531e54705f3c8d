package gateway_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/infra/local/gateway"
	"github.com/keygate/keygate/infra/local/lambdarun"
	"github.com/keygate/keygate/infra/local/samtpl"
)

func TestRoutesOfTheRealTemplate(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		target     string
		wantFn     string // "" when the gateway must answer itself
		wantStatus int
		resource   string
		params     map[string]string
	}{
		{"a literal route", "POST", "/v1/auth/token", "TokenFunction", 200, "/v1/auth/token", nil},
		{"ANY catches another method", "GET", "/v1/auth/token", "TokenFunction", 200, "/v1/auth/token", nil},
		{"a path parameter", "GET", "/v1/keys/key_123", "KeysFunction", 200, "/v1/keys/{id}", map[string]string{"id": "key_123"}},
		{"an escaped slash stays inside the parameter", "GET", "/v1/keys/a%2Fb", "KeysFunction", 200, "/v1/keys/{id}", map[string]string{"id": "a/b"}},
		{"a nested literal under a parameter", "POST", "/v1/keys/key_1/rotate", "KeysFunction", 200, "/v1/keys/{id}/rotate", map[string]string{"id": "key_1"}},
		{"ANY under a parameter", "PUT", "/v1/keys/key_1", "KeysFunction", 200, "/v1/keys/{id}", map[string]string{"id": "key_1"}},
		{"the dotted jwks path", "GET", "/.well-known/jwks.json", "JwksFunction", 200, "/.well-known/jwks.json", nil},
		{"a protected backend", "GET", "/v1/customers/c1", "EchoFunction", 200, "/v1/customers/{id}", map[string]string{"id": "c1"}},
		{"an undefined method falls to the resource's ANY", "PUT", "/v1/customers/c1", "EchoFunction", 200, "/v1/customers/{id}", map[string]string{"id": "c1"}},
		{"an unknown path", "GET", "/v1/nope", "", 404, "", nil},
		{"a path under the stage name is not served", "GET", "/dev/v1/auth/validate", "", 404, "", nil},
		{"a trailing slash is another path", "GET", "/v1/keys/", "", 404, "", nil},
		{"the root has no route", "GET", "/", "", 404, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]handlerFunc{"AuthorizerFunction": allowAll})
			w := e.do(t, tc.method, tc.target, "tok", nil)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.wantStatus, w.Body)
			}
			if tc.wantFn == "" {
				if code := errorCode(t, w.Body.String()); code != "not_found" {
					t.Errorf("error code = %q, want not_found (MISSING_AUTHENTICATION_TOKEN from the template)", code)
				}
				if n := e.inv.count("AuthorizerFunction"); n != 0 {
					t.Errorf("the authorizer ran %d times for an unknown route", n)
				}
				return
			}
			ev := e.event(t, tc.wantFn)
			if ev.Resource != tc.resource || ev.RequestContext.ResourcePath != tc.resource || ev.HTTPMethod != tc.method {
				t.Errorf("event resource %q/%q method %q", ev.Resource, ev.RequestContext.ResourcePath, ev.HTTPMethod)
			}
			if !equalMaps(ev.PathParameters, tc.params) {
				t.Errorf("pathParameters = %v, want %v", ev.PathParameters, tc.params)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestPublicRoutesSkipTheAuthorizer(t *testing.T) {
	e := newEnv(t, nil)
	if w := e.do(t, "POST", "/v1/auth/token", "", strings.NewReader(`{}`)); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	if n := e.inv.count("AuthorizerFunction"); n != 0 {
		t.Errorf("authorizer invoked %d times for a NONE route", n)
	}
	if ev := e.event(t, "TokenFunction"); ev.RequestContext.Authorizer != nil {
		t.Errorf("requestContext.authorizer = %v, want null on a public route", ev.RequestContext.Authorizer)
	}
}

func TestProxyEvent(t *testing.T) {
	e := newEnv(t, map[string]handlerFunc{"AuthorizerFunction": allowAll})
	r := httptest.NewRequest("POST", "/v1/keys/key_9/rotate?a=1&a=2&b=x%20y", strings.NewReader(`{"x":1}`))
	r.RemoteAddr = "198.51.100.7:54321"
	r.Header.Set("Authorization", "Bearer tok")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "keygate-test/1.0")
	r.Header.Set("X-Forwarded-For", "203.0.113.99") // forged; must not become sourceIp
	r.Header.Add("X-Multi", "one")
	r.Header.Add("X-Multi", "two")
	w := httptest.NewRecorder()
	e.gw.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	ev := e.event(t, "KeysFunction")
	rc := ev.RequestContext
	checks := []struct {
		name      string
		got, want any
	}{
		{"path", ev.Path, "/v1/keys/key_9/rotate"},
		{"resource", ev.Resource, "/v1/keys/{id}/rotate"},
		{"body", ev.Body, `{"x":1}`},
		{"isBase64Encoded", ev.IsBase64Encoded, false},
		{"query single", ev.QueryStringParameters["a"], "2"},
		{"query decoded", ev.QueryStringParameters["b"], "x y"},
		{"query multi", strings.Join(ev.MultiValueQueryStringParameters["a"], ","), "1,2"},
		{"header single keeps the last", ev.Headers["X-Multi"], "two"},
		{"header multi", strings.Join(ev.MultiValueHeaders["X-Multi"], ","), "one,two"},
		{"host header", ev.Headers["Host"], "example.com"},
		{"x-forwarded-for appends the peer", ev.Headers["X-Forwarded-For"], "203.0.113.99, 198.51.100.7"},
		{"stage variables", ev.StageVariables == nil, true},
		{"sourceIp is the TCP peer", rc.Identity.SourceIP, "198.51.100.7"},
		{"userAgent", rc.Identity.UserAgent, "keygate-test/1.0"},
		{"stage", rc.Stage, "dev"},
		{"context path has the stage", rc.Path, "/dev/v1/keys/key_9/rotate"},
		{"account", rc.AccountID, "000000000000"},
		{"api id", rc.APIID, gateway.DefaultAPIID},
		{"request id matches the response header", rc.RequestID, requestIDHeader(w)},
		{"request time epoch", rc.RequestTimeEpoch, e.clock.Now().UnixMilli()},
		{"request time", rc.RequestTime, "05/Nov/2026:10:00:00 +0000"},
		{"protocol", rc.Protocol, "HTTP/1.1"},
		{"principalId", rc.Authorizer["principalId"], "user-1"},
		{"authorizer context", rc.Authorizer["scope"], "admin:full"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(rc.RequestID) != 36 || rc.ResourceID == "" {
		t.Errorf("requestId %q resourceId %q", rc.RequestID, rc.ResourceID)
	}
}

func TestBinaryBodiesAreBase64Encoded(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        []byte
		wantBase64  bool
	}{
		{"json is text", "application/json; charset=utf-8", []byte(`{"a":1}`), false},
		{"form is text", "application/x-www-form-urlencoded", []byte("grant_type=x"), false},
		{"octet-stream is binary", "application/octet-stream", []byte{0, 1, 2, 255}, true},
		{"untyped utf-8 is text", "", []byte("hello"), false},
		{"untyped non-utf-8 is binary", "", []byte{0xff, 0xfe}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			r := httptest.NewRequest("POST", "/v1/auth/token", bytes.NewReader(tc.body))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			e.gw.ServeHTTP(httptest.NewRecorder(), r)
			ev := e.event(t, "TokenFunction")
			if ev.IsBase64Encoded != tc.wantBase64 {
				t.Fatalf("isBase64Encoded = %v", ev.IsBase64Encoded)
			}
			got := []byte(ev.Body)
			if tc.wantBase64 {
				got, _ = base64.StdEncoding.DecodeString(ev.Body)
			}
			if !bytes.Equal(got, tc.body) {
				t.Errorf("body = %q, want %q", got, tc.body)
			}
		})
	}
}

func TestProxyResponseIsRelayed(t *testing.T) {
	e := newEnv(t, map[string]handlerFunc{"TokenFunction": func(context.Context, []byte) ([]byte, error) {
		return json.Marshal(events.APIGatewayProxyResponse{
			StatusCode:        201,
			Headers:           map[string]string{"Cache-Control": "no-store", "X-Both": "single"},
			MultiValueHeaders: map[string][]string{"Set-Cookie": {"a=1", "b=2"}, "X-Both": {"m1", "m2"}},
			Body:              base64.StdEncoding.EncodeToString([]byte("raw\x00bytes")),
			IsBase64Encoded:   true,
		})
	}})
	w := e.do(t, "POST", "/v1/auth/token", "", nil)
	if w.Code != 201 || w.Body.String() != "raw\x00bytes" {
		t.Fatalf("got %d %q", w.Code, w.Body)
	}
	h := w.Header()
	if h.Get("Cache-Control") != "no-store" || strings.Join(h.Values("Set-Cookie"), ";") != "a=1;b=2" ||
		strings.Join(h.Values("X-Both"), ";") != "m1;m2" || h.Get("Content-Type") != "application/json" || requestIDHeader(w) == "" {
		t.Errorf("headers = %v", h)
	}
}

func TestMalformedProxyResultsAre502(t *testing.T) {
	tests := []struct {
		name   string
		result string
		err    error
	}{
		{"not JSON", `oops`, nil},
		{"a JSON string", `"hello"`, nil},
		{"no statusCode", `{"body":"x"}`, nil},
		{"statusCode as a string", `{"statusCode":"200"}`, nil},
		{"statusCode out of range", `{"statusCode":42}`, nil},
		{"an unexpected member", `{"statusCode":200,"extra":1}`, nil},
		{"a body that is an object", `{"statusCode":200,"body":{"a":1}}`, nil},
		{"a header that is a number", `{"statusCode":200,"headers":{"X":1}}`, nil},
		{"invalid base64", `{"statusCode":200,"body":"***","isBase64Encoded":true}`, nil},
		{"a function error", ``, &lambdarun.FunctionError{Type: "errorString", Message: "boom"}},
		{"a Lambda timeout shorter than the integration timeout", ``, &lambdarun.TimeoutError{FunctionID: "TokenFunction", Timeout: 10 * time.Second}},
		{"a crashed runtime", ``, &lambdarun.CrashError{FunctionID: "TokenFunction", ExitStatus: "exit status 2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]handlerFunc{"TokenFunction": func(context.Context, []byte) ([]byte, error) {
				return []byte(tc.result), tc.err
			}})
			w := e.do(t, "POST", "/v1/auth/token", "", nil)
			if w.Code != 502 || w.Body.String() != `{"message": "Internal server error"}` {
				t.Errorf("got %d %s", w.Code, w.Body)
			}
		})
	}
}

func TestIntegrationTimeoutIs504(t *testing.T) {
	e := newEnv(t, map[string]handlerFunc{"TokenFunction": func(ctx context.Context, _ []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}, func(c *gateway.Config, _ *samtpl.Options) { c.IntegrationTimeout = 50 * time.Millisecond })
	start := time.Now()
	w := e.do(t, "POST", "/v1/auth/token", "", nil)
	if w.Code != 504 || errorCode(t, w.Body.String()) != "timeout" {
		t.Errorf("got %d %s", w.Code, w.Body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestBodyLimit(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		status int
		body   string // for the 413s: the gateway response's code, or API Gateway's own message
	}{
		{"a body whose event fits Lambda's 6 MB request limit passes", 4 << 20, 200, ""},
		{"a body whose event exceeds Lambda's 6 MB is refused before the function", gateway.MaxInvokePayloadBytes, 413, `{"message": "Request Too Long"}`},
		{"exactly 10 MB never reaches the function either", gateway.DefaultMaxBodyBytes, 413, `{"message": "Request Too Long"}`},
		{"one byte over 10 MB is the REQUEST_TOO_LARGE gateway response", gateway.DefaultMaxBodyBytes + 1, 413, "request_too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]handlerFunc{"TokenFunction": func(context.Context, []byte) ([]byte, error) {
				return []byte(`{"statusCode":200,"body":"ok"}`), nil
			}})
			w := e.do(t, "POST", "/v1/auth/token", "", bytes.NewReader(bytes.Repeat([]byte("a"), tc.size)))
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d", w.Code, tc.status)
			}
			if tc.status != 413 {
				return
			}
			if tc.body == "request_too_large" {
				if code := errorCode(t, w.Body.String()); code != tc.body {
					t.Errorf("code = %q", code)
				}
			} else if w.Body.String() != tc.body {
				t.Errorf("body = %s, want %s", w.Body.String(), tc.body)
			}
			if e.inv.count("TokenFunction") != 0 {
				t.Error("an oversized request reached the function")
			}
		})
	}
	t.Run("a chunked body without Content-Length is measured too", func(t *testing.T) {
		e := newEnv(t, nil, func(c *gateway.Config, _ *samtpl.Options) { c.MaxBodyBytes = 1024 })
		r := httptest.NewRequest("POST", "/v1/auth/token", bytes.NewReader(make([]byte, 2048)))
		r.ContentLength = -1
		w := httptest.NewRecorder()
		e.gw.ServeHTTP(w, r)
		if w.Code != 413 {
			t.Errorf("status = %d", w.Code)
		}
	})
}

func TestAuthorizerOutcomes(t *testing.T) {
	tests := []struct {
		name        string
		token       string
		authorizer  handlerFunc
		wantStatus  int
		wantCode    string
		wantHeader  [2]string
		wantInvoked int
		wantBackend bool
	}{
		{"a missing Authorization header is 401 without invoking", "", allowAll, 401, "invalid_token", [2]string{"WWW-Authenticate", "Bearer"}, 0, false},
		{"Unauthorized from the authorizer is 401", "t", unauthorized, 401, "invalid_token", [2]string{"WWW-Authenticate", "Bearer"}, 1, false},
		{"an Allow reaches the backend", "t", allowAll, 200, "", [2]string{}, 1, true},
		{"an explicit Deny is 403", "t", func(context.Context, []byte) ([]byte, error) {
			return policyFor("u", "Deny", "*", denyContext("ip_not_allowed")), nil
		}, 403, "ip_not_allowed", [2]string{}, 1, false},
		{"a policy for another route is 403", "t", func(context.Context, []byte) ([]byte, error) {
			return policyFor("u", "Allow", "arn:aws:execute-api:*:*:*/dev/GET/v1/billing", denyContext("insufficient_permissions")), nil
		}, 403, "insufficient_permissions", [2]string{}, 1, false},
		{"another function error is AUTHORIZER_FAILURE", "t", func(context.Context, []byte) ([]byte, error) {
			return nil, &lambdarun.FunctionError{Type: "errorString", Message: "dynamodb unavailable"}
		}, 503, "service_unavailable", [2]string{"Retry-After", "5"}, 1, false},
		{"an authorizer timeout is AUTHORIZER_FAILURE", "t", func(context.Context, []byte) ([]byte, error) {
			return nil, &lambdarun.TimeoutError{FunctionID: "AuthorizerFunction", Timeout: 5 * time.Second}
		}, 503, "service_unavailable", [2]string{"Retry-After", "5"}, 1, false},
		{"malformed output is AUTHORIZER_FAILURE", "t", func(context.Context, []byte) ([]byte, error) {
			return []byte(`{"principalId":"u"}`), nil
		}, 503, "service_unavailable", [2]string{}, 1, false},
		{"a nested context value is AUTHORIZER_CONFIGURATION_ERROR", "t", func(context.Context, []byte) ([]byte, error) {
			return policyFor("u", "Allow", "*", map[string]any{"scopes": []string{"a"}}), nil
		}, 503, "service_unavailable", [2]string{"Retry-After", "5"}, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]handlerFunc{"AuthorizerFunction": tc.authorizer})
			w := e.do(t, "GET", "/v1/customers", tc.token, nil)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d: %s", w.Code, tc.wantStatus, w.Body)
			}
			if tc.wantCode != "" {
				if code := errorCode(t, w.Body.String()); code != tc.wantCode {
					t.Errorf("code = %q, want %q", code, tc.wantCode)
				}
			}
			if tc.wantHeader[0] != "" && w.Header().Get(tc.wantHeader[0]) != tc.wantHeader[1] {
				t.Errorf("header %s = %q, want %q", tc.wantHeader[0], w.Header().Get(tc.wantHeader[0]), tc.wantHeader[1])
			}
			if n := e.inv.count("AuthorizerFunction"); n != tc.wantInvoked {
				t.Errorf("authorizer invoked %d times, want %d", n, tc.wantInvoked)
			}
			if got := e.inv.count("EchoFunction") > 0; got != tc.wantBackend {
				t.Errorf("backend invoked = %v, want %v", got, tc.wantBackend)
			}
		})
	}
}

func TestAuthorizerEvent(t *testing.T) {
	e := newEnv(t, map[string]handlerFunc{"AuthorizerFunction": allowAll})
	e.do(t, "DELETE", "/v1/customers/c-7?x=1", "secret-token", nil)
	var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
	if err := json.Unmarshal(e.inv.last("AuthorizerFunction"), &ev); err != nil {
		t.Fatal(err)
	}
	want := "arn:aws:execute-api:us-east-1:000000000000:keygatelcl/dev/DELETE/v1/customers/c-7"
	if ev.Type != "REQUEST" || ev.MethodArn != want || ev.Resource != "/v1/customers/{id}" || ev.Path != "/v1/customers/c-7" ||
		ev.HTTPMethod != "DELETE" || ev.Headers["Authorization"] != "Bearer secret-token" || ev.PathParameters["id"] != "c-7" ||
		ev.QueryStringParameters["x"] != "1" || ev.RequestContext.Stage != "dev" || ev.RequestContext.Identity.SourceIP != "198.51.100.7" {
		t.Errorf("event = %+v", ev)
	}
}

// The template's identity sources are the Authorization header, the source IP and the route,
// so a result is cached per credential, address and route; the cached policy is evaluated
// against the method ARN of each request all the same.
func TestAuthorizerCacheIsPerCredentialAndRoute(t *testing.T) {
	onlyCustomers := func(context.Context, []byte) ([]byte, error) {
		return policyFor("u", "Allow", "arn:aws:execute-api:us-east-1:000000000000:keygatelcl/dev/GET/v1/customers",
			denyContext("insufficient_permissions")), nil
	}
	e := newEnv(t, map[string]handlerFunc{"AuthorizerFunction": onlyCustomers})
	steps := []struct {
		method, path, token string
		status, invoked     int
	}{
		{"GET", "/v1/customers", "tok-a", 200, 1},
		{"GET", "/v1/billing", "tok-a", 403, 2},   // another route is another cache entry
		{"GET", "/v1/customers", "tok-a", 200, 2}, // cached
		{"GET", "/v1/billing", "tok-a", 403, 2},   // cached Deny for this route
		{"GET", "/v1/billing", "tok-b", 403, 3},   // another token is another cache entry
		{"GET", "/v1/customers", "tok-b", 200, 4},
	}
	for i, s := range steps {
		w := e.do(t, s.method, s.path, s.token, nil)
		if w.Code != s.status || e.inv.count("AuthorizerFunction") != s.invoked {
			t.Fatalf("step %d %s %s %s: status %d invoked %d, want %d %d", i, s.method, s.path, s.token, w.Code,
				e.inv.count("AuthorizerFunction"), s.status, s.invoked)
		}
		if s.status == 403 && errorCode(t, w.Body.String()) != "insufficient_permissions" {
			t.Fatalf("step %d: body %s", i, w.Body)
		}
	}
	log := e.accessLog()
	if !strings.Contains(log, `"authorizerCacheHit":true`) || !strings.Contains(log, `"authorizerCacheHit":false`) {
		t.Errorf("access log lacks cache hit markers:\n%s", log)
	}
}

// denyContext is the context keygate's authorizer sets for the ACCESS_DENIED response.
func denyContext(code string) map[string]any {
	return map[string]any{"deny_code": code, "deny_message": "no", "deny_type": "authorization_error", "required_scope": "billing:read"}
}

func TestAuthorizerCacheExpires(t *testing.T) {
	e := newEnv(t, map[string]handlerFunc{"AuthorizerFunction": allowAll})
	e.do(t, "GET", "/v1/customers", "tok", nil)
	e.clock.Advance(29 * time.Second)
	e.do(t, "GET", "/v1/customers", "tok", nil)
	if n := e.inv.count("AuthorizerFunction"); n != 1 {
		t.Fatalf("invoked %d times within the TTL", n)
	}
	e.clock.Advance(time.Second) // 30 s, the template's default: expired
	e.do(t, "GET", "/v1/customers", "tok", nil)
	if n := e.inv.count("AuthorizerFunction"); n != 2 {
		t.Errorf("invoked %d times after the TTL, want 2", n)
	}
}

func TestAuthorizerCacheCanBeDisabled(t *testing.T) {
	e := newEnv(t, map[string]handlerFunc{"AuthorizerFunction": allowAll}, func(_ *gateway.Config, o *samtpl.Options) {
		o.Parameters = map[string]string{"AuthorizerCacheTTL": "0"}
	})
	for i := 0; i < 3; i++ {
		e.do(t, "GET", "/v1/customers", "tok", nil)
	}
	if n := e.inv.count("AuthorizerFunction"); n != 3 {
		t.Errorf("invoked %d times with caching off, want 3", n)
	}
	if !strings.Contains(e.accessLog(), `"authorizerCacheHit":null`) {
		t.Errorf("access log should report no cache: %s", e.accessLog())
	}
}

func TestUnauthorizedIsCachedButFailuresAreNot(t *testing.T) {
	calls := 0
	flaky := func(context.Context, []byte) ([]byte, error) {
		calls++
		switch calls {
		case 1:
			return nil, errors.New("transient")
		default:
			return nil, &lambdarun.FunctionError{Message: "Unauthorized"}
		}
	}
	e := newEnv(t, map[string]handlerFunc{"AuthorizerFunction": flaky})
	if w := e.do(t, "GET", "/v1/customers", "tok", nil); w.Code != 503 {
		t.Fatalf("first: %d", w.Code)
	}
	if w := e.do(t, "GET", "/v1/customers", "tok", nil); w.Code != 401 {
		t.Fatalf("second: %d", w.Code)
	}
	if w := e.do(t, "GET", "/v1/customers", "tok", nil); w.Code != 401 {
		t.Fatalf("third: %d", w.Code)
	}
	if calls != 2 {
		t.Errorf("authorizer ran %d times, want 2 (the failure is retried, the 401 is cached)", calls)
	}
	e.gw.FlushAuthorizerCache()
	e.do(t, "GET", "/v1/customers", "tok", nil)
	if calls != 3 {
		t.Errorf("after a flush the authorizer ran %d times, want 3", calls)
	}
}

func TestAccessLogNeverContainsCredentials(t *testing.T) {
	e := newEnv(t, map[string]handlerFunc{"AuthorizerFunction": allowAll})
	e.do(t, "GET", "/v1/customers?api_key=kg_test_query_secret", "kg_test_header_secret", nil)
	e.do(t, "GET", "/v1/nope", "kg_test_header_secret", nil)
	// A key pasted where a key id belongs travels in the path: only the resource is logged.
	e.do(t, "DELETE", "/v1/keys/kg_test_path_secret", "kg_test_header_secret", nil)
	log := e.accessLog()
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines:\n%s", log)
	}
	if strings.Contains(log, "secret") || strings.Contains(log, "Bearer") {
		t.Errorf("access log leaks credentials:\n%s", log)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"requestId", "method", "resource", "status", "latencyMs", "authorizerCacheHit"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("access log line lacks %s: %s", k, lines[0])
		}
	}
	if rec["status"].(float64) != 200 || rec["resource"] != "/v1/customers" {
		t.Errorf("line = %s", lines[0])
	}
}

func TestGatewayRespondsWithRequestID(t *testing.T) {
	e := newEnv(t, nil)
	w := e.do(t, "GET", "/nowhere", "", nil)
	if requestIDHeader(w) == "" || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", w.Header())
	}
	var _ http.ResponseWriter = w
}

// The template adds $context.identity.sourceIp to the identity sources: the same token from
// another address is another cache entry (an IP-allowlisted key accepted from one address
// must not be accepted from another through the cache).
func TestAuthorizerCacheKeyIncludesTheSourceIP(t *testing.T) {
	e := newEnv(t, map[string]handlerFunc{"AuthorizerFunction": allowAll})
	for i, addr := range []string{"198.51.100.7:1000", "198.51.100.7:2000", "203.0.113.5:1000"} {
		r := httptest.NewRequest("GET", "/v1/customers", nil)
		r.RemoteAddr = addr
		r.Header.Set("Authorization", "Bearer same-token")
		e.gw.ServeHTTP(httptest.NewRecorder(), r)
		want := []int{1, 1, 2}[i]
		if n := e.inv.count("AuthorizerFunction"); n != want {
			t.Errorf("after a request from %s the authorizer ran %d times, want %d", addr, n, want)
		}
	}
}

// requestIDHeader reads x-amzn-RequestId as the gateway spells it (a client's
// Header.Get canonicalises the name and finds it too).
func requestIDHeader(w *httptest.ResponseRecorder) string {
	if v := w.Header()["x-amzn-RequestId"]; len(v) == 1 {
		return v[0]
	}
	return ""
}

// BenchmarkGatewayOverhead measures the gateway's own work per request on a protected
// route with a warm authorizer cache (the functions are in-process fakes).
func BenchmarkGatewayOverhead(b *testing.B) {
	tpl, err := samtpl.Load(realTemplate, samtpl.Options{})
	if err != nil {
		b.Fatal(err)
	}
	inv := &fakeInvoker{handlers: map[string]handlerFunc{
		"AuthorizerFunction": allowAll,
		"EchoFunction": func(context.Context, []byte) ([]byte, error) {
			return []byte(`{"statusCode":200,"body":"{}"}`), nil
		},
	}}
	gw, err := gateway.New(gateway.Config{Template: tpl, Invoker: inv})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := httptest.NewRequest("GET", "/v1/customers/c1?limit=10", nil)
		r.Header.Set("Authorization", "Bearer token")
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
		if i%1000 == 0 {
			inv.mu.Lock()
			inv.calls = nil // keep the recorder from growing without bound
			inv.mu.Unlock()
		}
	}
}
