package store

import (
	"strconv"
	"time"
)

// RateWindow is the length of a rate-limit window: a key's budget (its RateLimit) is a number
// of requests per window, counted from the window's start (the time truncated to RateWindow).
const RateWindow = time.Minute

// RateDecision is a rate limiter's answer to one request of a key: whether the request may
// spend the key's budget, and what the client is told about it.
//
// The token endpoints (token and refresh) spend a key's budget, its issued tokens and its
// refused attempts alike, so a key's budget is one budget whichever way it is spent. The
// authorizer does not: a DynamoDB write per protected call would put network I/O on its warm
// path; it passes rate_limit to backends in its context instead, and per-request limits
// belong to API Gateway usage plans or the backend.
type RateDecision struct {
	Allowed   bool
	Limit     int
	Remaining int
	Reset     time.Time // end of the current window
	// FirstRefusal marks the one refused request of a key's window (one across all containers):
	// callers that record refusals (the audit trail) record that one, so a key hammered past
	// its limit costs one audit item per window, not one per request.
	FirstRefusal bool
}

// RetryAfter is the whole number of seconds until the window resets, rounded up (a client
// that waits that long is past the reset) and at least 1.
func (d RateDecision) RetryAfter(now time.Time) int {
	return max(int((d.Reset.Sub(now)+time.Second-1)/time.Second), 1)
}

// Headers are the X-RateLimit-* response headers for d.
func (d RateDecision) Headers() map[string]string {
	return map[string]string{
		"X-RateLimit-Limit":     strconv.Itoa(d.Limit),
		"X-RateLimit-Remaining": strconv.Itoa(d.Remaining),
		"X-RateLimit-Reset":     strconv.FormatInt(d.Reset.Unix(), 10),
	}
}
