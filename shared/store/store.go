// Package store defines keygate's stored records, the rate limiter's decision and the errors
// every storage implementation returns. Implementations live in store/dynamo (DynamoDB) and store/memstore (in memory, for
// unit tests); store/storetest is the conformance suite both must pass.
//
// Records hold only hashes of secrets, never a plain API key or token.
package store

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors returned by every implementation. Anything else is a dependency failure (→ 503).
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflicting write")
	// ErrBadCursor means a pagination cursor was not one the store produced.
	ErrBadCursor = errors.New("store: invalid pagination cursor")
	// ErrTooManyDenied means a key's deny-list is longer than MaxDeniedRead; readers fail
	// closed, and the revoke endpoint refuses to grow it past the limit.
	ErrTooManyDenied = errors.New("store: too many revoked access tokens for one key")
	// ErrFamilyInactive means a rotation was refused because the token's family is revoked,
	// expired or gone: the token is over for good. It is an ErrConflict.
	ErrFamilyInactive = fmt.Errorf("%w: the refresh token's family is revoked or expired", ErrConflict)
	// ErrKeyChanged means a rotation was refused because the API key is no longer at the
	// version its snapshot names (or is gone): the caller reads the key and decides again. It
	// is an ErrConflict.
	ErrKeyChanged = fmt.Errorf("%w: the API key changed since its snapshot", ErrConflict)
)

// Statuses of keys, families and refresh tokens. A refresh token is active (spendable), used or
// revoked (retired because its family is over, so it is refused at its read).
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
	// StatusUsed is a refresh token spent by a refresh (its successor is live).
	StatusUsed = "used"
)

// Key is a stored API key. Hash is the peppered HMAC of the current secret (see package apikey).
// During a rotation's grace period PreviousHash still authenticates, until GraceUntil.
//
// KeyGen counts rotations and revocations; access tokens carry it, so bumping it invalidates
// the tokens minted before (except the previous generation during a grace period). Version is
// the optimistic-concurrency counter every write checks and bumps.
type Key struct {
	Hash         string
	KeyID        string
	Name         string
	OwnerID      string
	Scopes       []string
	AllowedIPs   []string
	RateLimit    int
	Tier         string
	Status       string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	ExpiresAt    time.Time // zero: never expires
	KeyGen       int64
	LastUsedAt   time.Time
	PreviousHash string
	GraceUntil   time.Time
	Version      int64
}

// Expired reports whether the key is past its expiry at now. Storage treats expired keys as
// absent on read, because DynamoDB's TTL deletion lags by up to days.
func (k *Key) Expired(now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

// Usable reports whether the key may authenticate at now.
func (k *Key) Usable(now time.Time) bool { return k.Status == StatusActive && !k.Expired(now) }

// InGrace reports whether the previous secret still authenticates at now.
func (k *Key) InGrace(now time.Time) bool {
	return k.PreviousHash != "" && now.Before(k.GraceUntil)
}

// ByPreviousSecret reports whether k is the view KeyByHash gives of a key found by its in-grace
// previous secret: Hash is that secret's hash and KeyGen the previous generation, which is not
// the key's own state.
func (k *Key) ByPreviousSecret() bool { return k.PreviousHash != "" && k.Hash == k.PreviousHash }

// TokenGenValid reports whether an access or refresh token minted at generation gen is still
// good: the current generation always, the previous one only during a rotation's grace period.
func (k *Key) TokenGenValid(gen int64, now time.Time) bool {
	if !k.Usable(now) {
		return false
	}
	return gen == k.KeyGen || (gen == k.KeyGen-1 && k.InGrace(now))
}

// MaxDeniedPerKey bounds one key's list of revoked, unexpired access tokens (the authorizer
// reads it whole): POST /v1/auth/revoke refuses to add beyond it. Beyond it, rotating the key
// is the tool.
const MaxDeniedPerKey = 1000

// DeniedFamily is the deny-list entry of a revoked refresh-token family, beside the jtis of
// revoked access tokens in the same per-key list (a jti never contains '#'): revoking a family
// ends the access tokens minted in it (their fid claim) at no extra read for the authorizer,
// which reads the whole list anyway.
func DeniedFamily(familyID string) string { return "fid#" + familyID }

// MaxDeniedRead is the longest deny-list a reader accepts (longer is ErrTooManyDenied). It is
// larger than MaxDeniedPerKey because the revoke endpoint checks the length, then writes:
// revocations of one key that run concurrently can all pass the check. Reading strictly at
// MaxDeniedPerKey would turn that overshoot into a 503 for every token of the key.
const MaxDeniedRead = 2 * MaxDeniedPerKey

// Page is one page of a listing; Next is empty on the last page.
type Page struct {
	Keys []Key
	Next string
}

// Event is one audit-trail entry. It never holds a secret: no key, token or hash.
type Event struct {
	KeyID      string
	Time       time.Time
	Action     string
	ActorKeyID string
	SourceIP   string
	RequestID  string
	Detail     string
}

// EventPage is one page of audit events, newest first.
type EventPage struct {
	Events []Event
	Next   string
}

// RefreshToken is a stored refresh token (never the plain value).
type RefreshToken struct {
	Hash          string
	FamilyID      string
	KeyID         string
	KeyGen        int64
	CustomerID    string
	Scopes        []string
	Status        string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        time.Time
	SuccessorHash string
	// Key is the token's API key as it was when the token was stored (nil for tokens stored
	// without one). On a child passed to Rotate it is also a condition: the rotation writes only
	// while the key is still at Key.Version.
	Key *KeySnapshot
}

// KeySnapshot is what a refresh needs of its API key, copied onto each refresh token, so that a
// refresh costs no read of the key. It is never trusted alone: the rotation's transaction
// checks that the key is still at Version (every change of a key bumps it; a last-use touch
// does not), so a refresh that succeeds was decided on the key's state at that moment, and a
// refresh whose snapshot is stale gets ErrKeyChanged, reads the key and decides again.
// Refusals are never made on a snapshot either: the caller confirms them with the key itself,
// because a snapshot may also be stale the other way (a widened allowlist, a raised limit).
// It holds no hash of a secret. Times are whole seconds, as stored.
type KeySnapshot struct {
	Version    int64
	KeyGen     int64
	Status     string
	ExpiresAt  time.Time // zero: never expires
	AllowedIPs []string
	RateLimit  int
	OwnerID    string
	Tier       string
}

// SnapshotOf returns the snapshot of k, or nil when k is KeyByHash's view of a key found by its
// previous secret (ByPreviousSecret): that view's KeyGen is the previous generation, and a
// snapshot of it would keep the previous generation's tokens valid after the grace period,
// which ends by time and bumps no version.
func SnapshotOf(k Key) *KeySnapshot {
	if k.ByPreviousSecret() {
		return nil
	}
	return &KeySnapshot{
		Version: k.Version, KeyGen: k.KeyGen, Status: k.Status, ExpiresAt: k.ExpiresAt,
		AllowedIPs: slices.Clone(k.AllowedIPs), RateLimit: k.RateLimit, OwnerID: k.OwnerID, Tier: k.Tier,
	}
}

// Key returns the key the snapshot describes, for the checks a refresh makes (TokenGenValid,
// the allowlist, the rate limit, the access token's claims). It has no previous secret, so it
// never honours a rotation's grace period: a token of the previous generation fails its check,
// and the caller confirms with the key itself.
func (s *KeySnapshot) Key(keyID string) Key {
	return Key{
		KeyID: keyID, Version: s.Version, KeyGen: s.KeyGen, Status: s.Status, ExpiresAt: s.ExpiresAt,
		AllowedIPs: slices.Clone(s.AllowedIPs), RateLimit: s.RateLimit, OwnerID: s.OwnerID, Tier: s.Tier,
	}
}

// Clone returns a deep copy of s (nil for nil).
func (s *KeySnapshot) Clone() *KeySnapshot {
	if s == nil {
		return nil
	}
	c := *s
	c.AllowedIPs = slices.Clone(s.AllowedIPs)
	return &c
}

// Family groups the refresh tokens of one login (every token descended from one
// POST /v1/auth/token); its id is the access tokens' fid claim.
type Family struct {
	ID        string
	KeyID     string
	Status    string
	ExpiresAt time.Time
}

// Touch describes a last_used_at update of a key, written with a token issuance at most once
// a minute.
type Touch struct {
	KeyID string
	Hash  string
	At    time.Time
}
