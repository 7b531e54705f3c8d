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
		return []byte(`{"error":{"code":"internal_error","message":"Internal error.","type":"api_error"}}`)
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
func InvalidRequest(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: msg, Type: TypeInvalidRequest}
}

// InvalidAPIKey is the one 401 for every API-key failure (unknown, wrong secret, bad checksum,
// wrong environment, revoked, expired), so the response does not tell an attacker which.
func InvalidAPIKey() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "invalid_api_key",
		Message: "The provided API key is invalid or has been revoked. Check the key, or create a new one.",
		Type:    TypeAuthentication}
}

// InvalidToken is a 401 for an access token that is malformed, unverifiable or revoked.
func InvalidToken() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "invalid_token",
		Message: "The access token is invalid. Get a new one from POST /v1/auth/token.",
		Type:    TypeAuthentication}
}

// TokenExpired is a 401 for an access token past its exp.
func TokenExpired() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "token_expired",
		Message: "The access token has expired. Refresh it with POST /v1/auth/refresh or get a new one.",
		Type:    TypeAuthentication}
}

// MissingCredentials is a 401 when no credential was sent at all.
func MissingCredentials() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "invalid_api_key",
		Message: "No credentials. Send your API key as Authorization: Bearer <key> or in the JSON body as api_key.",
		Type:    TypeAuthentication}
}

// InvalidScope is a 400 for requested scopes the key does not hold or that do not exist.
func InvalidScope(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_scope", Message: msg, Type: TypeInvalidRequest}
}

// InvalidGrant is a 400 for a refresh token that is unknown, spent, expired or revoked.
func InvalidGrant(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_grant", Message: msg, Type: TypeInvalidRequest}
}

// InsufficientPermissions is a 403 naming the scope that would allow the action.
func InsufficientPermissions(requiredScope string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "insufficient_permissions",
		Message:       "Your credentials do not have permission to perform this action.",
		Type:          TypeAuthorization,
		RequiredScope: requiredScope}
}

// IPNotAllowed is a 403 when the caller's source IP is outside the key's allowlist.
func IPNotAllowed() *Error {
	return &Error{Status: http.StatusForbidden, Code: "ip_not_allowed",
		Message: "Requests with this API key are not allowed from your IP address. Add it to the key's allowed_ips.",
		Type:    TypeAuthorization}
}

// RateLimited is a 429 with the seconds until the window resets.
func RateLimited(retryAfter int) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limit_exceeded",
		Message: "Rate limit exceeded. Retry after the number of seconds in retry_after.",
		Type:    TypeRateLimit, RetryAfter: retryAfter}
}

// NotFound is a 404 for an unknown route or resource.
func NotFound(msg string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "not_found", Message: msg, Type: TypeInvalidRequest}
}

// MethodNotAllowed is a 405 listing the methods the route does accept.
func MethodNotAllowed(allow []string) *Error {
	return &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
		Message: "This route does not accept that HTTP method; see the Allow header.",
		Type:    TypeInvalidRequest, Allow: allow}
}

// TooLarge is a 413 for a body above the endpoint's cap.
func TooLarge(limit int) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large",
		Message: "The request body is larger than " + strconv.Itoa(limit) + " bytes.",
		Type:    TypeInvalidRequest}
}

// UnsupportedMediaType is a 415 for a body that is not JSON.
func UnsupportedMediaType() *Error {
	return &Error{Status: http.StatusUnsupportedMediaType, Code: "invalid_request",
		Message: "Send the body as JSON with Content-Type: application/json.",
		Type:    TypeInvalidRequest}
}

// Unavailable is a 503: a dependency failed, the request may be retried. Never 401/403 for an
// outage, so callers do not throw away good credentials.
func Unavailable(cause error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable",
		Message: "The service is temporarily unavailable. Retry after the number of seconds in retry_after.",
		Type:    TypeAPI, RetryAfter: 5, Cause: cause}
}

// Internal is a 500 for a bug; the cause goes to the log only.
func Internal(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: "internal_error",
		Message: "Internal error. Retry later; if it persists, contact the API operator with the request id.",
		Type:    TypeAPI, Cause: cause}
}
