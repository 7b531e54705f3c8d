package webhook

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// The codes and types of keygate's error shape that Middleware answers with. They are the
// service's strings (the same shape and, for request_too_large, invalid_request and
// service_unavailable, the same bodies), written out here so that a receiver does not import
// keygate's internals; invalid_signature is a receiver's code only.
const (
	codeInvalidSignature   = "invalid_signature"
	codeRequestTooLarge    = "request_too_large"
	codeInvalidRequest     = "invalid_request"
	codeServiceUnavailable = "service_unavailable"

	typeAuthentication = "authentication_error"
	typeInvalidRequest = "invalid_request_error"
	typeAPI            = "api_error"
)

// Refusal is Middleware's answer to a delivery it does not pass on, in keygate's error shape
// {"error":{"code":…,"message":…,"type":…[,"retry_after":…]}}, so a sender reads it like any
// keygate error. Cause is for the receiver's logs; it is never written to the sender.
type Refusal struct {
	Status     int
	Code       string
	Message    string
	Type       string
	RetryAfter int // seconds; in the body and as a Retry-After header when > 0
	Cause      error
}

func (r *Refusal) Error() string {
	if r.Cause != nil {
		return r.Code + ": " + r.Message + ": " + r.Cause.Error()
	}
	return r.Code + ": " + r.Message
}

func (r *Refusal) Unwrap() error { return r.Cause }

// Body is the refusal in keygate's error shape.
func (r *Refusal) Body() []byte {
	type wireError struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		Type       string `json:"type"`
		RetryAfter int    `json:"retry_after,omitempty"`
	}
	b, err := json.Marshal(struct {
		Error wireError `json:"error"`
	}{wireError{r.Code, r.Message, r.Type, r.RetryAfter}})
	if err != nil { // cannot happen for these field types
		return []byte(`{"error":{"code":"internal_error","message":"Internal error.","type":"api_error"}}`)
	}
	return b
}

// ServeHTTP writes the refusal: its status, Retry-After when it has one, and the body, never
// cached. It sends no WWW-Authenticate: a webhook sender does not authenticate with a bearer
// token.
func (r *Refusal) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if r.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(r.RetryAfter))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(r.Status)
	_, _ = w.Write(r.Body())
}

// statusWriter notes the final status next answered (a handler that only writes a body
// answered 200), so Middleware can forget the id of a delivery the receiver failed on.
// Informational 1xx statuses are passed on but not noted: another follows.
type statusWriter struct {
	http.ResponseWriter
	Status int // 0 until the handler answers
}

func (s *statusWriter) WriteHeader(code int) {
	if s.Status == 0 && code >= http.StatusOK {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush, deadlines).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
