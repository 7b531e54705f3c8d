package token_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keygate/keygate/shared/signing"
	"github.com/keygate/keygate/shared/token"
)

// Benchmarks compare our Verify with its floor (a bare RSA verification) and with golang-jwt
// alone, so the cost of the keyring lookup and the checks is visible.

func benchToken(b *testing.B) (*env, string) {
	b.Helper()
	e := defaultEnv(b)
	raw, _ := e.issue(b, token.Grant{KeyID: "key_ABCDEFGHIJKLMNOPQRST", CustomerID: "cus_42",
		Scopes: []string{"customers:read", "billing:read"}, Tier: "pro", RateLimit: 600})
	return e, raw
}

func BenchmarkRSAVerifyBare(b *testing.B) {
	e, raw := benchToken(b)
	i := strings.LastIndex(raw, ".")
	sig, err := base64.RawURLEncoding.DecodeString(raw[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	pub := e.cur.Public.(*rsa.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		digest := sha256.Sum256([]byte(raw[:i]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGolangJWTParse(b *testing.B) {
	e, raw := benchToken(b)
	p := jwt.NewParser(jwt.WithValidMethods([]string{signing.RS256}), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(e.clock.Now))
	keyFunc := func(*jwt.Token) (any, error) { return e.cur.Public, nil }
	b.ReportAllocs()
	for b.Loop() {
		var c token.Claims
		if _, err := p.ParseWithClaims(raw, &c, keyFunc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	e, raw := benchToken(b)
	if _, err := e.verifier.Verify(ctx, raw); err != nil { // warm the keyring
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.verifier.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssue(b *testing.B) {
	e, _ := benchToken(b)
	g := token.Grant{KeyID: "key_ABCDEFGHIJKLMNOPQRST", CustomerID: "cus_42",
		Scopes: []string{"customers:read", "billing:read"}, Tier: "pro", RateLimit: 600, TTL: time.Hour}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.issuer.Issue(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
}
