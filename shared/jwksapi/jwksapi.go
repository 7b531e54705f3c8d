// Package jwksapi serves GET /.well-known/jwks.json: the public halves of the keys verifiers
// must accept (AWSCURRENT and AWSPREVIOUS) and of the next key once the rotation has tested it
// (AWSPENDING labelled KEYGATE_TESTED), so a verifier caching the JWKS for its max-age already
// knows a key when it starts signing. It never serves private material: it renders signkey.JWK
// values, which have no private members.
package jwksapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/keygate/keygate/shared/apierr"
	"github.com/keygate/keygate/shared/httpx"
	"github.com/keygate/keygate/shared/signkey"
)

// Publisher lists the keys to publish; *keyring.Keyring is one.
type Publisher interface {
	Published(ctx context.Context) ([]*signkey.Key, error)
}

// Handler serves the JWKS.
type Handler struct {
	Keys Publisher
	// MaxAge is the Cache-Control max-age of the answer: keyring.PublishedMaxAge, which the
	// signers' activation delay waits out, so a cached JWKS knows a key before it signs.
	MaxAge time.Duration
}

type jwks struct {
	Keys []signkey.JWK `json:"keys"`
}

// Router returns the routes of the jwks function.
func (h *Handler) Router() *httpx.Router {
	var rt httpx.Router
	rt.Handle(http.MethodGet, "/.well-known/jwks.json", h.JWKS)
	return &rt
}

// JWKS renders the public keys, cacheable for MaxAge.
func (h *Handler) JWKS(ctx context.Context, _ *httpx.Request) (*httpx.Response, error) {
	keys, err := h.Keys.Published(ctx)
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	out := jwks{Keys: make([]signkey.JWK, 0, len(keys))}
	for _, k := range keys {
		out.Keys = append(out.Keys, k.PublicJWK())
	}
	resp, err := httpx.JSON(http.StatusOK, out)
	if err != nil {
		return nil, err
	}
	resp.Headers = map[string]string{"Cache-Control": "public, max-age=" + strconv.Itoa(int(h.MaxAge/time.Second))}
	return resp, nil
}
