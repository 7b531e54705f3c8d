package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keygate/keygate/shared/signing"
)

// Verifier checks access tokens.
//
// It is keygate's own JWS compact verifier rather than a general JWT library: it accepts only
// the tokens Issue produces, which lets it be strict and fast (the authorizer pays for it on
// every first-seen token). The header must be exactly {alg, typ, kid} and the payload only
// keygate's claims, each once, with the JSON type Issue writes (dates are integers); base64url
// must be canonical; the signature is checked before the payload is parsed.
type Verifier struct {
	keys     VerificationKeys
	issuer   string
	audience string
	leeway   time.Duration
	now      func() time.Time
}

// NewVerifier returns a Verifier that requires iss and aud to match and tolerates leeway of
// clock skew (at most 60 s).
func NewVerifier(keys VerificationKeys, issuer, audience string, leeway time.Duration, now func() time.Time) (*Verifier, error) {
	if issuer == "" || audience == "" {
		return nil, errors.New("token: issuer and audience are required")
	}
	if leeway < 0 || leeway > MaxLeeway {
		return nil, errors.New("token: leeway must be within 0..60s")
	}
	return &Verifier{keys: keys, issuer: issuer, audience: audience, leeway: leeway, now: now}, nil
}

var b64 = base64.RawURLEncoding.Strict()

// Verify parses and verifies raw. It returns ErrExpired, ErrInvalid, or a wrapped
// signing.ErrUnavailable when the keys cannot be loaded.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if len(raw) == 0 || len(raw) > MaxBytes {
		return nil, ErrInvalid
	}
	i := strings.IndexByte(raw, '.')
	if i <= 0 {
		return nil, ErrInvalid
	}
	j := strings.IndexByte(raw[i+1:], '.') + i + 1
	if j <= i+1 || j == len(raw)-1 || strings.IndexByte(raw[j+1:], '.') >= 0 {
		return nil, ErrInvalid
	}
	// Each segment is canonical base64url: the decoder would skip CR and LF, so a token issued
	// once could otherwise verify under other spellings.
	if !OnlyBase64URL(raw[:i]) || !OnlyBase64URL(raw[i+1:j]) || !OnlyBase64URL(raw[j+1:]) {
		return nil, ErrInvalid
	}

	var hbuf [256]byte
	if b64.DecodedLen(i) > len(hbuf) {
		return nil, ErrInvalid
	}
	n, err := b64.Decode(hbuf[:], []byte(raw[:i]))
	if err != nil {
		return nil, ErrInvalid
	}
	h, ok := parseHeader(hbuf[:n])
	if !ok || !isAccessTokenType(h.typ) || len(h.kid) > signing.MaxKidLen {
		return nil, ErrInvalid
	}
	key, err := v.keys.Verification(ctx, h.kid)
	switch {
	case errors.Is(err, signing.ErrUnavailable):
		return nil, fmt.Errorf("verify token: %w", err)
	case err != nil:
		return nil, ErrInvalid
	case h.alg != key.Alg: // the algorithm is pinned to the key, never taken from the token
		return nil, ErrInvalid
	}

	var sbuf [512]byte
	sigB64 := raw[j+1:]
	if b64.DecodedLen(len(sigB64)) > len(sbuf) {
		return nil, ErrInvalid
	}
	if n, err = b64.Decode(sbuf[:], []byte(sigB64)); err != nil || !verifySignature(key, raw[:j], sbuf[:n]) {
		return nil, ErrInvalid
	}

	payload, err := b64.DecodeString(raw[i+1 : j])
	if err != nil {
		return nil, ErrInvalid
	}
	c, ok := parseClaims(payload)
	if !ok {
		return nil, ErrInvalid
	}
	if err := v.validate(c); err != nil {
		return nil, err
	}
	return c, nil
}

// validate checks the registered claims the way RFC 7519 and RFC 9068 want them.
func (v *Verifier) validate(c *Claims) error {
	now := v.now()
	if c.Issuer != v.issuer || c.KeyID == "" || c.ExpiresAt == nil {
		return ErrInvalid
	}
	audOK := false
	for _, a := range c.Audience {
		audOK = audOK || a == v.audience
	}
	if !audOK {
		return ErrInvalid
	}
	if c.NotBefore != nil && now.Add(v.leeway).Before(c.NotBefore.Time) {
		return ErrInvalid
	}
	if c.IssuedAt != nil && now.Add(v.leeway).Before(c.IssuedAt.Time) {
		return ErrInvalid
	}
	if !now.Before(c.ExpiresAt.Add(v.leeway)) {
		return ErrExpired
	}
	return nil
}

func verifySignature(key *signing.Key, input string, sig []byte) bool {
	switch pub := key.Public.(type) {
	case *rsa.PublicKey:
		if key.Alg != signing.RS256 {
			return false
		}
		d := sha256.Sum256([]byte(input))
		// crypto/rsa, although verification needs no constant time: a variable-time
		// RFC 8017 §8.2.2 verify on math/big (per-key state, pooled buffers) was measured
		// slower on RSA-2048 (30 µs vs 24 µs; crypto/rsa has MULX/ADX assembly for that size).
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig) == nil
	case *ecdsa.PublicKey:
		// (r, n−s) verifies wherever (r, s) does: only the low-S half, which Issue emits, is
		// accepted, so an issued token has one spelling (s and the bound are 32-byte big-endian).
		if key.Alg != signing.ES256 || len(sig) != 64 || bytes.Compare(sig[32:], p256HalfOrder[:]) > 0 {
			return false
		}
		d := sha256.Sum256([]byte(input))
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, d[:], r, s)
	case ed25519.PublicKey:
		return key.Alg == signing.EdDSA && ed25519.Verify(pub, []byte(input), sig)
	}
	return false
}

// p256HalfOrder is ⌊n/2⌋ for P-256's group order n, big-endian: an ES256 s above it is high-S.
var p256HalfOrder = func() (b [32]byte) {
	new(big.Int).Rsh(elliptic.P256().Params().N, 1).FillBytes(b[:])
	return b
}()

type header struct{ alg, typ, kid string }

// parseHeader reads exactly {"alg", "typ", "kid"} (string values, each once, any order).
func parseHeader(b []byte) (header, bool) {
	var h header
	var seen uint8
	ok := scanObject(b, func(name string, s *scanner) bool {
		var dst *string
		var bit uint8
		switch name {
		case "alg":
			dst, bit = &h.alg, 1
		case "typ":
			dst, bit = &h.typ, 2
		case "kid":
			dst, bit = &h.kid, 4
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		var ok bool
		*dst, ok = s.str()
		return ok
	})
	return h, ok && seen == 7
}

// claim bits, to refuse a claim given twice.
const (
	cIss = 1 << iota
	cSub
	cAud
	cExp
	cNbf
	cIat
	cJti
	cScope
	cKeyID
	cKeyGen
	cCustomer
	cTier
	cRate
	cOwner
	cFamily
)

// parseClaims reads keygate's claims; any other member, a repeated one or a wrong JSON type
// refuses the token.
func parseClaims(b []byte) (*Claims, bool) {
	c := &Claims{}
	var seen uint32
	ok := scanObject(b, func(name string, s *scanner) bool {
		var bit uint32
		ok := false
		switch name {
		case "iss":
			bit = cIss
			c.Issuer, ok = s.str()
		case "sub":
			bit = cSub
			c.Subject, ok = s.str()
		case "aud":
			bit = cAud
			c.Audience, ok = s.audience()
		case "exp":
			bit = cExp
			c.ExpiresAt, ok = s.date()
		case "nbf":
			bit = cNbf
			c.NotBefore, ok = s.date()
		case "iat":
			bit = cIat
			c.IssuedAt, ok = s.date()
		case "jti":
			bit = cJti
			c.ID, ok = s.str()
		case "scope":
			bit = cScope
			c.Scope, ok = s.str()
		case "key_id":
			bit = cKeyID
			c.KeyID, ok = s.str()
		case "key_gen":
			bit = cKeyGen
			c.KeyGen, ok = s.int()
		case "customer_id":
			bit = cCustomer
			c.CustomerID, ok = s.str()
		case "tier":
			bit = cTier
			c.Tier, ok = s.str()
		case "owner_id":
			bit = cOwner
			c.OwnerID, ok = s.str()
		case "fid":
			bit = cFamily
			c.FamilyID, ok = s.str()
		case "rate_limit":
			bit = cRate
			var n int64
			n, ok = s.int()
			ok = ok && n >= 0 && n <= math.MaxInt32
			c.RateLimit = int(n)
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
	return c, ok
}

// scanner reads the few JSON forms keygate tokens use: flat objects of strings, integers and
// arrays of strings. Anything else is refused.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// scanObject calls member for each member of the object b; member reads the value from s.
func scanObject(b []byte, member func(name string, s *scanner) bool) bool {
	if !utf8.Valid(b) {
		return false
	}
	s := &scanner{b: b}
	if !s.eat('{') {
		return false
	}
	if !s.eat('}') {
		for {
			s.ws()
			name, ok := s.str()
			if !ok || !s.eat(':') {
				return false
			}
			s.ws()
			if !member(name, s) {
				return false
			}
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				break
			}
			return false
		}
	}
	s.ws()
	return s.i == len(s.b)
}

// str reads a JSON string. The common case (no escapes) is a slice of the input; escapes go
// through encoding/json, which knows every form (\uXXXX, surrogate pairs).
func (s *scanner) str() (string, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
	}
	start := s.i + 1
	escaped := false
	for k := start; k < len(s.b); k++ {
		switch c := s.b[k]; {
		case c == '\\':
			escaped = true
			k++
		case c < 0x20:
			return "", false
		case c == '"':
			s.i = k + 1
			if !escaped {
				return string(s.b[start:k]), true
			}
			var out string
			if json.Unmarshal(s.b[start-1:k+1], &out) != nil {
				return "", false
			}
			return out, true
		}
	}
	return "", false
}

// int reads a JSON integer (no fraction, no exponent) that fits an int64.
func (s *scanner) int() (int64, bool) {
	k := s.i
	neg := k < len(s.b) && s.b[k] == '-'
	if neg {
		k++
	}
	digits := k
	limit := uint64(math.MaxInt64) // |math.MinInt64| for a negative number
	if neg {
		limit++
	}
	var n uint64
	for k < len(s.b) && s.b[k] >= '0' && s.b[k] <= '9' {
		d := uint64(s.b[k] - '0')
		if n > (limit-d)/10 { // n*10 + d > limit
			return 0, false
		}
		n = n*10 + d
		k++
	}
	if k == digits || (s.b[digits] == '0' && k-digits > 1) {
		return 0, false // no digits, or a leading zero
	}
	if k < len(s.b) && (s.b[k] == '.' || s.b[k] == 'e' || s.b[k] == 'E') {
		return 0, false
	}
	s.i = k
	if neg {
		return int64(-n), true // two's complement: also right for n = 2^63
	}
	return int64(n), true
}

// date reads a NumericDate written as an integer number of seconds.
func (s *scanner) date() (*jwt.NumericDate, bool) {
	n, ok := s.int()
	if !ok || n < 0 || n > 1<<40 {
		return nil, false
	}
	return jwt.NewNumericDate(time.Unix(n, 0)), true
}

// audience reads aud: one string or a non-empty array of strings.
func (s *scanner) audience() (jwt.ClaimStrings, bool) {
	if a, ok := s.str(); ok {
		return jwt.ClaimStrings{a}, true
	}
	if !s.eat('[') {
		return nil, false
	}
	var out jwt.ClaimStrings
	for {
		s.ws()
		a, ok := s.str()
		if !ok || len(out) == 8 {
			return nil, false
		}
		out = append(out, a)
		if s.eat(',') {
			continue
		}
		return out, s.eat(']')
	}
}
