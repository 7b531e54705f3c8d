package client

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Transport returns an http.RoundTripper that sends requests for the service's origin (and
// WithAPIOrigins' origins) with the client's access token, refreshing it once and retrying on
// a 401, and retrying 429/503 answers per the retry policy. It wraps the Transport of
// WithHTTPClient's client.
//
// An origin is a scheme, a host and a port (https://api.example.com and
// https://api.example.com:443 are one origin; http://api.example.com is another). Requests
// for any other origin pass through untouched, and so does a request that an HTTP client
// follows through a redirect chain in which any earlier request was for another origin: a
// page the program fetches cannot redirect it, 307/308 body and all, into a credentialed
// request to the service.
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
	if !t.c.credentialed(req) {
		return t.forward(req)
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
		return t.forward(r)
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

// forward sends req with next, making sure the answer names the request it answers (a custom
// RoundTripper may leave Request nil), so that credentialed can follow a redirect chain.
func (t *transport) forward(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if resp != nil && resp.Request == nil {
		resp.Request = req
	}
	return resp, err
}

// credentialed reports whether req may carry the client's credential: it is for one of the
// client's origins, and so was every request of the redirect chain that led to it
// (req.Response is the redirect answer that created req, its Request the hop before). A hop
// whose request is unknown counts as another origin.
func (c *Client) credentialed(req *http.Request) bool {
	if !c.isOrigin(req.URL) {
		return false
	}
	for resp := req.Response; resp != nil; resp = resp.Request.Response {
		if resp.Request == nil || !c.isOrigin(resp.Request.URL) {
			return false
		}
	}
	return true
}

func (c *Client) isOrigin(u *url.URL) bool {
	if u == nil {
		return false
	}
	o, ok := originOf(u)
	return ok && c.origins[o]
}

// origin is what the credential is scoped to: scheme, lower-case host, port (the scheme's
// default when the URL names none).
type origin struct {
	scheme, host string
	port         int
}

func originOf(u *url.URL) (origin, bool) {
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname())}
	switch o.scheme {
	case "https":
		o.port = 443
	case "http":
		o.port = 80
	default:
		return origin{}, false
	}
	if o.host == "" {
		return origin{}, false
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return origin{}, false
		}
		o.port = n
	}
	return o, true
}

// parseOrigin parses a WithAPIOrigins value: scheme://host[:port], a trailing slash allowed.
func parseOrigin(s string) (origin, error) {
	u, err := url.Parse(s)
	if err == nil && u.User == nil && (u.Path == "" || u.Path == "/") && u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" {
		if o, ok := originOf(u); ok {
			return o, nil
		}
	}
	return origin{}, fmt.Errorf("client: WithAPIOrigins: %q is not an origin such as https://api.example.com or https://api.example.com:8443", s)
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
