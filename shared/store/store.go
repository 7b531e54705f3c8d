// Package store defines keygate's stored records, the rate limiter's decision and the errors
// every storage implementation returns. Implementations live in store/dynamo (DynamoDB) and store/memstore (in memory, for
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
	// ErrBadCursor means a pagination cursor was not one the store produced.
	ErrBadCursor = errors.New("store: invalid pagination cursor")
	// ErrTooManyDenied means a key's deny-list is longer than MaxDeniedRead; readers fail
	// closed, and the revoke endpoint refuses to grow it past the limit.
	ErrTooManyDenied = errors.New("store: too many revoked access tokens for one key")
)

// Key statuses.
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
