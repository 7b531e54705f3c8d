package authapi

import (
	"context"
	"net/http"
	"time"

	"github.com/keygate/keygate/shared/apierr"
	"github.com/keygate/keygate/shared/httpx"
)

// TokenHandler serves POST /v1/auth/token.
type TokenHandler struct {
	Keys   KeyAuthenticator
	Issuer TokenIssuer
	Limits Limits
}

type tokenRequest struct {
	APIKey     string   `json:"api_key"`
	CustomerID *string  `json:"customer_id"`
	Scopes     []string `json:"scopes"`
	ExpiresIn  *int     `json:"expires_in"`
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// Router returns the routes of the token function.
func (h *TokenHandler) Router() *httpx.Router {
	var rt httpx.Router
	rt.Handle(http.MethodPost, "/v1/auth/token", h.Token)
	return &rt
}

// Token exchanges an API key (JSON api_key or Authorization: Bearer) for an access token.
func (h *TokenHandler) Token(ctx context.Context, r *httpx.Request) (*httpx.Response, error) {
	var req tokenRequest
	if r.Body != "" {
		if err := httpx.DecodeJSON(r, &req, httpx.MaxBodyBytes); err != nil {
			return nil, err
		}
	}
	bearer, hasBearer := httpx.Bearer(r)
	key := req.APIKey
	switch {
	case key != "" && hasBearer:
		return nil, apierr.InvalidRequest("Send the API key once: either in Authorization: Bearer or as api_key, not both.")
	case key == "" && hasBearer:
		key = bearer
	case key == "":
		return nil, apierr.MissingCredentials()
	}
	ttl := h.Limits.DefaultTTL
	if req.ExpiresIn != nil {
		ttl = time.Duration(*req.ExpiresIn) * time.Second
		if *req.ExpiresIn < 60 || ttl > h.Limits.MaxTTL {
			return nil, apierr.InvalidRequest("expires_in must be between 60 and " + itoa(int(h.Limits.MaxTTL/time.Second)) + " seconds.")
		}
	}
	customer := ""
	if req.CustomerID != nil {
		customer = *req.CustomerID
		if !customerIDPattern.MatchString(customer) {
			return nil, apierr.InvalidRequest("customer_id must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'.")
		}
	}
	if len(req.Scopes) > 0 {
		// Checked against the known set before any lookup; checked against the key below.
		if _, err := checkScopes(req.Scopes, []string{"admin:full"}); err != nil {
			return nil, err
		}
	}

	k, err := h.Keys.Authenticate(ctx, key, sourceIP(r))
	if err != nil {
		return nil, mapKeyErr(err)
	}
	scopes, err := checkScopes(req.Scopes, k.Scopes)
	if err != nil {
		return nil, err
	}
	access, claims, err := h.Issuer.Issue(ctx, grantFor(k, customer, scopes, ttl))
	if err != nil {
		return nil, apierr.Unavailable(err)
	}
	return httpx.JSON(http.StatusOK, tokenResponse{
		AccessToken: access,
		TokenType:   "Bearer",
		ExpiresIn:   int(ttl / time.Second),
		Scope:       claims.Scope,
	})
}
