package client

import (
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Transport returns an http.RoundTripper that sends requests for the service's origin (and
// WithAPIHosts hosts) with the client's access token, refreshing it once and retrying on a
// 401, and retrying 429/503 answers per the retry policy. Requests for any other host pass
// through untouched. It wraps the Transport of WithHTTPClient's client.
func (c *Client) Transport() http.RoundTripper {
	return &transport{c: c, next: c.baseTransport()}
}

// HTTPClient returns an *http.Client using Transport, with the Timeout, redirect policy and
// cookie jar of WithHTTPClient's client.
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{Transport: c.Transport(), Timeout: c.hc.Timeout, CheckRedirect: c.hc.CheckRedirect, Jar: c.hc.Jar}
}

type transport struct {
	c    *Client
	next http.RoundTripper
}

var _ http.RoundTripper = (*transport)(nil)

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.c.hosts[strings.ToLower(req.URL.Host)] {
		return t.next.RoundTrip(req)
	}
	st, err := t.c.current(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	send := func(attempt int) (*http.Response, error) {
		r, err := rewound(req, attempt)
		if err != nil {
			return nil, err
		}
		r.Header.Set("Authorization", "Bearer "+st.access)
		return t.next.RoundTrip(r)
	}
	refreshed := false
	for attempt, retries := 0, 0; ; attempt++ {
		resp, err := send(attempt)
		if err != nil || !replayable(req) {
			return resp, err
		}
		if resp.StatusCode == http.StatusUnauthorized && !refreshed && !t.c.static {
			// The token was refused (revoked, or the service's clock disagrees): get another
			// and try once more. Concurrent callers with the same token share one refresh.
			refreshed = true
			discard(resp)
			t.c.log.Info("keygate: 401 from a protected route, refreshing the token and retrying once", "path", req.URL.Path)
			t.c.invalidate(st)
			if st, err = t.c.current(req.Context()); err != nil {
				return nil, err
			}
			continue
		}
		wait, ok := t.c.backoff(req, resp, retries)
		if !ok {
			return resp, nil
		}
		retries++
		discard(resp)
		if err := t.c.clock.Sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// retrying retries 429 and 503 answers of next per the client's policy. The token endpoints use
// it; Transport makes the same decisions itself, between its 401 handling.
type retrying struct {
	c    *Client
	next http.RoundTripper
}

func (rt retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		r, err := rewound(req, attempt)
		if err != nil {
			return nil, err
		}
		resp, err := rt.next.RoundTrip(r)
		if err != nil || !replayable(req) {
			return resp, err
		}
		wait, ok := rt.c.backoff(req, resp, attempt)
		if !ok {
			return resp, nil
		}
		discard(resp)
		if err := rt.c.clock.Sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// backoff decides whether resp (the answer to try number retries+1) is retried and after how
// long: only 429 and 503, within MaxAttempts, after the service's Retry-After or retry_after
// when it gives one (not at all when that exceeds MaxWait), else after an exponential backoff
// with full jitter.
func (c *Client) backoff(req *http.Request, resp *http.Response, retries int) (time.Duration, bool) {
	p := c.retry
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	if retries+1 >= p.MaxAttempts {
		return 0, false
	}
	e := parseError(resp.StatusCode, resp.Header, peekBody(resp, maxErrorBody), c.clock.Now())
	wait := e.RetryAfter
	if wait > p.MaxWait {
		return 0, false
	}
	if wait <= 0 {
		ceiling := min(p.BaseDelay<<min(retries, 16), p.MaxWait)
		wait = rand.N(ceiling) + 1
	}
	c.log.Info("keygate: retrying", "status", resp.StatusCode, "code", e.Code, "wait", wait,
		"attempt", retries+2, "path", req.URL.Path)
	return wait, true
}

// rewound returns the request to send as try number attempt+1: a clone for the first, with a
// fresh body from GetBody after that.
func rewound(req *http.Request, attempt int) (*http.Request, error) {
	r := req.Clone(req.Context())
	if attempt > 0 && req.Body != nil && req.Body != http.NoBody {
		b, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = b
	}
	return r, nil
}

// replayable reports whether req can be sent again: no body, or a body GetBody recreates.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// discard drains a little of a response that will not be used, so its connection is reused.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
}
