package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/local/gateway"
	"github.com/keygate/keygate/infra/local/samtpl"
)

// preflight sends OPTIONS to path as a browser does before a cross-origin POST with a
// bearer token and a JSON body; token, when set, is sent too (browsers never do).
func (e *env) preflight(t *testing.T, path, token string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodOptions, path, nil)
	r.RemoteAddr = "198.51.100.7:54321"
	r.Header.Set("Origin", "https://app.example.com")
	r.Header.Set("Access-Control-Request-Method", http.MethodPost)
	r.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	e.gw.ServeHTTP(w, r)
	return w
}

// corsHeaders returns the response's Access-Control-* headers.
func corsHeaders(w *httptest.ResponseRecorder) map[string]string {
	out := map[string]string{}
	for k, v := range w.Header() {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = strings.Join(v, ", ")
		}
	}
	return out
}

// checkPreflight fails unless w is SAM's preflight answer with exactly the headers want.
func checkPreflight(t *testing.T, w *httptest.ResponseRecorder, want map[string]string) {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", w.Code, w.Body)
	}
	if got := corsHeaders(w); !reflect.DeepEqual(got, want) {
		t.Errorf("CORS headers = %v, want %v", got, want)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if body := w.Body.String(); body != "{}\n" {
		t.Errorf("body = %q, want SAM's %q", body, "{}\n")
	}
	if requestIDHeader(w) == "" {
		t.Error("no x-amzn-RequestId")
	}
}

// templatePreflight is what the project's template makes SAM answer, for an origin.
func templatePreflight(origin string) map[string]string {
	return map[string]string{
		"Access-Control-Allow-Origin":  origin,
		"Access-Control-Allow-Headers": "Authorization,Content-Type",
		"Access-Control-Allow-Methods": "GET,POST,PUT,PATCH,DELETE,OPTIONS",
		"Access-Control-Max-Age":       "600",
	}
}

func TestPreflightsOfTheRealTemplate(t *testing.T) {
	tests := []struct {
		name   string
		origin string // CorsAllowOrigin override; "" keeps the parameter's default
		path   string
		token  string
		found  bool // false: the path has no resource, so no preflight either
	}{
		{name: "a public route's preflight is answered without calling its function", path: "/v1/auth/token", found: true},
		{name: "a protected route's preflight needs no credentials", path: "/v1/customers", found: true},
		{name: "a preflight on a path with a parameter", path: "/v1/keys/key_1", found: true},
		{name: "a preflight on a literal below a parameter", path: "/v1/keys/key_1/rotate", found: true},
		{name: "a preflight that carries a token still skips the authorizer", path: "/v1/billing", token: "tok", found: true},
		{name: "the origin follows an overridden CorsAllowOrigin", origin: "https://app.example.com", path: "/v1/customers/c1", found: true},
		{name: "a preflight on an unknown path is the missing route", path: "/v1/nope"},
		{name: "a preflight below a resource's path is the missing route", path: "/v1/keys/key_1/nope"},
		{name: "a preflight on a path prefix without methods is the missing route", path: "/v1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]handlerFunc{"AuthorizerFunction": allowAll}, func(_ *gateway.Config, o *samtpl.Options) {
				if tc.origin != "" {
					o.Parameters = map[string]string{"CorsAllowOrigin": tc.origin}
				}
			})
			w := e.preflight(t, tc.path, tc.token)
			if n := e.inv.total(); n != 0 {
				t.Errorf("%d functions ran; a preflight is a mock integration", n)
			}
			if !tc.found {
				if w.Code != http.StatusNotFound || errorCode(t, w.Body.String()) != "not_found" {
					t.Fatalf("status %d body %s, want the template's MISSING_AUTHENTICATION_TOKEN (404 not_found)", w.Code, w.Body)
				}
				if got := w.Header().Get("Access-Control-Allow-Methods"); got != "" {
					t.Errorf("the missing route answered Access-Control-Allow-Methods %q", got)
				}
				return
			}
			origin := tc.origin
			if origin == "" {
				origin = e.tpl.Parameters["CorsAllowOrigin"].Default
			}
			checkPreflight(t, w, templatePreflight(origin))
		})
	}
}

// itemsTemplate is a small API with the given Cors property (YAML under Api.Properties, ""
// for none) and Auth lines. Each variant the tests use was translated with SAM
// (infra/test/templatecheck/testdata/sam_transform.py) to confirm the expectations.
func itemsTemplate(cors, auth string) []byte {
	return []byte(fmt.Sprintf(`AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Origin:
    Type: String
    Default: https://app.example.com
Globals:
  Function:
    Runtime: provided.al2023
    Handler: bootstrap
    CodeUri: .
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
%s
      Auth:
        DefaultAuthorizer: Lambda
%s
        Authorizers:
          Lambda:
            FunctionPayloadType: REQUEST
            FunctionArn: !GetAtt AuthorizerFunction.Arn
            Identity:
              Headers: [Authorization]
  AuthorizerFunction:
    Type: AWS::Serverless::Function
  ItemsFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        List:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /items, Method: get}
        Create:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /items, Method: post, Auth: {Authorizer: NONE}}
        Item:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/items/{id}", Method: any}
        OwnPreflight:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /own, Method: options, Auth: {Authorizer: NONE}}
        Own:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /own, Method: get}
`, cors, auth))
}

// TestPreflightsFollowSAM covers what the project's template does not use: Cors as a bare
// origin (SAM then lists each path's methods), credentials, the default authorizer on
// preflights (SAM's default), a function's own OPTIONS event, and no Cors at all.
func TestPreflightsFollowSAM(t *testing.T) {
	const (
		bareOrigin = `      Cors: !Sub "'${Origin}'"`
		fullCors   = `      Cors:
        AllowOrigin: !Sub "'${Origin}'"
        AllowHeaders: "'X-Custom'"
        MaxAge: "'0'"
        AllowCredentials: true`
		unguarded = `        AddDefaultAuthorizerToCorsPreflight: false`
	)
	origin := func(extra map[string]string) map[string]string {
		h := map[string]string{"Access-Control-Allow-Origin": "https://app.example.com"}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	tests := []struct {
		name       string
		cors, auth string
		path       string
		token      string
		wantStatus int
		wantCORS   map[string]string // checked as a preflight when wantFn is ""
		wantFn     string            // the function that must answer instead
		wantAuthz  int               // authorizer invocations
	}{
		{"SAM lists the path's methods when Cors sets none", bareOrigin, "", "/items", "tok", 200,
			origin(map[string]string{"Access-Control-Allow-Methods": "GET,OPTIONS,POST"}), "", 1},
		{"SAM lists every method on a path with ANY", bareOrigin, "", "/items/i1", "tok", 200,
			origin(map[string]string{"Access-Control-Allow-Methods": "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT"}), "", 1},
		{"the default authorizer guards preflights unless the template turns it off", bareOrigin, "", "/items", "", 401,
			nil, "", 0},
		{"a function's own OPTIONS event replaces the preflight", bareOrigin, "", "/own", "", 200,
			nil, "ItemsFunction", 0},
		{"every Cors value becomes a header, credentials only as true", fullCors, unguarded, "/items", "", 200,
			origin(map[string]string{"Access-Control-Allow-Headers": "X-Custom", "Access-Control-Allow-Methods": "GET,OPTIONS,POST",
				"Access-Control-Max-Age": "0", "Access-Control-Allow-Credentials": "true"}), "", 0},
		{"without Cors OPTIONS falls to the path's ANY method", "", "", "/items/i1", "tok", 200,
			nil, "ItemsFunction", 1},
		{"without Cors OPTIONS on a path without ANY is the missing route", "", "", "/items", "tok", 403,
			nil, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvFor(t, itemsTemplate(tc.cors, tc.auth), map[string]handlerFunc{"AuthorizerFunction": allowAll})
			w := e.preflight(t, tc.path, tc.token)
			if n := e.inv.count("AuthorizerFunction"); n != tc.wantAuthz {
				t.Errorf("the authorizer ran %d times, want %d", n, tc.wantAuthz)
			}
			switch {
			case tc.wantFn != "":
				if w.Code != tc.wantStatus || e.inv.count(tc.wantFn) != 1 {
					t.Fatalf("status %d, %s ran %d times; want %d from it", w.Code, tc.wantFn, e.inv.count(tc.wantFn), tc.wantStatus)
				}
			case tc.wantCORS != nil:
				checkPreflight(t, w, tc.wantCORS)
			default:
				if w.Code != tc.wantStatus {
					t.Fatalf("status = %d, want %d; body %s", w.Code, tc.wantStatus, w.Body)
				}
			}
			if tc.wantFn == "" && e.inv.count("ItemsFunction") != 0 {
				t.Error("the function ran for a preflight")
			}
		})
	}
}
