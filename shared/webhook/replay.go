package webhook

import (
	"container/heap"
	"crypto/sha256"
	"sync"
	"time"
)

// ReplayGuard remembers the webhook-ids of deliveries that verified, so that a second delivery
// of one is refused, as the Standard Webhooks specification asks of receivers. A Verifier
// configured WithReplayGuard consults it only after the signature verified, so unsigned
// requests can neither fill it nor burn ids.
type ReplayGuard interface {
	// Remember reports whether id is already remembered at now and, if it is not, remembers it
	// through until. Checking and remembering are one atomic step: of concurrent calls with one
	// id, exactly one reports false. Remembering an id again extends (never shortens) how long
	// it is kept. An error means the guard could neither tell nor remember (it is full, its
	// store is unreachable); the Verifier then refuses the delivery, so a failure never lets a
	// replay through.
	Remember(id string, now, until time.Time) (seen bool, err error)
	// Forget drops id, so that the sender's retry of a delivery the receiver failed to
	// process is accepted. Middleware calls it when the handler answers 5xx or panics.
	Forget(id string)
}

var _ ReplayGuard = (*MemoryGuard)(nil)

// DefaultMaxRemembered is how many ids NewMemoryGuard(0) remembers: 65536, about 110 bytes
// each whatever the id's length, so at most about 7 MiB. An id is kept until its timestamp is
// tolerance old, 5 minutes for a delivery sent on time, so this absorbs about 200 deliveries a
// second sustained (100 if every sender's clock ran the full tolerance ahead).
const DefaultMaxRemembered = 1 << 16

// MemoryGuard is a ReplayGuard in process memory, bounded to a fixed number of ids. It is safe
// for concurrent use.
//
// When it holds its maximum of ids that are all still inside their window it refuses a new one
// (ErrGuardFull, which Middleware answers 503 so the sender retries later) rather than forget
// one early: evicting a live id would re-open exactly the replay it exists to stop, to whoever
// holds a captured delivery. Refusing costs availability instead, and only under a burst of
// genuinely signed deliveries, since nothing else is remembered. An id is forgotten as soon as
// its window has passed, so a full guard frees itself within one window.
//
// Ids are kept as 128-bit SHA-256 prefixes: memory per id is fixed however long ids are (up to
// 256 bytes), and two ids sharing a prefix, vanishingly unlikely, could only cause a refusal.
//
// It guards one process only. Behind a load balancer, or in Lambda where each concurrent
// container has its own memory, a replay that lands on another instance is not caught; give
// such receivers a ReplayGuard over a shared store (a conditional write of the id with a TTL).
type MemoryGuard struct {
	mu   sync.Mutex
	byID map[idKey]*remembered
	next expiryQueue // min-heap by until: the next id to forget is on top
	max  int
}

type idKey [16]byte

type remembered struct {
	key   idKey
	until time.Time
	index int // in next, kept up to date by expiryQueue.Swap
}

// NewMemoryGuard returns a guard remembering at most max ids (DefaultMaxRemembered when max <= 0).
func NewMemoryGuard(max int) *MemoryGuard {
	if max <= 0 {
		max = DefaultMaxRemembered
	}
	return &MemoryGuard{byID: make(map[idKey]*remembered), max: max}
}

// Remember implements ReplayGuard. It returns ErrGuardFull when max ids are remembered and none
// of them has expired at now.
func (g *MemoryGuard) Remember(id string, now, until time.Time) (bool, error) {
	k := keyOf(id)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forgetExpired(now)
	if e, ok := g.byID[k]; ok {
		if until.After(e.until) {
			e.until = until
			heap.Fix(&g.next, e.index)
		}
		return true, nil
	}
	if now.After(until) {
		return false, nil // its window is over: nothing to guard
	}
	if len(g.byID) >= g.max {
		return false, ErrGuardFull
	}
	e := &remembered{key: k, until: until}
	heap.Push(&g.next, e)
	g.byID[k] = e
	return false, nil
}

// Forget implements ReplayGuard.
func (g *MemoryGuard) Forget(id string) {
	k := keyOf(id)
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.byID[k]; ok {
		heap.Remove(&g.next, e.index)
		delete(g.byID, k)
	}
}

// Len is the number of ids held, including expired ones not yet dropped (they are dropped by
// the next Remember). It never exceeds the guard's maximum.
func (g *MemoryGuard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.byID)
}

// forgetExpired drops every id whose window ended before now: each id is dropped once, so a
// Remember costs O(log n) amortised however many expire at once.
func (g *MemoryGuard) forgetExpired(now time.Time) {
	for len(g.next) > 0 && now.After(g.next[0].until) {
		e := heap.Pop(&g.next).(*remembered)
		delete(g.byID, e.key)
	}
}

func keyOf(id string) idKey {
	sum := sha256.Sum256([]byte(id))
	return idKey(sum[:16])
}

// expiryQueue is a container/heap of remembered ids, earliest until first.
type expiryQueue []*remembered

func (q expiryQueue) Len() int           { return len(q) }
func (q expiryQueue) Less(i, j int) bool { return q[i].until.Before(q[j].until) }
func (q expiryQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *expiryQueue) Push(x any) {
	e := x.(*remembered)
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *expiryQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}
