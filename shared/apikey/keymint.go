// Mint creates new API keys: it draws the secret and the public key id, hashes the
// secret with the pepper and builds the record to store. The plain key is returned to the caller
// exactly once and never kept.

package apikey

import (
	"fmt"
	"io"
	"slices"
	"time"

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
