// Package storetest is the conformance suite of keygate's storage: the same cases run against
// store/memstore (unit tests) and store/dynamo (against the DynamoDB emulator, moto), so the fast
// in-memory stores can stand in for DynamoDB in every other package's tests. Run covers key
// stores, RunTokens token stores, RunLimiter rate limiters.
//
// A store passes only if it behaves exactly like the others on every shared method: creation and
// conflicts, optimistic versioning, expiry checked on read (not left to DynamoDB's TTL), the
// previous hash during a rotation's grace period, newest-first listings with opaque cursors, and
// the audit trail; for tokens, conditional writes, single-use rotation under concurrency (with
// the family and the key's version checked in the same write), family revocation and per-key
// deny-lists with their read limit; for rate limiters, exactly the limit
// per key and window under concurrency, one first refusal per window. It must never be imported by
// production code.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/store"
)

// Store is what every key store implements (the methods memstore.Keys and dynamo.Keys share).
type Store interface {
	CreateKey(ctx context.Context, k store.Key, audit ...store.Event) error
	SaveKey(ctx context.Context, prev *store.Key, next store.Key, audit ...store.Event) error
	KeyByHash(ctx context.Context, hash string) (store.Key, error)
	KeyByID(ctx context.Context, id string) (store.Key, error)
	ListKeys(ctx context.Context, limit int, cursor string) (store.Page, error)
	AppendEvent(ctx context.Context, e store.Event) error
	ListEvents(ctx context.Context, keyID string, limit int, cursor string) (store.EventPage, error)
}

// Start is where every case's clock starts. Times in the suite are whole seconds in UTC: the
// DynamoDB store keeps Unix seconds, and a store is not expected to keep more.
var Start = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type harness struct {
	t     *testing.T
	ctx   context.Context
	clock *clocktest.Clock
	s     Store
}

// Run runs every case as a subtest, each on a fresh store from newStore.
func Run(t *testing.T, newStore func(t *testing.T, now func() time.Time) Store) {
	cases := []struct {
		name string
		fn   func(h *harness)
	}{
		{"a created key reads back with every field by hash and by id", createdKeyReadsBack},
		{"nil and empty slices read back as empty", emptySlicesReadBackEmpty},
		{"a duplicate hash is a conflict and changes nothing", duplicateHashConflicts},
		{"a duplicate key id is a conflict and changes nothing", duplicateKeyIDConflicts},
		{"an unknown hash or id is not found", unknownIsNotFound},
		{"an expired key is not found although its item still exists", expiredIsNotFound},
		{"a revoked key is still returned; status is the caller's business", revokedIsReturned},
		{"returned keys are copies", returnedKeysAreCopies},
		{"SaveKey with the stored version replaces the key and bumps the version", saveBumpsVersion},
		{"SaveKey with a stale version is a conflict and changes nothing", saveStaleConflicts},
		{"SaveKey of a key that does not exist is a conflict", saveMissingConflicts},
		{"SaveKey cannot take another key's hash", saveCannotStealHash},
		{"a rotated key's previous hash works only during its grace period", rotationGrace},
		{"a rotation without grace drops the previous hash at once", rotationWithoutGrace},
		{"ListKeys lists newest first across pages and skips expired keys", listNewestFirst},
		{"ListKeys pages stay consistent when a key is created between pages", listStableAcrossWrites},
		{"a cursor the store did not produce is ErrBadCursor", badCursors},
		{"audit events are listed newest first per key across pages", eventsNewestFirst},
		{"audit events written with a key are listed with it", eventsWithWrites},
		{"an event cursor of another key is refused", eventCursorOfAnotherKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := clocktest.New(Start)
			h := &harness{t: t, ctx: context.Background(), clock: clock, s: newStore(t, clock.Now)}
			c.fn(h)
		})
	}
}

func random(prefix string) string {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// newKey returns a key with every field set (hash and id random).
func (h *harness) newKey() store.Key {
	now := h.clock.Now()
	return store.Key{
		Hash: random("h"), KeyID: "key_" + random("")[:20], Name: "ci deploy key", OwnerID: "team-42",
		Scopes: []string{"customers:read", "billing:write"}, AllowedIPs: []string{"203.0.113.0/24", "2001:db8::/32"},
		RateLimit: 600, Tier: "pro", Status: store.StatusActive,
		CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Minute), ExpiresAt: now.Add(30 * 24 * time.Hour),
		KeyGen: 3, LastUsedAt: now.Add(-2 * time.Minute),
	}
}

func (h *harness) create(k store.Key, audit ...store.Event) store.Key {
	h.t.Helper()
	if err := h.s.CreateKey(h.ctx, k, audit...); err != nil {
		h.t.Fatalf("CreateKey: %v", err)
	}
	k.Version = 1
	return k
}

func (h *harness) byHash(hash string) (store.Key, error) { return h.s.KeyByHash(h.ctx, hash) }
func (h *harness) byID(id string) (store.Key, error)     { return h.s.KeyByID(h.ctx, id) }

func (h *harness) mustByHash(hash string) store.Key {
	h.t.Helper()
	k, err := h.byHash(hash)
	if err != nil {
		h.t.Fatalf("KeyByHash: %v", err)
	}
	return k
}

func (h *harness) mustByID(id string) store.Key {
	h.t.Helper()
	k, err := h.byID(id)
	if err != nil {
		h.t.Fatalf("KeyByID: %v", err)
	}
	return k
}

func (h *harness) notFound(what string, err error) {
	h.t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("%s: error = %v, want store.ErrNotFound", what, err)
	}
}

// equal compares keys field by field; nil and empty slices are equal, times by instant.
func (h *harness) equal(what string, got, want store.Key) {
	h.t.Helper()
	diffs := diff(got, want)
	for _, d := range diffs {
		h.t.Errorf("%s: %s", what, d)
	}
}

func diff(got, want store.Key) []string {
	var out []string
	str := func(name, g, w string) {
		if g != w {
			out = append(out, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	num := func(name string, g, w int64) {
		if g != w {
			out = append(out, fmt.Sprintf("%s = %d, want %d", name, g, w))
		}
	}
	tm := func(name string, g, w time.Time) {
		if !g.Equal(w) {
			out = append(out, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	list := func(name string, g, w []string) {
		if !slices.Equal(g, w) && (len(g) != 0 || len(w) != 0) {
			out = append(out, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	str("Hash", got.Hash, want.Hash)
	str("KeyID", got.KeyID, want.KeyID)
	str("Name", got.Name, want.Name)
	str("OwnerID", got.OwnerID, want.OwnerID)
	list("Scopes", got.Scopes, want.Scopes)
	list("AllowedIPs", got.AllowedIPs, want.AllowedIPs)
	num("RateLimit", int64(got.RateLimit), int64(want.RateLimit))
	str("Tier", got.Tier, want.Tier)
	str("Status", got.Status, want.Status)
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	tm("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	tm("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	num("KeyGen", got.KeyGen, want.KeyGen)
	tm("LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	str("PreviousHash", got.PreviousHash, want.PreviousHash)
	tm("GraceUntil", got.GraceUntil, want.GraceUntil)
	num("Version", got.Version, want.Version)
	return out
}

func createdKeyReadsBack(h *harness) {
	k := h.create(h.newKey())
	h.equal("KeyByHash", h.mustByHash(k.Hash), k)
	h.equal("KeyByID", h.mustByID(k.KeyID), k)

	minimal := store.Key{Hash: random("h"), KeyID: "key_" + random("")[:20], Status: store.StatusActive, CreatedAt: Start}
	minimal = h.create(minimal)
	h.equal("a minimal key by hash", h.mustByHash(minimal.Hash), minimal)
	if got := h.mustByID(minimal.KeyID); !got.ExpiresAt.IsZero() || !got.LastUsedAt.IsZero() || !got.GraceUntil.IsZero() || !got.UpdatedAt.IsZero() {
		h.t.Errorf("zero times did not read back as zero: %+v", got)
	}
}

func emptySlicesReadBackEmpty(h *harness) {
	for name, scopes := range map[string][]string{"nil": nil, "empty": {}} {
		k := h.newKey()
		k.Scopes, k.AllowedIPs = scopes, scopes
		k = h.create(k)
		for _, got := range []store.Key{h.mustByHash(k.Hash), h.mustByID(k.KeyID)} {
			if len(got.Scopes) != 0 || len(got.AllowedIPs) != 0 {
				h.t.Errorf("%s slices read back as %q and %q", name, got.Scopes, got.AllowedIPs)
			}
		}
	}
}

func duplicateHashConflicts(h *harness) {
	a := h.create(h.newKey())
	b := h.newKey()
	b.Hash = a.Hash
	if err := h.s.CreateKey(h.ctx, b); !errors.Is(err, store.ErrConflict) {
		h.t.Fatalf("CreateKey with an existing hash = %v, want store.ErrConflict", err)
	}
	h.equal("the first key", h.mustByHash(a.Hash), a)
	_, err := h.byID(b.KeyID)
	h.notFound("the refused key by id", err)
}

func duplicateKeyIDConflicts(h *harness) {
	a := h.create(h.newKey())
	b := h.newKey()
	b.KeyID = a.KeyID
	if err := h.s.CreateKey(h.ctx, b); !errors.Is(err, store.ErrConflict) {
		h.t.Fatalf("CreateKey with an existing key id = %v, want store.ErrConflict", err)
	}
	h.equal("the first key", h.mustByID(a.KeyID), a)
	_, err := h.byHash(b.Hash)
	h.notFound("the refused key's hash", err)
}

func unknownIsNotFound(h *harness) {
	h.create(h.newKey())
	_, err := h.byHash(random("h"))
	h.notFound("KeyByHash(unknown)", err)
	_, err = h.byID("key_" + random("")[:20])
	h.notFound("KeyByID(unknown)", err)
	_, err = h.byHash("")
	h.notFound("KeyByHash(\"\")", err)
}

func expiredIsNotFound(h *harness) {
	k := h.newKey()
	k.ExpiresAt = h.clock.Now().Add(time.Hour)
	k = h.create(k)
	h.clock.Advance(time.Hour - time.Second)
	h.mustByHash(k.Hash)
	h.mustByID(k.KeyID)
	h.clock.Advance(time.Second) // exactly at ExpiresAt
	_, err := h.byHash(k.Hash)
	h.notFound("KeyByHash at ExpiresAt", err)
	_, err = h.byID(k.KeyID)
	h.notFound("KeyByID at ExpiresAt", err)
	h.clock.Advance(24 * time.Hour)
	_, err = h.byHash(k.Hash)
	h.notFound("KeyByHash a day later", err)

	// The item is still there: its hash and id stay taken.
	again := h.newKey()
	again.Hash = k.Hash
	if err := h.s.CreateKey(h.ctx, again); !errors.Is(err, store.ErrConflict) {
		h.t.Errorf("CreateKey over an expired key's hash = %v, want store.ErrConflict", err)
	}
}

func revokedIsReturned(h *harness) {
	k := h.newKey()
	k.Status = store.StatusRevoked
	k = h.create(k)
	h.equal("KeyByHash", h.mustByHash(k.Hash), k)
	h.equal("KeyByID", h.mustByID(k.KeyID), k)
}

func returnedKeysAreCopies(h *harness) {
	k := h.create(h.newKey())
	got := h.mustByHash(k.Hash)
	got.Scopes[0] = "admin:full"
	got.AllowedIPs[0] = "0.0.0.0/0"
	h.equal("after mutating a returned key", h.mustByHash(k.Hash), k)
	h.equal("after mutating a returned key (by id)", h.mustByID(k.KeyID), k)
}

func saveBumpsVersion(h *harness) {
	k := h.create(h.newKey())
	next := k
	next.Name, next.Scopes, next.RateLimit, next.UpdatedAt = "renamed", []string{"webhooks:read"}, 5, h.clock.Now()
	if err := h.s.SaveKey(h.ctx, &k, next); err != nil {
		h.t.Fatalf("SaveKey: %v", err)
	}
	next.Version = 2
	h.equal("KeyByID after SaveKey", h.mustByID(k.KeyID), next)
	h.equal("KeyByHash after SaveKey", h.mustByHash(k.Hash), next)

	third := next
	third.Status = store.StatusRevoked
	if err := h.s.SaveKey(h.ctx, &next, third); err != nil {
		h.t.Fatalf("second SaveKey: %v", err)
	}
	third.Version = 3
	h.equal("KeyByID after the second SaveKey", h.mustByID(k.KeyID), third)
}

func saveStaleConflicts(h *harness) {
	k := h.create(h.newKey())
	a, b := k, k
	a.Name, b.Name = "first writer", "second writer"
	if err := h.s.SaveKey(h.ctx, &k, a); err != nil {
		h.t.Fatalf("SaveKey: %v", err)
	}
	if err := h.s.SaveKey(h.ctx, &k, b); !errors.Is(err, store.ErrConflict) {
		h.t.Fatalf("SaveKey with a stale version = %v, want store.ErrConflict", err)
	}
	a.Version = 2
	h.equal("after the lost race", h.mustByID(k.KeyID), a)
}

func saveMissingConflicts(h *harness) {
	ghost := h.newKey()
	ghost.Version = 1
	next := ghost
	next.Name = "x"
	if err := h.s.SaveKey(h.ctx, &ghost, next); !errors.Is(err, store.ErrConflict) {
		h.t.Errorf("SaveKey of a missing key = %v, want store.ErrConflict", err)
	}
	_, err := h.byID(ghost.KeyID)
	h.notFound("the missing key", err)
}

func saveCannotStealHash(h *harness) {
	a := h.create(h.newKey())
	b := h.create(h.newKey())
	next := b
	next.Hash = a.Hash
	if err := h.s.SaveKey(h.ctx, &b, next); !errors.Is(err, store.ErrConflict) {
		h.t.Fatalf("SaveKey onto another key's hash = %v, want store.ErrConflict", err)
	}
	h.equal("the owner of the hash", h.mustByHash(a.Hash), a)
	h.equal("the other key", h.mustByHash(b.Hash), b)
}

func rotationGrace(h *harness) {
	k := h.create(h.newKey())
	next := k
	next.PreviousHash, next.Hash = k.Hash, random("h")
	next.KeyGen = k.KeyGen + 1
	next.GraceUntil = h.clock.Now().Add(time.Hour)
	if err := h.s.SaveKey(h.ctx, &k, next); err != nil {
		h.t.Fatalf("SaveKey (rotate): %v", err)
	}
	next.Version = 2
	h.equal("KeyByHash(new)", h.mustByHash(next.Hash), next)
	h.equal("KeyByID", h.mustByID(k.KeyID), next)

	// By the previous hash: the record as of the previous generation.
	old := next
	old.Hash, old.KeyGen = k.Hash, k.KeyGen
	h.clock.Advance(time.Hour - time.Second)
	h.equal("KeyByHash(previous) during grace", h.mustByHash(k.Hash), old)

	h.clock.Advance(time.Second)
	_, err := h.byHash(k.Hash)
	h.notFound("KeyByHash(previous) at GraceUntil", err)
	h.mustByHash(next.Hash)
}

func rotationWithoutGrace(h *harness) {
	k := h.create(h.newKey())
	next := k
	next.PreviousHash, next.Hash, next.KeyGen = k.Hash, random("h"), k.KeyGen+1
	if err := h.s.SaveKey(h.ctx, &k, next); err != nil {
		h.t.Fatalf("SaveKey (rotate): %v", err)
	}
	_, err := h.byHash(k.Hash)
	h.notFound("KeyByHash(previous) without grace", err)
	h.mustByHash(next.Hash)

	// A second rotation retires the first previous hash even inside a grace period.
	second := next
	second.Version = 2
	third := second
	third.PreviousHash, third.Hash, third.KeyGen, third.GraceUntil = second.Hash, random("h"), second.KeyGen+1, h.clock.Now().Add(time.Hour)
	if err := h.s.SaveKey(h.ctx, &second, third); err != nil {
		h.t.Fatalf("SaveKey (rotate again): %v", err)
	}
	_, err = h.byHash(k.Hash)
	h.notFound("the first hash after two rotations", err)
	h.mustByHash(second.Hash)
	h.mustByHash(third.Hash)
}

// listAll pages through ListKeys.
func (h *harness) listAll(limit int) []store.Key {
	h.t.Helper()
	var out []store.Key
	cursor := ""
	for i := 0; ; i++ {
		if i > 100 {
			h.t.Fatalf("ListKeys never ended")
		}
		page, err := h.s.ListKeys(h.ctx, limit, cursor)
		if err != nil {
			h.t.Fatalf("ListKeys: %v", err)
		}
		if len(page.Keys) > limit {
			h.t.Errorf("a page of %d keys with limit %d", len(page.Keys), limit)
		}
		out = append(out, page.Keys...)
		if page.Next == "" {
			return out
		}
		cursor = page.Next
	}
}

func ids(keys []store.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.KeyID
	}
	return out
}

func listNewestFirst(h *harness) {
	var want []string
	for i := 0; i < 7; i++ {
		k := h.newKey()
		k.CreatedAt = Start.Add(time.Duration(i) * time.Minute)
		h.create(k)
		want = append([]string{k.KeyID}, want...)
	}
	gone := h.newKey()
	gone.CreatedAt, gone.ExpiresAt = Start.Add(3*time.Minute+time.Second), h.clock.Now().Add(time.Minute)
	h.create(gone)
	h.clock.Advance(time.Minute)

	for _, limit := range []int{1, 3, 7, 100} {
		if got := ids(h.listAll(limit)); !slices.Equal(got, want) {
			h.t.Errorf("limit %d: ListKeys = %v\nwant %v", limit, got, want)
		}
	}
	keys := h.listAll(100)
	if len(keys) > 0 {
		h.equal("a listed key", keys[0], h.mustByID(keys[0].KeyID))
	}
}

func listStableAcrossWrites(h *harness) {
	for i := 0; i < 4; i++ {
		k := h.newKey()
		k.CreatedAt = Start.Add(time.Duration(i) * time.Minute)
		h.create(k)
	}
	first, err := h.s.ListKeys(h.ctx, 2, "")
	if err != nil || first.Next == "" {
		h.t.Fatalf("first page: %v, %+v", err, first)
	}
	newer := h.newKey()
	newer.CreatedAt = Start.Add(time.Hour)
	h.create(newer)
	second, err := h.s.ListKeys(h.ctx, 2, first.Next)
	if err != nil {
		h.t.Fatalf("second page: %v", err)
	}
	seen := map[string]bool{}
	for _, id := range append(ids(first.Keys), ids(second.Keys)...) {
		if seen[id] {
			h.t.Errorf("key %s listed twice: a cursor must point past the last key returned, not at an offset", id)
		}
		seen[id] = true
	}
}

func badCursors(h *harness) {
	for i := 0; i < 3; i++ {
		h.create(h.newKey())
	}
	// Well-formed for the DynamoDB store's listing but starting in a partition the listing
	// never reads: DynamoDB would fail the query, and a client's bad cursor is a 400, not a 503.
	foreign := base64.RawURLEncoding.EncodeToString([]byte(`{"pk":"id#key_x","list_pk":"other","list_sk":"2025-06-01T12:00:00Z#key_x"}`))
	for _, c := range []string{"!!!", "bm90IGEgY3Vyc29y", base64.RawURLEncoding.EncodeToString([]byte(`{"pk":"x"}`)), "-1", random(""), foreign} {
		if _, err := h.s.ListKeys(h.ctx, 2, c); !errors.Is(err, store.ErrBadCursor) {
			h.t.Errorf("ListKeys(cursor %q) = %v, want store.ErrBadCursor", c, err)
		}
		if _, err := h.s.ListEvents(h.ctx, "key_x", 2, c); !errors.Is(err, store.ErrBadCursor) {
			h.t.Errorf("ListEvents(cursor %q) = %v, want store.ErrBadCursor", c, err)
		}
	}
}

func (h *harness) listEvents(keyID string, limit int) []store.Event {
	h.t.Helper()
	var out []store.Event
	cursor := ""
	for i := 0; ; i++ {
		if i > 100 {
			h.t.Fatalf("ListEvents never ended")
		}
		page, err := h.s.ListEvents(h.ctx, keyID, limit, cursor)
		if err != nil {
			h.t.Fatalf("ListEvents: %v", err)
		}
		out = append(out, page.Events...)
		if page.Next == "" {
			return out
		}
		cursor = page.Next
	}
}

func actions(evs []store.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Action
	}
	return out
}

func eventsNewestFirst(h *harness) {
	k := h.create(h.newKey())
	other := h.create(h.newKey())
	var want []string
	for i := 0; i < 5; i++ {
		h.clock.Advance(time.Second)
		e := store.Event{KeyID: k.KeyID, Time: h.clock.Now(), Action: fmt.Sprintf("action.%d", i), ActorKeyID: "key_admin",
			SourceIP: "203.0.113.7", RequestID: fmt.Sprintf("req-%d", i), Detail: "d"}
		if err := h.s.AppendEvent(h.ctx, e); err != nil {
			h.t.Fatalf("AppendEvent: %v", err)
		}
		want = append([]string{e.Action}, want...)
	}
	if err := h.s.AppendEvent(h.ctx, store.Event{KeyID: other.KeyID, Action: "other.stamped"}); err != nil {
		h.t.Fatalf("AppendEvent: %v", err)
	}
	for _, limit := range []int{1, 2, 5, 50} {
		if got := actions(h.listEvents(k.KeyID, limit)); !slices.Equal(got, want) {
			h.t.Errorf("limit %d: ListEvents = %v, want %v", limit, got, want)
		}
	}
	all := h.listEvents(k.KeyID, 50)
	if len(all) == 5 {
		e := all[0]
		if e.KeyID != k.KeyID || !e.Time.Equal(h.clock.Now()) || e.ActorKeyID != "key_admin" || e.SourceIP != "203.0.113.7" ||
			e.RequestID != "req-4" || e.Detail != "d" {
			h.t.Errorf("event read back as %+v", e)
		}
	}
	stamped := h.listEvents(other.KeyID, 10)
	if len(stamped) != 1 || !stamped[0].Time.Equal(h.clock.Now()) {
		t := "none"
		if len(stamped) > 0 {
			t = stamped[0].Time.String()
		}
		h.t.Errorf("an event without a time was stamped %s, want the store's clock %v", t, h.clock.Now())
	}
	if got := h.listEvents("key_"+random("")[:20], 10); len(got) != 0 {
		h.t.Errorf("events of an unknown key: %v", got)
	}
}

func eventsWithWrites(h *harness) {
	k := h.newKey()
	created := store.Event{KeyID: k.KeyID, Time: h.clock.Now(), Action: "key.created", RequestID: "req-create"}
	k = h.create(k, created)
	h.clock.Advance(time.Second)
	next := k
	next.Status = store.StatusRevoked
	revoked := store.Event{KeyID: k.KeyID, Time: h.clock.Now(), Action: "key.revoked", RequestID: "req-revoke"}
	if err := h.s.SaveKey(h.ctx, &k, next, revoked); err != nil {
		h.t.Fatalf("SaveKey: %v", err)
	}
	if got := actions(h.listEvents(k.KeyID, 10)); !slices.Equal(got, []string{"key.revoked", "key.created"}) {
		h.t.Errorf("events = %v", got)
	}

	// A refused write records no event.
	stale := k
	lost := store.Event{KeyID: k.KeyID, Time: h.clock.Now().Add(time.Second), Action: "key.updated", RequestID: "req-lost"}
	if err := h.s.SaveKey(h.ctx, &k, stale, lost); !errors.Is(err, store.ErrConflict) {
		h.t.Fatalf("stale SaveKey = %v", err)
	}
	if got := actions(h.listEvents(k.KeyID, 10)); slices.Contains(got, "key.updated") {
		h.t.Errorf("a refused write left its audit event: %v", got)
	}
}

func eventCursorOfAnotherKey(h *harness) {
	a := h.create(h.newKey())
	b := h.create(h.newKey())
	for i := 0; i < 3; i++ {
		h.clock.Advance(time.Second)
		for _, id := range []string{a.KeyID, b.KeyID} {
			if err := h.s.AppendEvent(h.ctx, store.Event{KeyID: id, Time: h.clock.Now(), Action: "x", RequestID: fmt.Sprint(i)}); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	page, err := h.s.ListEvents(h.ctx, a.KeyID, 1, "")
	if err != nil || page.Next == "" {
		h.t.Fatalf("ListEvents: %v, %+v", err, page)
	}
	if _, err := h.s.ListEvents(h.ctx, b.KeyID, 1, page.Next); !errors.Is(err, store.ErrBadCursor) {
		h.t.Errorf("ListEvents(b) with a's cursor = %v, want store.ErrBadCursor", err)
	}
}
