package authapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/policy"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

// TokenHandler serves POST /v1/auth/token. A request costs three DynamoDB calls (key GetItem,
// rate-limit UpdateItem, one TransactWriteItems for refresh token, family, audit event and last
// use) and no Secrets Manager call once warm. When the container has authenticated the API key
// before, the GetItem and the UpdateItem run at the same time (keyHints): two sequential round
// trips; the first request of an API key in a container makes the three one after the other.
//
// The rate-limit window stays a single conditional UpdateItem and out of the transaction: it is
// the one item every request of a key writes, and inside transactions it would make a key's
// concurrent requests cancel each other (TransactionConflict), cost twice the write capacity,
// and lose the count X-RateLimit-Remaining reports (a transaction returns no values).
type TokenHandler struct {
	Keys     KeyAuthenticator
	Issuer   TokenIssuer
	Limiter  Limiter
	Tokens   Tokens
	Audit    Auditor
	Settings Settings
	Now      func() time.Time
	Random   io.Reader

	known keyHints
}

type tokenRequest struct {
	APIKey     *string  `json:"api_key"`
	CustomerID *string  `json:"customer_id"`
	Scopes     []string `json:"scopes"`
	ExpiresIn  *int     `json:"expires_in"`
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// Router returns the routes of the token function.
func (h *TokenHandler) Router() *httpapi.Router {
	var rt httpapi.Router
	rt.Handle(http.MethodPost, "/v1/auth/token", h.Token)
	return &rt
}

// Token exchanges an API key (JSON api_key or Authorization: Bearer) for an access token and a
// refresh token.
func (h *TokenHandler) Token(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	var req tokenRequest
	if r.Body != "" {
		if err := httpapi.DecodeJSON(r, &req, httpapi.MaxBodyBytes); err != nil {
			return nil, err
		}
	}
	key, err := presentedKey(r, req.APIKey)
	if err != nil {
		return nil, err
	}
	ttl := h.Settings.AccessTTL
	if req.ExpiresIn != nil {
		// Compare before converting: a huge value would overflow a Duration.
		if *req.ExpiresIn < 60 || *req.ExpiresIn > int(h.Settings.MaxAccessTTL/time.Second) {
			return nil, httpapi.InvalidRequest("expires_in must be a whole number of seconds from 60 to " +
				strconv.Itoa(int(h.Settings.MaxAccessTTL/time.Second)) + ".")
		}
		ttl = time.Duration(*req.ExpiresIn) * time.Second
	}
	customer := ""
	if req.CustomerID != nil {
		customer = *req.CustomerID
		if !customerIDPattern.MatchString(customer) {
			return nil, httpapi.InvalidRequest("customer_id must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'.")
		}
	}
	if _, err := checkScopes(req.Scopes, []string{policy.Admin}); err != nil { // known scopes, before any I/O
		return nil, err
	}

	now := h.Now()
	k, spent, err := h.authenticate(ctx, key, sourceIP(r))
	if errors.Is(err, apikey.ErrIPNotAllowed) {
		return nil, failedAttempt(ctx, h.Limiter, h.Audit, r, k, &spent, "token.issue", "ip_not_allowed", now, mapKeyErr(err))
	}
	if err != nil {
		return nil, mapKeyErr(err)
	}
	scopes, err := checkScopes(req.Scopes, k.Scopes)
	if err != nil {
		return nil, failedAttempt(ctx, h.Limiter, h.Audit, r, k, &spent, "token.issue", "invalid_scope", now, err)
	}
	limit, err := rateLimited(ctx, h.Limiter, h.Audit, r, k, &spent, "token.issue", now)
	if err != nil {
		return nil, withRate(err, limit)
	}

	famID, err := token.NewFamilyID(h.Random)
	if err != nil {
		return nil, httpapi.Internal(err)
	}
	access, claims, err := h.Issuer.Issue(ctx, token.Grant{
		KeyID: k.KeyID, KeyGen: k.KeyGen, CustomerID: customer, OwnerID: k.OwnerID, FamilyID: famID,
		Scopes: scopes, Tier: k.Tier, RateLimit: k.RateLimit, TTL: ttl,
	})
	if err != nil {
		return nil, httpapi.Unavailable(err)
	}
	plain, err := token.NewRefresh(h.Random)
	if err != nil {
		return nil, httpapi.Internal(err)
	}
	exp := now.Add(h.Settings.RefreshTTL)
	first := store.RefreshToken{
		Hash: token.RefreshHash(plain), FamilyID: famID, KeyID: k.KeyID, KeyGen: k.KeyGen, CustomerID: customer,
		Scopes: scopes, Status: store.StatusActive, CreatedAt: now, ExpiresAt: exp,
		Key: store.SnapshotOf(k), // what its refresh needs of the key, checked then by version
	}
	var touch *store.Touch
	if now.Sub(k.LastUsedAt) >= time.Minute {
		touch = &store.Touch{KeyID: k.KeyID, Hash: k.Hash, At: now}
	}
	audit := event(r, k.KeyID, "token.issued", "family="+famID, now)
	err = h.Tokens.CreateFamily(ctx, store.Family{ID: famID, KeyID: k.KeyID, Status: store.StatusActive, ExpiresAt: exp}, first, touch, audit)
	if errors.Is(err, store.ErrConflict) {
		// The key changed under us (rotated or revoked between read and write): ask for a retry.
		return nil, httpapi.Unavailable(err)
	}
	if err != nil {
		return nil, httpapi.Unavailable(err)
	}
	resp, err := httpapi.JSON(http.StatusOK, tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second),
		RefreshToken: plain, Scope: claims.Scope,
	})
	if err != nil {
		return nil, err
	}
	return withHeaders(resp, limit.Headers()), nil
}

// authenticate checks the presented API key. If this container has authenticated it before,
// the request's Take from the key's budget runs while the key is read (keyHints), and the
// budget returned holds it for the caller to settle with the key's own limit; otherwise the
// budget is empty and the caller takes after the read. A key that answers (authenticated, or
// refused by its allowlist) is remembered; a secret that no longer authenticates is forgotten.
func (h *TokenHandler) authenticate(ctx context.Context, raw string, source netip.Addr) (store.Key, budget, error) {
	id := hintID(raw)
	hint, known := h.known.get(id)
	var (
		spent budget
		wg    sync.WaitGroup
	)
	if known {
		wg.Go(func() { spent.take(ctx, h.Limiter, hint.keyID, hint.limit) })
	}
	k, err := h.Keys.Authenticate(ctx, raw, source)
	wg.Wait()
	switch {
	case errors.Is(err, apikey.ErrInvalid):
		h.known.drop(id)
		return k, spent, err
	case err != nil && !errors.Is(err, apikey.ErrIPNotAllowed):
		return k, spent, err
	case known && k.KeyID != hint.keyID:
		// Cannot happen (an API key belongs to one key for ever); if it did, the early Take
		// was another key's and must not decide this request.
		spent = budget{}
	}
	h.known.put(id, keyHint{keyID: k.KeyID, limit: k.RateLimit})
	return k, spent, err
}
