// The key format: keygate's API-key format and its peppered hash.
//
// A key reads <prefix>_<secret>_<checksum>, e.g. kg_live_<36 base62 chars>_<6 base62 chars>:
// the prefix names the environment (kg_live, kg_test), the secret carries 214 bits from
// crypto/rand, and the checksum (CRC32 of prefix and secret, base62) lets a typo or a scanner
// hit be refused without any database read, as GitHub's tokens do.
//
// Only Hash(key) is ever stored. This package must never log or return a key inside an error.

package apikey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

const (
	alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	// SecretLen base62 characters give 36·log2(62) ≈ 214 bits of entropy.
	SecretLen = 36
	// ChecksumLen base62 characters hold any CRC32 value (62^6 > 2^32).
	ChecksumLen = 6
	// MaxLen bounds any string handed to Parse before it is looked at further.
	MaxLen    = 64
	keyIDLen  = 20
	keyIDHead = "key_"
)

// Errors returned by Parse. Callers map all of them to the same response (invalid_api_key), so
// an attacker cannot tell a wrong environment from a typo.
var (
	ErrMalformed        = errors.New("apikey: malformed key")
	ErrChecksum         = errors.New("apikey: checksum mismatch")
	ErrWrongEnvironment = errors.New("apikey: key of another environment")
)

// ValidPrefix reports whether p is an environment prefix keygate issues keys with.
func ValidPrefix(p string) bool { return p == "kg_live" || p == "kg_test" }

// LooksLikeKey reports whether s has the shape of a keygate API key of any environment. The
// authorizer uses it to tell API keys from JWTs; it does no validation.
func LooksLikeKey(s string) bool { return strings.HasPrefix(s, "kg_") }

// Generate returns a new key for the environment prefix, reading randomness from r
// (crypto/rand.Reader in production).
func Generate(prefix string, r io.Reader) (string, error) {
	if !ValidPrefix(prefix) {
		return "", fmt.Errorf("apikey: invalid prefix %q", prefix)
	}
	secret, err := randomBase62(r, SecretLen)
	if err != nil {
		return "", err
	}
	body := prefix + "_" + secret
	return body + "_" + checksum(body), nil
}

// Parse checks the structure, environment and checksum of key without any I/O.
func Parse(key, wantPrefix string) error {
	if len(key) > MaxLen || len(key) != len(wantPrefix)+1+SecretLen+1+ChecksumLen {
		if LooksLikeKey(key) && !strings.HasPrefix(key, wantPrefix+"_") {
			return ErrWrongEnvironment
		}
		return ErrMalformed
	}
	if !strings.HasPrefix(key, wantPrefix+"_") {
		if LooksLikeKey(key) {
			return ErrWrongEnvironment
		}
		return ErrMalformed
	}
	body, sum := key[:len(key)-ChecksumLen-1], key[len(key)-ChecksumLen:]
	if key[len(body)] != '_' || !isBase62(body[len(wantPrefix)+1:]) || !isBase62(sum) {
		return ErrMalformed
	}
	if !hmac.Equal([]byte(sum), []byte(checksum(body))) {
		return ErrChecksum
	}
	return nil
}

// NewKeyID returns a public key identifier, key_<20 base62 chars>. It is not a secret.
func NewKeyID(r io.Reader) (string, error) {
	s, err := randomBase62(r, keyIDLen)
	if err != nil {
		return "", err
	}
	return keyIDHead + s, nil
}

// ValidKeyID reports whether s has the shape of a key id (bounds path parameters before lookups).
func ValidKeyID(s string) bool {
	return len(s) == len(keyIDHead)+keyIDLen && strings.HasPrefix(s, keyIDHead) && isBase62(s[len(keyIDHead):])
}

// Hasher computes the keyed hash under which a key is stored: HMAC-SHA-256 with a server-side
// pepper, so a leaked table alone does not allow offline guessing.
type Hasher struct{ pepper []byte }

// NewHasher returns a Hasher for pepper, which must hold at least 32 bytes.
func NewHasher(pepper []byte) (*Hasher, error) {
	if len(pepper) < 32 {
		return nil, errors.New("apikey: pepper shorter than 32 bytes")
	}
	return &Hasher{pepper: append([]byte(nil), pepper...)}, nil
}

// Hash returns the base64url (unpadded) HMAC-SHA-256 of key.
func (h *Hasher) Hash(key string) string {
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte(key))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0]))
}

// Derive returns the base64url HMAC-SHA-256 of data under the pepper in the domain label, for
// other server-side derivations (refresh-token successors) that must not collide with Hash.
func (h *Hasher) Derive(label, data string) string {
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte("keygate\x00" + label + "\x00"))
	m.Write([]byte(data))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// DeriveHex is Derive as 64 lower-case hex digits, for derived values that must be
// alphanumeric (API Gateway API-key values, the usage identifiers of package usageplan).
func (h *Hasher) DeriveHex(label, data string) string {
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte("keygate\x00" + label + "\x00"))
	m.Write([]byte(data))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0]))
}

// Equal compares two hashes in constant time.
func Equal(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

func checksum(body string) string {
	v := crc32.ChecksumIEEE([]byte(body))
	var out [ChecksumLen]byte
	for i := ChecksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[v%62]
		v /= 62
	}
	return string(out[:])
}

// randomBase62 draws n uniform base62 characters by rejection sampling (bytes ≥ 248 are
// dropped, so every character has probability exactly 1/62).
func randomBase62(r io.Reader, n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("apikey: read random: %w", err)
		}
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, alphabet[b%62])
			}
		}
	}
	return string(out), nil
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return s != ""
}
