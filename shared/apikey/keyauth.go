// Authenticator authenticates a presented API key in one straight line: parse (prefix and
// checksum, no I/O) → peppered hash → one lookup by hash → constant-time compare → status and
// expiry → source-IP allowlist.
//
// Every way a key can be wrong (malformed, other environment, bad checksum, unknown, revoked,
// expired) is the same ErrInvalid, so callers give one response for all of them. The key itself
// never appears in an error or a log.

package apikey

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/keygate/keygate/shared/store"
)

// Errors: ErrInvalid → 401 invalid_api_key; ErrIPNotAllowed → 403 ip_not_allowed; anything else
// is a dependency failure → 503.
var (
	ErrInvalid      = errors.New("apikey: invalid API key")
	ErrIPNotAllowed = errors.New("apikey: source IP not allowed")
)

// Finder looks a key up by its hash.
type Finder interface {
	KeyByHash(ctx context.Context, hash string) (store.Key, error)
}

// Pepper yields the HMAC pepper (a secret.Lazy in production).
type Pepper interface {
	Get(ctx context.Context) ([]byte, error)
}

// Authenticator checks API keys of one environment.
type Authenticator struct {
	prefix string
	pepper Pepper
	keys   Finder
	now    func() time.Time

	mu     sync.Mutex
	hasher *Hasher
}

// New returns an Authenticator for keys with the environment prefix.
func NewAuthenticator(prefix string, pepper Pepper, keys Finder, now func() time.Time) *Authenticator {
	return &Authenticator{prefix: prefix, pepper: pepper, keys: keys, now: now}
}

// Hasher returns the peppered hasher, loading the pepper on first use.
func (a *Authenticator) Hasher(ctx context.Context) (*Hasher, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.hasher != nil {
		return a.hasher, nil
	}
	p, err := a.pepper.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("load pepper: %w", err)
	}
	h, err := NewHasher(p)
	if err != nil {
		return nil, fmt.Errorf("load pepper: %w", err)
	}
	a.hasher = h
	return h, nil
}

// Authenticate returns the stored key for raw if it is valid and usable from source. A key with
// an allowlist is refused when source is unknown (zero); with ErrIPNotAllowed the key is
// returned too, so the refused attempt can be audited.
func (a *Authenticator) Authenticate(ctx context.Context, raw string, source netip.Addr) (store.Key, error) {
	if err := Parse(raw, a.prefix); err != nil {
		return store.Key{}, ErrInvalid
	}
	h, err := a.Hasher(ctx)
	if err != nil {
		return store.Key{}, err
	}
	hash := h.Hash(raw)
	k, err := a.keys.KeyByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return store.Key{}, ErrInvalid
	}
	if err != nil {
		return store.Key{}, fmt.Errorf("authenticate key: %w", err)
	}
	if !Equal(k.Hash, hash) || !k.Usable(a.now()) {
		return store.Key{}, ErrInvalid
	}
	if !IPAllowed(k.AllowedIPs, source) {
		return k, ErrIPNotAllowed // the key, so callers can audit the refused attempt
	}
	return k, nil
}

// IPAllowed reports whether ip is inside one of the CIDRs. An empty list allows every address;
// a list with entries refuses an unknown (zero) address. IPv4-mapped IPv6 addresses match IPv4
// prefixes. Unparseable entries match nothing (fail closed).
func IPAllowed(cidrs []string, ip netip.Addr) bool {
	if len(cidrs) == 0 {
		return true
	}
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			continue
		}
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
