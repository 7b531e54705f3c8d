// Revocation state (Checker, KeyCache) lets the authorizer honour key revocation, key rotation and access-token
// revocation without a storage read per request.
//
// What it knows about an API key (status, generation, rotation grace, expiry and the key's list
// of revoked access tokens) is cached per Lambda container and re-read at most once per MaxAge
// per key, so a revocation or rotation takes effect within MaxAge of being written. The
// functions pass the stage's RevocationMaxAge (template parameter and shared/app: 30 s by
// default, at most 30 s); the 60 s here is only the fallback for an unset MaxAge. API Gateway's
// authorizer cache sits in front of this and adds its own TTL: the end-to-end bound is
// AuthorizerCacheTTL + RevocationMaxAge, 30 s + 30 s by default (see docs/design.md, "Revocation").
//
// Reads that fail are never cached and never answered from an entry older than MaxAge: the
// caller gets the error and fails closed (503), so an outage can delay a request but never
// extend a revoked credential's life beyond the bound.

package authorizer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/keygate/keygate/shared/store"
)

// ErrRevoked means the credential's key is revoked, expired, unknown or rotated past the
// token's generation, or the token itself was revoked. Callers answer 401.
var ErrRevoked = errors.New("revocation: credential no longer valid")

// KeyReader reads a key by id.
type KeyReader interface {
	KeyByID(ctx context.Context, id string) (store.Key, error)
}

// DenyLister lists a key's revoked, unexpired access tokens (jti → expiry).
type DenyLister interface {
	DeniedTokens(ctx context.Context, keyID string) (map[string]time.Time, error)
}

// HashFinder looks a key up by the hash of its secret.
type HashFinder interface {
	KeyByHash(ctx context.Context, hash string) (store.Key, error)
}

// CacheOptions tune the caches; zero values take the defaults.
type CacheOptions struct {
	MaxAge     time.Duration    // how stale an answer may be; 60 s if unset (the functions pass RevocationMaxAge, 30 s by default)
	MaxEntries int              // per cache; default 10,000
	Now        func() time.Time // default time.Now
}

func (o CacheOptions) withDefaults() CacheOptions {
	if o.MaxAge <= 0 {
		o.MaxAge = time.Minute
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 10_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// keyState is what the Checker remembers about one key.
type keyState struct {
	key    store.Key
	found  bool
	denied map[string]time.Time
	// newerGenRead is when a token of a newer generation than the cached one last made the
	// Checker read this key (zero: never).
	newerGenRead time.Time
}

// newerGenReloadGap is how often, at most, a token of a generation newer than the cached key's
// makes the Checker re-read that key. Such a token is signed by keygate after a rotation this
// container has not seen yet, so the cache, not the token, is stale; without the re-read the new
// secret's tokens were refused for up to MaxAge after every rotation. The gap bounds the reads
// should the store still return the old generation (a lagging replica): the first such token
// reads at once, later ones at most once per gap.
const newerGenReloadGap = time.Second

// Checker answers whether an access token is still good. Safe for concurrent use.
type Checker struct {
	keys   KeyReader
	denied DenyLister
	opts   CacheOptions
	cache  *TTLCache[string, *keyState]
	group  singleflight.Group
}

// NewChecker returns a Checker reading keys and deny-lists from the stores.
func NewChecker(keys KeyReader, denied DenyLister, opts CacheOptions) *Checker {
	opts = opts.withDefaults()
	return &Checker{keys: keys, denied: denied, opts: opts, cache: NewTTLCache[string, *keyState](opts.MaxEntries)}
}

// Token returns nil if a token minted from keyID at generation gen with id jti in refresh-token
// family familyID ("" for tokens older than the fid claim) is still good, ErrRevoked if not
// (the token, its family or its key revoked), or a dependency error.
func (c *Checker) Token(ctx context.Context, keyID string, gen int64, jti, familyID string) error {
	now := c.opts.Now()
	st, ok := c.cache.Get(keyID, now)
	newer := ok && st.found && gen > st.key.KeyGen && now.Sub(st.newerGenRead) >= newerGenReloadGap
	if !ok || newer {
		// A read for a newer generation is not joined with an ordinary one: it must record
		// when it happened, so a lagging store costs one read per gap.
		flight := keyID
		if newer {
			flight += "\x00newer"
		}
		v, err := shared(ctx, &c.group, flight, func(ctx context.Context) (any, error) { return c.load(ctx, keyID, newer) })
		if err != nil {
			return err
		}
		st = v.(*keyState)
	}
	if !st.found || !st.key.TokenGenValid(gen, now) {
		return ErrRevoked
	}
	if exp, ok := st.denied[jti]; ok && now.Before(exp) {
		return ErrRevoked
	}
	if familyID != "" {
		if exp, ok := st.denied[store.DeniedFamily(familyID)]; ok && now.Before(exp) {
			return ErrRevoked
		}
	}
	return nil
}

func (c *Checker) load(ctx context.Context, keyID string, newerGen bool) (*keyState, error) {
	now := c.opts.Now()
	k, err := c.keys.KeyByID(ctx, keyID)
	st := &keyState{key: k, found: err == nil}
	if newerGen {
		st.newerGenRead = now
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("revocation: read key: %w", err)
	case !k.Usable(now):
		// Revoked or expired: every token of it is refused; its deny-list does not matter.
	default:
		if st.denied, err = c.denied.DeniedTokens(ctx, keyID); err != nil {
			return nil, fmt.Errorf("revocation: read deny-list: %w", err)
		}
	}
	c.cache.Put(keyID, st, now.Add(c.opts.MaxAge), now)
	return st, nil
}

// loadTimeout bounds one shared read (a GetItem and a Query, with the SDK's retries).
const loadTimeout = 5 * time.Second

// shared runs load once for all concurrent callers of key. The read does not inherit the first
// caller's cancellation (its deadline must not fail everyone waiting), only loadTimeout; each
// caller still stops waiting when its own context ends, and then lets later callers start over.
func shared(ctx context.Context, g *singleflight.Group, key string, load func(context.Context) (any, error)) (any, error) {
	ch := g.DoChan(key, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		return load(lctx)
	})
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		// Whoever comes next starts a fresh read instead of joining this one, which may be
		// stuck on the outage that made us give up.
		g.Forget(key)
		return nil, fmt.Errorf("revocation: %w", ctx.Err())
	}
}

// KeyCache is a HashFinder that remembers keys it found for MaxAge, so an API key presented to
// the authorizer again costs no storage read; revocation, rotation and changes to the key reach
// it within MaxAge. Misses and errors are not remembered: anyone can mint well-formed keys
// (the checksum is public), and caching those would let them evict real keys' entries; API
// Gateway already caches the 401 per Authorization header.
type KeyCache struct {
	next  HashFinder
	opts  CacheOptions
	cache *TTLCache[string, lookup]
	group singleflight.Group
}

type lookup struct {
	key   store.Key
	found bool
}

// NewKeyCache wraps next.
func NewKeyCache(next HashFinder, opts CacheOptions) *KeyCache {
	opts = opts.withDefaults()
	return &KeyCache{next: next, opts: opts, cache: NewTTLCache[string, lookup](opts.MaxEntries)}
}

// KeyByHash returns the key with this hash, from memory when it was read within MaxAge.
func (c *KeyCache) KeyByHash(ctx context.Context, hash string) (store.Key, error) {
	now := c.opts.Now()
	l, ok := c.cache.Get(hash, now)
	if !ok {
		v, err := shared(ctx, &c.group, hash, func(ctx context.Context) (any, error) {
			k, err := c.next.KeyByHash(ctx, hash)
			switch {
			case errors.Is(err, store.ErrNotFound):
				return lookup{}, nil
			case err != nil:
				return nil, err
			}
			l := lookup{key: k, found: true}
			until := now.Add(c.opts.MaxAge)
			if k.PreviousHash == hash && k.GraceUntil.Before(until) {
				until = k.GraceUntil // a secret in its rotation grace period: not a moment longer
			}
			c.cache.Put(hash, l, until, now)
			return l, nil
		})
		if err != nil {
			return store.Key{}, err
		}
		l = v.(lookup)
	}
	if !l.found {
		return store.Key{}, store.ErrNotFound
	}
	return l.key, nil
}
