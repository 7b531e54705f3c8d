// JWKSHandler serves GET /.well-known/jwks.json: the public halves of the keys verifiers
// must accept (AWSCURRENT and AWSPREVIOUS) and of the next key once the rotation has tested it
// (AWSPENDING labelled KEYGATE_TESTED), so a verifier caching the JWKS for its max-age already
// knows a key when it starts signing. It never serves private material: it renders signing.JWK
// values, which have no private members.

package authapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/keygate/keygate/shared/httpapi"

	"github.com/keygate/keygate/shared/signing"
)

// Publisher lists the keys to publish; *signing.Keyring is one.
type Publisher interface {
	Published(ctx context.Context) ([]*signing.Key, error)
}

// Handler serves the JWKS.
type JWKSHandler struct {
	Keys Publisher
	// MaxAge is the Cache-Control max-age of the answer: signing.PublishedMaxAge, which the
	// signers' activation delay waits out, so a cached JWKS knows a key before it signs.
	MaxAge time.Duration
}

type jwks struct {
	Keys []signing.JWK `json:"keys"`
}

// Router returns the routes of the jwks function.
func (h *JWKSHandler) Router() *httpapi.Router {
	var rt httpapi.Router
	rt.Handle(http.MethodGet, "/.well-known/jwks.json", h.JWKS)
	return &rt
}

// JWKS renders the public keys, cacheable for MaxAge.
func (h *JWKSHandler) JWKS(ctx context.Context, _ *httpapi.Request) (*httpapi.Response, error) {
	keys, err := h.Keys.Published(ctx)
	if err != nil {
		return nil, httpapi.Unavailable(err)
	}
	out := jwks{Keys: make([]signing.JWK, 0, len(keys))}
	for _, k := range keys {
		out.Keys = append(out.Keys, k.PublicJWK())
	}
	resp, err := httpapi.JSON(http.StatusOK, out)
	if err != nil {
		return nil, err
	}
	resp.Headers = map[string]string{"Cache-Control": "public, max-age=" + strconv.Itoa(int(h.MaxAge/time.Second))}
	return resp, nil
}
