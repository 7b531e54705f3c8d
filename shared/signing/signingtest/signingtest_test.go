package signingtest_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/signing"
	"github.com/keygate/keygate/shared/signing/signingtest"
)

func TestSecretIsGeneratedOncePerAlgorithmAndTime(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	a, b := signingtest.Secret(t, signing.EdDSA, at), signingtest.Secret(t, signing.EdDSA, at)
	if !bytes.Equal(a, b) {
		t.Fatal("the same (alg, created) gave two keys")
	}
	if other := signingtest.Secret(t, signing.EdDSA, at.Add(time.Second)); bytes.Equal(a, other) {
		t.Fatal("another created time gave the same key")
	}
	for _, alg := range []string{signing.RS256, signing.ES256, signing.EdDSA} {
		k, err := signing.Parse(signingtest.Secret(t, alg, at))
		if err != nil || k.Alg != alg {
			t.Fatalf("%s: parsed %+v, %v", alg, k, err)
		}
	}
}
