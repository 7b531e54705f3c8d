// Errors: keygate's one typed API error and its single JSON writer.
//
// Handlers return *Error values (or wrap them); the HTTP layer renders every error through
// Body, so the error shape is defined in exactly one place. An Error never carries internal
// detail to the caller: the wrapped cause is for logs only.

package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Error types, as in the public contract.
const (
	TypeAuthentication = "authentication_error"
	TypeAuthorization  = "authorization_error"
	TypeInvalidRequest = "invalid_request_error"
	TypeRateLimit      = "rate_limit_error"
	TypeAPI            = "api_error"
)

// Error is an API error: HTTP status, stable machine-readable code, a message telling the caller
// what to do, and optional extras. Cause is logged, never rendered.
type Error struct {
	Status        int
	Code          string
	Message       string
	Type          string
	RequiredScope string
	RetryAfter    int // seconds; rendered in the body and as a Retry-After header when > 0
	Allow         []string
	Extra         map[string]string // more response headers (e.g. X-RateLimit-*)
	Cause         error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Message + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// WithCause returns a copy of e that records cause for the logs.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.Cause = cause
	return &c
}

type wireBody struct {
	Error wireError `json:"error"`
}

type wireError struct {
	Code          string `json:"code"`
	Message       string `json:"message"`
	Type          string `json:"type"`
	RequiredScope string `json:"required_scope,omitempty"`
	RetryAfter    int    `json:"retry_after,omitempty"`
}

// Body renders the error in the one JSON shape:
// {"error":{"code":…,"message":…,"type":…[,"required_scope"][,"retry_after"]}}.
func (e *Error) Body() []byte {
	b, err := json.Marshal(wireBody{Error: wireError{
		Code: e.Code, Message: e.Message, Type: e.Type,
		RequiredScope: e.RequiredScope, RetryAfter: e.RetryAfter,
	}})
	if err != nil { // cannot happen for these field types; keep the contract anyway
		return []byte(`{"error":{"code":"` + CodeInternal + `","message":"Internal error.","type":"` + TypeAPI + `"}}`)
	}
	return b
}

// Headers are the response headers that belong to the error (Retry-After, Allow,
// WWW-Authenticate).
func (e *Error) Headers() map[string]string {
	h := map[string]string{}
	for k, v := range e.Extra {
		h[k] = v
	}
	if e.RetryAfter > 0 {
		h["Retry-After"] = strconv.Itoa(e.RetryAfter)
	}
	if len(e.Allow) > 0 {
		h["Allow"] = strings.Join(e.Allow, ", ")
	}
	if e.Status == http.StatusUnauthorized {
		h["WWW-Authenticate"] = "Bearer"
	}
	return h
}

// WithHeaders returns a copy of e that also sends headers.
func (e *Error) WithHeaders(headers map[string]string) *Error {
	c := *e
	c.Extra = make(map[string]string, len(e.Extra)+len(headers))
	for k, v := range e.Extra {
		c.Extra[k] = v
	}
	for k, v := range headers {
		c.Extra[k] = v
	}
	return &c
}

// From maps any error to an *Error: an *Error anywhere in the chain is used as is; anything
// else is an internal error (500) whose text stays in the log.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}

// Constructors for the codes of the public contract. Messages tell the caller what to do.

// InvalidRequest is a 400 for a malformed or invalid request; msg says what to fix.
func InvalidRequest(msg string) *Error { return New(CodeInvalidRequest, msg) }

// InvalidAPIKey is the one 401 for every API-key failure (unknown, wrong secret, bad checksum,
// wrong environment, revoked, expired), so the response does not tell an attacker which.
func InvalidAPIKey() *Error {
	return New(CodeInvalidAPIKey, "The provided API key is invalid or has been revoked. Check the key, or create a new one.")
}

// InvalidToken is a 401 for an access token that is malformed, unverifiable or revoked.
func InvalidToken() *Error {
	return New(CodeInvalidToken, "The access token is invalid. Get a new one from POST /v1/auth/token.")
}

// TokenExpired is a 401 for an access token past its exp.
func TokenExpired() *Error {
	return New(CodeTokenExpired, "The access token has expired. Refresh it with POST /v1/auth/refresh or get a new one.")
}

// MissingCredentials is a 401 when no credential was sent at all.
func MissingCredentials() *Error {
	return New(CodeInvalidAPIKey, "No credentials. Send your API key as Authorization: Bearer <key> or in the JSON body as api_key.")
}

// InvalidScope is a 400 for requested scopes the key does not hold or that do not exist.
func InvalidScope(msg string) *Error { return New(CodeInvalidScope, msg) }

// InvalidGrant is a 400 for a refresh token that is unknown, spent, expired or revoked.
func InvalidGrant(msg string) *Error { return New(CodeInvalidGrant, msg) }

// InsufficientPermissions is a 403 naming the scope that would allow the action.
func InsufficientPermissions(requiredScope string) *Error {
	e := New(CodeInsufficientPermissions, "Your credentials do not have permission to perform this action.")
	e.RequiredScope = requiredScope
	return e
}

// IPNotAllowed is a 403 when the caller's source IP is outside the key's allowlist.
func IPNotAllowed() *Error {
	return New(CodeIPNotAllowed, "Requests with this API key are not allowed from your IP address. Add it to the key's allowed_ips.")
}

// RateLimited is a 429 with the seconds until the window resets.
func RateLimited(retryAfter int) *Error {
	e := New(CodeRateLimitExceeded, "Rate limit exceeded. Retry after the number of seconds in retry_after.")
	e.RetryAfter = retryAfter
	return e
}

// NotFound is a 404 for an unknown route or resource.
func NotFound(msg string) *Error { return New(CodeNotFound, msg) }

// MethodNotAllowed is a 405 listing the methods the route does accept.
func MethodNotAllowed(allow []string) *Error {
	e := New(CodeMethodNotAllowed, "This route does not accept that HTTP method; see the Allow header.")
	e.Allow = allow
	return e
}

// TooLarge is a 413 for a body above the endpoint's cap.
func TooLarge(limit int) *Error {
	return New(CodeRequestTooLarge, "The request body is larger than "+strconv.Itoa(limit)+" bytes.")
}

// UnsupportedMediaType is a 415 for a body that is not JSON: invalid_request, with the status
// that names the problem.
func UnsupportedMediaType() *Error {
	e := New(CodeInvalidRequest, "Send the body as JSON with Content-Type: application/json.")
	e.Status = http.StatusUnsupportedMediaType
	return e
}

// Unavailable is a 503: a dependency failed, the request may be retried. Never 401/403 for an
// outage, so callers do not throw away good credentials.
func Unavailable(cause error) *Error {
	e := New(CodeServiceUnavailable, "The service is temporarily unavailable. Retry after the number of seconds in retry_after.")
	e.RetryAfter, e.Cause = 5, cause
	return e
}

// Internal is a 500 for a bug; the cause goes to the log only. It is built here rather than
// through New, which falls back on it.
func Internal(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
		Message: "Internal error. Retry later; if it persists, contact the API operator with the request id.",
		Type:    TypeAPI, Cause: cause}
}
