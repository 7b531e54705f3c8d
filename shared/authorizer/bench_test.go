package authorizer_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keygate/keygate/shared/signkey"
	"github.com/keygate/keygate/shared/token"
)

// BenchmarkAuthorizer puts the authorizer's cost next to its floor, in one run: the bare
// RSA-2048 PKCS#1 v1.5 verification of the token's signing input (crypto/rsa, SHA-256
// included), golang-jwt's parse+verify of the same token, and the full handler (event in,
// policy and context out, revocation check included) for a first-seen and a repeated token.
func BenchmarkAuthorizer(b *testing.B) {
	e := newEnv(b)
	sk, err := signkey.Generate(signkey.RS256, rand.Reader, start)
	if err != nil {
		b.Fatal(err)
	}
	e.sm.current = sk
	key, err := signkey.Parse(sk)
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := e.tokenFor(b, token.Grant{CustomerID: "cus_42", Tier: "pro", RateLimit: 600, TTL: 24 * time.Hour}, "customers:read", "billing:read")
	ev := fixture(b, "request.json", tok)
	if _, err := e.authz.Handle(ctx, ev); err != nil { // warm the keyring and revocation caches
		b.Fatal(err)
	}

	b.Run("rsa-verify-bare", func(b *testing.B) {
		i := strings.LastIndexByte(tok, '.')
		sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
		if err != nil {
			b.Fatal(err)
		}
		pub := key.Public.(*rsa.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			digest := sha256.Sum256([]byte(tok[:i]))
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("golang-jwt-parse", func(b *testing.B) {
		p := jwt.NewParser(jwt.WithValidMethods([]string{signkey.RS256}), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
			jwt.WithExpirationRequired(), jwt.WithTimeFunc(e.clock.Now))
		keyFunc := func(*jwt.Token) (any, error) { return key.Public, nil }
		b.ReportAllocs()
		for b.Loop() {
			var c token.Claims
			if _, err := p.ParseWithClaims(tok, &c, keyFunc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handler-first-seen", func(b *testing.B) {
		// Every request misses the verified-token cache: entries live 1 ns and the clock
		// moves 1 µs per request (the revocation cache, 30 s, stays warm as in production).
		e.authz.Remember = time.Nanosecond
		e.clock.Advance(maxAge) // let the warm-up's entry expire
		defer func() { e.authz.Remember = maxAge }()
		before := e.verify.calls.Load()
		defer func() { b.ReportMetric(float64(e.verify.calls.Load()-before)/float64(b.N), "verifies/op") }()
		b.ReportAllocs()
		for b.Loop() {
			e.clock.Advance(time.Microsecond)
			if _, err := e.authz.Handle(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handler-repeated", func(b *testing.B) {
		if _, err := e.authz.Handle(ctx, ev); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.authz.Handle(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
