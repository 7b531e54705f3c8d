// Package token owns keygate's tokens: access tokens (JWTs with header typ "at+jwt", RFC 9068,
// signed by the keyring's current key and verified against its current and previous keys
// only), the refresh-token format (opaque, single use, successors derived under the pepper),
// and the one base64url spelling both are held to.
//
// Verification pins the algorithm to the one each key was made for (never "none", never HMAC),
// requires iss, aud and exp, checks nbf and iat with a small leeway, and refuses oversized input
// before parsing. A token is never logged.
package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keygate/keygate/shared/signing"
)

// Type is the JOSE typ of keygate access tokens.
const Type = "at+jwt"

// MaxBytes bounds a token before it is parsed (ours are about 1 KB).
const MaxBytes = 8 << 10

// DefaultLeeway is the clock skew tolerated on exp, nbf and iat.
const DefaultLeeway = 30 * time.Second

// MaxLeeway is the largest leeway a Verifier accepts: a token is never accepted later than
// MaxLeeway after its exp, so a deny-list entry kept that long outlives every verifier's view.
const MaxLeeway = time.Minute

// Errors returned by Verify. ErrExpired and ErrInvalid are 401s; signing.ErrUnavailable (wrapped)
// is a 503.
var (
	ErrInvalid = errors.New("token: invalid")
	ErrExpired = errors.New("token: expired")
)

// Claims are the claims of an access token. Names are short and flat to keep tokens small.
type Claims struct {
	jwt.RegisteredClaims
	Scope      string `json:"scope"`
	KeyID      string `json:"key_id"`
	KeyGen     int64  `json:"key_gen"`
	CustomerID string `json:"customer_id,omitempty"`
	// OwnerID is the key's owner (set by the admin API, never by the caller).
	OwnerID   string `json:"owner_id,omitempty"`
	Tier      string `json:"tier,omitempty"`
	RateLimit int    `json:"rate_limit,omitempty"`
	// FamilyID names the refresh-token family (the login) the token was minted in, so that
	// revoking the family (reuse detected, RFC 7009) ends its access tokens too.
	FamilyID string `json:"fid,omitempty"`
}

// Scopes returns the space-separated scope claim as a slice.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// SigningKeys gives the key to sign with.
type SigningKeys interface {
	Signing(ctx context.Context) (*signing.Key, error)
}

// VerificationKeys finds the key a token names.
type VerificationKeys interface {
	Verification(ctx context.Context, kid string) (*signing.Key, error)
}

// Lifetimes are a stage's token lifetimes: the access token's default and maximum, the refresh
// token's, and how long a spent refresh token's retry still gets the same successor.
type Lifetimes struct {
	AccessTTL    time.Duration
	MaxAccessTTL time.Duration
	RefreshTTL   time.Duration
	RefreshGrace time.Duration
}

// Grant is what a token is issued for.
type Grant struct {
	KeyID      string
	KeyGen     int64
	CustomerID string
	OwnerID    string
	FamilyID   string
	Scopes     []string
	Tier       string
	RateLimit  int
	TTL        time.Duration
}

// Subject is the sub claim of a token minted from keyID for customerID: the key id, followed by
// ":" and the customer id when the caller named one. The caller chooses customer_id, so it is
// never the subject alone: key A could otherwise mint tokens whose sub is key B's id or another
// tenant's customer id. Key ids contain no ":", so the first ":" always splits the two.
func Subject(keyID, customerID string) string {
	if customerID == "" {
		return keyID
	}
	return keyID + ":" + customerID
}

// Issuer signs access tokens.
type Issuer struct {
	keys     SigningKeys
	issuer   string
	audience string
	now      func() time.Time
	random   io.Reader
}

// NewIssuer returns an Issuer; now is the clock, random the source of token ids.
func NewIssuer(keys SigningKeys, issuer, audience string, now func() time.Time) *Issuer {
	return &Issuer{keys: keys, issuer: issuer, audience: audience, now: now, random: rand.Reader}
}

// Issue signs an access token for g and returns it with its claims.
func (i *Issuer) Issue(ctx context.Context, g Grant) (string, *Claims, error) {
	key, err := i.keys.Signing(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("issue token: %w", err)
	}
	var id [16]byte
	if _, err := io.ReadFull(i.random, id[:]); err != nil {
		return "", nil, fmt.Errorf("issue token: jti: %w", err)
	}
	now := i.now().Truncate(time.Second)
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.issuer,
			Subject:   Subject(g.KeyID, g.CustomerID),
			Audience:  jwt.ClaimStrings{i.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(g.TTL)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        base64.RawURLEncoding.EncodeToString(id[:]),
		},
		Scope:      strings.Join(g.Scopes, " "),
		KeyID:      g.KeyID,
		KeyGen:     g.KeyGen,
		CustomerID: g.CustomerID,
		OwnerID:    g.OwnerID,
		Tier:       g.Tier,
		RateLimit:  g.RateLimit,
		FamilyID:   g.FamilyID,
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(key.Alg), c)
	t.Header["typ"] = Type
	t.Header["kid"] = key.Kid
	input, err := t.SigningString()
	if err != nil {
		return "", nil, fmt.Errorf("issue token: %w", err)
	}
	sig, err := sign(key, input)
	if err != nil {
		return "", nil, fmt.Errorf("issue token: sign: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), c, nil
}

// sign returns the JWS signature of input under key (RFC 7518 §3.3, §3.4; RFC 8037 §3.1).
// It is golang-jwt's signing but for ES256, whose s is made low (s ≤ n/2, by n−s if needed:
// the same signature's other spelling), since verifySignature accepts only that half.
func sign(key *signing.Key, input string) ([]byte, error) {
	switch key.Alg {
	case signing.RS256:
		d := sha256.Sum256([]byte(input))
		return key.Private.Sign(rand.Reader, d[:], crypto.SHA256)
	case signing.ES256:
		priv, ok := key.Private.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("ES256 with a %T key", key.Private)
		}
		d := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, priv, d[:])
		if err != nil {
			return nil, err
		}
		if n := priv.Curve.Params().N; s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
			s.Sub(n, s)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	case signing.EdDSA:
		return key.Private.Sign(nil, []byte(input), crypto.Hash(0))
	}
	return nil, fmt.Errorf("unsupported algorithm %q", key.Alg)
}

// isAccessTokenType accepts "at+jwt" and "application/at+jwt", case-insensitively (RFC 9068 §4).
func isAccessTokenType(typ string) bool {
	typ = strings.ToLower(typ)
	return typ == Type || typ == "application/"+Type
}
