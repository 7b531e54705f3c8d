// Package authapi implements the public /v1/auth endpoints: token (API key → access and refresh
// token), refresh, validate and revoke.
//
// Handlers read as a straight line (decode → parse key without I/O → one lookup → verify →
// rate limit → sign → one transactional write) and return *httpapi.Error values; httpapi renders
// them. Where the key's id and limit are known before its lookup (an API key this container has
// seen, a refresh token's key snapshot), the rate limit runs beside the lookup or replaces it,
// and the transaction proves what was assumed. Keys and tokens never reach a log, an audit event
// or an error message.
package authapi

import (
	"context"
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/policy"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

// KeyAuthenticator checks a presented API key and yields the pepper's hasher.
type KeyAuthenticator interface {
	Authenticate(ctx context.Context, raw string, source netip.Addr) (store.Key, error)
	Hasher(ctx context.Context) (*apikey.Hasher, error)
}

// KeyReader reads a key's current record by id.
type KeyReader interface {
	KeyByID(ctx context.Context, id string) (store.Key, error)
}

// TokenIssuer signs access tokens.
type TokenIssuer interface {
	Issue(ctx context.Context, g token.Grant) (string, *token.Claims, error)
}

// TokenVerifier checks access tokens.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (*token.Claims, error)
}

// Limiter spends a key's per-minute budget.
type Limiter interface {
	Take(ctx context.Context, keyID string, limit int) (store.RateDecision, error)
}

// Auditor records failed attempts on known keys.
type Auditor interface {
	AppendEvent(ctx context.Context, e store.Event) error
}

// Tokens stores refresh-token families and revoked access tokens.
type Tokens interface {
	CreateFamily(ctx context.Context, fam store.Family, first store.RefreshToken, touch *store.Touch, audit ...store.Event) error
	RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error)
	Family(ctx context.Context, id string) (store.Family, error)
	// Rotate spends parent for child in one transaction that also checks the family and, with
	// child.Key, that the key is still at that snapshot's version: store.ErrFamilyInactive,
	// store.ErrKeyChanged, or store.ErrConflict for a lost race.
	Rotate(ctx context.Context, parent, child store.RefreshToken, audit ...store.Event) error
	// Retire marks an active refresh token revoked (its family turned out to be over).
	Retire(ctx context.Context, hash string) error
	// RevokeFamily revokes a family and, with a non-zero denyUntil, denies its access tokens
	// (fid claim) on keyID's deny-list until then.
	RevokeFamily(ctx context.Context, keyID, id string, denyUntil time.Time, audit ...store.Event) error
	// DenyAccessToken denies jti until the given time (its exp plus the verifiers' leeway).
	DenyAccessToken(ctx context.Context, keyID, jti string, until time.Time, audit ...store.Event) error
	AccessTokenDenied(ctx context.Context, keyID, jti, familyID string) (bool, error)
	DeniedTokens(ctx context.Context, keyID string) (map[string]time.Time, error)
}

// familyDenyUntil is how long a revoked family stays on its key's deny-list: until the last
// access token minted in it (at most now, living at most maxAccessTTL) is past every
// verifier's leeway.
func familyDenyUntil(now time.Time, maxAccessTTL time.Duration) time.Time {
	return now.Add(maxAccessTTL + token.MaxLeeway)
}

// Settings are the stage's token lifetimes (app.Config.Lifetimes).
type Settings = token.Lifetimes

var customerIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// mapKeyErr maps key-authentication failures onto the public errors.
func mapKeyErr(err error) error {
	switch {
	case errors.Is(err, apikey.ErrInvalid):
		return httpapi.InvalidAPIKey()
	case errors.Is(err, apikey.ErrIPNotAllowed):
		return httpapi.IPNotAllowed()
	default:
		return httpapi.Unavailable(err)
	}
}

// mapTokenErr maps access-token verification failures onto the public errors.
func mapTokenErr(err error) error {
	switch {
	case errors.Is(err, token.ErrExpired):
		return httpapi.TokenExpired()
	case errors.Is(err, token.ErrInvalid):
		return httpapi.InvalidToken()
	default:
		return httpapi.Unavailable(err)
	}
}

// checkScopes validates requested scopes against the known set and the scopes held. An empty
// request means all held scopes. admin:full held grants any scope.
func checkScopes(requested, held []string) ([]string, error) {
	if len(requested) == 0 {
		return slices.Clone(held), nil
	}
	if len(requested) > policy.MaxScopes {
		return nil, httpapi.InvalidScope("Too many scopes; name each scope at most once.")
	}
	var unknown, notHeld, out []string
	for _, s := range requested {
		switch {
		case !policy.Valid(s):
			unknown = append(unknown, s)
		case !slices.Contains(held, s) && !slices.Contains(held, policy.Admin):
			notHeld = append(notHeld, s)
		case !slices.Contains(out, s):
			out = append(out, s)
		}
	}
	if len(unknown) > 0 {
		return nil, httpapi.InvalidScope("Unknown scopes: " + quoteList(unknown) + ". Valid scopes: " + strings.Join(policy.All, ", ") + ".")
	}
	if len(notHeld) > 0 {
		return nil, httpapi.InvalidScope("Not granted: " + quoteList(notHeld) + ". Request a subset of the scopes you hold.")
	}
	return out, nil
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		if len(s) > 64 { // never echo large input back
			s = s[:64] + "…"
		}
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// sourceIP is the caller's address from API Gateway's request context (never X-Forwarded-For).
func sourceIP(r *httpapi.Request) netip.Addr {
	ip, _ := httpapi.SourceIP(r)
	return ip
}

// event builds an audit record for the request. Never a secret.
func event(r *httpapi.Request, keyID, action, detail string, now time.Time) store.Event {
	return store.Event{
		KeyID: keyID, Time: now, Action: action, ActorKeyID: keyID,
		SourceIP: r.RequestContext.Identity.SourceIP, RequestID: r.RequestContext.RequestID, Detail: detail,
	}
}

// budget is one request's spending of its key's rate-limit budget: at most one Take that
// counts, however early the request learned the key's id and limit. A request may Take before
// it has read the key, with the limit it remembers (the token endpoint) or the one its refresh
// token's key snapshot names, to save a round trip; decide then reconciles that Take with the
// key's own limit without counting the request twice. The zero budget has taken nothing.
type budget struct {
	taken bool
	limit int // the limit the Take was made with
	d     store.RateDecision
	err   error
}

// take spends one request of keyID's budget of limit.
func (b *budget) take(ctx context.Context, l Limiter, keyID string, limit int) {
	b.d, b.err = l.Take(ctx, keyID, limit)
	b.taken, b.limit = true, limit
}

// decide returns the decision for k's request. Without a Take yet, it takes with k's limit. A
// Take made with k's limit stands, and so does a failed one (the dependency error is the
// answer: a failed Take may have counted). A Take made with another limit is reconciled: one
// that was allowed counted, and left the window's count; under k's limit the request is allowed
// if that count is within it (with the remaining recomputed), else it is refused by taking with
// k's limit, which finds the window full and counts nothing (and claims the window's first
// refusal if no one has). One that was refused counted nothing: under a higher limit it takes
// again, under one no higher it stays refused. (That early refusal claimed the window's
// first-refusal mark, so when a raised limit then allows the request, the window's next refusal
// is not audited: a key's audit trail misses at most that one refusal per limit change.)
func (b *budget) decide(ctx context.Context, l Limiter, k store.Key) (store.RateDecision, error) {
	switch count := b.limit - b.d.Remaining; {
	case !b.taken:
		b.take(ctx, l, k.KeyID, k.RateLimit)
	case b.err != nil || b.limit == k.RateLimit:
	case b.d.Allowed && count <= k.RateLimit:
		b.limit, b.d.Limit, b.d.Remaining = k.RateLimit, k.RateLimit, k.RateLimit-count
	case b.d.Allowed || k.RateLimit > b.limit:
		b.take(ctx, l, k.KeyID, k.RateLimit)
	default:
		b.limit, b.d.Limit = k.RateLimit, k.RateLimit
	}
	return b.d, b.err
}

// rateLimited spends one request of k's budget (or settles what b already spent); a refusal is
// audited and becomes a 429.
func rateLimited(ctx context.Context, l Limiter, a Auditor, r *httpapi.Request, k store.Key, b *budget, action string, now time.Time) (store.RateDecision, error) {
	d, err := b.decide(ctx, l, k)
	if err != nil {
		return d, httpapi.Unavailable(err)
	}
	return d, overLimit(ctx, a, r, k, action, d, now)
}

// overLimit is nil when d allowed the request, else the 429. Only the window's first refusal
// is audited: one audit item per key and window, however hard the key is hammered.
func overLimit(ctx context.Context, a Auditor, r *httpapi.Request, k store.Key, action string, d store.RateDecision, now time.Time) error {
	if d.Allowed {
		return nil
	}
	if d.FirstRefusal {
		_ = a.AppendEvent(ctx, event(r, k.KeyID, action+".failed", "rate_limit_exceeded", now))
	}
	return httpapi.RateLimited(d.RetryAfter(now))
}

// failedAttempt records a refused attempt on a known key (outside its allowlist, scopes it does
// not hold, a revoked generation) and returns refusal. The attempt spends the key's rate-limit
// budget like a successful one, and is audited only within that budget, so a leaked key cannot
// write more to the 90-day audit trail than its rate limit allows: past the budget the caller
// gets the 429. If the limiter itself fails, the attempt is refused as asked and not audited:
// an unbounded write is what this prevents. What b already spent is the attempt's spending.
func failedAttempt(ctx context.Context, l Limiter, a Auditor, r *httpapi.Request, k store.Key, b *budget, action, reason string, now time.Time, refusal error) error {
	d, err := b.decide(ctx, l, k)
	if err != nil {
		return refusal
	}
	if err := overLimit(ctx, a, r, k, action, d, now); err != nil {
		return withRate(err, d)
	}
	_ = a.AppendEvent(ctx, event(r, k.KeyID, action+".failed", reason, now))
	return withRate(refusal, d)
}

// withHeaders merges headers into resp.
func withHeaders(resp *httpapi.Response, headers map[string]string) *httpapi.Response {
	if resp.Headers == nil {
		resp.Headers = map[string]string{}
	}
	for k, v := range headers {
		resp.Headers[k] = v
	}
	return resp
}

// withRate attaches the rate-limit headers of d to an error response (429 included).
func withRate(err error, d store.RateDecision) error {
	if d.Limit == 0 {
		return err
	}
	return httpapi.From(err).WithHeaders(d.Headers())
}

// presentedKey returns the API key of a request: the api_key body field or the Authorization
// header. Only a request with neither gets "no credentials"; an empty, oversized or malformed
// credential is an invalid key, with the same body as every other invalid key.
func presentedKey(r *httpapi.Request, bodyKey *string) (string, error) {
	header, single := httpapi.SingleHeader(r.Headers, r.MultiValueHeaders, "Authorization")
	switch {
	case !single:
		return "", httpapi.InvalidRequest("Send one Authorization header.")
	case bodyKey != nil && header != "":
		return "", httpapi.InvalidRequest("Send the API key once: either in Authorization: Bearer or as api_key, not both.")
	case bodyKey != nil:
		return *bodyKey, nil
	case header != "":
		if cred, ok := httpapi.ParseBearer(header); ok {
			return cred, nil
		}
		return "", httpapi.InvalidAPIKey()
	default:
		return "", httpapi.MissingCredentials()
	}
}
