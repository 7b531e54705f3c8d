package authapi_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/authapi"
	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/signing"
)

var _ authapi.Publisher = (*signing.Keyring)(nil)

type fixed struct {
	keys []*signing.Key
	err  error
}

func (f fixed) Published(context.Context) ([]*signing.Key, error) { return f.keys, f.err }

func key(t *testing.T, alg string) *signing.Key {
	t.Helper()
	raw, err := signing.Generate(alg, rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTheJWKSListsEveryPublishedKeyInOrderAndIsCacheable(t *testing.T) {
	cur, prev, tested := key(t, signing.ES256), key(t, signing.EdDSA), key(t, signing.RS256)
	h := &authapi.JWKSHandler{Keys: fixed{keys: []*signing.Key{cur, prev, tested}}, MaxAge: 5 * time.Minute}
	resp, err := h.JWKS(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Headers["Cache-Control"]; got != "public, max-age=300" {
		t.Errorf("Cache-Control = %q", got)
	}
	var body struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Keys) != 3 {
		t.Fatalf("%d keys, want 3: %s", len(body.Keys), resp.Body)
	}
	for i, want := range []*signing.Key{cur, prev, tested} {
		if body.Keys[i]["kid"] != want.Kid || body.Keys[i]["alg"] != want.Alg || body.Keys[i]["use"] != "sig" {
			t.Errorf("key %d = %v, want kid %s alg %s", i, body.Keys[i], want.Kid, want.Alg)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := body.Keys[i][private]; ok {
				t.Errorf("key %d carries the private member %q", i, private)
			}
		}
	}
	if strings.Contains(string(resp.Body), "PRIVATE") {
		t.Errorf("the JWKS contains private key material")
	}
}

func TestAnUnavailableKeyringIsA503(t *testing.T) {
	h := &authapi.JWKSHandler{Keys: fixed{err: signing.ErrUnavailable}}
	_, err := h.JWKS(context.Background(), nil)
	var e *httpapi.Error
	if !errors.As(err, &e) || e.Status != 503 {
		t.Errorf("JWKS without keys = %v, want a 503 API error", err)
	}
}
