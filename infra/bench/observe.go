package main

import (
	"bytes"
	"cmp"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/infra/local/awsproxy"
)

// Service names of observed calls.
const (
	svcDynamoDB = "dynamodb"
	svcSecrets  = "secretsmanager"
)

// Call is one AWS call a function made, as the proxy in front of the emulator saw it.
type Call struct {
	Service string `json:"svc"`
	Op      string `json:"op"` // from X-Amz-Target, e.g. "GetItem"
	// Start and End are the moments the proxy received the request and finished the answer,
	// relative to the start of the invocation that made the call.
	Start time.Duration `json:"start_ns"`
	End   time.Duration `json:"end_ns"`
	// DynamoDB request units the call is billed, counted from the call itself (capacity.go).
	RRU float64 `json:"rru,omitempty"`
	WRU float64 `json:"wru,omitempty"`
}

// callLog is a pass-through proxy before an emulator (awsproxy.Renaming with nothing to
// rename) that records every call: operation, when it started and ended, and for DynamoDB the
// request units it is billed. The bench reads the calls of one invocation at a time, so the
// round trips, the sequential depth and the capacity per request all follow whatever the
// functions do, with nothing about keygate's access pattern written down here.
type callLog struct {
	URL     string
	service string
	srv     *httptest.Server
	units   *capacity // DynamoDB only

	mu    sync.Mutex
	calls []loggedCall
}

type loggedCall struct {
	op         string
	start, end time.Time
	rru, wru   float64
}

// startCallLog serves a recording proxy to target. units counts DynamoDB request units (nil
// for other services).
func startCallLog(target, service string, units *capacity) *callLog {
	l := &callLog{service: service, units: units}
	none := strings.NewReplacer()
	forward := awsproxy.Renaming(target, none, none, nil)
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		op := r.Header.Get("X-Amz-Target")
		if i := strings.LastIndexByte(op, '.'); i >= 0 {
			op = op[i+1:]
		}
		req, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(req))
		rec := &teeWriter{ResponseWriter: w}
		forward.ServeHTTP(rec, r)
		c := loggedCall{op: op, start: start, end: time.Now()}
		if l.units != nil {
			c.rru, c.wru = l.units.count(op, req, rec.body.Bytes())
		}
		l.mu.Lock()
		l.calls = append(l.calls, c)
		l.mu.Unlock()
	}))
	l.URL = l.srv.URL
	return l
}

// Close stops the proxy.
func (l *callLog) Close() { l.srv.Close() }

// mark is a position in the log: the calls after it belong to what happened since.
func (l *callLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls)
}

// since returns the calls logged after m, with times relative to t0 (the invocation's start).
func (l *callLog) since(m int, t0 time.Time) []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Call, 0, len(l.calls)-m)
	for _, c := range l.calls[m:] {
		out = append(out, Call{Service: l.service, Op: c.op, Start: c.start.Sub(t0), End: c.end.Sub(t0), RRU: c.rru, WRU: c.wru})
	}
	return out
}

// teeWriter keeps a copy of the answer for the capacity count.
type teeWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (t *teeWriter) Write(b []byte) (int, error) {
	t.body.Write(b)
	return t.ResponseWriter.Write(b)
}

// depth is the number of calls on the critical path: the longest chain of calls each of which
// started after the previous one had ended. Calls that overlap (sent together) count once.
func depth(calls []Call) int {
	n, _ := chain(calls, func(Call) float64 { return 1 })
	return int(n)
}

// chain is the heaviest chain of calls that do not overlap (each starts after the previous
// ended), by weight: its total weight and its calls in order. With latency as the weight it
// is the I/O wait on the critical path had each call taken that latency.
func chain(calls []Call, weight func(Call) float64) (float64, []Call) {
	if len(calls) == 0 {
		return 0, nil
	}
	cs := slices.Clone(calls)
	slices.SortFunc(cs, func(a, b Call) int { return cmp.Compare(a.End, b.End) })
	best := make([]float64, len(cs)) // heaviest chain ending with cs[i]
	prev := make([]int, len(cs))
	top := 0
	for i, c := range cs {
		best[i], prev[i] = weight(c), -1
		for j := range i {
			if cs[j].End <= c.Start && best[j]+weight(c) > best[i] {
				best[i], prev[i] = best[j]+weight(c), j
			}
		}
		if best[i] > best[top] {
			top = i
		}
	}
	var path []Call
	for i := top; i >= 0; i = prev[i] {
		path = append(path, cs[i])
	}
	slices.Reverse(path)
	return best[top], path
}
