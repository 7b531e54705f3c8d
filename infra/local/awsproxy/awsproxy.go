// Package awsproxy is a reverse proxy in front of an AWS emulator (moto for DynamoDB and Secrets Manager) that
// counts the operations the functions' real SDK clients send and injects faults on demand:
// the e2e suite proves round-trip budgets and outage behaviour with it, make bench reports
// calls per request. Faults also stand in for behaviour no emulator shows, such as DynamoDB
// cancelling a transaction that conflicts with another one in flight. Renaming lets two stacks of
// one stage share the emulators with tables and secrets of their own.
package awsproxy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
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
	// TransactionConflict answers a TransactWriteItems as DynamoDB does when another
	// transaction holds one of its items: a TransactionCanceledException whose
	// CancellationReasons (one per item, in request order) are None but for ConflictItem's
	// TransactionConflict. Emulators never answer this; real DynamoDB does under contention.
	// Meant for Op "TransactWriteItems".
	TransactionConflict
)

// Fault is injected with Inject and lasts until Clear, or until it has answered Times requests.
type Fault struct {
	Kind         Kind
	ThrottleType string        // e.g. "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
	Delay        time.Duration // for Slow
	// Op limits the fault to one operation, named as in X-Amz-Target (e.g. "TransactWriteItems");
	// other operations pass through untouched. Empty: every request.
	Op string
	// Times limits the fault to the next Times matching requests, which then pass through
	// again ("conflict once"). 0: every matching request until Clear.
	Times int
	// ConflictItem is the index of the transaction item reported in conflict (TransactionConflict).
	ConflictItem int
}

// Proxy counts operations (by the operation name of X-Amz-Target, e.g. "GetItem") and injects
// faults. Safe for concurrent use.
type Proxy struct {
	URL string

	srv      *httptest.Server
	mu       sync.Mutex
	ops      map[string]int
	fault    Fault
	left     int // answers left when fault.Times > 0
	injected int // requests the current fault answered
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
		if f.Kind != None && f.Op != "" && f.Op != op || f.Times > 0 && p.left == 0 {
			f = Fault{}
		}
		if f.Kind != None {
			p.injected++
			if f.Times > 0 {
				p.left--
			}
		}
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
		case TransactionConflict:
			transactionConflict(w, r, f.ConflictItem)
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

// Inject makes requests misbehave as f says (those of f.Op, the next f.Times of them), until
// Clear or another Inject.
func (p *Proxy) Inject(f Fault) {
	p.mu.Lock()
	p.fault, p.left, p.injected = f, f.Times, 0
	p.mu.Unlock()
}

// Injected returns how many requests the fault injected last has answered, so a test can tell
// that its fault was actually hit.
func (p *Proxy) Injected() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.injected
}

type cancellationReason struct {
	Code    string `json:"Code"`
	Message string `json:"Message,omitempty"`
}

// transactionConflict writes DynamoDB's answer to a TransactWriteItems cancelled because item
// (clamped to the request's items) is held by another transaction: HTTP 400, the awsJson1_0
// error __type, a Message listing the reasons and CancellationReasons in request order, the
// other items "None" without a message (as moto and the AWS SDKs' models document it).
func transactionConflict(w http.ResponseWriter, r *http.Request, item int) {
	var in struct{ TransactItems []json.RawMessage }
	_ = json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&in)
	n := max(len(in.TransactItems), 1)
	item = min(max(item, 0), n-1)
	reasons := make([]cancellationReason, n)
	codes := make([]string, n)
	for i := range reasons {
		reasons[i] = cancellationReason{Code: "None"}
		if i == item {
			reasons[i] = cancellationReason{Code: "TransactionConflict", Message: "Transaction is ongoing for the item"}
		}
		codes[i] = reasons[i].Code
	}
	body, _ := json.Marshal(struct {
		Type    string               `json:"__type"`
		Message string               `json:"Message"`
		Reasons []cancellationReason `json:"CancellationReasons"`
	}{
		Type:    "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
		Message: "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]",
		Reasons: reasons,
	})
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", strings.ToUpper(hex.EncodeToString(id)))
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(body)
}

// Clear ends an injected fault.
func (p *Proxy) Clear() { p.Inject(Fault{}) }
