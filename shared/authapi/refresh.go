package authapi

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/policy"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

// RefreshHandler serves POST /v1/auth/refresh: single-use rotation of refresh tokens with
// reuse detection.
//
// A refresh costs three DynamoDB calls: the token's GetItem, the rate-limit UpdateItem, and one
// TransactWriteItems that spends the token and stores its successor and checks what a refresh
// used to read first: that the family is active and unexpired, and that the key is still at the
// version of the snapshot the token carries (store.KeySnapshot), so the key's status,
// generation, allowlist, limit and claims the refresh was decided on are the key's state when
// it commits. A stale snapshot costs a read of the key and another transaction; every refusal
// is confirmed with the key itself, and a token without a snapshot (stored before they existed)
// reads the key first. A spent token (a retry, or reuse) reads its family and key as before.
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

// maxRotateTries bounds the transactions of one refresh whose key keeps changing under it
// (each retry reads the key first): then it is a 503, and the client retries.
const maxRotateTries = 3

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
	rf := &refresh{h: h, r: r, raw: req.RefreshToken, scopes: req.Scopes, now: h.Now()}
	parent, err := h.Tokens.RefreshToken(ctx, token.RefreshHash(req.RefreshToken))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !rf.now.Before(parent.ExpiresAt)) {
		return nil, invalidGrant()
	}
	if err != nil {
		return nil, httpapi.Unavailable(err)
	}
	if parent.Status == store.StatusActive {
		return rf.rotate(ctx, parent)
	}
	return rf.spentToken(ctx, parent)
}

// refresh is one refresh request.
type refresh struct {
	h      *RefreshHandler
	r      *httpapi.Request
	raw    string   // the presented refresh token
	scopes []string // the scopes asked for
	now    time.Time
	spent  budget // what the request spent of its key's budget
}

// rotate spends an active parent. It decides on the key snapshot the parent carries, confirms
// with the key itself before refusing (a snapshot may be stale either way), and lets the
// transaction prove the key it decided on is the key's current state.
func (rf *refresh) rotate(ctx context.Context, parent store.RefreshToken) (*httpapi.Response, error) {
	var (
		k     store.Key
		err   error
		fresh = parent.Key == nil // k is the key as read, not a snapshot
	)
	if fresh {
		if k, err = rf.key(ctx, parent.KeyID); err != nil {
			return nil, err
		}
	} else {
		k = parent.Key.Key(parent.KeyID)
	}
	for tries := 0; ; {
		if reason, refusal := rf.refusal(k, parent); refusal != nil {
			if !fresh {
				if k, err = rf.key(ctx, parent.KeyID); err != nil {
					return nil, err
				}
				fresh = true
				continue
			}
			return nil, failedAttempt(ctx, rf.h.Limiter, rf.h.Audit, rf.r, k, &rf.spent, "token.refresh", reason, rf.now, refusal)
		}
		scopes, err := checkScopes(rf.scopes, parent.Scopes) // scopes may only narrow
		if err != nil {
			return nil, err
		}
		d, err := rf.spent.decide(ctx, rf.h.Limiter, k)
		if err != nil {
			return nil, withRate(httpapi.Unavailable(err), d)
		}
		if !d.Allowed && !fresh { // a limit raised since the snapshot would allow it
			if k, err = rf.key(ctx, parent.KeyID); err != nil {
				return nil, err
			}
			fresh = true
			continue
		}
		if err := overLimit(ctx, rf.h.Audit, rf.r, k, "token.refresh", d, rf.now); err != nil {
			return nil, withRate(err, d)
		}
		successor, err := rf.successor(ctx)
		if err != nil {
			return nil, err
		}
		child := store.RefreshToken{
			Hash: token.RefreshHash(successor), FamilyID: parent.FamilyID, KeyID: parent.KeyID, KeyGen: parent.KeyGen,
			CustomerID: parent.CustomerID, Scopes: scopes, Status: store.StatusActive,
			CreatedAt: rf.now, ExpiresAt: rf.now.Add(rf.h.Settings.RefreshTTL), Key: store.SnapshotOf(k),
		}
		tries++
		err = rf.h.Tokens.Rotate(ctx, parent, child, event(rf.r, k.KeyID, "token.refreshed", "family="+parent.FamilyID, rf.now))
		switch {
		case err == nil:
			return rf.respond(ctx, k, parent, scopes, successor, d)
		case errors.Is(err, store.ErrFamilyInactive):
			// The family was revoked (or expired): retire the token so that every later
			// attempt with it is refused at its read, before it spends the key's budget again.
			// Best effort: the answer is the same either way.
			_ = rf.h.Tokens.Retire(ctx, parent.Hash)
			return nil, invalidGrant()
		case errors.Is(err, store.ErrKeyChanged) && tries < maxRotateTries:
			// The key changed since the snapshot (or since it was read): decide again on the key.
			if k, err = rf.key(ctx, parent.KeyID); err != nil {
				return nil, err
			}
			fresh = true
		case errors.Is(err, store.ErrKeyChanged):
			return nil, httpapi.Unavailable(err)
		case errors.Is(err, store.ErrConflict):
			// Lost a race with a concurrent refresh of the same token: read what won.
			parent, err = rf.h.Tokens.RefreshToken(ctx, parent.Hash)
			switch {
			case errors.Is(err, store.ErrNotFound):
				return nil, invalidGrant()
			case err != nil:
				return nil, httpapi.Unavailable(err) // the token may well be good: never a 400 for an outage
			}
			return rf.spentToken(ctx, parent)
		default:
			return nil, httpapi.Unavailable(err)
		}
	}
}

// spentToken answers for a token that is not active. Inside the grace window a retry of a spent
// token gets the same successor; after it, reuse means the token leaked, so the whole family
// goes. A retired token (its family is over) is refused.
func (rf *refresh) spentToken(ctx context.Context, parent store.RefreshToken) (*httpapi.Response, error) {
	if parent.Status != store.StatusUsed {
		return nil, invalidGrant()
	}
	// The family and the key, read at once: one round trip.
	var (
		fam            store.Family
		k              store.Key
		famErr, keyErr error
		wg             sync.WaitGroup
	)
	wg.Go(func() { fam, famErr = rf.h.Tokens.Family(ctx, parent.FamilyID) })
	k, keyErr = rf.key(ctx, parent.KeyID)
	wg.Wait()
	switch {
	case errors.Is(famErr, store.ErrNotFound) || (famErr == nil && fam.Status != store.StatusActive):
		return nil, invalidGrant()
	case famErr != nil:
		return nil, httpapi.Unavailable(famErr)
	case keyErr != nil:
		return nil, keyErr
	}
	if reason, refusal := rf.refusal(k, parent); refusal != nil {
		return nil, failedAttempt(ctx, rf.h.Limiter, rf.h.Audit, rf.r, k, &rf.spent, "token.refresh", reason, rf.now, refusal)
	}
	scopes, err := checkScopes(rf.scopes, parent.Scopes)
	if err != nil {
		return nil, err
	}
	successor, err := rf.successor(ctx)
	if err != nil {
		return nil, err
	}
	if parent.SuccessorHash == token.RefreshHash(successor) && rf.now.Sub(parent.UsedAt) <= rf.h.Settings.RefreshGrace {
		// Each retry mints another access token: it spends the key's budget like any refresh
		// (once: a request that lost a race spent it already).
		d, err := rateLimited(ctx, rf.h.Limiter, rf.h.Audit, rf.r, k, &rf.spent, "token.refresh", rf.now)
		if err != nil {
			return nil, withRate(err, d)
		}
		return rf.respond(ctx, k, parent, scopes, successor, d)
	}
	// Only say the family is revoked once it is: if the revocation fails, the caller's retry
	// detects the reuse again and revokes then.
	// The family's access tokens go too: the thief may have spent the stolen token first and
	// hold a live access token from it. (Always written: a full deny-list past its readers'
	// tolerance fails closed, 503, rather than leave a thief's token working.)
	if err := rf.h.Tokens.RevokeFamily(ctx, k.KeyID, parent.FamilyID, familyDenyUntil(rf.now, rf.h.Settings.MaxAccessTTL),
		event(rf.r, k.KeyID, "token.family.revoked", "refresh_token_reuse family="+parent.FamilyID, rf.now)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, httpapi.Unavailable(err)
	}
	return nil, httpapi.InvalidGrant("This refresh token was already used; for safety every token of its login has been revoked. Get a new one from POST /v1/auth/token.")
}

// refusal is why k refuses a refresh of parent, with the reason audited: a revoked, rotated or
// expired key (its generation), or a source outside its allowlist. Nil when k allows it.
func (rf *refresh) refusal(k store.Key, parent store.RefreshToken) (reason string, refusal error) {
	switch {
	case !k.TokenGenValid(parent.KeyGen, rf.now):
		return "key_revoked_or_rotated", invalidGrant()
	case !apikey.IPAllowed(k.AllowedIPs, sourceIP(rf.r)):
		return "ip_not_allowed", httpapi.IPNotAllowed()
	}
	return "", nil
}

// key reads the key of a refresh; the error is the answer when there is none.
func (rf *refresh) key(ctx context.Context, keyID string) (store.Key, error) {
	k, err := rf.h.KeyByID.KeyByID(ctx, keyID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return k, invalidGrant() // no key left to attribute (or bound) an audit event to
	case err != nil:
		return k, httpapi.Unavailable(err)
	}
	return k, nil
}

// successor is the presented token's successor: derived from it under the pepper, so a retry
// in the grace window gets the very same one.
func (rf *refresh) successor(ctx context.Context) (string, error) {
	hasher, err := rf.h.Keys.Hasher(ctx)
	if err != nil {
		return "", httpapi.Unavailable(err)
	}
	return token.RefreshSuccessor(hasher, rf.raw), nil
}

// respond answers 200 with a new access token of parent's login, for scopes, and the successor,
// with the rate-limit headers of d.
func (rf *refresh) respond(ctx context.Context, k store.Key, parent store.RefreshToken, scopes []string, successor string, d store.RateDecision) (*httpapi.Response, error) {
	ttl := rf.h.Settings.AccessTTL
	access, claims, err := rf.h.Issuer.Issue(ctx, token.Grant{
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
	return withHeaders(resp, d.Headers()), nil
}
