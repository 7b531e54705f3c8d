package apikey_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/memstore"
)

// pepperSM answers GetSecretValue for one secret id with the pepper, or fails.
type pepperSM struct {
	id     string
	pepper []byte
	err    error
}

func (p pepperSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if p.err != nil {
		return nil, p.err
	}
	if aws.ToString(in.SecretId) != p.id {
		return nil, errors.New("unknown secret " + aws.ToString(in.SecretId))
	}
	return &secretsmanager.GetSecretValueOutput{SecretBinary: p.pepper, VersionId: aws.String("v1")}, nil
}

// planner records the keys put into and taken out of usage plans, or fails Ensure.
type planner struct {
	ensured, removed []string
	err              error
}

func (p *planner) Ensure(_ context.Context, k store.Key) error {
	if p.err != nil {
		return p.err
	}
	p.ensured = append(p.ensured, k.KeyID)
	return nil
}

func (p *planner) Remove(_ context.Context, keyID string) error {
	p.removed = append(p.removed, keyID)
	return nil
}

type staticPepper []byte

func (p staticPepper) Get(context.Context) ([]byte, error) { return p, nil }

// The first admin key of a stack (authctl bootstrap) and the local stack's demo keys are made by
// the one Bootstrap: hashed with the pepper the functions use, so the key authenticates, and
// stored with an audit event saying why; no pepper, no key.
func TestBootstrapStoresAKeyTheFunctionsAuthenticate(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pepper := []byte("0123456789abcdef0123456789abcdef")
	keys := memstore.NewKeys(func() time.Time { return now })
	spec := apikey.Spec{Name: "bootstrap admin", Scopes: []string{"admin:full"}, RateLimit: 1000, Tier: "startup"}
	plans := &planner{}

	plain, rec, err := apikey.Bootstrap(ctx, pepperSM{id: "pepper", pepper: pepper}, "pepper", "kg_test", keys, plans, spec, "authctl bootstrap", rand.Reader, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(plans.ensured) != 1 || plans.ensured[0] != rec.KeyID {
		t.Errorf("usage plans ensured for %v, want the new key %s", plans.ensured, rec.KeyID)
	}
	auth := apikey.NewAuthenticator("kg_test", staticPepper(pepper), keys, func() time.Time { return now })
	got, err := auth.Authenticate(ctx, plain, netip.MustParseAddr("203.0.113.7"))
	if err != nil || got.KeyID != rec.KeyID || got.Name != spec.Name {
		t.Fatalf("the bootstrapped key authenticates as %+v, %v; want %s", got, err, rec.KeyID)
	}
	page, err := keys.ListEvents(ctx, rec.KeyID, 10, "")
	if err != nil || len(page.Events) != 1 || page.Events[0].Action != "key.created" || page.Events[0].Detail != "authctl bootstrap" {
		t.Errorf("audit trail = %+v, %v; want one key.created saying why", page.Events, err)
	}

	_, _, err = apikey.Bootstrap(ctx, pepperSM{err: errors.New("unreachable")}, "pepper", "kg_test", keys, plans, spec, "x", rand.Reader, now)
	if err == nil {
		t.Fatal("Bootstrap without a pepper succeeded")
	}
	// A key that cannot get its usage plan is not stored (it would be refused by the gateway,
	// or worse, unmetered), and the half-made API key is removed.
	failing := &planner{err: errors.New("API Gateway down")}
	_, _, err = apikey.Bootstrap(ctx, pepperSM{id: "pepper", pepper: pepper}, "pepper", "kg_test", keys, failing, spec, "x", rand.Reader, now)
	if err == nil || len(failing.removed) != 1 {
		t.Fatalf("Bootstrap with its usage plan failing: %v, removed %v; want an error and the API key removed", err, failing.removed)
	}
	if all, err := keys.ListKeys(ctx, 10, ""); err != nil || len(all.Keys) != 1 || all.Keys[0].KeyID != rec.KeyID {
		t.Errorf("after a failed bootstrap the keys are %+v, %v; want only the first", all.Keys, err)
	}
}
