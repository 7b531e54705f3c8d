package authorizer_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/authorizer"
	"github.com/keygate/keygate/shared/policy"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

// The fuzz target isolates the authorizer's own logic: its credential checkers accept exactly
// one constant API key and one constant token (so every fuzz process agrees on what is valid),
// and record whether they accepted anything. Token parsing itself is fuzzed by token.FuzzVerify.
const (
	fuzzKey   = "kg_live_FUZZfuzzFUZZfuzzFUZZfuzzFUZZfuzz0000_AAAAAA"
	fuzzToken = "eyJhbGciOiJFZERTQSJ9.eyJzY29wZSI6ImN1c3RvbWVyczpyZWFkIn0.c2ln"
)

type oracleKeys struct{ accepted *atomic.Bool }

func (o oracleKeys) Authenticate(_ context.Context, raw string, _ netip.Addr) (store.Key, error) {
	if raw != fuzzKey {
		return store.Key{}, apikey.ErrInvalid
	}
	o.accepted.Store(true)
	return store.Key{KeyID: "key_fuzz", Scopes: []string{"customers:read", "billing:write"}, Status: store.StatusActive, RateLimit: 5}, nil
}

type oracleTokens struct{ accepted *atomic.Bool }

func (o oracleTokens) Verify(_ context.Context, raw string) (*token.Claims, error) {
	if raw != fuzzToken {
		return nil, token.ErrInvalid
	}
	o.accepted.Store(true)
	return &token.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "cus_fuzz", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Scope: "customers:read", KeyID: "key_fuzz"}, nil
}

// errBadARN is the error expected when ev's methodArn is unusable (nil when it is fine).
func errBadARN(ev events.APIGatewayCustomAuthorizerRequestTypeRequest) error {
	if _, err := policy.StageARN(ev.MethodArn); err != nil {
		return policy.ErrBadMethodARN
	}
	return errNever
}

var errNever = errors.New("never returned")

type notRevoked struct{}

func (notRevoked) Token(context.Context, string, int64, string, string) error { return nil }

// FuzzHandle: an event JSON in; Handle never panics, never returns a policy together with an
// error, and never returns an Allow unless a credential checker accepted the credential.
func FuzzHandle(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add([]byte(strings.ReplaceAll(string(b), "CREDENTIAL", fuzzKey)))
		f.Add([]byte(strings.ReplaceAll(string(b), "CREDENTIAL", fuzzToken)))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"methodArn":"arn:aws:execute-api:r:1:a/s/GET/x","headers":{"authorization":"bearer ` + fuzzKey + `"}}`))
	f.Add([]byte(`{"methodArn":"arn:aws:execute-api:r:1:a/s/GET/x","headers":{"Authorization":"Bearer ` + fuzzKey + ` "}}`))

	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, event []byte) {
		var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
		if json.Unmarshal(event, &ev) != nil {
			return
		}
		var accepted atomic.Bool
		a := &authorizer.Authorizer{Keys: oracleKeys{&accepted}, Tokens: oracleTokens{&accepted}, Revoked: notRevoked{}, Usage: fixedUsage{}, Log: log}
		resp, err := a.Handle(context.Background(), ev)
		allows := false
		for _, st := range resp.PolicyDocument.Statement {
			if st.Effect == "Allow" {
				allows = true
			}
		}
		if err != nil && (len(resp.PolicyDocument.Statement) > 0 || resp.PrincipalID != "" || resp.Context != nil) {
			t.Fatalf("a policy together with error %v: %+v", err, resp)
		}
		if allows && !accepted.Load() {
			t.Fatalf("Allow without an accepted credential: %+v", resp)
		}
		if err == nil && !accepted.Load() {
			t.Fatalf("no error although no credential was accepted: %+v", resp)
		}
		if err != nil && accepted.Load() {
			// The methodArn is checked before the credential, so an accepted one must succeed.
			t.Fatalf("an accepted credential ended in error %v", err)
		}
		if err != nil && !accepted.Load() && err.Error() != "Unauthorized" && !errors.Is(err, errBadARN(ev)) {
			t.Fatalf("a refused credential ended in %v, want exactly Unauthorized", err)
		}
		if b, _ := json.Marshal(resp); strings.Contains(string(b), fuzzKey) || strings.Contains(string(b), fuzzToken) {
			t.Fatalf("the response carries the credential")
		}
	})
}

// fixedUsage names every key's usage-plan bucket the same.
type fixedUsage struct{}

func (fixedUsage) UsageIdentifier(context.Context, string) (string, error) {
	return "0123456789abcdef0123", nil
}
