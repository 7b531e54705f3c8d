// Package store defines keygate's stored records and the errors every storage implementation
// returns. Implementations live in store/dynamo (DynamoDB) and store/memstore (in memory, for
// unit tests); store/storetest is the conformance suite both must pass.
//
// Records hold only hashes of secrets, never a plain API key or token.
package store

import (
	"errors"
	"time"
)

// Errors returned by every implementation. Anything else is a dependency failure (→ 503).
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflicting write")
)

// Key statuses.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
)

// Key is a stored API key. Hash is the peppered HMAC of the secret (see package apikey).
type Key struct {
	Hash       string
	KeyID      string
	Name       string
	OwnerID    string
	Scopes     []string
	AllowedIPs []string
	RateLimit  int
	Tier       string
	Status     string
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never expires
	KeyGen     int64
	LastUsedAt time.Time
}

// Expired reports whether the key is past its expiry at now. Storage treats expired keys as
// absent on read, because DynamoDB's TTL deletion lags by up to days.
func (k *Key) Expired(now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

// Usable reports whether the key may authenticate at now.
func (k *Key) Usable(now time.Time) bool { return k.Status == StatusActive && !k.Expired(now) }
