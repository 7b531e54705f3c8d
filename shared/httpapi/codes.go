// Codes: the one list of the error codes the service answers with.

package httpapi

import (
	"fmt"
	"net/http"
	"slices"
)

// The error codes of the public contract, stable and machine-readable. Handlers name them
// through these constants (or the constructors below), never as string literals, so the list
// below is every code a caller can meet. shared/client keeps its own copy (it must not import
// this package); a test here holds the two lists, and openapi.yaml's, equal.
const (
	CodeInvalidRequest          = "invalid_request"
	CodeInvalidAPIKey           = "invalid_api_key"
	CodeInvalidToken            = "invalid_token"
	CodeTokenExpired            = "token_expired"
	CodeInvalidScope            = "invalid_scope"
	CodeInvalidGrant            = "invalid_grant"
	CodeInsufficientPermissions = "insufficient_permissions"
	CodeIPNotAllowed            = "ip_not_allowed"
	CodeRateLimitExceeded       = "rate_limit_exceeded"
	CodeQuotaExceeded           = "quota_exceeded"
	CodeKeyNotProvisioned       = "key_not_provisioned"
	CodeNotFound                = "not_found"
	CodeMethodNotAllowed        = "method_not_allowed"
	CodeRequestTooLarge         = "request_too_large"
	CodeKeyRevoked              = "key_revoked"
	CodeConflict                = "conflict"
	CodeTooManyRevokedTokens    = "too_many_revoked_tokens"
	CodeUsagePlanLimitReached   = "usage_plan_limit_reached"
	CodeServiceUnavailable      = "service_unavailable"
	CodeTimeout                 = "timeout"
	CodeInternal                = "internal_error"
)

// CodeSpec is one error code with the HTTP status and error type it is answered with.
type CodeSpec struct {
	Code   string
	Status int
	Type   string
}

// codes is the one list, in the order of openapi.yaml's Error schema. Never written to.
//
// Two codes are answered with more than one status: invalid_request is also the 415 of a body
// that is not JSON (and API Gateway's DEFAULT_4XX), internal_error also API Gateway's
// DEFAULT_5XX. timeout, quota_exceeded and key_not_provisioned only come from API Gateway
// (INTEGRATION_TIMEOUT, QUOTA_EXCEEDED and INVALID_API_KEY in template.yaml), never from a
// handler.
var codes = [...]CodeSpec{
	{CodeInvalidRequest, http.StatusBadRequest, TypeInvalidRequest},
	{CodeInvalidAPIKey, http.StatusUnauthorized, TypeAuthentication},
	{CodeInvalidToken, http.StatusUnauthorized, TypeAuthentication},
	{CodeTokenExpired, http.StatusUnauthorized, TypeAuthentication},
	{CodeInvalidScope, http.StatusBadRequest, TypeInvalidRequest},
	{CodeInvalidGrant, http.StatusBadRequest, TypeInvalidRequest},
	{CodeInsufficientPermissions, http.StatusForbidden, TypeAuthorization},
	{CodeIPNotAllowed, http.StatusForbidden, TypeAuthorization},
	{CodeRateLimitExceeded, http.StatusTooManyRequests, TypeRateLimit},
	{CodeQuotaExceeded, http.StatusTooManyRequests, TypeRateLimit},
	{CodeKeyNotProvisioned, http.StatusForbidden, TypeAuthorization},
	{CodeNotFound, http.StatusNotFound, TypeInvalidRequest},
	{CodeMethodNotAllowed, http.StatusMethodNotAllowed, TypeInvalidRequest},
	{CodeRequestTooLarge, http.StatusRequestEntityTooLarge, TypeInvalidRequest},
	{CodeKeyRevoked, http.StatusConflict, TypeInvalidRequest},
	{CodeConflict, http.StatusConflict, TypeInvalidRequest},
	{CodeTooManyRevokedTokens, http.StatusConflict, TypeInvalidRequest},
	{CodeUsagePlanLimitReached, http.StatusConflict, TypeInvalidRequest},
	{CodeServiceUnavailable, http.StatusServiceUnavailable, TypeAPI},
	{CodeTimeout, http.StatusGatewayTimeout, TypeAPI},
	{CodeInternal, http.StatusInternalServerError, TypeAPI},
}

// Codes returns every error code the service answers with, with its status and type.
func Codes() []CodeSpec { return slices.Clone(codes[:]) }

// New is an Error with code's status and type from the list and msg, which tells the caller
// what to do. A code outside the list is a bug: it becomes a 500 whose cause says so.
func New(code, msg string) *Error {
	for _, c := range codes {
		if c.Code == code {
			return &Error{Status: c.Status, Code: c.Code, Message: msg, Type: c.Type}
		}
	}
	return Internal(fmt.Errorf("httpapi: error code %q is not in the list of codes", code))
}
