// Package memstore is an in-memory implementation of keygate's storage for unit tests. It obeys
// the same contract as store/dynamo (checked by store/storetest): versioned atomic saves,
// lookups by current or in-grace previous hash, expired items treated as absent, newest-first
// listings with opaque cursors; for tokens (Tokens), conditional all-or-nothing writes,
// single-use rotation and per-key deny-lists; for rate limits (Limiter), per-key windows with
// exactly the limit allowed. It must never be used by production code.
package memstore

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/shared/store"
)

// Keys stores API keys and their audit events in memory. Use NewKeys.
type Keys struct {
	now func() time.Time

	mu     sync.Mutex
	byID   map[string]store.Key
	byHash map[string]string // hash → key id (current and previous hashes)
	events map[string][]store.Event
	reads  int
}

// NewKeys returns an empty store using now as its clock.
func NewKeys(now func() time.Time) *Keys {
	return &Keys{now: now, byID: map[string]store.Key{}, byHash: map[string]string{}, events: map[string][]store.Event{}}
}

// CreateKey stores a new key; an existing id or hash is store.ErrConflict.
func (s *Keys) CreateKey(ctx context.Context, k store.Key, audit ...store.Event) error {
	return s.SaveKey(ctx, nil, k, audit...)
}

// SaveKey replaces prev (nil: create) with next if the stored version is still prev's.
func (s *Keys) SaveKey(_ context.Context, prev *store.Key, next store.Key, audit ...store.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, exists := s.byID[next.KeyID]
	switch {
	case prev == nil && exists:
		return store.ErrConflict
	case prev != nil && (!exists || cur.Version != prev.Version):
		return store.ErrConflict
	}
	if owner, ok := s.byHash[next.Hash]; ok && owner != next.KeyID {
		return store.ErrConflict
	}
	if prev != nil {
		delete(s.byHash, prev.Hash)
		delete(s.byHash, prev.PreviousHash)
		next.Version = prev.Version + 1
	} else {
		next.Version = 1
	}
	s.byHash[next.Hash] = next.KeyID
	if next.PreviousHash != "" && !next.GraceUntil.IsZero() {
		s.byHash[next.PreviousHash] = next.KeyID
	}
	s.byID[next.KeyID] = clone(next)
	for _, e := range audit {
		s.appendEvent(e)
	}
	return nil
}

// KeyByHash returns the key whose current (or in-grace previous) hash is hash.
func (s *Keys) KeyByHash(_ context.Context, hash string) (store.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	id, ok := s.byHash[hash]
	if !ok {
		return store.Key{}, store.ErrNotFound
	}
	k := s.byID[id]
	now := s.now()
	if k.Expired(now) {
		return store.Key{}, store.ErrNotFound
	}
	if k.Hash != hash {
		if k.PreviousHash != hash || !k.InGrace(now) {
			return store.Key{}, store.ErrNotFound
		}
		k.Hash, k.KeyGen = hash, k.KeyGen-1
	}
	return clone(k), nil
}

// KeyByID returns the key with id, revoked or not; expired keys are store.ErrNotFound.
func (s *Keys) KeyByID(_ context.Context, id string) (store.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	k, ok := s.byID[id]
	if !ok || k.Expired(s.now()) {
		return store.Key{}, store.ErrNotFound
	}
	return clone(k), nil
}

// ListKeys lists keys newest first. The cursor names the last key of the previous page
// (created_at and id, like DynamoDB's LastEvaluatedKey), so keys created meanwhile never show
// up twice.
func (s *Keys) ListKeys(_ context.Context, limit int, cursor string) (store.Page, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]store.Key, 0, len(s.byID))
	for _, k := range s.byID {
		if !k.Expired(s.now()) {
			all = append(all, clone(k))
		}
	}
	sortKey := func(k store.Key) string { return fmt.Sprintf("%020d#%s", k.CreatedAt.Unix(), k.KeyID) }
	sort.Slice(all, func(i, j int) bool { return sortKey(all[i]) > sortKey(all[j]) })
	after, err := decodeCursor(cursor, "k")
	if err != nil {
		return store.Page{}, err
	}
	var page store.Page
	for _, k := range all {
		if after != "" && sortKey(k) >= after {
			continue
		}
		if len(page.Keys) == limit {
			page.Next = encodeCursor("k", sortKey(page.Keys[len(page.Keys)-1]))
			break
		}
		page.Keys = append(page.Keys, k)
	}
	return page, nil
}

// ListEvents lists keyID's audit events newest first; a cursor is valid for that key only.
func (s *Keys) ListEvents(_ context.Context, keyID string, limit int, cursor string) (store.EventPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	scope := "e:" + keyID
	after, err := decodeCursor(cursor, scope)
	if err != nil {
		return store.EventPage{}, err
	}
	evs := s.events[keyID]
	sortKey := func(i int) string { return fmt.Sprintf("%020d#%s#%08d", evs[i].Time.UnixNano(), evs[i].RequestID, i) }
	idx := make([]int, len(evs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return sortKey(idx[a]) > sortKey(idx[b]) })
	var page store.EventPage
	last := ""
	for _, i := range idx {
		if after != "" && sortKey(i) >= after {
			continue
		}
		if len(page.Events) == limit {
			page.Next = encodeCursor(scope, last)
			break
		}
		page.Events = append(page.Events, evs[i])
		last = sortKey(i)
	}
	return page, nil
}

func encodeCursor(scope, pos string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(scope + "|" + pos))
}

// decodeCursor returns the position in cursor, which must belong to scope.
func decodeCursor(cursor, scope string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", store.ErrBadCursor
	}
	got, pos, ok := strings.Cut(string(b), "|")
	if !ok || got != scope || pos == "" {
		return "", store.ErrBadCursor
	}
	return pos, nil
}

// Reads counts key reads (tests assert "zero database reads").
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

// AppendEvent records e.
func (s *Keys) AppendEvent(_ context.Context, e store.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendEvent(e)
	return nil
}

// appendEvent records e, stamped with the store's clock if it has no time. s.mu must be held.
func (s *Keys) appendEvent(e store.Event) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	s.events[e.KeyID] = append(s.events[e.KeyID], e)
}

// atVersion reports whether the key keyID is stored at version: the condition a rotation checks
// on the key its child's snapshot names. An expired key still counts, as its DynamoDB item does
// until TTL deletion; the caller checks expiry.
func (s *Keys) atVersion(keyID string, version int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.byID[keyID]
	return ok && k.Version == version
}

// record is the key store's part of a token write (Tokens): the key's last use, if touch is
// set, and the audit events.
//
// The touch is best effort, like the DynamoDB store's conditional update of the key's head and
// lookup items, which the write drops when either is gone: it is recorded only if the key still
// exists and t.Hash still leads to it (its current secret, or its previous one until the next
// save). It changes no version, so it never makes a concurrent save of the key conflict. (On
// DynamoDB a touch by the previous secret updates that secret's lookup item and the head, not
// the current secret's lookup item; here the key is one record.)
func (s *Keys) record(touch *store.Touch, audit []store.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if touch != nil {
		if k, ok := s.byID[touch.KeyID]; ok && s.byHash[touch.Hash] == touch.KeyID {
			k.LastUsedAt = seconds(touch.At)
			s.byID[touch.KeyID] = k
		}
	}
	for _, e := range audit {
		s.appendEvent(e)
	}
}
