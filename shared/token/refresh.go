// Refresh tokens: opaque 256-bit strings, stored only as
// SHA-256 hashes, grouped in families (every token descended from one POST /v1/auth/token).
//
// A refresh token is single use. Its successor is derived from it with an HMAC under the server
// pepper, so a client retrying inside the grace window gets the very same successor instead of
// a second branch; reuse after the grace window revokes the whole family. Their records
// (store.RefreshToken, store.Family) belong to the store.

package token

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// RefreshPrefix marks keygate refresh tokens.
const RefreshPrefix = "kgr_"

// RefreshLen is the length of a refresh token: the prefix and 43 base64url characters (256 bits).
const RefreshLen = len(RefreshPrefix) + 43

// ErrMalformedRefresh means a string is not shaped like a refresh token.
var ErrMalformedRefresh = errors.New("refresh: malformed token")

// NewRefresh returns a fresh refresh token from random.
func NewRefresh(random io.Reader) (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", fmt.Errorf("refresh: random: %w", err)
	}
	return RefreshPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// NewFamilyID returns a random family id.
func NewFamilyID(random io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", fmt.Errorf("refresh: random: %w", err)
	}
	return "fam_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// CheckRefresh validates the shape of a presented token without any I/O.
func CheckRefresh(tok string) error {
	body, ok := strings.CutPrefix(tok, RefreshPrefix)
	if len(tok) != RefreshLen || !ok || !OnlyBase64URL(body) {
		return ErrMalformedRefresh
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(body); err != nil {
		return ErrMalformedRefresh
	}
	return nil
}

// RefreshHash is the stored form of a token: SHA-256, base64url. The token carries 256 random bits, so
// an unkeyed hash cannot be inverted.
func RefreshHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Deriver computes keyed derivations (apikey.Hasher in production).
type Deriver interface {
	Derive(label, data string) string
}

// RefreshSuccessor derives the token that replaces parent, keyed with the server pepper: only the
// holder of parent (and the server) can compute it, and every retry computes the same one.
func RefreshSuccessor(d Deriver, parent string) string {
	return RefreshPrefix + d.Derive("refresh-successor", parent)
}
