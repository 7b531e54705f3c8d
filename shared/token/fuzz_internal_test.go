package token

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	mrand "math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/signing"
)

// FuzzVerify lives in the package so that Issue can draw its token ids from a seeded source:
// fuzzing runs in several processes, and the property "accepted ⇒ produced by Issue" needs every
// process to issue the very same tokens. The signing key is the fixed test-only RSA key in
// testdata (RSASSA-PKCS1-v1_5 signatures are deterministic).

type fixedSecrets struct{ current []byte }

func (f fixedSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if aws.ToString(in.VersionStage) != secret.StageCurrent {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("not found")}
	}
	return &secretsmanager.GetSecretValueOutput{VersionId: aws.String("v1"), SecretString: aws.String(string(f.current))}, nil
}

var (
	fuzzOnce     sync.Once
	fuzzVerifier *Verifier
	fuzzIssued   map[string]bool
	fuzzSeeds    []string
)

func fuzzSetup(f *testing.F) {
	fuzzOnce.Do(func() {
		keyJSON, err := os.ReadFile("testdata/test-only-rsa-2048.json")
		if err != nil {
			f.Fatal(err)
		}
		now := func() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }
		ring := signing.New(fixedSecrets{current: keyJSON}, "fuzz", signing.Options{Now: now})
		iss := NewIssuer(ring, "https://auth.keygate.test", "https://api.keygate.test", now)
		iss.random = mrand.NewChaCha8([32]byte{'k', 'e', 'y', 'g', 'a', 't', 'e'})
		if fuzzVerifier, err = NewVerifier(ring, "https://auth.keygate.test", "https://api.keygate.test", DefaultLeeway, now); err != nil {
			f.Fatal(err)
		}
		fuzzIssued = map[string]bool{}
		for _, g := range []Grant{
			{KeyID: "key_ABCDEFGHIJKLMNOPQRST", Scopes: []string{"customers:read"}, TTL: time.Hour},
			{KeyID: "key_ABCDEFGHIJKLMNOPQRST", CustomerID: "cus_1", Scopes: []string{"admin:full"}, TTL: time.Hour},
			{KeyID: "key_00000000000000000000", Tier: "free", RateLimit: 10, TTL: time.Minute},
		} {
			raw, _, err := iss.Issue(context.Background(), g)
			if err != nil {
				f.Fatal(err)
			}
			fuzzIssued[raw] = true
			fuzzSeeds = append(fuzzSeeds, raw)
		}
		enc := base64.RawURLEncoding.EncodeToString
		var kid struct{ Kid string }
		_ = json.Unmarshal(keyJSON, &kid)
		parts := strings.Split(fuzzSeeds[0], ".")
		fuzzSeeds = append(fuzzSeeds,
			enc([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+kid.Kid+`"}`))+"."+parts[1]+".",
			enc([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"`+kid.Kid+`"}`))+"."+parts[1]+"."+parts[2],
			enc([]byte(`{"alg":"RS256","typ":"JWT","kid":"`+kid.Kid+`"}`))+"."+parts[1]+"."+parts[2],
			parts[0]+"."+enc([]byte(`{"scope":"admin:full","Scope":"x"}`))+"."+parts[2],
			"", ".", "..", "a.b.c", strings.Repeat(".", 100),
		)
	})
}

// FuzzVerify: Verify never panics, answers only ErrInvalid or ErrExpired while the keyring is
// healthy, and never accepts a token that Issue did not produce with the test key.
func FuzzVerify(f *testing.F) {
	fuzzSetup(f)
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := fuzzVerifier.Verify(context.Background(), raw)
		if err != nil {
			if c != nil {
				t.Fatalf("claims returned with error %v", err)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) {
				t.Fatalf("Verify = %v, want ErrInvalid or ErrExpired", err)
			}
			return
		}
		if !fuzzIssued[raw] {
			t.Fatalf("Verify accepted a token Issue never produced: %q (scope %q)", raw, c.Scope)
		}
	})
}

// The seeds above are only meaningful if Issue really is deterministic under a seeded source.
func TestSeededIssueIsDeterministic(t *testing.T) {
	keyJSON, err := os.ReadFile("testdata/test-only-rsa-2048.json")
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }
	issue := func() string {
		ring := signing.New(fixedSecrets{current: keyJSON}, "fuzz", signing.Options{Now: now})
		iss := NewIssuer(ring, "i", "a", now)
		iss.random = mrand.NewChaCha8([32]byte{1})
		raw, _, err := iss.Issue(context.Background(), Grant{KeyID: "key_x", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	if a, b := issue(), issue(); a != b {
		t.Errorf("two seeded issuers produced different tokens:\n%s\n%s", a, b)
	}
}
