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

// Bootstrap creates a key outside the admin API, where no admin key exists yet (a stack's first
// admin key) or none is wanted (the local stack's demo keys, tests): it reads the pepper the
// functions hash with from Secrets Manager, mints the key and stores it with a key.created
// audit event whose detail says why. It returns the plain key, shown once, and its record.
func Bootstrap(ctx context.Context, sm secret.Getter, pepperID, prefix string, keys KeyCreator, spec Spec, why string, random io.Reader, now time.Time) (string, store.Key, error) {
	pepper, err := secret.Read(ctx, sm, pepperID, secret.StageCurrent)
	if err != nil {
		return "", store.Key{}, fmt.Errorf("read pepper: %w", err)
	}
	h, err := NewHasher(pepper.Value)
	if err != nil {
		return "", store.Key{}, err
	}
	plain, rec, err := Mint(prefix, h, spec, random, now)
	if err != nil {
		return "", store.Key{}, err
	}
	if err := keys.CreateKey(ctx, rec, store.Event{KeyID: rec.KeyID, Time: now, Action: "key.created", Detail: why}); err != nil {
		return "", store.Key{}, fmt.Errorf("store key: %w", err)
	}
	return plain, rec, nil
}
