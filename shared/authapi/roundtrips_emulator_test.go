package authapi_test

import (
	"context"
	"crypto/rand"
	"maps"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/authapi"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/dynamo"
)

// tripDB is the DynamoDB client of the handlers' stores, every request recorded in tr by its
// operation name, as DynamoDB bills it.
type tripDB struct {
	db *dynamodb.Client
	tr *trips
}

var _ dynamo.TokensAPI = tripDB{}

func (d tripDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	defer d.tr.call("GetItem")()
	return d.db.GetItem(ctx, in, opts...)
}

func (d tripDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	defer d.tr.call("PutItem")()
	return d.db.PutItem(ctx, in, opts...)
}

func (d tripDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	defer d.tr.call("Query")()
	return d.db.Query(ctx, in, opts...)
}

func (d tripDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	defer d.tr.call("TransactWriteItems")()
	return d.db.TransactWriteItems(ctx, in, opts...)
}

func (d tripDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	defer d.tr.call("UpdateItem")()
	return d.db.UpdateItem(ctx, in, opts...)
}

// ddbCounting is one container's token and refresh handlers over the DynamoDB stores on the
// emulator, wired as the functions wire them, with every DynamoDB request recorded.
type ddbCounting struct {
	e    *env // the clock, the signing keys and the hasher
	keys *dynamo.Keys
	c    *counting
}

func newDDBCounting(t *testing.T) *ddbCounting {
	db := emulatortest.DynamoDB(t)
	keysTable, tokensTable := emulatortest.Table(t, db, "KeysTable"), emulatortest.Table(t, db, "TokensTable")
	e := newEnv(t)
	tr := newTrips()
	rec := tripDB{db: db, tr: tr}
	events := dynamo.NewEvents(rec, tokensTable, 0, e.clock.Now)
	keys := dynamo.NewKeys(rec, keysTable, e.clock.Now, events)
	tokens := dynamo.NewTokens(rec, tokensTable, keysTable, e.clock.Now, events)
	limiter := dynamo.NewLimiter(rec, tokensTable, e.clock.Now)
	auth := apikey.NewAuthenticator("kg_live", staticPepper{}, keys, e.clock.Now)
	c := &counting{e: e, tr: tr,
		th: &authapi.TokenHandler{Keys: auth, Issuer: e.issuer, Limiter: limiter, Tokens: tokens, Audit: events,
			Settings: e.tokenH.Settings, Now: e.clock.Now, Random: rand.Reader},
		rh: &authapi.RefreshHandler{Keys: auth, KeyByID: keys, Issuer: e.issuer, Limiter: limiter, Tokens: tokens, Audit: events,
			Settings: e.tokenH.Settings, Now: e.clock.Now},
	}
	raw, err := apikey.Generate("kg_live", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := apikey.NewKeyID(rand.Reader)
	k := store.Key{Hash: e.hasher.Hash(raw), KeyID: id, Name: "test", Scopes: []string{"customers:read"},
		RateLimit: 100, Tier: "pro", Status: store.StatusActive, CreatedAt: start, KeyGen: 1}
	if err := keys.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	k.Version = 1
	c.key, c.k = raw, k
	tr.take()
	return &ddbCounting{e: e, keys: keys, c: c}
}

// saveKey applies change to the key on the emulator as the admin API would (a new version).
func (d *ddbCounting) saveKey(t *testing.T, change func(*store.Key)) {
	t.Helper()
	k, err := d.keys.KeyByID(ctx, d.c.k.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	next := k
	change(&next)
	if err := d.keys.SaveKey(ctx, &k, next); err != nil {
		t.Fatal(err)
	}
}

// The round-trip budgets of issue 22 with the real SDK against the DynamoDB emulator: the calls
// are the handlers' real DynamoDB requests, counted by operation as DynamoDB bills them.
func TestRoundTripsPerRequestOnDynamoDB(t *testing.T) {
	tests := []struct {
		name      string
		request   func(t *testing.T, d *ddbCounting) response // prepares, resets the count, sends
		wantCode  int
		wantOps   map[string]int
		wantDepth int
	}{
		{
			name: "a token request with an API key the container has seen",
			request: func(t *testing.T, d *ddbCounting) response {
				d.c.login(t)
				d.c.tr.take()
				return d.c.token(t, d.c.key)
			},
			wantCode: 200, wantOps: map[string]int{"GetItem": 1, "UpdateItem": 1, "TransactWriteItems": 1}, wantDepth: 2,
		},
		{
			name:     "the first token request with an API key in a container",
			request:  func(t *testing.T, d *ddbCounting) response { return d.c.token(t, d.c.key) },
			wantCode: 200, wantOps: map[string]int{"GetItem": 1, "UpdateItem": 1, "TransactWriteItems": 1}, wantDepth: 3,
		},
		{
			name: "a refresh",
			request: func(t *testing.T, d *ddbCounting) response {
				rt := d.c.login(t)
				d.c.tr.take()
				return d.c.refresh(t, rt)
			},
			wantCode: 200, wantOps: map[string]int{"GetItem": 1, "UpdateItem": 1, "TransactWriteItems": 1}, wantDepth: 3,
		},
		{
			name: "a refresh after the key was edited",
			request: func(t *testing.T, d *ddbCounting) response {
				rt := d.c.login(t)
				d.saveKey(t, func(k *store.Key) { k.Tier = "enterprise" })
				d.c.tr.take()
				return d.c.refresh(t, rt)
			},
			wantCode: 200, wantOps: map[string]int{"GetItem": 2, "UpdateItem": 1, "TransactWriteItems": 2}, wantDepth: 5,
		},
		{
			name: "a refresh after the key was revoked",
			request: func(t *testing.T, d *ddbCounting) response {
				rt := d.c.login(t)
				d.saveKey(t, func(k *store.Key) { k.Status, k.KeyGen = store.StatusRevoked, k.KeyGen+1 })
				d.c.tr.take()
				return d.c.refresh(t, rt)
			},
			// The audit event of the refused attempt is the PutItem.
			wantCode: 400, wantOps: map[string]int{"GetItem": 2, "UpdateItem": 1, "TransactWriteItems": 1, "PutItem": 1}, wantDepth: 5,
		},
		{
			name: "a refresh of a revoked family's live token",
			request: func(t *testing.T, d *ddbCounting) response {
				rt := d.c.login(t)
				d.revokeFamilyOf(t, rt)
				d.c.tr.take()
				return d.c.refresh(t, rt)
			},
			// The rate limit, the refused transaction, the retirement of the token.
			wantCode: 400, wantOps: map[string]int{"GetItem": 1, "UpdateItem": 2, "TransactWriteItems": 1}, wantDepth: 4,
		},
		{
			name: "the retired token again",
			request: func(t *testing.T, d *ddbCounting) response {
				rt := d.c.login(t)
				d.revokeFamilyOf(t, rt)
				d.c.refresh(t, rt)
				d.c.tr.take()
				return d.c.refresh(t, rt)
			},
			wantCode: 400, wantOps: map[string]int{"GetItem": 1}, wantDepth: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDDBCounting(t)
			r := tt.request(t, d)
			ops, depth := d.c.tr.take()
			if r.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, tt.wantCode, r.Body)
			}
			if !maps.Equal(ops, tt.wantOps) || depth != tt.wantDepth {
				t.Errorf("DynamoDB requests %v in %d sequential round trips, want %v in %d", ops, depth, tt.wantOps, tt.wantDepth)
			}
		})
	}
}

// revokeFamilyOf revokes the family of the refresh token rt, as RFC 7009 revocation does.
func (d *ddbCounting) revokeFamilyOf(t *testing.T, rt string) {
	t.Helper()
	r := d.e.serve(t, (&authapi.RevokeHandler{Keys: d.c.th.Keys, Tokens: d.c.th.Tokens, Access: d.e.verifier,
		Settings: d.e.tokenH.Settings, Now: d.e.clock.Now}).Router().Serve, revokeRequest(d.c.key, rt))
	if r.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.Body)
	}
}
