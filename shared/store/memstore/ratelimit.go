package memstore

import (
	"context"
	"sync"
	"time"

	"github.com/keygate/keygate/shared/store"
)

// Limiter counts requests per key and window in memory, with the semantics of the DynamoDB
// limiter (checked by storetest.RunLimiter): a window is the time truncated to
// store.RateWindow, exactly limit Takes of a key are allowed in it, the limit is the caller's
// at each Take (the count is the window's), the window's first refusal is marked once, and a
// limit < 1 allows nothing and starts no window. Windows are never dropped, like DynamoDB's
// window items before their TTL deletion, so a Take with a lagging clock still counts in its
// own window. Use NewLimiter.
type Limiter struct {
	now func() time.Time

	mu      sync.Mutex
	windows map[rateWindow]*windowCount
}

type rateWindow struct {
	keyID string
	start int64 // Unix seconds, the DynamoDB item's sort key
}

type windowCount struct {
	count   int
	refused bool
}

// NewLimiter returns a limiter with no windows using now as its clock.
func NewLimiter(now func() time.Time) *Limiter {
	return &Limiter{now: now, windows: map[rateWindow]*windowCount{}}
}

// Take spends one request of keyID's budget of limit per window. It never fails.
func (l *Limiter) Take(_ context.Context, keyID string, limit int) (store.RateDecision, error) {
	start := l.now().Truncate(store.RateWindow)
	d := store.RateDecision{Limit: limit, Reset: start.Add(store.RateWindow)}
	if limit < 1 {
		return d, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := rateWindow{keyID: keyID, start: start.Unix()}
	w := l.windows[k]
	if w == nil {
		w = &windowCount{}
		l.windows[k] = w
	}
	if w.count < limit {
		w.count++
		d.Allowed, d.Remaining = true, limit-w.count
		return d, nil
	}
	d.FirstRefusal = !w.refused
	w.refused = true
	return d, nil
}

// Count returns how many Takes keyID's window starting at start allowed, and whether the
// window exists (one does once a Take with a limit of at least 1 came in it).
func (l *Limiter) Count(keyID string, start time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.windows[rateWindow{keyID: keyID, start: start.Unix()}]
	if w == nil {
		return 0, false
	}
	return w.count, true
}
