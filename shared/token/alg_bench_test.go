package token_test

import (
	"testing"
	"time"

	"github.com/keygate/keygate/shared/signing"
	"github.com/keygate/keygate/shared/token"
)

// Signing and verifying cost per algorithm the template's SigningAlgorithm parameter offers,
// with a warm keyring (no Secrets Manager call inside the loop): the numbers behind choosing
// ES256 or EdDSA over the RS256 default.

func algEnvs(b *testing.B) map[string]*env {
	b.Helper()
	rsaS, _, ec, ed := secrets(b)
	return map[string]*env{signing.RS256: newEnv(b, rsaS, nil), signing.ES256: newEnv(b, ec, nil), signing.EdDSA: newEnv(b, ed, nil)}
}

var benchGrant = token.Grant{KeyID: "key_ABCDEFGHIJKLMNOPQRST", CustomerID: "cus_42",
	Scopes: []string{"customers:read", "billing:read"}, Tier: "pro", RateLimit: 600, TTL: time.Hour}

func BenchmarkIssueByAlg(b *testing.B) {
	envs := algEnvs(b)
	for _, alg := range []string{signing.RS256, signing.ES256, signing.EdDSA} {
		b.Run(alg, func(b *testing.B) {
			e := envs[alg]
			if _, _, err := e.issuer.Issue(ctx, benchGrant); err != nil { // warm the keyring
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := e.issuer.Issue(ctx, benchGrant); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyByAlg(b *testing.B) {
	envs := algEnvs(b)
	for _, alg := range []string{signing.RS256, signing.ES256, signing.EdDSA} {
		b.Run(alg, func(b *testing.B) {
			e := envs[alg]
			raw, _ := e.issue(b, benchGrant)
			if _, err := e.verifier.Verify(ctx, raw); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.verifier.Verify(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
