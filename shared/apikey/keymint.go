// Mint creates new API keys: it draws the secret and the public key id, hashes the
// secret with the pepper and builds the record to store. The plain key is returned to the caller
// exactly once and never kept.

package apikey

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/store"
)

// Spec describes the key to create. Callers validate user input before minting.
type Spec struct {
	Name       string
	OwnerID    string
	Scopes     []string
	AllowedIPs []string
	RateLimit  int
	Tier       string
	ExpiresAt  time.Time
}

// Mint returns the plain key and the record to store for spec.
func Mint(prefix string, h *Hasher, spec Spec, random io.Reader, now time.Time) (string, store.Key, error) {
	plain, err := Generate(prefix, random)
	if err != nil {
		return "", store.Key{}, fmt.Errorf("mint key: %w", err)
	}
	id, err := NewKeyID(random)
	if err != nil {
		return "", store.Key{}, fmt.Errorf("mint key id: %w", err)
	}
	return plain, store.Key{
		Hash:       h.Hash(plain),
		KeyID:      id,
		Name:       spec.Name,
		OwnerID:    spec.OwnerID,
		Scopes:     slices.Clone(spec.Scopes),
		AllowedIPs: slices.Clone(spec.AllowedIPs),
		RateLimit:  spec.RateLimit,
		Tier:       spec.Tier,
		Status:     store.StatusActive,
		CreatedAt:  now.UTC().Truncate(time.Second),
		ExpiresAt:  spec.ExpiresAt,
		KeyGen:     1,
	}, nil
}

// KeyCreator stores a new key with its audit events (the keys store).
type KeyCreator interface {
	CreateKey(ctx context.Context, k store.Key, audit ...store.Event) error
}

// Planner keeps API Gateway's usage plans in step with a key (usageplan.Manager): Ensure
// before the key is stored, so a stored key is always metered; Remove to undo it when storing
// fails.
type Planner interface {
	Ensure(ctx context.Context, k store.Key) error
	Remove(ctx context.Context, keyID string) error
}

// StaticHashers yields one hasher, for tools that read the pepper once (ReadHasher).
type StaticHashers struct{ H *Hasher }

// Hasher returns the hasher.
func (s StaticHashers) Hasher(context.Context) (*Hasher, error) { return s.H, nil }

// ReadHasher reads the pepper the functions hash with from Secrets Manager.
func ReadHasher(ctx context.Context, sm secret.Getter, pepperID string) (*Hasher, error) {
	pepper, err := secret.Read(ctx, sm, pepperID, secret.StageCurrent)
	if err != nil {
		return nil, fmt.Errorf("read pepper: %w", err)
	}
	return NewHasher(pepper.Value)
}

// Bootstrap creates a key outside the admin API, where no admin key exists yet (a stack's first
// admin key) or none is wanted (the local stack's demo keys, tests): it reads the pepper the
// functions hash with from Secrets Manager, mints the key, puts it in its usage plan (plans)
// and stores it with a key.created audit event whose detail says why, in the admin API's
// order. It returns the plain key, shown once, and its record.
func Bootstrap(ctx context.Context, sm secret.Getter, pepperID, prefix string, keys KeyCreator, plans Planner, spec Spec, why string, random io.Reader, now time.Time) (string, store.Key, error) {
	h, err := ReadHasher(ctx, sm, pepperID)
	if err != nil {
		return "", store.Key{}, err
	}
	plain, rec, err := Mint(prefix, h, spec, random, now)
	if err != nil {
		return "", store.Key{}, err
	}
	if err := plans.Ensure(ctx, rec); err != nil {
		_ = plans.Remove(ctx, rec.KeyID) // best effort: authctl keys sync deletes what is left
		return "", store.Key{}, fmt.Errorf("usage plan of the new key: %w", err)
	}
	if err := keys.CreateKey(ctx, rec, store.Event{KeyID: rec.KeyID, Time: now, Action: "key.created", Detail: why}); err != nil {
		_ = plans.Remove(ctx, rec.KeyID)
		return "", store.Key{}, fmt.Errorf("store key: %w", err)
	}
	return plain, rec, nil
}
