// Package refresh defines keygate's refresh tokens: opaque 256-bit strings, stored only as
// SHA-256 hashes, grouped in families (every token descended from one POST /v1/auth/token).
//
// A refresh token is single use. Its successor is derived from it with an HMAC under the server
// pepper, so a client retrying inside the grace window gets the very same successor instead of
// a second branch; reuse after the grace window revokes the whole family.
package refresh

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keygate/keygate/shared/base64url"
)

// Prefix marks keygate refresh tokens.
const Prefix = "kgr_"

// Len is the length of a refresh token: the prefix and 43 base64url characters (256 bits).
const Len = len(Prefix) + 43

// DefaultGrace is how long a spent token's retry still gets the same successor.
const DefaultGrace = 10 * time.Second

// Statuses of tokens and families.
const (
	StatusActive  = "active"
	StatusUsed    = "used"
	StatusRevoked = "revoked"
)

// ErrMalformed means a string is not shaped like a refresh token.
var ErrMalformed = errors.New("refresh: malformed token")

// Token is a stored refresh token (never the plain value).
type Token struct {
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

// Family groups the tokens of one login.
type Family struct {
	ID        string
	KeyID     string
	Status    string
	ExpiresAt time.Time
}

// New returns a fresh refresh token from random.
func New(random io.Reader) (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", fmt.Errorf("refresh: random: %w", err)
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// NewFamilyID returns a random family id.
func NewFamilyID(random io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", fmt.Errorf("refresh: random: %w", err)
	}
	return "fam_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Check validates the shape of a presented token without any I/O.
func Check(tok string) error {
	body, ok := strings.CutPrefix(tok, Prefix)
	if len(tok) != Len || !ok || !base64url.OnlyAlphabet(body) {
		return ErrMalformed
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(body); err != nil {
		return ErrMalformed
	}
	return nil
}

// Hash is the stored form of a token: SHA-256, base64url. The token carries 256 random bits, so
// an unkeyed hash cannot be inverted.
func Hash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Deriver computes keyed derivations (apikey.Hasher in production).
type Deriver interface {
	Derive(label, data string) string
}

// Successor derives the token that replaces parent, keyed with the server pepper: only the
// holder of parent (and the server) can compute it, and every retry computes the same one.
func Successor(d Deriver, parent string) string {
	return Prefix + d.Derive("refresh-successor", parent)
}
