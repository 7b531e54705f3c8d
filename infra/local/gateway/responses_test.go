package gateway_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/local/gateway"
	"github.com/keygate/keygate/infra/local/samtpl"
)

func TestRenderTemplate(t *testing.T) {
	rc := gateway.RenderContext{RequestID: "req-1", ErrorMessage: `say "no"`, ResponseType: "ACCESS_DENIED", Stage: "dev",
		Authorizer: map[string]string{"principalId": "p-1", "scope": "keys:read"}}
	tests := []struct{ in, want string }{
		{`{"id":"$context.requestId"}`, `{"id":"req-1"}`},
		{`${context.requestId}`, `req-1`},
		{`$context.error.message`, `say "no"`},
		{`{"message":$context.error.messageString}`, `{"message":"say \"no\""}`},
		{`$context.error.responseType/$context.stage`, `ACCESS_DENIED/dev`},
		{`$context.authorizer.principalId:$context.authorizer.scope`, `p-1:keys:read`},
		{`$context.authorizer.missing`, `$context.authorizer.missing`},
		{`$context.unknown and $ alone and $$`, `$context.unknown and $ alone and $$`},
		{`${context.requestId`, `${context.requestId`},
		{`no variables`, `no variables`},
		{`$context.requestId.`, `req-1.`},
	}
	for _, tc := range tests {
		if got := gateway.RenderTemplate(tc.in, rc); got != tc.want {
			t.Errorf("RenderTemplate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRenderGatewayResponse(t *testing.T) {
	tpl, err := samtpl.Load(realTemplate, samtpl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	real := tpl.API.GatewayResponses
	custom := map[string]samtpl.GatewayResponse{
		"DEFAULT_4XX":  {Headers: map[string]string{"X-Default": "4xx"}, Template: `{"d4":"$context.error.message"}`},
		"UNAUTHORIZED": {Headers: map[string]string{"WWW-Authenticate": "Bearer"}},
		"THROTTLED":    {StatusCode: 420, Template: `{"id":"$context.requestId"}`},
	}
	tests := []struct {
		name        string
		responses   map[string]samtpl.GatewayResponse
		typ         string
		wantStatus  int
		bodyHas     string
		wantHeaders map[string]string
	}{
		{"a customised type uses its own status, headers and template", real, gateway.Unauthorized, 401, `"code":"invalid_token"`, map[string]string{"WWW-Authenticate": "Bearer", "Access-Control-Allow-Origin": "*"}},
		{"the template's 503 for AUTHORIZER_FAILURE", real, gateway.AuthorizerFailure, 503, `"retry_after":5`, map[string]string{"Retry-After": "5", "Access-Control-Allow-Origin": "*"}},
		{"MISSING_AUTHENTICATION_TOKEN is 404 here", real, gateway.MissingAuthenticationToken, 404, `"code":"not_found"`, nil},
		{"an uncustomised 4xx type falls back to DEFAULT_4XX with its own default status", real, "BAD_REQUEST_BODY", 400, `"code":"invalid_request"`, nil},
		{"an uncustomised 5xx type falls back to DEFAULT_5XX", real, "API_CONFIGURATION_ERROR", 500, `"code":"internal_error"`, nil},
		{"no customisation at all gives API Gateway's body", nil, gateway.Unauthorized, 401, `{"message":"Unauthorized"}`, nil},
		{"API Gateway's default status for a missing route is 403", nil, gateway.MissingAuthenticationToken, 403, `{"message":"Missing Authentication Token"}`, nil},
		{"a type without a template inherits DEFAULT_4XX's template and headers", custom, gateway.Unauthorized, 401, `{"d4":"Unauthorized"}`, map[string]string{"X-Default": "4xx", "WWW-Authenticate": "Bearer"}},
		{"a type's own status and template", custom, "THROTTLED", 420, `{"id":"rid"}`, map[string]string{"X-Default": "4xx"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := gateway.RenderGatewayResponse(tc.responses, tc.typ, gateway.RenderContext{RequestID: "rid"})
			if got.Status != tc.wantStatus || !strings.Contains(got.Body, tc.bodyHas) {
				t.Errorf("got %d %s, want %d containing %s", got.Status, got.Body, tc.wantStatus, tc.bodyHas)
			}
			if tc.wantHeaders != nil && !equalMaps(got.Headers, tc.wantHeaders) {
				t.Errorf("headers = %v, want %v", got.Headers, tc.wantHeaders)
			}
		})
	}
}

// FuzzRenderTemplate: rendering never panics, and text without '$' is unchanged.
func FuzzRenderTemplate(f *testing.F) {
	f.Add(`{"message":$context.error.messageString,"id":"${context.requestId}"}`)
	f.Add(`$context.authorizer.`)
	f.Add(`${`)
	f.Fuzz(func(t *testing.T, tpl string) {
		got := gateway.RenderTemplate(tpl, gateway.RenderContext{RequestID: "r", Authorizer: map[string]string{"a": "b"}})
		if !strings.Contains(tpl, "$") && got != tpl {
			t.Errorf("RenderTemplate(%q) = %q", tpl, got)
		}
	})
}

// FuzzParseProxyResponse: arbitrary function output never panics; what parses has a
// valid status.
func FuzzParseProxyResponse(f *testing.F) {
	f.Add([]byte(`{"statusCode":200,"headers":{"a":"b"},"multiValueHeaders":{"c":["d"]},"body":"x","isBase64Encoded":false}`))
	f.Add([]byte(`{"statusCode":200,"body":"aGk=","isBase64Encoded":true}`))
	f.Add([]byte(`{"statusCode":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := gateway.ParseProxyResponse(data)
		if err == nil && (resp.StatusCode < 100 || resp.StatusCode > 599) {
			t.Errorf("accepted status %d", resp.StatusCode)
		}
	})
}

// API Gateway renames some headers of a Lambda proxy response to x-amzn-Remapped-<name>: a
// client never gets a function's WWW-Authenticate, Date or Server under their own names.
func TestProxyResponseHeadersAreRemappedAsAPIGatewayDoes(t *testing.T) {
	tests := []struct {
		header, want string
	}{
		{"WWW-Authenticate", "x-amzn-Remapped-Www-Authenticate"},
		{"Date", "x-amzn-Remapped-Date"},
		{"Server", "x-amzn-Remapped-Server"},
		{"Authorization", "x-amzn-Remapped-Authorization"},
		{"Connection", "x-amzn-Remapped-Connection"},
		{"X-RateLimit-Limit", "X-RateLimit-Limit"},
		{"Cache-Control", "Cache-Control"},
		{"Access-Control-Allow-Origin", "Access-Control-Allow-Origin"},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			e := newEnv(t, map[string]handlerFunc{"TokenFunction": func(context.Context, []byte) ([]byte, error) {
				return []byte(`{"statusCode":401,"headers":{"` + tt.header + `":"v"},"body":"{}"}`), nil
			}})
			w := e.do(t, "POST", "/v1/auth/token", "", nil)
			if got := w.Header().Values(tt.want); len(got) != 1 || got[0] != "v" {
				t.Errorf("header %s arrived as %v under %s; all: %v", tt.header, got, tt.want, w.Header())
			}
			if tt.want != tt.header && w.Header().Get(tt.header) == "v" {
				t.Errorf("%s reached the client under its own name", tt.header)
			}
		})
	}
}
