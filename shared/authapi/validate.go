package authapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/httpapi"

	"github.com/keygate/keygate/shared/store"
)

// ValidateHandler serves GET /v1/auth/validate.
//
// An invalid credential is a 401 in the error shape rather than RFC 7662's 200 {active:false}:
// this endpoint is called by the credential's own holder (as in the InnoAI guide) to test it,
// not by a resource server introspecting someone else's token, and a 401 is what every other
// endpoint answers for the same credential. Unlike the authorizer it reads the key and the
// deny-list on every call, so it reflects a revocation at once.
type ValidateHandler struct {
	Keys    KeyAuthenticator
	KeyByID KeyReader
	Tokens  Tokens
	Access  TokenVerifier
	Now     func() time.Time
}

type validateResponse struct {
	Valid      bool     `json:"valid"`
	KeyID      string   `json:"key_id"`
	Scopes     []string `json:"scopes"`
	RateLimit  int      `json:"rate_limit"`
	Tier       string   `json:"tier,omitempty"`
	TokenType  string   `json:"token_type"`
	CustomerID string   `json:"customer_id,omitempty"`
	OwnerID    string   `json:"owner_id,omitempty"`
	ExpiresAt  string   `json:"expires_at,omitempty"`
}

// Router returns the routes of the validate function.
func (h *ValidateHandler) Router() *httpapi.Router {
	var rt httpapi.Router
	rt.Handle(http.MethodGet, "/v1/auth/validate", h.Validate)
	return &rt
}

// Validate describes the API key or access token in Authorization: Bearer.
func (h *ValidateHandler) Validate(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	cred, ok := httpapi.Bearer(r)
	if !ok {
		return nil, httpapi.MissingCredentials()
	}
	if apikey.LooksLikeKey(cred) {
		k, err := h.Keys.Authenticate(ctx, cred, sourceIP(r))
		if err != nil {
			return nil, mapKeyErr(err)
		}
		resp := validateResponse{Valid: true, KeyID: k.KeyID, Scopes: k.Scopes, RateLimit: k.RateLimit, Tier: k.Tier,
			TokenType: "api_key", OwnerID: k.OwnerID}
		if !k.ExpiresAt.IsZero() {
			resp.ExpiresAt = k.ExpiresAt.UTC().Format(time.RFC3339)
		}
		return httpapi.JSON(http.StatusOK, resp)
	}
	c, err := h.Access.Verify(ctx, cred)
	if err != nil {
		return nil, mapTokenErr(err)
	}
	now := h.Now()
	k, err := h.KeyByID.KeyByID(ctx, c.KeyID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !k.TokenGenValid(c.KeyGen, now)) {
		return nil, httpapi.InvalidToken()
	}
	if err != nil {
		return nil, httpapi.Unavailable(err)
	}
	// Access tokens are not bound to the key's allowed_ips: they are minted for other callers
	// (browsers, services) than the backend holding the key. See docs/design.md, "IP allowlists".
	denied, err := h.Tokens.AccessTokenDenied(ctx, c.KeyID, c.ID, c.FamilyID)
	if err != nil {
		return nil, httpapi.Unavailable(err)
	}
	if denied {
		return nil, httpapi.InvalidToken()
	}
	return httpapi.JSON(http.StatusOK, validateResponse{
		Valid: true, KeyID: c.KeyID, Scopes: c.Scopes(), RateLimit: c.RateLimit, Tier: c.Tier,
		TokenType: "access_token", CustomerID: c.CustomerID, OwnerID: c.OwnerID,
		ExpiresAt: c.ExpiresAt.UTC().Format(time.RFC3339),
	})
}
