package httpapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate/shared/httpapi"
)

// decodeBody parses a rendered body and returns the members of the "error" object, failing the
// test unless the top level is exactly {"error": {...}}.
func decodeBody(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, body)
	}
	if len(top) != 1 || top["error"] == nil {
		t.Fatalf("top-level keys = %v, want exactly [error]", keysOf(top))
	}
	var inner map[string]any
	if err := json.Unmarshal(top["error"], &inner); err != nil {
		t.Fatalf("error member is not an object: %v", err)
	}
	return inner
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestEveryConstructorRendersTheOneErrorShape(t *testing.T) {
	cause := errors.New("dynamodb: ProvisionedThroughputExceeded on keygate-prod-keys")
	tests := []struct {
		name       string
		err        *httpapi.Error
		status     int
		code       string
		typ        string
		extraKeys  []string // beyond code, message, type
		extraValue map[string]any
	}{
		{"invalid request", httpapi.InvalidRequest("Fix the thing."), 400, "invalid_request", httpapi.TypeInvalidRequest, nil, nil},
		{"invalid API key", httpapi.InvalidAPIKey(), 401, "invalid_api_key", httpapi.TypeAuthentication, nil, nil},
		{"invalid token", httpapi.InvalidToken(), 401, "invalid_token", httpapi.TypeAuthentication, nil, nil},
		{"token expired", httpapi.TokenExpired(), 401, "token_expired", httpapi.TypeAuthentication, nil, nil},
		{"missing credentials", httpapi.MissingCredentials(), 401, "invalid_api_key", httpapi.TypeAuthentication, nil, nil},
		{"invalid scope", httpapi.InvalidScope("Unknown scopes."), 400, "invalid_scope", httpapi.TypeInvalidRequest, nil, nil},
		{"invalid grant", httpapi.InvalidGrant("Spent."), 400, "invalid_grant", httpapi.TypeInvalidRequest, nil, nil},
		{"insufficient permissions with a scope", httpapi.InsufficientPermissions("customers:write"), 403, "insufficient_permissions", httpapi.TypeAuthorization,
			[]string{"required_scope"}, map[string]any{"required_scope": "customers:write"}},
		{"insufficient permissions without a scope", httpapi.InsufficientPermissions(""), 403, "insufficient_permissions", httpapi.TypeAuthorization, nil, nil},
		{"IP not allowed", httpapi.IPNotAllowed(), 403, "ip_not_allowed", httpapi.TypeAuthorization, nil, nil},
		{"rate limited", httpapi.RateLimited(7), 429, "rate_limit_exceeded", httpapi.TypeRateLimit,
			[]string{"retry_after"}, map[string]any{"retry_after": float64(7)}},
		{"rate limited without a wait", httpapi.RateLimited(0), 429, "rate_limit_exceeded", httpapi.TypeRateLimit, nil, nil},
		{"not found", httpapi.NotFound("No such route."), 404, "not_found", httpapi.TypeInvalidRequest, nil, nil},
		{"method not allowed", httpapi.MethodNotAllowed([]string{"GET", "POST"}), 405, "method_not_allowed", httpapi.TypeInvalidRequest, nil, nil},
		{"too large", httpapi.TooLarge(16384), 413, "request_too_large", httpapi.TypeInvalidRequest, nil, nil},
		{"unsupported media type", httpapi.UnsupportedMediaType(), 415, "invalid_request", httpapi.TypeInvalidRequest, nil, nil},
		{"unavailable", httpapi.Unavailable(cause), 503, "service_unavailable", httpapi.TypeAPI,
			[]string{"retry_after"}, map[string]any{"retry_after": float64(5)}},
		{"internal", httpapi.Internal(cause), 500, "internal_error", httpapi.TypeAPI, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err.Status != tt.status {
				t.Errorf("Status = %d, want %d", tt.err.Status, tt.status)
			}
			got := decodeBody(t, tt.err.Body())
			want := append([]string{"code", "message", "type"}, tt.extraKeys...)
			slices.Sort(want)
			if k := keysOf(got); !slices.Equal(k, want) {
				t.Errorf("error keys = %v, want %v", k, want)
			}
			if got["code"] != tt.code {
				t.Errorf("code = %v, want %q", got["code"], tt.code)
			}
			if got["type"] != tt.typ {
				t.Errorf("type = %v, want %q", got["type"], tt.typ)
			}
			if msg, _ := got["message"].(string); strings.TrimSpace(msg) == "" {
				t.Errorf("message is empty; every error must say what to do")
			}
			for k, v := range tt.extraValue {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestHeadersCarryRetryAfterAllowAndWWWAuthenticate(t *testing.T) {
	tests := []struct {
		name string
		err  *httpapi.Error
		want map[string]string
	}{
		{"a 429 has Retry-After", httpapi.RateLimited(42), map[string]string{"Retry-After": "42"}},
		{"a 503 has Retry-After", httpapi.Unavailable(nil), map[string]string{"Retry-After": "5"}},
		{"a 405 lists the allowed methods", httpapi.MethodNotAllowed([]string{"DELETE", "GET"}), map[string]string{"Allow": "DELETE, GET"}},
		{"a 405 without methods has no Allow", httpapi.MethodNotAllowed(nil), map[string]string{}},
		{"an invalid key asks for a bearer credential", httpapi.InvalidAPIKey(), map[string]string{"WWW-Authenticate": "Bearer"}},
		{"an expired token asks for a bearer credential", httpapi.TokenExpired(), map[string]string{"WWW-Authenticate": "Bearer"}},
		{"a 403 has no WWW-Authenticate", httpapi.IPNotAllowed(), map[string]string{}},
		{"a 400 has no headers", httpapi.InvalidRequest("x"), map[string]string{}},
		{"a 500 has no headers", httpapi.Internal(errors.New("boom")), map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.err.Headers()
			if len(got) != len(tt.want) {
				t.Errorf("Headers() = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("Headers()[%q] = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestFromFindsAnAPIErrorAnywhereInTheChain(t *testing.T) {
	scope := httpapi.InsufficientPermissions("billing:read")
	tests := []struct {
		name       string
		err        error
		wantSame   *httpapi.Error
		wantStatus int
		wantCode   string
	}{
		{"an API error is used as is", scope, scope, 403, "insufficient_permissions"},
		{"a wrapped API error is unwrapped", fmt.Errorf("handler: %w", scope), scope, 403, "insufficient_permissions"},
		{"a doubly wrapped API error is unwrapped", fmt.Errorf("a: %w", fmt.Errorf("b: %w", scope)), scope, 403, "insufficient_permissions"},
		{"a joined API error is found", errors.Join(errors.New("other"), scope), scope, 403, "insufficient_permissions"},
		{"a plain error becomes a 500", errors.New("nil pointer somewhere"), nil, 500, "internal_error"},
		{"a wrapped plain error becomes a 500", fmt.Errorf("x: %w", errors.New("y")), nil, 500, "internal_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := httpapi.From(tt.err)
			if got == nil {
				t.Fatal("From returned nil")
			}
			if tt.wantSame != nil && got != tt.wantSame {
				t.Errorf("From returned a different *Error than the one in the chain")
			}
			if got.Status != tt.wantStatus || got.Code != tt.wantCode {
				t.Errorf("From = %d %s, want %d %s", got.Status, got.Code, tt.wantStatus, tt.wantCode)
			}
			if tt.wantSame == nil && !errors.Is(got, tt.err) {
				t.Errorf("a 500 must keep the original error as its cause for the log")
			}
		})
	}
}

func TestTheCauseNeverReachesTheBody(t *testing.T) {
	const secret = "kg_live_SECRETSECRETSECRETSECRETSECRET1234_abcdef"
	cause := fmt.Errorf("lookup %s: %w", secret, errors.New("connection reset by 10.0.3.7"))
	for _, e := range []*httpapi.Error{
		httpapi.Internal(cause),
		httpapi.Unavailable(cause),
		httpapi.InvalidAPIKey().WithCause(cause),
		httpapi.From(cause),
	} {
		t.Run(e.Code, func(t *testing.T) {
			body := string(e.Body())
			for _, leak := range []string{secret, "10.0.3.7", "connection reset"} {
				if strings.Contains(body, leak) {
					t.Errorf("body %s contains %q from the cause", body, leak)
				}
			}
			if !strings.Contains(e.Error(), "connection reset") {
				t.Errorf("Error() = %q; the cause belongs in the log text", e.Error())
			}
			if !errors.Is(e, cause) {
				t.Errorf("the cause is not reachable through Unwrap")
			}
		})
	}
}

func TestWithCauseLeavesTheOriginalUntouched(t *testing.T) {
	orig := httpapi.InvalidAPIKey()
	withCause := orig.WithCause(errors.New("why"))
	if orig.Cause != nil {
		t.Errorf("WithCause changed the receiver's Cause to %v", orig.Cause)
	}
	if withCause == orig {
		t.Errorf("WithCause returned the receiver instead of a copy")
	}
	if withCause.Status != http.StatusUnauthorized || withCause.Code != orig.Code {
		t.Errorf("WithCause changed status/code: %d %s", withCause.Status, withCause.Code)
	}
}

func TestTheBodyEscapesHostileMessages(t *testing.T) {
	e := httpapi.InvalidRequest(`"},"admin":true,"x":{"` + "\u2028<script>")
	got := decodeBody(t, e.Body())
	if _, injected := got["admin"]; injected {
		t.Fatalf("message broke out of its JSON string: %s", e.Body())
	}
	if got["message"] != e.Message {
		t.Errorf("message = %q, want %q", got["message"], e.Message)
	}
}
