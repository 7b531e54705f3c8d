package authorizer_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/authorizer"
	"github.com/keygate/keygate/shared/secret"

	"github.com/keygate/keygate/shared/signing"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

// BenchmarkAuthorizer puts the authorizer's cost next to its floor, in one run: the bare
// RSA-2048 PKCS#1 v1.5 verification of the token's signing input (crypto/rsa, SHA-256
// included), golang-jwt's parse+verify of the same token, and the full handler (event in,
// policy and context out, revocation check included) for a first-seen and a repeated token,
// an API key whose lookup is cached or not, and a token with a forged signature.
//
// With KEYGATE_BENCH_EXPORT=<file>, the token, its JWKS, issuer, audience and the benchmark's
// clock are written there as JSON, so that `make bench` (infra/bench) can have aws-jwt-verify
// verify exactly this token.
func BenchmarkAuthorizer(b *testing.B) {
	e := newEnv(b)
	sk, err := signing.Generate(signing.RS256, rand.Reader, start)
	if err != nil {
		b.Fatal(err)
	}
	e.sm.Set(secret.StageCurrent, sk)
	key, err := signing.Parse(sk)
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := e.tokenFor(b, token.Grant{CustomerID: "cus_42", Tier: "pro", RateLimit: 600, TTL: 24 * time.Hour}, "customers:read", "billing:read")
	ev := fixture(b, "request.json", tok)
	if _, err := e.authz.Handle(ctx, ev); err != nil { // warm the keyring and revocation caches
		b.Fatal(err)
	}
	if path := os.Getenv("KEYGATE_BENCH_EXPORT"); path != "" {
		exportToken(b, path, tok, key, e.clock.Now())
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
		p := jwt.NewParser(jwt.WithValidMethods([]string{signing.RS256}), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
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

	b.Run("handler-api-key-cache-hit", func(b *testing.B) {
		// An API key presented again within RevocationMaxAge: checksum, peppered HMAC, the
		// lookup answered by authorizer.KeyCache, constant-time compare, policy (memoised).
		key, _ := e.addKey(b, func(k *store.Key) { k.Scopes = []string{"customers:read", "billing:read"} })
		kev := fixture(b, "request.json", key)
		if _, err := e.authz.Handle(ctx, kev); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.authz.Handle(ctx, kev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handler-api-key-cache-miss", func(b *testing.B) {
		// Every request misses authorizer.KeyCache (entries live 1 ns, the clock moves 1 µs
		// per request) and reads the key store: in-memory here, one DynamoDB GetItem deployed.
		key, _ := e.addKey(b, func(k *store.Key) { k.Scopes = []string{"customers:read", "billing:read"} })
		kev := fixture(b, "request.json", key)
		miss := authorizer.NewKeyCache(e.keys, authorizer.CacheOptions{MaxAge: time.Nanosecond, Now: e.clock.Now})
		az := &authorizer.Authorizer{Keys: apikey.NewAuthenticator("kg_live", staticPepper{}, miss, e.clock.Now),
			Tokens: e.verify, Revoked: e.authz.Revoked, Usage: e.authz.Usage, Log: e.authz.Log, Now: e.clock.Now, Remember: maxAge}
		b.ReportAllocs()
		for b.Loop() {
			e.clock.Advance(time.Microsecond)
			if _, err := az.Handle(ctx, kev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handler-invalid-token", func(b *testing.B) {
		// A well-formed token whose signature does not verify: the full RSA verification, then
		// Unauthorized (never remembered by the authorizer; API Gateway caches the 401).
		bad := forge(b, tok)
		bev := fixture(b, "request.json", bad)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.authz.Handle(ctx, bev); !errors.Is(err, authorizer.ErrUnauthorized) {
				b.Fatalf("forged token: %v, want Unauthorized", err)
			}
		}
	})
}

// forge returns tok with one signature byte changed (same length, still base64url).
func forge(t testing.TB, tok string) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)/2] ^= 0x01
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// exportToken writes what an outside verifier needs to check tok at the benchmark's time.
func exportToken(t testing.TB, path, tok string, key *signing.Key, now time.Time) {
	t.Helper()
	out, err := json.Marshal(map[string]any{
		"token": tok, "issuer": issuer, "audience": audience, "now_unix_ms": now.UnixMilli(),
		"jwks": map[string]any{"keys": []signing.JWK{key.PublicJWK()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
