package token_test

import (
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/secret/secrettest"
	"github.com/keygate/keygate/shared/signing"

	"github.com/keygate/keygate/shared/token"
)

const (
	issuer   = "https://auth.keygate.test"
	audience = "https://api.keygate.test"
	secretID = "keygate/test/signing"
)

var ctx = context.Background()

// Keys are generated once per test binary: RSA generation dominates the package's run time.
var (
	keysOnce                                   sync.Once
	rsaSecret, rsaAttacker, ecSecret, edSecret []byte
)

func secrets(t testing.TB) (rsaS, attacker, ec, ed []byte) {
	t.Helper()
	keysOnce.Do(func() {
		gen := func(alg string) []byte {
			b, err := signing.Generate(alg, rand.Reader, time.Now())
			if err != nil {
				panic(err)
			}
			return b
		}
		rsaSecret, rsaAttacker, ecSecret, edSecret = gen(signing.RS256), gen(signing.RS256), gen(signing.ES256), gen(signing.EdDSA)
	})
	return rsaSecret, rsaAttacker, ecSecret, edSecret
}

func parseKey(t testing.TB, s []byte) *signing.Key {
	t.Helper()
	k, err := signing.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// env is a real keyring over a fake Secrets Manager plus a real Issuer and Verifier.
type env struct {
	sm       *secrettest.SecretsManager
	clock    *clocktest.Clock
	ring     *signing.Keyring
	issuer   *token.Issuer
	verifier *token.Verifier
	cur      *signing.Key
	prev     *signing.Key // may be nil
}

// newEnv builds an environment whose AWSCURRENT is current and AWSPREVIOUS previous (nil: none).
func newEnv(t testing.TB, current, previous []byte) *env {
	t.Helper()
	e := &env{
		sm:    secrettest.New(secretID),
		clock: clocktest.New(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)),
		cur:   parseKey(t, current),
	}
	e.sm.Set(secret.StageCurrent, current)
	if previous != nil {
		e.sm.Set(secret.StagePrevious, previous)
		e.prev = parseKey(t, previous)
	}
	e.ring = signing.New(e.sm, secretID, signing.Options{RefreshEvery: 5 * time.Minute, MaxStale: time.Hour, Now: e.clock.Now})
	e.issuer = token.NewIssuer(e.ring, issuer, audience, e.clock.Now)
	v, err := token.NewVerifier(e.ring, issuer, audience, token.DefaultLeeway, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	e.verifier = v
	return e
}

// defaultEnv: RS256 current, ES256 previous (so both key types are live verification keys).
func defaultEnv(t testing.TB) *env {
	t.Helper()
	rsaS, _, ec, _ := secrets(t)
	return newEnv(t, rsaS, ec)
}

func (e *env) issue(t testing.TB, g token.Grant) (string, *token.Claims) {
	t.Helper()
	if g.TTL == 0 {
		g.TTL = time.Hour
	}
	if g.KeyID == "" {
		g.KeyID = "key_ABCDEFGHIJKLMNOPQRST"
	}
	raw, c, err := e.issuer.Issue(ctx, g)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return raw, c
}

var b64 = base64.RawURLEncoding.EncodeToString

// craft builds a compact JWS from raw header and payload JSON, signed with alg and key (alg ""
// means an empty signature). Raw JSON lets tests express duplicate members and odd types.
func craft(t testing.TB, header, payload, alg string, key any) string {
	t.Helper()
	si := b64([]byte(header)) + "." + b64([]byte(payload))
	if alg == "" {
		return si + "."
	}
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		t.Fatalf("no signing method %q", alg)
	}
	sig, err := m.Sign(si, key)
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	if alg == "ES256" && !isLowS(sig) {
		sig = ecdsaTwin(sig) // as Issue signs: the verifier accepts only low-S
	}
	return si + "." + b64(sig)
}

// ecdsaTwin returns the other valid spelling (r, n−s) of an ES256 signature r||s.
func ecdsaTwin(sig []byte) []byte {
	n := elliptic.P256().Params().N
	s := new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:]))
	return append(append([]byte{}, sig[:32]...), s.FillBytes(make([]byte, 32))...)
}

// isLowS reports whether the ES256 signature r||s has s ≤ n/2.
func isLowS(sig []byte) bool {
	half := new(big.Int).Rsh(elliptic.P256().Params().N, 1)
	return new(big.Int).SetBytes(sig[32:]).Cmp(half) <= 0
}

func header(alg, kid, typ string) string {
	return mustJSON(map[string]any{"alg": alg, "kid": kid, "typ": typ})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// claims returns a valid claim set at now; override changes or (with nil values) removes members.
func claims(now time.Time, override map[string]any) string {
	c := map[string]any{
		"iss":     issuer,
		"aud":     []string{audience},
		"sub":     "cus_42",
		"exp":     now.Add(time.Hour).Unix(),
		"nbf":     now.Unix(),
		"iat":     now.Unix(),
		"jti":     "jti-crafted",
		"scope":   "customers:read",
		"key_id":  "key_ABCDEFGHIJKLMNOPQRST",
		"key_gen": 1,
	}
	for k, v := range override {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return mustJSON(c)
}

// rawClaims is claims with extra raw JSON members appended (for duplicates and odd types).
func rawClaims(now time.Time, override map[string]any, extra string) string {
	c := claims(now, override)
	if extra == "" {
		return c
	}
	if c == "{}" {
		return "{" + extra + "}"
	}
	return strings.TrimSuffix(c, "}") + "," + extra + "}"
}

// segments decodes the three parts of a compact JWS.
func segments(t testing.TB, raw string) (hdr, payload map[string]any, sig []byte) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("segment is not base64url: %v", err)
		}
		return b
	}
	if err := json.Unmarshal(dec(parts[0]), &hdr); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(dec(parts[1]), &payload); err != nil {
		t.Fatal(err)
	}
	return hdr, payload, dec(parts[2])
}
