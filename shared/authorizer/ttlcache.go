// TTLCache is a small bounded in-memory cache whose entries expire: the authorizer's
// per-container memory of verified tokens, key lookups and revocation state.
//
// It is deliberately simple: one map under a RWMutex, a hard entry limit, and eviction from a
// small random sample (expired entries first) only when the limit is hit, so a flood of
// distinct credentials costs bounded memory and O(1) work per insert, and the common hit is one
// read-locked map lookup.

package authorizer

import (
	"sync"
	"time"
)

// Cache maps K to V until each entry's expiry. The zero value is not usable; call New.
type TTLCache[K comparable, V any] struct {
	mu  sync.RWMutex
	m   map[K]entry[V]
	max int
}

type entry[V any] struct {
	v       V
	expires time.Time
}

// New returns a cache holding at most max entries (at least 1).
func NewTTLCache[K comparable, V any](max int) *TTLCache[K, V] {
	if max < 1 {
		max = 1
	}
	return &TTLCache[K, V]{m: make(map[K]entry[V]), max: max}
}

// Get returns k's value if present and not expired at now.
func (c *TTLCache[K, V]) Get(k K, now time.Time) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// evictionSample is how many entries a full cache looks at to make room: Go's map iteration
// starts at a random place, so this is a random sample, and a Put stays O(1) however full the
// cache is (a flood of distinct credentials must not make every insert scan the whole map).
const evictionSample = 8

// Put stores v under k until expires. When the cache is full it drops the expired entries of
// a small random sample, or else one entry of that sample. A value already expired at now is
// not stored (and replaces nothing): it would only take the room of a live one.
func (c *TTLCache[K, V]) Put(k K, v V, expires, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !now.Before(expires) {
		delete(c.m, k)
		return
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		var victim K
		seen, dropped := 0, false
		for key, e := range c.m {
			if seen == 0 {
				victim = key
			}
			if !now.Before(e.expires) {
				delete(c.m, key)
				dropped = true
			}
			if seen++; seen == evictionSample {
				break
			}
		}
		if !dropped {
			delete(c.m, victim)
		}
	}
	c.m[k] = entry[V]{v: v, expires: expires}
}

// Delete removes k.
func (c *TTLCache[K, V]) Delete(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// Len is the number of entries held, expired or not.
func (c *TTLCache[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
