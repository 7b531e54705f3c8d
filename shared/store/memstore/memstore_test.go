package memstore_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/memstore"
	"github.com/keygate/keygate/shared/store/storetest"
)

var _ storetest.Store = (*memstore.Keys)(nil)

func TestMemstoreConformsToTheStoreContract(t *testing.T) {
	storetest.Run(t, func(_ *testing.T, now func() time.Time) storetest.Store {
		return memstore.NewKeys(now)
	})
}

func TestReadsCountsKeyLookups(t *testing.T) {
	s := memstore.NewKeys(func() time.Time { return storetest.Start })
	ctx := context.Background()
	if s.Reads() != 0 {
		t.Fatalf("Reads = %d on a new store", s.Reads())
	}
	k := store.Key{Hash: rand.Text(), KeyID: "key_1", Status: store.StatusActive}
	if err := s.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if s.Reads() != 0 {
		t.Errorf("CreateKey counted as a read")
	}
	_, _ = s.KeyByHash(ctx, k.Hash)
	_, _ = s.KeyByHash(ctx, "unknown")
	_, _ = s.KeyByID(ctx, "key_1")
	if s.Reads() != 3 {
		t.Errorf("Reads = %d, want 3", s.Reads())
	}
}

var _ storetest.TokenStore = (*memstore.Tokens)(nil)

func TestMemstoreTokensConformToTheTokenStoreContract(t *testing.T) {
	storetest.RunTokens(t, func(_ *testing.T, now func() time.Time) storetest.TokenStores {
		keys := memstore.NewKeys(now)
		return storetest.TokenStores{Tokens: memstore.NewTokens(now, keys), Keys: keys}
	})
}

var _ storetest.Limiter = (*memstore.Limiter)(nil)

func TestMemstoreLimiterConformsToTheLimiterContract(t *testing.T) {
	storetest.RunLimiter(t, func(_ *testing.T, now func() time.Time) storetest.LimiterStore {
		l := memstore.NewLimiter(now)
		return storetest.LimiterStore{Limiter: l, Count: func(_ context.Context, keyID string, start time.Time) (int, bool, error) {
			n, ok := l.Count(keyID, start)
			return n, ok, nil
		}}
	})
}
