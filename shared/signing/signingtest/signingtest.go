// Package signingtest gives unit tests signing-key secrets without paying for key generation in
// every test: RSA-2048 generation costs tens of milliseconds, and a package's tests need the
// same key over and over.
package signingtest

import (
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/signing"
)

type spec struct {
	alg     string
	created int64
}

var (
	mu    sync.Mutex
	cache = map[spec][]byte{}
)

// Secret returns a signing-key secret (the format Secrets Manager holds) of alg, created at
// created, generated once per test binary for each (alg, created) pair.
func Secret(tb testing.TB, alg string, created time.Time) []byte {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	k := spec{alg, created.UnixNano()}
	if b, ok := cache[k]; ok {
		return b
	}
	b, err := signing.Generate(alg, rand.Reader, created)
	if err != nil {
		tb.Fatalf("generate a %s signing key: %v", alg, err)
	}
	cache[k] = b
	return b
}
