package authapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/policy"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

// RefreshHandler serves POST /v1/auth/refresh: single-use rotation of refresh tokens with
// reuse detection.
type RefreshHandler struct {
	Keys     KeyAuthenticator // for the pepper (successor derivation)
	KeyByID  KeyReader
	Issuer   TokenIssuer
	Limiter  Limiter
	Tokens   Tokens
	Audit    Auditor
	Settings Settings
	Now      func() time.Time
}

type refreshRequest struct {
	RefreshToken string   `json:"refresh_token"`
	Scopes       []string `json:"scopes"`
}

// Router returns the routes of the refresh function.
func (h *RefreshHandler) Router() *httpapi.Router {
	var rt httpapi.Router
	rt.Handle(http.MethodPost, "/v1/auth/refresh", h.Refresh)
	return &rt
}

func invalidGrant() error {
	return httpapi.InvalidGrant("The refresh token is invalid, expired or revoked. Get a new one from POST /v1/auth/token.")
}

// Refresh spends a refresh token and returns a new access token and its successor.
func (h *RefreshHandler) Refresh(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	var req refreshRequest
	if err := httpapi.DecodeJSON(r, &req, httpapi.MaxBodyBytes); err != nil {
		return nil, err
	}
	if req.RefreshToken == "" {
		return nil, httpapi.InvalidRequest("refresh_token is required.")
	}
	if _, err := checkScopes(req.Scopes, []string{policy.Admin}); err != nil {
		return nil, err
	}
	if token.CheckRefresh(req.RefreshToken) != nil {
		return nil, invalidGrant() // an access token or garbage: no lookup
	}
	now := h.Now()
	hash := token.RefreshHash(req.RefreshToken)
	parent, err := h.Tokens.RefreshToken(ctx, hash)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !now.Before(parent.ExpiresAt)) {
		return nil, invalidGrant()
	}
	if err != nil {
		return nil, httpapi.Unavailable(err)
	}
	fam, err := h.Tokens.Family(ctx, parent.FamilyID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && fam.Status != store.StatusActive) {
		return nil, invalidGrant()
	}
	if err != nil {
		return nil, httpapi.Unavailable(err)
	}
	k, err := h.KeyByID.KeyByID(ctx, parent.KeyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidGrant() // no key left to attribute (or bound) an audit event to
	}
	if err == nil && !k.TokenGenValid(parent.KeyGen, now) {
		return nil, failedAttempt(ctx, h.Limiter, h.Audit, r, k, "token.refresh", "key_revoked_or_rotated", now, invalidGrant())
	}
	if err != nil {
		return nil, httpapi.Unavailable(err)
	}
	if !apikey.IPAllowed(k.AllowedIPs, sourceIP(r)) {
		return nil, failedAttempt(ctx, h.Limiter, h.Audit, r, k, "token.refresh", "ip_not_allowed", now, httpapi.IPNotAllowed())
	}
	scopes, err := checkScopes(req.Scopes, parent.Scopes) // scopes may only narrow
	if err != nil {
		return nil, err
	}
	hasher, err := h.Keys.Hasher(ctx)
	if err != nil {
		return nil, httpapi.Unavailable(err)
	}
	successor := token.RefreshSuccessor(hasher, req.RefreshToken)
	child := store.RefreshToken{
		Hash: token.RefreshHash(successor), FamilyID: parent.FamilyID, KeyID: parent.KeyID, KeyGen: parent.KeyGen,
		CustomerID: parent.CustomerID, Scopes: scopes, Status: store.StatusActive,
		CreatedAt: now, ExpiresAt: now.Add(h.Settings.RefreshTTL),
	}

	if parent.Status == store.StatusActive {
		limit, err := rateLimited(ctx, h.Limiter, h.Audit, r, k, "token.refresh", now)
		if err != nil {
			return nil, withRate(err, limit)
		}
		err = h.Tokens.Rotate(ctx, parent, child, event(r, k.KeyID, "token.refreshed", "family="+parent.FamilyID, now))
		switch {
		case err == nil:
			return h.respond(ctx, k, parent, scopes, successor, limit.Headers())
		case !errors.Is(err, store.ErrConflict):
			return nil, httpapi.Unavailable(err)
		}
		// Lost a race with a concurrent refresh of the same token: read what won.
		parent, err = h.Tokens.RefreshToken(ctx, hash)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, invalidGrant()
		case err != nil:
			return nil, httpapi.Unavailable(err) // the token may well be good: never a 400 for an outage
		}
	}
	// A spent token: inside the grace window a retry gets the same successor; after it, reuse
	// means the token leaked, so the whole family goes.
	if parent.Status == store.StatusUsed && parent.SuccessorHash == child.Hash && now.Sub(parent.UsedAt) <= h.Settings.RefreshGrace {
		// Each retry mints another access token: it spends the key's budget like any refresh.
		limit, err := rateLimited(ctx, h.Limiter, h.Audit, r, k, "token.refresh", now)
		if err != nil {
			return nil, withRate(err, limit)
		}
		return h.respond(ctx, k, parent, scopes, successor, limit.Headers())
	}
	// Only say the family is revoked once it is: if the revocation fails, the caller's retry
	// detects the reuse again and revokes then.
	// The family's access tokens go too: the thief may have spent the stolen token first and
	// hold a live access token from it. (Always written: a full deny-list past its readers'
	// tolerance fails closed, 503, rather than leave a thief's token working.)
	if err := h.Tokens.RevokeFamily(ctx, k.KeyID, parent.FamilyID, familyDenyUntil(now, h.Settings.MaxAccessTTL),
		event(r, k.KeyID, "token.family.revoked", "refresh_token_reuse family="+parent.FamilyID, now)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, httpapi.Unavailable(err)
	}
	return nil, httpapi.InvalidGrant("This refresh token was already used; for safety every token of its login has been revoked. Get a new one from POST /v1/auth/token.")
}

func (h *RefreshHandler) respond(ctx context.Context, k store.Key, parent store.RefreshToken, scopes []string, successor string, headers map[string]string) (*httpapi.Response, error) {
	ttl := h.Settings.AccessTTL
	access, claims, err := h.Issuer.Issue(ctx, token.Grant{
		KeyID: k.KeyID, KeyGen: parent.KeyGen, CustomerID: parent.CustomerID, OwnerID: k.OwnerID,
		FamilyID: parent.FamilyID, Scopes: scopes, Tier: k.Tier, RateLimit: k.RateLimit, TTL: ttl,
	})
	if err != nil {
		return nil, httpapi.Unavailable(err)
	}
	resp, err := httpapi.JSON(http.StatusOK, tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second),
		RefreshToken: successor, Scope: claims.Scope,
	})
	if err != nil {
		return nil, err
	}
	return withHeaders(resp, headers), nil
}
