package authapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/httpapi"

	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

// RevokeHandler serves POST /v1/auth/revoke (RFC 7009): the API key that owns a token revokes
// it. A refresh token takes its whole family with it; an access token's id goes on a deny-list
// until the token expires. Unknown tokens, and tokens of other keys, get 200 as well, so the
// endpoint tells nobody which tokens exist.
type RevokeHandler struct {
	Keys   KeyAuthenticator
	Tokens Tokens
	Access TokenVerifier
	// Settings.MaxAccessTTL is how long a revoked family's access tokens stay denied (plus the
	// verifiers' leeway): none of them can live longer.
	Settings Settings
	Now      func() time.Time
}

type revokeRequest struct {
	Token         string  `json:"token"`
	TokenTypeHint *string `json:"token_type_hint"` // absent means no hint; "" is not a hint
}

// Router returns the routes of the revoke function.
func (h *RevokeHandler) Router() *httpapi.Router {
	var rt httpapi.Router
	rt.Handle(http.MethodPost, "/v1/auth/revoke", h.Revoke)
	return &rt
}

// Revoke revokes the token in the body on behalf of the API key in Authorization: Bearer.
func (h *RevokeHandler) Revoke(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	var req revokeRequest
	if err := httpapi.DecodeJSON(r, &req, httpapi.MaxBodyBytes); err != nil {
		return nil, err
	}
	if req.Token == "" {
		return nil, httpapi.InvalidRequest("token is required: the refresh or access token to revoke.")
	}
	if hint := req.TokenTypeHint; hint != nil && *hint != "refresh_token" && *hint != "access_token" {
		return nil, httpapi.InvalidRequest(`token_type_hint must be "refresh_token" or "access_token".`)
	}
	cred, ok := httpapi.Bearer(r)
	if !ok {
		return nil, httpapi.MissingCredentials()
	}
	who, err := h.caller(ctx, r, cred)
	if err != nil {
		return nil, err
	}
	k := who.key
	now := h.Now()
	if token.CheckRefresh(req.Token) == nil {
		rt, err := h.Tokens.RefreshToken(ctx, token.RefreshHash(req.Token))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, httpapi.Unavailable(err)
		case rt.KeyID == k.KeyID && who.covers(rt.FamilyID, ""):
			// RFC 7009 §2.1: revoking a refresh token also invalidates the access tokens of
			// the same grant, here every access token minted in its family.
			denied, err := h.Tokens.DeniedTokens(ctx, k.KeyID)
			switch {
			case errors.Is(err, store.ErrTooManyDenied) || (err == nil && len(denied) >= store.MaxDeniedPerKey):
				// The refresh tokens still go; the access tokens would overfill the list.
				if err := h.Tokens.RevokeFamily(ctx, k.KeyID, rt.FamilyID, time.Time{}, event(r, k.KeyID, "token.family.revoked", "revoke family="+rt.FamilyID+" access_tokens=kept", now)); err != nil && !errors.Is(err, store.ErrNotFound) {
					return nil, httpapi.Unavailable(err)
				}
				return nil, tooManyRevoked("The refresh token is revoked, but its access tokens keep working until they expire: ")
			case err != nil:
				return nil, httpapi.Unavailable(err)
			}
			err = h.Tokens.RevokeFamily(ctx, k.KeyID, rt.FamilyID, familyDenyUntil(now, h.Settings.MaxAccessTTL),
				event(r, k.KeyID, "token.family.revoked", "revoke family="+rt.FamilyID, now))
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, httpapi.Unavailable(err)
			}
		}
		return httpapi.JSON(http.StatusOK, struct{}{})
	}
	c, err := h.Access.Verify(ctx, req.Token)
	switch {
	case err == nil && c.KeyID == k.KeyID && who.covers(c.FamilyID, c.ID):
		// The authorizer reads a key's whole deny-list; keep it within bounds.
		denied, err := h.Tokens.DeniedTokens(ctx, k.KeyID)
		_, already := denied[c.ID]
		_, famRevoked := denied[store.DeniedFamily(c.FamilyID)]
		switch {
		case err == nil && (already || c.FamilyID != "" && famRevoked):
			return httpapi.JSON(http.StatusOK, struct{}{}) // revoked before, or with its family: nothing to add
		case errors.Is(err, store.ErrTooManyDenied) || (err == nil && len(denied) >= store.MaxDeniedPerKey):
			return nil, tooManyRevoked("")
		case err != nil:
			return nil, httpapi.Unavailable(err)
		}
		// Denied until no verifier would accept it any more: exp plus the largest leeway.
		if err := h.Tokens.DenyAccessToken(ctx, k.KeyID, c.ID, c.ExpiresAt.Add(token.MaxLeeway), event(r, k.KeyID, "token.revoked", "jti="+c.ID, now)); err != nil {
			return nil, httpapi.Unavailable(err)
		}
	case err != nil && !isInvalid(err):
		return nil, httpapi.Unavailable(err)
	}
	return httpapi.JSON(http.StatusOK, struct{}{})
}

// revoker is who asks for a revocation: an API key may revoke every token of its key; a session
// (an access token as the credential, as the console holds after dropping the key) may revoke
// only its own grant: its refresh family and its access tokens, so that signing out needs no
// API key. The access token proves possession of that grant, and revoking only takes power away.
type revoker struct {
	key     store.Key
	session bool
	family  string // the session's refresh family ("" for a token minted without one)
	jti     string // the session's own access token
}

// covers reports whether the revoker may revoke a token of family (and, for an access token,
// with id jti) of its own key.
func (w revoker) covers(family, jti string) bool {
	if !w.session {
		return true
	}
	return (w.family != "" && family == w.family) || (jti != "" && jti == w.jti)
}

// caller authenticates the Bearer credential of a revocation: an API key, or an access token.
func (h *RevokeHandler) caller(ctx context.Context, r *httpapi.Request, cred string) (revoker, error) {
	if apikey.LooksLikeKey(cred) {
		k, err := h.Keys.Authenticate(ctx, cred, sourceIP(r))
		if err != nil {
			return revoker{}, mapKeyErr(err)
		}
		return revoker{key: k}, nil
	}
	c, err := h.Access.Verify(ctx, cred)
	if err != nil {
		return revoker{}, mapTokenErr(err)
	}
	return revoker{key: store.Key{KeyID: c.KeyID}, session: true, family: c.FamilyID, jti: c.ID}, nil
}

// tooManyRevoked is the 409 for a key whose deny-list is full; prefix says what happened
// before the advice.
func tooManyRevoked(prefix string) error {
	return httpapi.New(httpapi.CodeTooManyRevokedTokens, prefix+fmt.Sprintf("This key already has %d revoked access tokens or logins that have not expired. Rotate the key with grace_period_seconds 0 (POST /v1/keys/{id}/rotate) to end all of its tokens at once.", store.MaxDeniedPerKey))
}

func isInvalid(err error) bool {
	var e *httpapi.Error
	return errors.As(mapTokenErr(err), &e) && e.Status == http.StatusUnauthorized
}
