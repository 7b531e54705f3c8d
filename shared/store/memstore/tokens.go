package memstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/shared/store"
)

// errNoAuditTrail is what a write carrying audit events answers when the store has no key store
// to keep them in, as the DynamoDB store does without an events store: an action must never
// happen without its record.
var errNoAuditTrail = errors.New("memstore: audit events need a key store (the audit trail lives there)")

// errNoKeys is what a rotation conditioned on a key snapshot answers when the store has no key
// store to check the key in: a condition that cannot be checked fails closed.
var errNoKeys = errors.New("memstore: a key snapshot's condition needs a key store")

// Tokens stores refresh-token families and the per-key deny-lists of revoked access tokens in
// memory, with the semantics of the DynamoDB token store (checked by storetest.RunTokens):
//
//   - Every write is all or nothing and checks the conditions DynamoDB's transaction checks
//     (a new family and first token must not exist, a rotated parent and its family must be
//     active and unexpired, the key a rotated child's snapshot names must still be at its
//     version, a revoked family must exist). Conditions see an item until it is deleted,
//     expired or not, unless they compare its expiry; reads treat an item at or past its expiry
//     as absent, and items are never deleted here, like DynamoDB's TTL deletion that has not
//     happened yet.
//   - Times are kept as DynamoDB keeps them, in whole seconds (UTC); a token or family without
//     an expiry is stored with ttl 0 there and is therefore absent.
//   - Audit events go to the key store's audit trail (DynamoDB keeps both in one table) and a
//     CreateFamily's touch records the key's last use there, best effort: it is dropped when the
//     key or the hash's lookup is gone, and it never bumps the key's version. A rotation's
//     key check reads the key's version there. Without a key store, touches are dropped, and
//     writes carrying audit events or a key snapshot to check fail.
//
// The store locks itself, then the key store (never the other way round); a reader of the key
// store may see a write's audit event a moment after its token items. Use NewTokens.
type Tokens struct {
	now  func() time.Time
	keys *Keys

	mu       sync.Mutex
	tokens   map[string]store.RefreshToken // by hash
	families map[string]store.Family       // by id
	// denied holds each key's deny-list: entry ("jti#<jti>" or store.DeniedFamily) → expiry in
	// Unix seconds, the DynamoDB items' sort key and ttl.
	denied map[string]map[string]int64
}

// NewTokens returns an empty token store using now as its clock. keys (may be nil) holds the
// audit trail and the keys whose last use CreateFamily records.
func NewTokens(now func() time.Time, keys *Keys) *Tokens {
	return &Tokens{
		now: now, keys: keys,
		tokens: map[string]store.RefreshToken{}, families: map[string]store.Family{}, denied: map[string]map[string]int64{},
	}
}

// jtiEntry is the deny-list entry of an access token.
func jtiEntry(jti string) string { return "jti#" + jti }

// seconds is t as DynamoDB keeps it: whole seconds in UTC, the zero time staying zero.
func seconds(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.Unix(t.Unix(), 0).UTC()
}

// gone reports whether an item expiring at exp is absent at now: its ttl (whole seconds, 0
// without an expiry) is at or before now.
func gone(exp, now time.Time) bool { return exp.Unix() <= now.Unix() }

func storedToken(t store.RefreshToken) store.RefreshToken {
	t.Scopes = slices.Clone(t.Scopes)
	if t.Scopes == nil {
		t.Scopes = []string{}
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = seconds(t.CreatedAt), seconds(t.ExpiresAt), seconds(t.UsedAt)
	if t.Key = t.Key.Clone(); t.Key != nil {
		t.Key.ExpiresAt = seconds(t.Key.ExpiresAt)
		if t.Key.AllowedIPs == nil {
			t.Key.AllowedIPs = []string{}
		}
	}
	return t
}

func cloneToken(t store.RefreshToken) store.RefreshToken {
	t.Scopes = slices.Clone(t.Scopes)
	t.Key = t.Key.Clone()
	return t
}

// record writes what a token write carries into the key store: the touch and the audit events.
func (s *Tokens) record(touch *store.Touch, audit []store.Event) {
	if s.keys != nil {
		s.keys.record(touch, audit)
	}
}

// checkAudit refuses audit events the store has nowhere to keep.
func (s *Tokens) checkAudit(audit []store.Event) error {
	if len(audit) > 0 && s.keys == nil {
		return errNoAuditTrail
	}
	return nil
}

// CreateFamily stores a new family and its first token, the audit events and, when touch is
// set, the key's last use. A family id or token hash that exists (even expired) is
// store.ErrConflict, and then nothing is written.
func (s *Tokens) CreateFamily(_ context.Context, fam store.Family, first store.RefreshToken, touch *store.Touch, audit ...store.Event) error {
	if err := s.checkAudit(audit); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.families[fam.ID]; ok {
		return store.ErrConflict
	}
	if _, ok := s.tokens[first.Hash]; ok {
		return store.ErrConflict
	}
	fam.ExpiresAt = seconds(fam.ExpiresAt)
	s.families[fam.ID] = fam
	s.tokens[first.Hash] = storedToken(first)
	s.record(touch, audit)
	return nil
}

// RefreshToken returns the token stored under hash; expired tokens are store.ErrNotFound.
func (s *Tokens) RefreshToken(_ context.Context, hash string) (store.RefreshToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[hash]
	if !ok || gone(t.ExpiresAt, s.now()) {
		return store.RefreshToken{}, store.ErrNotFound
	}
	return cloneToken(t), nil
}

// Family returns a family; expired families are store.ErrNotFound.
func (s *Tokens) Family(_ context.Context, id string) (store.Family, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.families[id]
	if !ok || gone(f.ExpiresAt, s.now()) {
		return store.Family{}, store.ErrNotFound
	}
	return f, nil
}

// Rotate spends parent (the stored one, named by parent.Hash: it becomes used now, with child as
// its successor), stores child and moves the family's expiry (parent.FamilyID) to the child's,
// if parent is still active and unexpired, child's hash is free, the family is still active and
// unexpired and, when child carries a key snapshot, the key is still at the snapshot's version.
// Otherwise nothing is written and the answer is, in this order: store.ErrFamilyInactive (the
// family is revoked, expired or unknown), store.ErrConflict (a lost race for the parent or the
// child's hash), store.ErrKeyChanged. Of concurrent rotations of one parent exactly one succeeds.
func (s *Tokens) Rotate(_ context.Context, parent, child store.RefreshToken, audit ...store.Event) error {
	if err := s.checkAudit(audit); err != nil {
		return err
	}
	if child.Key != nil && s.keys == nil {
		return errNoKeys
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	f, famOK := s.families[parent.FamilyID]
	p, parentOK := s.tokens[parent.Hash]
	_, taken := s.tokens[child.Hash]
	switch {
	case !famOK || f.Status != store.StatusActive || gone(f.ExpiresAt, now):
		return store.ErrFamilyInactive
	case !parentOK || p.Status != store.StatusActive || gone(p.ExpiresAt, now) || taken:
		return store.ErrConflict
	case child.Key != nil && !s.keys.atVersion(child.KeyID, child.Key.Version):
		return store.ErrKeyChanged
	}
	p.Status, p.UsedAt, p.SuccessorHash = store.StatusUsed, seconds(now), child.Hash
	s.tokens[parent.Hash] = p
	s.tokens[child.Hash] = storedToken(child)
	f.ExpiresAt = seconds(child.ExpiresAt)
	s.families[parent.FamilyID] = f
	s.record(nil, audit)
	return nil
}

// Retire marks the refresh token hash revoked if it is still active (expired or not, like the
// DynamoDB store's conditional update); any other token, or none, is left as it is.
func (s *Tokens) Retire(_ context.Context, hash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[hash]; ok && t.Status == store.StatusActive {
		t.Status = store.StatusRevoked
		s.tokens[hash] = t
	}
	return nil
}

// RevokeFamily marks family id revoked (expired or not) and, with a non-zero denyUntil, puts it
// on keyID's deny-list until then. An unknown family is store.ErrNotFound, and then nothing is
// written.
func (s *Tokens) RevokeFamily(_ context.Context, keyID, id string, denyUntil time.Time, audit ...store.Event) error {
	if err := s.checkAudit(audit); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.families[id]
	if !ok {
		return store.ErrNotFound
	}
	f.Status = store.StatusRevoked
	s.families[id] = f
	if !denyUntil.IsZero() {
		s.deny(keyID, store.DeniedFamily(id), denyUntil)
	}
	s.record(nil, audit)
	return nil
}

// DenyAccessToken puts jti on keyID's deny-list until the given time, replacing an entry that
// is there.
func (s *Tokens) DenyAccessToken(_ context.Context, keyID, jti string, until time.Time, audit ...store.Event) error {
	if err := s.checkAudit(audit); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny(keyID, jtiEntry(jti), until)
	s.record(nil, audit)
	return nil
}

func (s *Tokens) deny(keyID, entry string, until time.Time) {
	list := s.denied[keyID]
	if list == nil {
		list = map[string]int64{}
		s.denied[keyID] = list
	}
	list[entry] = until.Unix()
}

// AccessTokenDenied reports whether jti, or its family familyID ("" for none), is on keyID's
// deny-list and not past the entry's expiry.
func (s *Tokens) AccessTokenDenied(_ context.Context, keyID, jti, familyID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().Unix()
	live := func(entry string) bool {
		ttl, ok := s.denied[keyID][entry]
		return ok && ttl > now
	}
	return live(jtiEntry(jti)) || familyID != "" && live(store.DeniedFamily(familyID)), nil
}

// DeniedTokens returns keyID's unexpired deny-list entries → expiry: access tokens by jti,
// families by store.DeniedFamily. More than store.MaxDeniedRead entries is
// store.ErrTooManyDenied.
func (s *Tokens) DeniedTokens(_ context.Context, keyID string) (map[string]time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().Unix()
	out := map[string]time.Time{}
	for entry, ttl := range s.denied[keyID] {
		if ttl > now {
			out[strings.TrimPrefix(entry, "jti#")] = time.Unix(ttl, 0)
		}
	}
	if len(out) > store.MaxDeniedRead {
		return nil, store.ErrTooManyDenied
	}
	return out, nil
}
