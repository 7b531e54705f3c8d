package client

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Error is a non-2xx answer of the service, in its one error shape
// {"error":{"code","message","type"[,"required_scope"][,"retry_after"]}}. It never holds the
// request's credentials or body.
type Error struct {
	StatusCode    int
	Code          string // e.g. "invalid_api_key"; empty when the body was not the error shape
	Message       string
	Type          string // e.g. "authentication_error"
	RequiredScope string // set for insufficient_permissions
	RetryAfter    time.Duration
}

func (e *Error) Error() string {
	s := "keygate: " + strconv.Itoa(e.StatusCode)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is reports whether target is an *Error with the same Code (and, when target sets it, the
// same StatusCode), so errors.Is(err, client.ErrInvalidGrant) works on any wrapped *Error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t.Code == "" {
		return false
	}
	return t.Code == e.Code && (t.StatusCode == 0 || t.StatusCode == e.StatusCode)
}

// Temporary reports whether retrying later may succeed (429, 503).
func (e *Error) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusServiceUnavailable
}

// Sentinels for the service's error codes, one for each code it answers with, for errors.Is.
// Use errors.As with *Error for the status, message and extras.
var (
	ErrInvalidRequest          = &Error{Code: "invalid_request"}
	ErrInvalidAPIKey           = &Error{Code: "invalid_api_key"}
	ErrInvalidToken            = &Error{Code: "invalid_token"}
	ErrTokenExpired            = &Error{Code: "token_expired"}
	ErrInvalidScope            = &Error{Code: "invalid_scope"}
	ErrInvalidGrant            = &Error{Code: "invalid_grant"}
	ErrInsufficientPermissions = &Error{Code: "insufficient_permissions"}
	ErrIPNotAllowed            = &Error{Code: "ip_not_allowed"}
	ErrRateLimited             = &Error{Code: "rate_limit_exceeded"}
	ErrQuotaExceeded           = &Error{Code: "quota_exceeded"}      // the key's quota for the period (its tier) is used up
	ErrKeyNotProvisioned       = &Error{Code: "key_not_provisioned"} // the key has no usage plan: an administrator runs authctl keys sync
	ErrNotFound                = &Error{Code: "not_found"}
	ErrMethodNotAllowed        = &Error{Code: "method_not_allowed"}
	ErrRequestTooLarge         = &Error{Code: "request_too_large"}
	ErrConflict                = &Error{Code: "conflict"}
	ErrKeyRevoked              = &Error{Code: "key_revoked"}
	ErrTooManyRevokedTokens    = &Error{Code: "too_many_revoked_tokens"}  // rotate the key to end its tokens at once
	ErrUsagePlanLimitReached   = &Error{Code: "usage_plan_limit_reached"} // use a tier's rate_limit, or raise MaxUsagePlans
	ErrUnavailable             = &Error{Code: "service_unavailable"}
	ErrTimeout                 = &Error{Code: "timeout"} // API Gateway's 504: the request may or may not have taken effect
	ErrInternal                = &Error{Code: "internal_error"}
)

// ErrNotImplemented matches nothing the service answers today.
//
// Deprecated: the service no longer answers not_implemented; the sentinel stays so that code
// naming it still compiles.
var ErrNotImplemented = &Error{Code: "not_implemented"}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// CheckResponse returns nil for a 2xx response and an *Error otherwise. It reads the body of a
// non-2xx response (at most 64 KiB) and puts it back, so the caller can still read it.
func CheckResponse(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	body := peekBody(resp, maxErrorBody)
	return parseError(resp.StatusCode, resp.Header, body, time.Now())
}

// peekBody reads up to limit bytes of resp.Body and replaces the body with a reader that
// yields them again followed by whatever was left.
func peekBody(resp *http.Response, limit int64) []byte {
	if resp.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, limit))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	return b
}

type wireError struct {
	Error *struct {
		Code          string `json:"code"`
		Message       string `json:"message"`
		Type          string `json:"type"`
		RequiredScope string `json:"required_scope"`
		RetryAfter    int    `json:"retry_after"`
	} `json:"error"`
}

func parseError(status int, h http.Header, body []byte, now time.Time) *Error {
	e := &Error{StatusCode: status}
	var w wireError
	if json.Unmarshal(body, &w) == nil && w.Error != nil {
		e.Code, e.Message, e.Type, e.RequiredScope = w.Error.Code, w.Error.Message, w.Error.Type, w.Error.RequiredScope
		if w.Error.RetryAfter > 0 {
			e.RetryAfter = seconds(w.Error.RetryAfter)
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if d, ok := retryAfterHeader(h, now); ok {
		e.RetryAfter = d
	}
	return e
}

// retryAfterHeader parses Retry-After as delay-seconds or an HTTP date.
func retryAfterHeader(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, false
		}
		return seconds(n), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter), true
	}
	return 0, false
}

// maxRetryAfter caps a server's retry delay: longer means "not now" to any caller (backoff
// gives up beyond MaxWait), and the cap keeps a huge value from overflowing a Duration into a
// negative one, which would read as "no delay given" and retry at once.
const maxRetryAfter = 24 * time.Hour

// seconds is n seconds, at most maxRetryAfter.
func seconds(n int) time.Duration {
	if n >= int(maxRetryAfter/time.Second) {
		return maxRetryAfter
	}
	return time.Duration(n) * time.Second
}
