package authapi

import (
	"crypto/sha256"
	"sync"
)

// maxKeyHints bounds the API keys one container remembers (about 100 bytes each).
const maxKeyHints = 10_000

// keyHints remembers, for each API key this container has authenticated, which key it is and
// that key's rate limit: what the rate limiter needs, known before the key is read. A token
// request with a remembered API key takes from the key's budget while the key is being read,
// so a warm request costs two sequential DynamoDB round trips (key and limit together, then the
// issuing transaction) instead of three.
//
// A hint is never trusted for anything but that early Take: the request is still
// authenticated by its own read of the key, the Take is reconciled with the key's own limit
// (budget.decide), and a secret that no longer authenticates loses its hint. An API key maps to
// one key for ever, so a hint's key id never goes stale; its limit may, which decide absorbs.
// Hints are filled only by successful reads of a key (never by a wrong or unknown key, so
// nobody can make a request spend a budget that is not its own) and are keyed by a SHA-256 of
// the API key, never the key itself.
type keyHints struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]keyHint
}

type keyHint struct {
	keyID string
	limit int
}

func hintID(apiKey string) [sha256.Size]byte { return sha256.Sum256([]byte(apiKey)) }

func (h *keyHints) get(id [sha256.Size]byte) (keyHint, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hint, ok := h.m[id]
	return hint, ok
}

// put remembers hint for id; when full, it forgets an arbitrary other API key first.
func (h *keyHints) put(id [sha256.Size]byte, hint keyHint) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[[sha256.Size]byte]keyHint{}
	}
	if _, ok := h.m[id]; !ok && len(h.m) >= maxKeyHints {
		for other := range h.m {
			delete(h.m, other)
			break
		}
	}
	h.m[id] = hint
}

func (h *keyHints) drop(id [sha256.Size]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, id)
}

// len is the number of API keys remembered.
func (h *keyHints) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m)
}
