// Package memstore is an in-memory implementation of keygate's storage for unit tests. It obeys
// the same contract as store/dynamo (checked by store/storetest), including treating expired
// items as absent.
package memstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/keygate/keygate/shared/store"
)

// Keys stores API keys in memory. The zero value is not usable; use NewKeys.
type Keys struct {
	now func() time.Time

	mu     sync.Mutex
	byHash map[string]store.Key
	reads  int
}

// NewKeys returns an empty store using now as its clock.
func NewKeys(now func() time.Time) *Keys {
	return &Keys{now: now, byHash: map[string]store.Key{}}
}

// CreateKey stores k; a key with the same hash or key id is a conflict.
func (s *Keys) CreateKey(_ context.Context, k store.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byHash[k.Hash]; ok {
		return store.ErrConflict
	}
	for _, other := range s.byHash {
		if other.KeyID == k.KeyID {
			return store.ErrConflict
		}
	}
	s.byHash[k.Hash] = clone(k)
	return nil
}

// KeyByHash returns the key stored under hash, or store.ErrNotFound (also when expired).
func (s *Keys) KeyByHash(_ context.Context, hash string) (store.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	k, ok := s.byHash[hash]
	if !ok || k.Expired(s.now()) {
		return store.Key{}, store.ErrNotFound
	}
	return clone(k), nil
}

// Reads counts KeyByHash calls (tests assert "zero database reads").
func (s *Keys) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func clone(k store.Key) store.Key {
	k.Scopes = slices.Clone(k.Scopes)
	k.AllowedIPs = slices.Clone(k.AllowedIPs)
	return k
}
