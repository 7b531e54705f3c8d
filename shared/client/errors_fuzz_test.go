package client

import (
	"net/http"
	"testing"
	"time"
)

// Error answers come from the network: whatever they hold, parseError keeps the status, always
// has a message, and yields a retry delay between 0 and maxRetryAfter (a huge one must not
// overflow into a negative delay, which backoff would read as "none given").
func FuzzParseError(f *testing.F) {
	for _, s := range []struct {
		status      int
		retryHeader string
		body        string
	}{
		{429, "", `{"error":{"code":"rate_limit_exceeded","message":"slow down","type":"rate_limit_error","retry_after":12}}`},
		{503, "30", `{"error":{"code":"service_unavailable","message":"later","type":"api_error"}}`},
		{503, "9223372036854775807", ""},
		{429, "", `{"error":{"retry_after":9223372036854775807}}`},
		{503, "Wed, 21 Oct 2099 07:28:00 GMT", "not json"},
		{401, "-5", `{"error":null}`},
	} {
		f.Add(s.status, s.retryHeader, []byte(s.body))
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, retryHeader string, body []byte) {
		h := http.Header{}
		if retryHeader != "" {
			h.Set("Retry-After", retryHeader)
		}
		e := parseError(status, h, body, now)
		if e == nil || e.StatusCode != status {
			t.Fatalf("parseError(%d, …) = %+v", status, e)
		}
		if e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter {
			t.Fatalf("parseError(%d, Retry-After %q, %q).RetryAfter = %v, want 0…%v", status, retryHeader, body, e.RetryAfter, maxRetryAfter)
		}
		if e.Message == "" && http.StatusText(status) != "" {
			t.Fatalf("parseError(%d, …) has no message", status)
		}
	})
}
