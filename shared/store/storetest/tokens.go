package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/store"
)

// TokenStore is what every token store implements (the methods memstore.Tokens and dynamo.Tokens
// share, which authapi.Tokens consumes).
type TokenStore interface {
	CreateFamily(ctx context.Context, fam store.Family, first store.RefreshToken, touch *store.Touch, audit ...store.Event) error
	RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error)
	Family(ctx context.Context, id string) (store.Family, error)
	Rotate(ctx context.Context, parent, child store.RefreshToken, audit ...store.Event) error
	Retire(ctx context.Context, hash string) error
	RevokeFamily(ctx context.Context, keyID, id string, denyUntil time.Time, audit ...store.Event) error
	DenyAccessToken(ctx context.Context, keyID, jti string, until time.Time, audit ...store.Event) error
	AccessTokenDenied(ctx context.Context, keyID, jti, familyID string) (bool, error)
	DeniedTokens(ctx context.Context, keyID string) (map[string]time.Time, error)
}

// TokenStores is a token store under test and the key store it works with: token writes put
// their audit events in the key store's audit trail, and CreateFamily's touch records a key's
// last use there.
type TokenStores struct {
	Tokens TokenStore
	Keys   Store
	// SeedDenied, if set, puts the deny-list entries of access tokens jtis under keyID until
	// the given time in bulk, laid out exactly as DenyAccessToken puts each one, for the case
	// that needs thousands of them. Without it the suite calls DenyAccessToken for each.
	SeedDenied func(ctx context.Context, keyID string, until time.Time, jtis []string) error
}

type tokenHarness struct {
	t     *testing.T
	ctx   context.Context
	clock *clocktest.Clock
	s     TokenStore
	keys  Store
	seed  func(ctx context.Context, keyID string, until time.Time, jtis []string) error
}

// RunTokens runs every token-store case as a subtest, each on fresh stores from newStores.
func RunTokens(t *testing.T, newStores func(t *testing.T, now func() time.Time) TokenStores) {
	cases := []struct {
		name string
		fn   func(h *tokenHarness)
	}{
		{"a created family and its first token read back with every field", createdFamilyReadsBack},
		{"creating a family whose id or first token exists is a conflict and writes nothing", createFamilyConflicts},
		{"an unknown token or family is not found", unknownTokenIsNotFound},
		{"an expired token or family is not found although its item still exists", expiredTokenIsNotFound},
		{"a token or family without an expiry is absent", noExpiryIsAbsent},
		{"Rotate spends the parent once, stores the child and moves the family's expiry", rotateSpendsOnce},
		{"Rotate is a conflict and writes nothing unless parent and family are active and unexpired and the child is new", rotateConflicts},
		{"Rotate writes only while the key is at the version the child's snapshot names", rotateChecksTheKey},
		{"of 20 concurrent Rotates of one parent exactly one succeeds", rotateRace},
		{"Retire revokes an active token and leaves any other as it is", retireToken},
		{"RevokeFamily revokes a family and denies its access tokens only with a deny time", revokeFamily},
		{"a deny entry holds per key until its expiry, by jti or by family", denyEntries},
		{"DeniedTokens lists a key's unexpired entries by jti and by family with their expiry", deniedTokensListing},
		{"a deny-list reads up to MaxDeniedRead entries and is ErrTooManyDenied beyond", deniedTokensLimit},
		{"token writes add their audit events to the key's trail, and refused writes add none", tokenAudit},
		{"CreateFamily records the key's last use at best, without a new version", createFamilyTouch},
		{"returned tokens and deny-lists are copies, and the store keeps its own", tokenCopies},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := clocktest.New(Start)
			stores := newStores(t, clock.Now)
			h := &tokenHarness{t: t, ctx: context.Background(), clock: clock, s: stores.Tokens, keys: stores.Keys, seed: stores.SeedDenied}
			c.fn(h)
		})
	}
}

// family returns a family of a new stored key and its first token, every field set (the key's
// snapshot too), both expiring in a day.
func (h *tokenHarness) family() (store.Family, store.RefreshToken) {
	now := h.clock.Now()
	k := h.storedKey()
	fam := store.Family{ID: random("fam_"), KeyID: k.KeyID, Status: store.StatusActive, ExpiresAt: now.Add(24 * time.Hour)}
	first := store.RefreshToken{
		Hash: random("rt"), FamilyID: fam.ID, KeyID: k.KeyID, KeyGen: k.KeyGen, CustomerID: "cus_42",
		Scopes: []string{"customers:read", "billing:read"}, Status: store.StatusActive,
		CreatedAt: now.Add(-time.Second), ExpiresAt: now.Add(24 * time.Hour), Key: store.SnapshotOf(k),
	}
	return fam, first
}

// storedKey stores a new key in the key store, every field a snapshot keeps set, and returns it
// as stored (version 1).
func (h *tokenHarness) storedKey() store.Key {
	h.t.Helper()
	now := h.clock.Now()
	k := store.Key{
		Hash: random("h"), KeyID: "key_" + random("")[:20], Name: "token store key", OwnerID: "team-42",
		Scopes: []string{"customers:read", "billing:read"}, AllowedIPs: []string{"203.0.113.0/24", "2001:db8::/32"},
		RateLimit: 600, Tier: "pro", Status: store.StatusActive, CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour), KeyGen: 4,
	}
	if err := h.keys.CreateKey(h.ctx, k); err != nil {
		h.t.Fatalf("CreateKey: %v", err)
	}
	k.Version = 1
	return k
}

// child is a successor of parent created now, living a day.
func (h *tokenHarness) child(parent store.RefreshToken) store.RefreshToken {
	now := h.clock.Now()
	c := parent
	c.Hash, c.Status, c.CreatedAt, c.ExpiresAt, c.UsedAt, c.SuccessorHash = random("rt"), store.StatusActive, now, now.Add(24*time.Hour), time.Time{}, ""
	c.Scopes = []string{"billing:read"}
	c.Key = parent.Key.Clone()
	return c
}

func (h *tokenHarness) createFamily(fam store.Family, first store.RefreshToken, audit ...store.Event) {
	h.t.Helper()
	if err := h.s.CreateFamily(h.ctx, fam, first, nil, audit...); err != nil {
		h.t.Fatalf("CreateFamily: %v", err)
	}
}

func (h *tokenHarness) mustToken(hash string) store.RefreshToken {
	h.t.Helper()
	rt, err := h.s.RefreshToken(h.ctx, hash)
	if err != nil {
		h.t.Fatalf("RefreshToken: %v", err)
	}
	return rt
}

func (h *tokenHarness) mustFamily(id string) store.Family {
	h.t.Helper()
	f, err := h.s.Family(h.ctx, id)
	if err != nil {
		h.t.Fatalf("Family: %v", err)
	}
	return f
}

func (h *tokenHarness) tokenGone(what, hash string) {
	h.t.Helper()
	if rt, err := h.s.RefreshToken(h.ctx, hash); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("%s: RefreshToken = %+v, %v; want store.ErrNotFound", what, rt, err)
	}
}

func (h *tokenHarness) familyGone(what, id string) {
	h.t.Helper()
	if f, err := h.s.Family(h.ctx, id); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("%s: Family = %+v, %v; want store.ErrNotFound", what, f, err)
	}
}

// tokenDiff compares tokens field by field; nil and empty scopes are equal, times by instant.
func tokenDiff(got, want store.RefreshToken) []string {
	var out []string
	str := func(name, g, w string) {
		if g != w {
			out = append(out, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	tm := func(name string, g, w time.Time) {
		if !g.Equal(w) {
			out = append(out, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	str("Hash", got.Hash, want.Hash)
	str("FamilyID", got.FamilyID, want.FamilyID)
	str("KeyID", got.KeyID, want.KeyID)
	if got.KeyGen != want.KeyGen {
		out = append(out, fmt.Sprintf("KeyGen = %d, want %d", got.KeyGen, want.KeyGen))
	}
	str("CustomerID", got.CustomerID, want.CustomerID)
	if !slices.Equal(got.Scopes, want.Scopes) && (len(got.Scopes) != 0 || len(want.Scopes) != 0) {
		out = append(out, fmt.Sprintf("Scopes = %q, want %q", got.Scopes, want.Scopes))
	}
	str("Status", got.Status, want.Status)
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	tm("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	tm("UsedAt", got.UsedAt, want.UsedAt)
	str("SuccessorHash", got.SuccessorHash, want.SuccessorHash)
	switch g, w := got.Key, want.Key; {
	case (g == nil) != (w == nil):
		out = append(out, fmt.Sprintf("Key = %+v, want %+v", g, w))
	case g != nil:
		if g.Version != w.Version || g.KeyGen != w.KeyGen || g.RateLimit != w.RateLimit {
			out = append(out, fmt.Sprintf("Key version, generation, rate limit = %d, %d, %d; want %d, %d, %d",
				g.Version, g.KeyGen, g.RateLimit, w.Version, w.KeyGen, w.RateLimit))
		}
		str("Key.Status", g.Status, w.Status)
		str("Key.OwnerID", g.OwnerID, w.OwnerID)
		str("Key.Tier", g.Tier, w.Tier)
		tm("Key.ExpiresAt", g.ExpiresAt, w.ExpiresAt)
		if !slices.Equal(g.AllowedIPs, w.AllowedIPs) && (len(g.AllowedIPs) != 0 || len(w.AllowedIPs) != 0) {
			out = append(out, fmt.Sprintf("Key.AllowedIPs = %q, want %q", g.AllowedIPs, w.AllowedIPs))
		}
	}
	return out
}

func (h *tokenHarness) equalToken(what string, got, want store.RefreshToken) {
	h.t.Helper()
	for _, d := range tokenDiff(got, want) {
		h.t.Errorf("%s: %s", what, d)
	}
}

func (h *tokenHarness) equalFamily(what string, got, want store.Family) {
	h.t.Helper()
	if got.ID != want.ID || got.KeyID != want.KeyID || got.Status != want.Status || !got.ExpiresAt.Equal(want.ExpiresAt) {
		h.t.Errorf("%s: family = %+v, want %+v", what, got, want)
	}
}

func createdFamilyReadsBack(h *tokenHarness) {
	fam, first := h.family()
	h.createFamily(fam, first)
	h.equalFamily("Family", h.mustFamily(fam.ID), fam)
	h.equalToken("RefreshToken", h.mustToken(first.Hash), first)

	for name, scopes := range map[string][]string{"nil": nil, "empty": {}} {
		minimal := store.RefreshToken{Hash: random("rt"), FamilyID: random("fam_"), KeyID: "key_m", Scopes: scopes,
			Status: store.StatusActive, ExpiresAt: Start.Add(time.Hour)}
		h.createFamily(store.Family{ID: minimal.FamilyID, KeyID: "key_m", Status: store.StatusActive, ExpiresAt: Start.Add(time.Hour)}, minimal)
		got := h.mustToken(minimal.Hash)
		h.equalToken("a minimal token with "+name+" scopes", got, minimal)
		if len(got.Scopes) != 0 || !got.CreatedAt.IsZero() || !got.UsedAt.IsZero() || got.CustomerID != "" || got.Key != nil {
			h.t.Errorf("a minimal token with %s scopes read back as %+v, want empty scopes, zero times and no key snapshot", name, got)
		}
	}

	// A snapshot of a key with the least set: no expiry, no allowlist, no owner or tier.
	bare := store.RefreshToken{Hash: random("rt"), FamilyID: random("fam_"), KeyID: "key_b", Status: store.StatusActive,
		ExpiresAt: Start.Add(time.Hour), Key: &store.KeySnapshot{Version: 7, KeyGen: 2, Status: store.StatusActive}}
	h.createFamily(store.Family{ID: bare.FamilyID, KeyID: "key_b", Status: store.StatusActive, ExpiresAt: Start.Add(time.Hour)}, bare)
	got := h.mustToken(bare.Hash)
	h.equalToken("a token with a bare key snapshot", got, bare)
	if k := got.Key; k == nil || !k.ExpiresAt.IsZero() || len(k.AllowedIPs) != 0 || k.OwnerID != "" || k.Tier != "" || k.RateLimit != 0 {
		h.t.Errorf("a bare key snapshot read back as %+v, want zero values", k)
	}
}

func createFamilyConflicts(h *tokenHarness) {
	tests := []struct {
		name       string
		sameFamily bool
		sameToken  bool
		expired    bool
	}{
		{"the family id exists", true, false, false},
		{"the first token's hash exists", false, true, false},
		{"both exist", true, true, false},
		{"the family id exists, expired but not yet deleted", true, false, true},
		{"the first token's hash exists, expired but not yet deleted", false, true, true},
	}
	for _, tt := range tests {
		h.clock.Set(Start)
		fam, first := h.family()
		if tt.expired {
			fam.ExpiresAt, first.ExpiresAt = Start.Add(time.Minute), Start.Add(time.Minute)
		}
		h.createFamily(fam, first)
		if tt.expired {
			h.clock.Advance(time.Hour)
		}
		fam2, first2 := h.family()
		if tt.sameFamily {
			fam2.ID, first2.FamilyID = fam.ID, fam.ID
		}
		if tt.sameToken {
			first2.Hash = first.Hash
		}
		audit := store.Event{KeyID: fam2.KeyID, Time: h.clock.Now(), Action: "token.issued", RequestID: "req-refused"}
		if err := h.s.CreateFamily(h.ctx, fam2, first2, nil, audit); !errors.Is(err, store.ErrConflict) {
			h.t.Errorf("%s: CreateFamily = %v, want store.ErrConflict", tt.name, err)
			continue
		}
		if !tt.sameFamily {
			h.familyGone(tt.name+": the refused family", fam2.ID)
		}
		if !tt.sameToken {
			h.tokenGone(tt.name+": the refused token", first2.Hash)
		}
		if !tt.expired {
			h.equalFamily(tt.name+": the first family", h.mustFamily(fam.ID), fam)
			h.equalToken(tt.name+": the first token", h.mustToken(first.Hash), first)
		}
		if evs := h.events(fam2.KeyID); len(evs) != 0 {
			h.t.Errorf("%s: the refused write left audit events %v", tt.name, evs)
		}
	}
}

func unknownTokenIsNotFound(h *tokenHarness) {
	fam, first := h.family()
	h.createFamily(fam, first)
	h.tokenGone("an unknown hash", random("rt"))
	h.tokenGone("the empty hash", "")
	h.familyGone("an unknown family", random("fam_"))
	h.familyGone("the empty family id", "")
	h.tokenGone("a family id as a hash", fam.ID)
	h.familyGone("a token hash as a family id", first.Hash)
}

func expiredTokenIsNotFound(h *tokenHarness) {
	fam, first := h.family()
	first.ExpiresAt, fam.ExpiresAt = Start.Add(time.Hour), Start.Add(2*time.Hour)
	h.createFamily(fam, first)

	h.clock.Set(Start.Add(time.Hour - time.Second))
	h.mustToken(first.Hash)
	h.clock.Set(Start.Add(time.Hour)) // exactly at the token's ExpiresAt
	h.tokenGone("a token at its ExpiresAt", first.Hash)
	h.equalFamily("its family, which lives longer", h.mustFamily(fam.ID), fam)
	h.clock.Set(Start.Add(2*time.Hour - time.Second))
	h.mustFamily(fam.ID)
	h.clock.Set(Start.Add(2 * time.Hour))
	h.familyGone("a family at its ExpiresAt", fam.ID)
	h.clock.Advance(30 * 24 * time.Hour)
	h.tokenGone("a token a month past its ExpiresAt", first.Hash)
	h.familyGone("a family a month past its ExpiresAt", fam.ID)
}

// A refresh token or family always expires; one stored without (a caller's bug) is never
// usable rather than usable forever: the DynamoDB store writes its ttl as 0.
func noExpiryIsAbsent(h *tokenHarness) {
	fam, first := h.family()
	fam.ExpiresAt, first.ExpiresAt = time.Time{}, time.Time{}
	h.createFamily(fam, first)
	h.tokenGone("a token without ExpiresAt", first.Hash)
	h.familyGone("a family without ExpiresAt", fam.ID)
}

func (h *tokenHarness) rotate(parent, child store.RefreshToken, audit ...store.Event) {
	h.t.Helper()
	if err := h.s.Rotate(h.ctx, parent, child, audit...); err != nil {
		h.t.Fatalf("Rotate: %v", err)
	}
}

func rotateSpendsOnce(h *tokenHarness) {
	fam, first := h.family()
	h.createFamily(fam, first)
	h.clock.Advance(10 * time.Minute)
	child := h.child(first)
	child.ExpiresAt = h.clock.Now().Add(48 * time.Hour)
	h.rotate(first, child)

	spent := first
	spent.Status, spent.UsedAt, spent.SuccessorHash = store.StatusUsed, h.clock.Now(), child.Hash
	h.equalToken("the parent after Rotate", h.mustToken(first.Hash), spent)
	h.equalToken("the child", h.mustToken(child.Hash), child)
	moved := fam
	moved.ExpiresAt = child.ExpiresAt
	h.equalFamily("the family after Rotate", h.mustFamily(fam.ID), moved)

	// The family outlives its first token's expiry now.
	h.clock.Set(first.ExpiresAt)
	h.tokenGone("the parent at its own ExpiresAt", first.Hash)
	h.mustFamily(fam.ID)
	h.mustToken(child.Hash)
	h.clock.Set(Start.Add(10 * time.Minute))

	// A second Rotate of the same parent loses, though the caller's copy still says active.
	again := h.child(first)
	if err := h.s.Rotate(h.ctx, first, again); !errors.Is(err, store.ErrConflict) {
		h.t.Fatalf("a second Rotate of the parent = %v, want store.ErrConflict", err)
	}
	h.tokenGone("the second child", again.Hash)
	h.equalToken("the parent after the second Rotate", h.mustToken(first.Hash), spent)
	h.equalFamily("the family after the second Rotate", h.mustFamily(fam.ID), moved)

	// The child is the next one to spend.
	h.clock.Advance(time.Minute)
	grandchild := h.child(child)
	h.rotate(child, grandchild)
	if got := h.mustToken(child.Hash); got.Status != store.StatusUsed || got.SuccessorHash != grandchild.Hash || !got.UsedAt.Equal(h.clock.Now()) {
		h.t.Errorf("the child after its Rotate = %+v", got)
	}
}

func rotateConflicts(h *tokenHarness) {
	revoke := func(fam store.Family) {
		if err := h.s.RevokeFamily(h.ctx, fam.KeyID, fam.ID, time.Time{}); err != nil {
			h.t.Fatalf("RevokeFamily: %v", err)
		}
	}
	changeKey := func(keyID string) {
		k, err := h.keys.KeyByID(h.ctx, keyID)
		if err != nil {
			h.t.Fatalf("KeyByID: %v", err)
		}
		next := k
		next.Name = "edited"
		if err := h.keys.SaveKey(h.ctx, &k, next); err != nil {
			h.t.Fatalf("SaveKey: %v", err)
		}
	}
	tests := []struct {
		name string
		// before sets the family's and the parent's expiry (both a day unless it does).
		before  func(fam *store.Family, parent *store.RefreshToken)
		arrange func(fam store.Family, parent, child *store.RefreshToken)
		want    error
	}{
		{name: "the parent was already spent", want: store.ErrConflict, arrange: func(_ store.Family, parent, _ *store.RefreshToken) {
			h.rotate(*parent, h.child(*parent))
		}},
		{name: "the parent is unknown", want: store.ErrConflict, arrange: func(_ store.Family, parent, _ *store.RefreshToken) {
			parent.Hash = random("rt")
		}},
		{name: "the parent was retired", want: store.ErrConflict, arrange: func(_ store.Family, parent, _ *store.RefreshToken) {
			if err := h.s.Retire(h.ctx, parent.Hash); err != nil {
				h.t.Fatalf("Retire: %v", err)
			}
		}},
		{name: "the parent expired but is not yet deleted", want: store.ErrConflict,
			before: func(_ *store.Family, parent *store.RefreshToken) { parent.ExpiresAt = h.clock.Now().Add(time.Hour) },
			arrange: func(store.Family, *store.RefreshToken, *store.RefreshToken) {
				h.clock.Advance(time.Hour)
			}},
		{name: "the child's hash is taken", want: store.ErrConflict, arrange: func(_ store.Family, _, child *store.RefreshToken) {
			other, otherFirst := h.family()
			h.createFamily(other, otherFirst)
			child.Hash = otherFirst.Hash
		}},
		{name: "the family was revoked", want: store.ErrFamilyInactive, arrange: func(fam store.Family, _, _ *store.RefreshToken) {
			revoke(fam)
		}},
		{name: "the parent names an unknown family", want: store.ErrFamilyInactive, arrange: func(_ store.Family, parent, _ *store.RefreshToken) {
			parent.FamilyID = random("fam_")
		}},
		{name: "the family expired but is not yet deleted", want: store.ErrFamilyInactive,
			before: func(fam *store.Family, _ *store.RefreshToken) { fam.ExpiresAt = h.clock.Now().Add(time.Hour) },
			arrange: func(store.Family, *store.RefreshToken, *store.RefreshToken) {
				h.clock.Advance(time.Hour)
			}},
		{name: "the key changed since the snapshot", want: store.ErrKeyChanged, arrange: func(fam store.Family, _, _ *store.RefreshToken) {
			changeKey(fam.KeyID)
		}},
		{name: "the family was revoked and the key changed: the family decides", want: store.ErrFamilyInactive,
			arrange: func(fam store.Family, _, _ *store.RefreshToken) {
				revoke(fam)
				changeKey(fam.KeyID)
			}},
		{name: "the parent was spent and the key changed: the lost race decides", want: store.ErrConflict,
			arrange: func(fam store.Family, parent, _ *store.RefreshToken) {
				h.rotate(*parent, h.child(*parent))
				changeKey(fam.KeyID)
			}},
	}
	for _, tt := range tests {
		h.clock.Set(Start)
		fam, parent := h.family()
		if tt.before != nil {
			tt.before(&fam, &parent)
		}
		h.createFamily(fam, parent)
		child := h.child(parent)
		child.ExpiresAt = h.clock.Now().Add(72 * time.Hour)
		given := parent // what the caller passes as the parent
		tt.arrange(fam, &given, &child)
		parentBefore, parentErr := h.s.RefreshToken(h.ctx, parent.Hash)
		famBefore, famErr := h.s.Family(h.ctx, fam.ID)
		childBefore, childErr := h.s.RefreshToken(h.ctx, child.Hash)

		audit := store.Event{KeyID: fam.KeyID, Time: h.clock.Now(), Action: "token.refreshed", RequestID: "req-refused"}
		err := h.s.Rotate(h.ctx, given, child, audit)
		if !errors.Is(err, tt.want) || !errors.Is(err, store.ErrConflict) {
			h.t.Errorf("%s: Rotate = %v, want %v (a store.ErrConflict)", tt.name, err, tt.want)
			continue
		}
		for _, other := range []error{store.ErrFamilyInactive, store.ErrKeyChanged} {
			if other != tt.want && errors.Is(err, other) {
				h.t.Errorf("%s: Rotate = %v, which is also %v", tt.name, err, other)
			}
		}
		h.unchanged(tt.name+": the parent", parent.Hash, parentBefore, parentErr)
		h.unchanged(tt.name+": the token that has the child's hash", child.Hash, childBefore, childErr)
		switch f, err := h.s.Family(h.ctx, fam.ID); {
		case famErr != nil || err != nil:
			if !errors.Is(famErr, store.ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
				h.t.Errorf("%s: the family read %v before and %v after", tt.name, famErr, err)
			}
		default:
			h.equalFamily(tt.name+": the family", f, famBefore)
		}
		for _, e := range h.events(fam.KeyID) {
			if e.RequestID == "req-refused" {
				h.t.Errorf("%s: the refused Rotate left its audit event", tt.name)
			}
		}
	}
}

// unchanged fails unless the token under hash reads as it did before (both absent, or equal).
func (h *tokenHarness) unchanged(what, hash string, before store.RefreshToken, beforeErr error) {
	h.t.Helper()
	got, err := h.s.RefreshToken(h.ctx, hash)
	switch {
	case beforeErr != nil || err != nil:
		if !errors.Is(beforeErr, store.ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
			h.t.Errorf("%s read %v before and %v after", what, beforeErr, err)
		}
	default:
		h.equalToken(what, got, before)
	}
}

// The key check is the key's version, nothing else: what a refresh decides on a snapshot (the
// generation, the allowlist, the limit, the claims) holds exactly while no write has changed
// the key. A last-use touch is not such a write; expiry is time, not a write, and the caller
// checks it on the snapshot.
func rotateChecksTheKey(h *tokenHarness) {
	tests := []struct {
		name    string
		arrange func(k store.Key, child *store.RefreshToken)
		want    error
	}{
		{"the key is unchanged", func(store.Key, *store.RefreshToken) {}, nil},
		{"the key's last use was recorded since", func(k store.Key, _ *store.RefreshToken) {
			now := h.clock.Now()
			fam := store.Family{ID: random("fam_"), KeyID: k.KeyID, Status: store.StatusActive, ExpiresAt: now.Add(time.Hour)}
			first := store.RefreshToken{Hash: random("rt"), FamilyID: fam.ID, KeyID: k.KeyID, Status: store.StatusActive, ExpiresAt: now.Add(time.Hour)}
			if err := h.s.CreateFamily(h.ctx, fam, first, &store.Touch{KeyID: k.KeyID, Hash: k.Hash, At: now}); err != nil {
				h.t.Fatalf("CreateFamily: %v", err)
			}
		}, nil},
		{"the key was saved since", func(k store.Key, _ *store.RefreshToken) {
			next := k
			next.Status, next.KeyGen = store.StatusRevoked, k.KeyGen+1
			if err := h.keys.SaveKey(h.ctx, &k, next); err != nil {
				h.t.Fatalf("SaveKey: %v", err)
			}
		}, store.ErrKeyChanged},
		{"the snapshot names a version the key has not reached", func(_ store.Key, child *store.RefreshToken) {
			child.Key.Version++
		}, store.ErrKeyChanged},
		{"the snapshot names a key that was never stored", func(_ store.Key, child *store.RefreshToken) {
			child.KeyID = "key_" + random("")[:20]
		}, store.ErrKeyChanged},
		{"the key expired, its item not yet deleted: the caller checks expiry", func(k store.Key, child *store.RefreshToken) {
			next := k
			next.ExpiresAt = h.clock.Now().Add(time.Minute)
			if err := h.keys.SaveKey(h.ctx, &k, next); err != nil {
				h.t.Fatalf("SaveKey: %v", err)
			}
			child.Key.Version = k.Version + 1 // the snapshot of the saved key
			h.clock.Advance(2 * time.Minute)
			if _, err := h.keys.KeyByID(h.ctx, k.KeyID); !errors.Is(err, store.ErrNotFound) {
				h.t.Fatalf("the expired key reads as %v, want store.ErrNotFound", err)
			}
		}, nil},
		{"a child without a snapshot is not checked against the key", func(k store.Key, child *store.RefreshToken) {
			next := k
			next.Status = store.StatusRevoked
			if err := h.keys.SaveKey(h.ctx, &k, next); err != nil {
				h.t.Fatalf("SaveKey: %v", err)
			}
			child.Key = nil
		}, nil},
	}
	for _, tt := range tests {
		h.clock.Set(Start)
		fam, parent := h.family()
		h.createFamily(fam, parent)
		k, err := h.keys.KeyByID(h.ctx, fam.KeyID)
		if err != nil {
			h.t.Fatalf("KeyByID: %v", err)
		}
		child := h.child(parent)
		tt.arrange(k, &child)
		audit := store.Event{KeyID: fam.KeyID, Time: h.clock.Now(), Action: "token.refreshed", RequestID: "req-key"}
		err = h.s.Rotate(h.ctx, parent, child, audit)
		switch {
		case tt.want == nil && err != nil:
			h.t.Errorf("%s: Rotate = %v, want success", tt.name, err)
		case tt.want == nil:
			h.equalToken(tt.name+": the child", h.mustToken(child.Hash), child)
		case !errors.Is(err, tt.want) || !errors.Is(err, store.ErrConflict):
			h.t.Errorf("%s: Rotate = %v, want %v (a store.ErrConflict)", tt.name, err, tt.want)
		default:
			h.tokenGone(tt.name+": the refused child", child.Hash)
			h.equalToken(tt.name+": the parent", h.mustToken(parent.Hash), parent)
			for _, e := range h.events(fam.KeyID) {
				if e.RequestID == "req-key" {
					h.t.Errorf("%s: the refused Rotate left its audit event", tt.name)
				}
			}
		}
	}
}

// A refresh whose transaction finds the family over retires its token, so that every later
// attempt with it is refused at its read.
func retireToken(h *tokenHarness) {
	fam, first := h.family()
	h.createFamily(fam, first)
	h.clock.Advance(time.Second)
	child := h.child(first)
	h.rotate(first, child)
	spent := h.mustToken(first.Hash)

	if err := h.s.Retire(h.ctx, child.Hash); err != nil {
		h.t.Fatalf("Retire of an active token: %v", err)
	}
	retired := child
	retired.Status = store.StatusRevoked
	h.equalToken("the retired token", h.mustToken(child.Hash), retired)
	if err := h.s.Rotate(h.ctx, child, h.child(child)); !errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrFamilyInactive) {
		h.t.Errorf("Rotate of a retired token = %v, want store.ErrConflict", err)
	}
	tests := []struct {
		name string
		hash string
	}{
		{"a retired token again", child.Hash},
		{"a spent token", first.Hash},
		{"an unknown token", random("rt")},
	}
	for _, tt := range tests {
		before, beforeErr := h.s.RefreshToken(h.ctx, tt.hash)
		if err := h.s.Retire(h.ctx, tt.hash); err != nil {
			h.t.Errorf("Retire of %s = %v, want nil", tt.name, err)
		}
		h.unchanged("after Retire of "+tt.name, tt.hash, before, beforeErr)
	}
	h.equalToken("the spent token", h.mustToken(first.Hash), spent)
	h.equalFamily("the family", h.mustFamily(fam.ID), store.Family{ID: fam.ID, KeyID: fam.KeyID, Status: store.StatusActive, ExpiresAt: child.ExpiresAt})
}

func rotateRace(h *tokenHarness) {
	fam, parent := h.family()
	h.createFamily(fam, parent)
	h.clock.Advance(time.Second)
	const n = 20
	children := make([]store.RefreshToken, n)
	errs := make([]error, n)
	for i := range children {
		children[i] = h.child(parent)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = h.s.Rotate(h.ctx, parent, children[i]) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			h.t.Errorf("Rotates %d and %d both spent the parent", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			h.t.Errorf("a losing Rotate = %v, want store.ErrConflict", err)
		}
	}
	if winner < 0 {
		h.t.Fatalf("no Rotate succeeded: %v", errs)
	}
	if got := h.mustToken(parent.Hash); got.SuccessorHash != children[winner].Hash || got.Status != store.StatusUsed {
		h.t.Errorf("the parent = %+v, want spent with the winner's child as successor", got)
	}
	for i, c := range children {
		if i == winner {
			h.equalToken("the winner's child", h.mustToken(c.Hash), c)
		} else {
			h.tokenGone(fmt.Sprintf("the child of losing Rotate %d", i), c.Hash)
		}
	}
}

func revokeFamily(h *tokenHarness) {
	tests := []struct {
		name       string
		denyUntil  time.Duration // 0: no deny time
		unknown    bool
		twice      bool
		wantDenied bool
	}{
		{name: "with a deny time", denyUntil: time.Hour, wantDenied: true},
		{name: "without a deny time", denyUntil: 0},
		{name: "twice, the second time with a deny time", denyUntil: time.Hour, twice: true, wantDenied: true},
		{name: "an unknown family", denyUntil: time.Hour, unknown: true},
	}
	for _, tt := range tests {
		h.clock.Set(Start)
		fam, first := h.family()
		h.createFamily(fam, first)
		id := fam.ID
		if tt.unknown {
			id = random("fam_")
		}
		if tt.twice {
			if err := h.s.RevokeFamily(h.ctx, fam.KeyID, id, time.Time{}); err != nil {
				h.t.Fatalf("%s: the first RevokeFamily = %v", tt.name, err)
			}
		}
		var until time.Time
		if tt.denyUntil != 0 {
			until = Start.Add(tt.denyUntil)
		}
		audit := store.Event{KeyID: fam.KeyID, Time: Start, Action: "token.family.revoked", RequestID: "req-revoke"}
		err := h.s.RevokeFamily(h.ctx, fam.KeyID, id, until, audit)
		if tt.unknown {
			if !errors.Is(err, store.ErrNotFound) {
				h.t.Errorf("%s: RevokeFamily = %v, want store.ErrNotFound", tt.name, err)
			}
			h.familyGone(tt.name+": the family", id)
			if evs := h.events(fam.KeyID); len(evs) != 0 {
				h.t.Errorf("%s: the refused revocation left audit events %v", tt.name, evs)
			}
		} else {
			if err != nil {
				h.t.Errorf("%s: RevokeFamily = %v", tt.name, err)
				continue
			}
			revoked := fam
			revoked.Status = store.StatusRevoked
			h.equalFamily(tt.name+": the family", h.mustFamily(fam.ID), revoked)
			// The family's status is what ends its tokens; the tokens themselves are unchanged.
			h.equalToken(tt.name+": the family's token", h.mustToken(first.Hash), first)
		}
		denied, err := h.s.AccessTokenDenied(h.ctx, fam.KeyID, random("jti-"), id)
		if err != nil || denied != tt.wantDenied {
			h.t.Errorf("%s: AccessTokenDenied(an access token of the family) = %v, %v; want %v", tt.name, denied, err, tt.wantDenied)
		}
		list, err := h.s.DeniedTokens(h.ctx, fam.KeyID)
		switch {
		case err != nil:
			h.t.Errorf("%s: DeniedTokens = %v", tt.name, err)
		case tt.wantDenied && (len(list) != 1 || !list[store.DeniedFamily(id)].Equal(until)):
			h.t.Errorf("%s: DeniedTokens = %v, want the family until %v", tt.name, list, until)
		case !tt.wantDenied && len(list) != 0:
			h.t.Errorf("%s: DeniedTokens = %v, want none", tt.name, list)
		}
		if tt.wantDenied {
			h.clock.Set(until)
			if denied, err := h.s.AccessTokenDenied(h.ctx, fam.KeyID, random("jti-"), id); err != nil || denied {
				h.t.Errorf("%s: at the deny time, AccessTokenDenied = %v, %v; want false", tt.name, denied, err)
			}
		}
	}
}

func denyEntries(h *tokenHarness) {
	deny := func(keyID, jti string, until time.Time) {
		h.t.Helper()
		if err := h.s.DenyAccessToken(h.ctx, keyID, jti, until); err != nil {
			h.t.Fatalf("DenyAccessToken: %v", err)
		}
	}
	fam, first := h.family()
	h.createFamily(fam, first)
	if err := h.s.RevokeFamily(h.ctx, "key_a", fam.ID, Start.Add(30*time.Minute)); err != nil {
		h.t.Fatalf("RevokeFamily: %v", err)
	}
	deny("key_a", "jti-1", Start.Add(time.Hour))
	deny("key_a", "jti-2", Start.Add(time.Minute))
	deny("key_b", "jti-3", Start.Add(time.Hour))
	deny("key_a", "jti-4", Start.Add(time.Minute))
	deny("key_a", "jti-4", Start.Add(2*time.Hour)) // a later write replaces the entry
	deny("key_a", "jti-5", Start.Add(2*time.Hour))
	deny("key_a", "jti-5", Start.Add(time.Minute)) // also when it ends sooner
	tests := []struct {
		name          string
		key, jti, fid string
		at            time.Duration
		want          bool
	}{
		{"a denied jti", "key_a", "jti-1", "", 0, true},
		{"a denied jti, its family not denied", "key_a", "jti-1", "fam_other", 0, true},
		{"a jti denied for a minute", "key_a", "jti-2", "", 0, true},
		{"another key's jti", "key_a", "jti-3", "", 0, false},
		{"a jti under its own key", "key_b", "jti-3", "", 0, true},
		{"a jti of an unknown key", "key_none", "jti-1", "", 0, false},
		{"an unknown jti", "key_a", "jti-x", "", 0, false},
		{"an unknown jti of a denied family", "key_a", "jti-x", fam.ID, 0, true},
		{"a denied family under another key", "key_b", "jti-x", fam.ID, 0, false},
		{"a family id taken for a jti", "key_a", fam.ID, "", 0, false},
		{"a jti taken for a family id", "key_a", "jti-x", "jti-1", 0, false},
		{"a jti past its expiry, before any deletion", "key_a", "jti-2", "", time.Minute, false},
		{"a jti a second before its expiry", "key_a", "jti-2", "", time.Minute - time.Second, true},
		{"a longer-lived jti at the same time", "key_a", "jti-1", "", time.Minute, true},
		{"a jti whose entry was rewritten to end later", "key_a", "jti-4", "", time.Hour, true},
		{"a jti whose entry was rewritten to end sooner", "key_a", "jti-5", "", time.Minute, false},
		{"a family past its entry's expiry", "key_a", "jti-x", fam.ID, 30 * time.Minute, false},
	}
	for _, tt := range tests {
		h.clock.Set(Start.Add(tt.at))
		got, err := h.s.AccessTokenDenied(h.ctx, tt.key, tt.jti, tt.fid)
		if err != nil || got != tt.want {
			h.t.Errorf("%s: AccessTokenDenied(%s, %s, %q) at +%v = %v, %v; want %v", tt.name, tt.key, tt.jti, tt.fid, tt.at, got, err, tt.want)
		}
	}
}

func deniedTokensListing(h *tokenHarness) {
	fam, first := h.family()
	h.createFamily(fam, first)
	if err := h.s.RevokeFamily(h.ctx, "key_a", fam.ID, Start.Add(90*time.Second)); err != nil {
		h.t.Fatalf("RevokeFamily: %v", err)
	}
	for _, d := range []struct {
		key, jti string
		until    time.Time
	}{
		{"key_a", "jti-1", Start.Add(time.Hour)},
		{"key_a", "jti-2", Start.Add(time.Minute)},
		{"key_b", "jti-3", Start.Add(time.Hour)},
	} {
		if err := h.s.DenyAccessToken(h.ctx, d.key, d.jti, d.until); err != nil {
			h.t.Fatalf("DenyAccessToken: %v", err)
		}
	}
	tests := []struct {
		name string
		key  string
		at   time.Duration
		want map[string]time.Time
	}{
		{"every entry of the key", "key_a", 0, map[string]time.Time{
			"jti-1": Start.Add(time.Hour), "jti-2": Start.Add(time.Minute), store.DeniedFamily(fam.ID): Start.Add(90 * time.Second)}},
		{"after one jti expired", "key_a", time.Minute, map[string]time.Time{
			"jti-1": Start.Add(time.Hour), store.DeniedFamily(fam.ID): Start.Add(90 * time.Second)}},
		{"after the family's entry expired too", "key_a", 90 * time.Second, map[string]time.Time{"jti-1": Start.Add(time.Hour)}},
		{"another key's entries only", "key_b", 0, map[string]time.Time{"jti-3": Start.Add(time.Hour)}},
		{"a key without entries", "key_none", 0, map[string]time.Time{}},
		{"a key whose entries all expired", "key_a", time.Hour, map[string]time.Time{}},
	}
	for _, tt := range tests {
		h.clock.Set(Start.Add(tt.at))
		got, err := h.s.DeniedTokens(h.ctx, tt.key)
		if err != nil || got == nil {
			h.t.Errorf("%s: DeniedTokens = %v, %v; want a map", tt.name, got, err)
			continue
		}
		if !sameDenyList(got, tt.want) {
			h.t.Errorf("%s: DeniedTokens = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// sameDenyList compares deny-lists by instant.
func sameDenyList(got, want map[string]time.Time) bool {
	if len(got) != len(want) {
		return false
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || !g.Equal(w) {
			return false
		}
	}
	return true
}

// deniedTokensLimit fills a key's deny-list to MaxDeniedRead and one past it (the last
// entries through DenyAccessToken): a reader fails closed beyond the limit and reads the list
// again once it is back within it, and point reads go on answering meanwhile.
func deniedTokensLimit(h *tokenHarness) {
	const keyID = "key_full"
	jtis := make([]string, store.MaxDeniedRead-1)
	for i := range jtis {
		jtis[i] = fmt.Sprintf("jti-%d", i)
	}
	if h.seed != nil {
		if err := h.seed(h.ctx, keyID, Start.Add(time.Hour), jtis); err != nil {
			h.t.Fatalf("SeedDenied: %v", err)
		}
	} else {
		for _, jti := range jtis {
			if err := h.s.DenyAccessToken(h.ctx, keyID, jti, Start.Add(time.Hour)); err != nil {
				h.t.Fatalf("DenyAccessToken: %v", err)
			}
		}
	}
	if err := h.s.DenyAccessToken(h.ctx, keyID, "jti-last", Start.Add(time.Hour)); err != nil {
		h.t.Fatal(err)
	}
	list, err := h.s.DeniedTokens(h.ctx, keyID)
	if err != nil || len(list) != store.MaxDeniedRead || !list["jti-7"].Equal(Start.Add(time.Hour)) || !list["jti-last"].Equal(Start.Add(time.Hour)) {
		h.t.Fatalf("DeniedTokens with %d entries = %d entries, %v; want all of them", store.MaxDeniedRead, len(list), err)
	}
	if err := h.s.DenyAccessToken(h.ctx, keyID, "jti-one-too-many", Start.Add(time.Minute)); err != nil {
		h.t.Fatal(err)
	}
	if list, err := h.s.DeniedTokens(h.ctx, keyID); !errors.Is(err, store.ErrTooManyDenied) || list != nil {
		h.t.Fatalf("DeniedTokens with %d entries = %d entries, %v; want nil, store.ErrTooManyDenied", store.MaxDeniedRead+1, len(list), err)
	}
	if denied, err := h.s.AccessTokenDenied(h.ctx, keyID, "jti-7", ""); err != nil || !denied {
		h.t.Errorf("AccessTokenDenied on an over-full list = %v, %v; want true", denied, err)
	}
	h.clock.Advance(time.Minute) // the extra entry expires: expired entries do not count
	if list, err := h.s.DeniedTokens(h.ctx, keyID); err != nil || len(list) != store.MaxDeniedRead {
		h.t.Fatalf("DeniedTokens once back at %d entries = %d entries, %v; want all of them", store.MaxDeniedRead, len(list), err)
	}
}

func (h *tokenHarness) events(keyID string) []store.Event {
	h.t.Helper()
	page, err := h.keys.ListEvents(h.ctx, keyID, 100, "")
	if err != nil {
		h.t.Fatalf("ListEvents: %v", err)
	}
	return page.Events
}

func tokenAudit(h *tokenHarness) {
	fam, first := h.family()
	ev := func(action string) store.Event {
		h.clock.Advance(time.Second)
		return store.Event{KeyID: fam.KeyID, Time: h.clock.Now(), Action: action, ActorKeyID: fam.KeyID,
			SourceIP: "203.0.113.7", RequestID: "req-" + action, Detail: "family=" + fam.ID}
	}
	issued := ev("token.issued")
	h.createFamily(fam, first, issued)
	h.rotate(first, h.child(first), ev("token.refreshed"))
	if err := h.s.DenyAccessToken(h.ctx, fam.KeyID, "jti-1", Start.Add(time.Hour), ev("token.revoked")); err != nil {
		h.t.Fatalf("DenyAccessToken: %v", err)
	}
	if err := h.s.RevokeFamily(h.ctx, fam.KeyID, fam.ID, Start.Add(time.Hour), ev("token.family.revoked")); err != nil {
		h.t.Fatalf("RevokeFamily: %v", err)
	}
	want := []string{"token.family.revoked", "token.revoked", "token.refreshed", "token.issued"}
	evs := h.events(fam.KeyID)
	if got := actions(evs); !slices.Equal(got, want) {
		h.t.Fatalf("audit trail = %v, want %v", got, want)
	}
	if e := evs[3]; e.KeyID != issued.KeyID || !e.Time.Equal(issued.Time) || e.ActorKeyID != issued.ActorKeyID ||
		e.SourceIP != issued.SourceIP || e.RequestID != issued.RequestID || e.Detail != issued.Detail {
		h.t.Errorf("the CreateFamily event read back as %+v, want %+v", e, issued)
	}

	// Refused writes: a taken family, a spent parent, an unknown family.
	refused := ev("refused")
	if err := h.s.CreateFamily(h.ctx, fam, h.child(first), nil, refused); !errors.Is(err, store.ErrConflict) {
		h.t.Errorf("CreateFamily of a taken family = %v", err)
	}
	if err := h.s.Rotate(h.ctx, first, h.child(first), refused); !errors.Is(err, store.ErrConflict) {
		h.t.Errorf("Rotate of a spent parent = %v", err)
	}
	if err := h.s.RevokeFamily(h.ctx, fam.KeyID, random("fam_"), Start.Add(time.Hour), refused); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("RevokeFamily of an unknown family = %v", err)
	}
	if got := actions(h.events(fam.KeyID)); !slices.Equal(got, want) {
		h.t.Errorf("after refused writes the audit trail = %v, want %v", got, want)
	}
}

func createFamilyTouch(h *tokenHarness) {
	k := store.Key{Hash: random("h"), KeyID: "key_" + random("")[:20], Status: store.StatusActive, CreatedAt: Start,
		LastUsedAt: Start.Add(-time.Hour), KeyGen: 1}
	if err := h.keys.CreateKey(h.ctx, k); err != nil {
		h.t.Fatalf("CreateKey: %v", err)
	}
	k.Version = 1
	lastUse := func(what string, want time.Time) {
		h.t.Helper()
		for _, read := range []func() (store.Key, error){
			func() (store.Key, error) { return h.keys.KeyByID(h.ctx, k.KeyID) },
			func() (store.Key, error) { return h.keys.KeyByHash(h.ctx, k.Hash) },
		} {
			got, err := read()
			if err != nil || !got.LastUsedAt.Equal(want) || got.Version != k.Version {
				h.t.Errorf("%s: key = last used %v, version %d, %v; want last used %v, version %d", what, got.LastUsedAt, got.Version, err, want, k.Version)
			}
		}
	}
	create := func(what string, touch store.Touch) {
		h.t.Helper()
		fam, first := h.family()
		if err := h.s.CreateFamily(h.ctx, fam, first, &touch); err != nil {
			h.t.Fatalf("%s: CreateFamily = %v; a failed touch must never fail the write", what, err)
		}
		h.mustFamily(fam.ID)
		h.mustToken(first.Hash)
	}

	h.clock.Advance(time.Minute)
	create("a touch of the key", store.Touch{KeyID: k.KeyID, Hash: k.Hash, At: h.clock.Now()})
	lastUse("after a touch", h.clock.Now())
	touched := h.clock.Now()

	// The key is still saved against the version it had.
	next := k
	next.Name, next.LastUsedAt = "renamed", touched
	if err := h.keys.SaveKey(h.ctx, &k, next); err != nil {
		h.t.Fatalf("SaveKey after a touch = %v: a touch must not change the key's version", err)
	}
	k = next
	k.Version = 2

	h.clock.Advance(time.Minute)
	create("a touch of an unknown key", store.Touch{KeyID: "key_" + random("")[:20], Hash: random("h"), At: h.clock.Now()})
	create("a touch by a hash that is not the key's", store.Touch{KeyID: k.KeyID, Hash: random("h"), At: h.clock.Now()})
	lastUse("after touches that found nothing", touched)

	// A rotation without grace retires the old hash: a touch by it finds nothing either.
	rotated := k
	rotated.Hash, rotated.PreviousHash, rotated.KeyGen = random("h"), k.Hash, k.KeyGen+1
	if err := h.keys.SaveKey(h.ctx, &k, rotated); err != nil {
		h.t.Fatalf("SaveKey (rotate): %v", err)
	}
	old := k.Hash
	k = rotated
	k.Version = 3
	create("a touch by the retired hash", store.Touch{KeyID: k.KeyID, Hash: old, At: h.clock.Now()})
	lastUse("after a touch by the retired hash", touched)
}

func tokenCopies(h *tokenHarness) {
	fam, first := h.family()
	given := first
	given.Scopes = slices.Clone(first.Scopes)
	h.createFamily(fam, given)
	given.Scopes[0] = "admin:full" // the caller's slice is the caller's
	h.equalToken("after mutating the written token's scopes", h.mustToken(first.Hash), first)

	got := h.mustToken(first.Hash)
	got.Scopes[0] = "admin:full"
	h.equalToken("after mutating a returned token's scopes", h.mustToken(first.Hash), first)

	// The key snapshot's allowlist is the store's too, on the way in and out.
	withKey := first
	withKey.Hash, withKey.FamilyID = random("rt"), random("fam_")
	withKey.Key = first.Key.Clone()
	h.createFamily(store.Family{ID: withKey.FamilyID, KeyID: withKey.KeyID, Status: store.StatusActive, ExpiresAt: withKey.ExpiresAt}, withKey)
	want := withKey
	want.Key = withKey.Key.Clone()
	withKey.Key.AllowedIPs[0] = "0.0.0.0/0"
	h.equalToken("after mutating the written snapshot's allowlist", h.mustToken(withKey.Hash), want)
	got = h.mustToken(withKey.Hash)
	got.Key.AllowedIPs[0] = "0.0.0.0/0"
	h.equalToken("after mutating a returned snapshot's allowlist", h.mustToken(withKey.Hash), want)

	if err := h.s.DenyAccessToken(h.ctx, fam.KeyID, "jti-1", Start.Add(time.Hour)); err != nil {
		h.t.Fatal(err)
	}
	list, err := h.s.DeniedTokens(h.ctx, fam.KeyID)
	if err != nil {
		h.t.Fatal(err)
	}
	delete(list, "jti-1")
	list["jti-forged"] = Start.Add(time.Hour)
	if again, err := h.s.DeniedTokens(h.ctx, fam.KeyID); err != nil || len(again) != 1 || !again["jti-1"].Equal(Start.Add(time.Hour)) {
		h.t.Errorf("after mutating a returned deny-list: DeniedTokens = %v, %v", again, err)
	}
	if denied, _ := h.s.AccessTokenDenied(h.ctx, fam.KeyID, "jti-forged", ""); denied {
		h.t.Errorf("an entry added to a returned deny-list is denied")
	}
}
