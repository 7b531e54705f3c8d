// Package authorizer is the API Gateway REQUEST authorizer: it accepts an access token or an
// API key in Authorization: Bearer and answers with an IAM policy listing exactly the method
// ARNs the credential's scopes allow (see package policy), plus a flat context for backends.
//
// Outcomes follow API Gateway's contract: the error "Unauthorized" → 401; a policy without the
// called method → 403 (ACCESS_DENIED, whose gateway response reads deny_code, deny_message
// and required_scope from this context); any other error → AUTHORIZER_FAILURE (mapped to 503),
// so an outage never yields an Allow, nor a Deny that API Gateway would cache. The token is
// never logged nor put into the context.
//
// The warm path does no network I/O: a token verified once is remembered (bounded, keyed by a
// hash of the token, until it expires or for at most the revocation interval), API-key lookups
// are cached, and revocation state comes from package revocation's per-container cache.
package authorizer

import (
	"context"
	"crypto/subtle"
	"errors"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/httpapi"

	"github.com/keygate/keygate/shared/policy"

	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

// ErrUnauthorized is the exact error API Gateway turns into a 401.
var ErrUnauthorized = errors.New("Unauthorized")

// errUnavailable is returned when a dependency fails; API Gateway answers AUTHORIZER_FAILURE.
var errUnavailable = errors.New("authorizer: dependency unavailable")

// MaxHeaderBytes bounds the Authorization header before anything parses it.
const MaxHeaderBytes = token.MaxBytes + len("Bearer ")

// KeyAuthenticator checks API keys.
type KeyAuthenticator interface {
	Authenticate(ctx context.Context, raw string, source netip.Addr) (store.Key, error)
}

// TokenVerifier checks access tokens.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (*token.Claims, error)
}

// RevocationChecker says whether a verified access token was revoked since it was minted
// (its key revoked or rotated past its generation, or the token itself).
type RevocationChecker interface {
	Token(ctx context.Context, keyID string, gen int64, jti, familyID string) error
}

// UsageIdentifiers names the usage-plan bucket of a key (usageplan.Identifiers): the value of
// its API Gateway API key, which the answer carries as usageIdentifierKey so API Gateway
// applies the key's rate_limit and quota to the call, cached answers included.
type UsageIdentifiers interface {
	UsageIdentifier(ctx context.Context, keyID string) (string, error)
}

// Authorizer handles authorizer events. Keys, Tokens, Revoked, Usage and Log are required.
type Authorizer struct {
	Keys    KeyAuthenticator
	Tokens  TokenVerifier
	Revoked RevocationChecker
	Usage   UsageIdentifiers
	Log     *slog.Logger
	Now     func() time.Time // default time.Now
	// Remember is how long a verified token is trusted without re-verifying its signature
	// (capped by its expiry); a signing key dropped from the keyring stops verifying within
	// it. Default 60 s.
	Remember time.Duration
	// MaxCached bounds the verified-token cache. Default 10,000 (about 5 MB).
	MaxCached int

	once     sync.Once
	seed     maphash.Seed
	verified *TTLCache[uint64, *verifiedToken]
	docs     *TTLCache[string, events.APIGatewayCustomAuthorizerPolicy]
}

// verifiedToken is a token whose signature and claims were checked.
type verifiedToken struct {
	raw       string // compared in full on a hit: the map key is a non-cryptographic hash
	principal principal
	jti       string
	familyID  string // the refresh-token family (login) it was minted in; "" for older tokens
	keyGen    int64
	last      atomic.Pointer[memo] // the last response built for this token
}

// memo is a response for one route, reused while the same token calls the same route again
// (its maps are never modified after they are built, so sharing them is safe).
type memo struct {
	methodARN string
	resp      events.APIGatewayCustomAuthorizerResponse
}

// principal is what a verified credential grants.
// principal is who a credential speaks for. Its principalId is always the key id: the
// customer id is the caller's choice, so it must never be the identity backends, usage plans
// and logs key on (key A could otherwise pose as key B or another tenant's customer).
type principal struct {
	keyID, customerID, ownerID, tier, tokenType string
	usageKey                                    string // the key's usage identifier
	scopes                                      []string
	scope                                       string // scopes joined by spaces
	rateLimit                                   int
}

func (a *Authorizer) init() {
	a.once.Do(func() {
		if a.Now == nil {
			a.Now = time.Now
		}
		if a.Remember <= 0 {
			a.Remember = time.Minute
		}
		if a.MaxCached <= 0 {
			a.MaxCached = 10_000
		}
		a.seed = maphash.MakeSeed()
		a.verified = NewTTLCache[uint64, *verifiedToken](a.MaxCached)
		a.docs = NewTTLCache[string, events.APIGatewayCustomAuthorizerPolicy](1024)
	})
}

// denial is why a route is refused for an authenticated caller, rendered by the ACCESS_DENIED
// gateway response from the context keys deny_code, deny_message, deny_type and
// required_scope.
type denial struct{ err *httpapi.Error }

// Handle authorizes one request.
func (a *Authorizer) Handle(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	a.init()
	if a.Keys == nil || a.Tokens == nil || a.Revoked == nil || a.Usage == nil {
		a.Log.ErrorContext(ctx, "authorizer is missing a dependency")
		return events.APIGatewayCustomAuthorizerResponse{}, errUnavailable
	}
	stageARN, err := policy.StageARN(ev.MethodArn)
	if err != nil {
		a.Log.ErrorContext(ctx, "bad methodArn", slog.String("request_id", ev.RequestContext.RequestID))
		return events.APIGatewayCustomAuthorizerResponse{}, err
	}
	h, single := httpapi.SingleHeader(ev.Headers, ev.MultiValueHeaders, "Authorization")
	if !single || len(h) > MaxHeaderBytes {
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	}
	cred, ok := httpapi.ParseBearer(h)
	if !ok {
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	}
	actx, cancel := httpapi.Budget(ctx)
	defer cancel()
	p, v, deny, err := a.authenticate(actx, cred, ev)
	if err != nil {
		if !errors.Is(err, ErrUnauthorized) {
			a.Log.ErrorContext(ctx, "authorizer dependency failed",
				slog.String("request_id", ev.RequestContext.RequestID), slog.String("cause", err.Error()))
			return events.APIGatewayCustomAuthorizerResponse{}, errUnavailable
		}
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	}
	if v != nil {
		if m := v.last.Load(); m != nil && m.methodARN == ev.MethodArn {
			return m.resp, nil
		}
	}
	required := policy.Required(ev.HTTPMethod, ev.Resource)
	var doc events.APIGatewayCustomAuthorizerPolicy
	if deny.err != nil {
		doc = policy.DenyAll(stageARN)
	} else {
		doc = a.document(stageARN, p)
		deny.err = httpapi.InsufficientPermissions(required)
	}
	resp := events.APIGatewayCustomAuthorizerResponse{
		PrincipalID:        p.keyID,
		PolicyDocument:     doc,
		UsageIdentifierKey: p.usageKey,
		Context: map[string]any{
			"key_id":         p.keyID,
			"customer_id":    p.customerID,
			"owner_id":       p.ownerID,
			"scope":          p.scope,
			"tier":           p.tier,
			"token_type":     p.tokenType,
			"rate_limit":     strconv.Itoa(p.rateLimit),
			"required_scope": required,
			// Only shown if API Gateway refuses the route (ACCESS_DENIED); see the template.
			"deny_code":    deny.err.Code,
			"deny_message": deny.err.Message,
			"deny_type":    deny.err.Type,
		},
	}
	if v != nil {
		v.last.Store(&memo{methodARN: ev.MethodArn, resp: resp})
	}
	return resp, nil
}

// document returns the policy for p's scopes, built once per stage and scope set.
func (a *Authorizer) document(stageARN string, p principal) events.APIGatewayCustomAuthorizerPolicy {
	k := stageARN + " " + p.scope
	now := a.Now()
	if doc, ok := a.docs.Get(k, now); ok {
		return doc
	}
	doc := policy.Document(stageARN, p.scopes)
	a.docs.Put(k, doc, now.Add(time.Hour), now)
	return doc
}

// authenticate checks cred. For an access token it also returns the remembered verification
// (nil for API keys); a denial is an authenticated caller refused everywhere (IP allowlist).
func (a *Authorizer) authenticate(ctx context.Context, cred string, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (principal, *verifiedToken, denial, error) {
	if apikey.LooksLikeKey(cred) {
		ip, _ := netip.ParseAddr(ev.RequestContext.Identity.SourceIP)
		k, err := a.Keys.Authenticate(ctx, cred, ip)
		p := principal{keyID: k.KeyID, ownerID: k.OwnerID, tier: k.Tier, tokenType: "api_key", scopes: k.Scopes,
			scope: strings.Join(k.Scopes, " "), rateLimit: k.RateLimit}
		switch {
		case errors.Is(err, apikey.ErrIPNotAllowed):
			return p, nil, denial{httpapi.IPNotAllowed()}, nil
		case errors.Is(err, apikey.ErrInvalid):
			return principal{}, nil, denial{}, ErrUnauthorized
		case err != nil:
			return principal{}, nil, denial{}, err
		}
		if p.usageKey, err = a.Usage.UsageIdentifier(ctx, k.KeyID); err != nil {
			return principal{}, nil, denial{}, err
		}
		return p, nil, denial{}, nil
	}
	now := a.Now()
	h := maphash.String(a.seed, cred)
	v, ok := a.verified.Get(h, now)
	if !ok || subtle.ConstantTimeCompare([]byte(v.raw), []byte(cred)) != 1 {
		c, err := a.Tokens.Verify(ctx, cred)
		switch {
		case errors.Is(err, token.ErrInvalid), errors.Is(err, token.ErrExpired):
			return principal{}, nil, denial{}, ErrUnauthorized
		case err != nil:
			return principal{}, nil, denial{}, err
		}
		usageKey, err := a.Usage.UsageIdentifier(ctx, c.KeyID)
		if err != nil {
			return principal{}, nil, denial{}, err
		}
		scopes := c.Scopes()
		v = &verifiedToken{raw: cred, jti: c.ID, familyID: c.FamilyID, keyGen: c.KeyGen, principal: principal{
			keyID: c.KeyID, customerID: c.CustomerID, ownerID: c.OwnerID, tier: c.Tier, tokenType: "access_token",
			scopes: scopes, scope: strings.Join(scopes, " "), rateLimit: c.RateLimit, usageKey: usageKey,
		}}
		until := now.Add(a.Remember)
		if exp := c.ExpiresAt.Time; exp.Before(until) {
			until = exp
		}
		a.verified.Put(h, v, until, now)
	}
	switch err := a.Revoked.Token(ctx, v.principal.keyID, v.keyGen, v.jti, v.familyID); {
	case errors.Is(err, ErrRevoked):
		return principal{}, nil, denial{}, ErrUnauthorized
	case err != nil:
		return principal{}, nil, denial{}, err
	}
	return v.principal, v, denial{}, nil
}
