package authapi

import (
	"strconv"
	"time"

	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

func grantFor(k store.Key, customer string, scopes []string, ttl time.Duration) token.Grant {
	return token.Grant{
		KeyID:      k.KeyID,
		KeyGen:     k.KeyGen,
		CustomerID: customer,
		Scopes:     scopes,
		Tier:       k.Tier,
		RateLimit:  k.RateLimit,
		TTL:        ttl,
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
