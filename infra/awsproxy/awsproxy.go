// Package awsproxy is a reverse proxy in front of an AWS emulator (moto for DynamoDB and Secrets Manager) that
// counts the operations the functions' real SDK clients send and injects faults on demand:
// the e2e suite proves round-trip budgets and outage behaviour with it, make bench reports
// calls per request.
package awsproxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Kind is what a fault does to every request.
type Kind int

// Fault kinds.
const (
	None        Kind = iota
	Unreachable      // the connection drops without an answer
	Throttled        // a 400 with the AWS error code in ThrottleType
	Slow             // the answer comes after Delay
)

// Fault is injected with Inject and lasts until Clear.
type Fault struct {
	Kind         Kind
	ThrottleType string        // e.g. "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
	Delay        time.Duration // for Slow
}

// Proxy counts operations (by the operation name of X-Amz-Target, e.g. "GetItem") and injects
// faults. Safe for concurrent use.
type Proxy struct {
	URL string

	srv   *httptest.Server
	mu    sync.Mutex
	ops   map[string]int
	fault Fault
}

// Start serves a proxy to target on a loopback port.
func Start(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("awsproxy: %w", err)
	}
	p := &Proxy{ops: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		if i := strings.LastIndexByte(op, '.'); i >= 0 {
			op = op[i+1:]
		}
		p.mu.Lock()
		p.ops[op]++
		f := p.fault
		p.mu.Unlock()
		switch f.Kind {
		case Unreachable:
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		case Throttled:
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Header().Set("X-Amzn-ErrorType", f.ThrottleType)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":%q,"message":"Rate exceeded"}`, f.ThrottleType)
			return
		case Slow:
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	p.URL = p.srv.URL
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// Snapshot returns the operation counts so far.
func (p *Proxy) Snapshot() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.ops))
	for k, v := range p.ops {
		out[k] = v
	}
	return out
}

// Since returns the operations counted since before, and their total.
func (p *Proxy) Since(before map[string]int) (map[string]int, int) {
	d, total := map[string]int{}, 0
	for k, v := range p.Snapshot() {
		if v-before[k] > 0 {
			d[k] = v - before[k]
			total += v - before[k]
		}
	}
	return d, total
}

// Inject makes every request misbehave as f says, until Clear.
func (p *Proxy) Inject(f Fault) {
	p.mu.Lock()
	p.fault = f
	p.mu.Unlock()
}

// Clear ends an injected fault.
func (p *Proxy) Clear() { p.Inject(Fault{}) }
