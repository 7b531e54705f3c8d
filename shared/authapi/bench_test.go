package authapi_test

import (
	"crypto/rand"
	"math"
	"testing"

	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/signing"
	"github.com/keygate/keygate/shared/store"
)

// BenchmarkTokenWarm measures the token endpoint's warm path in process: the Lambda adapter,
// body decoding, key parse + checksum + HMAC, the (in-memory) key lookup, rate limit and token
// store, refresh-token minting and the JWT signature, per signing algorithm. Storage round trips
// are what a deployed request adds on top (≈3 DynamoDB calls, see the e2e round-trip test).
func BenchmarkTokenWarm(b *testing.B) {
	for _, alg := range []string{signing.RS256, signing.ES256, signing.EdDSA} {
		b.Run(alg, func(b *testing.B) {
			e := newEnv(b)
			sk, err := signing.Generate(alg, rand.Reader, start)
			if err != nil {
				b.Fatal(err)
			}
			e.sm.Set(secret.StageCurrent, sk)
			// The limiter counts like the real one: a budget no run can spend, since this
			// measures issuing, not refusals.
			key, _ := e.addKey(b, func(k *store.Key) { k.RateLimit = math.MaxInt32 })
			ev := tokenRequest(jsonBody(map[string]any{"api_key": key, "scopes": []string{"customers:read"}}), nil)
			h := httpapi.Lambda(e.log, e.tokenH.Router().Serve)
			if resp, err := h(ctx, ev); err != nil || resp.StatusCode != 200 {
				b.Fatalf("warm-up: %v %d %s", err, resp.StatusCode, resp.Body)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				resp, err := h(ctx, ev)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("%v %d", err, resp.StatusCode)
				}
			}
		})
	}
}
