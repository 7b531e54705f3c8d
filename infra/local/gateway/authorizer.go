package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/keygate/keygate/infra/local/lambdarun"
	"github.com/keygate/keygate/infra/local/samtpl"
)

// authCache holds authorizer results per identity-source values, as API Gateway's
// authorizer cache does. What it stores is the authorizer's *result* (principal, policy,
// context) or its Unauthorized verdict, never an allow/deny decision: the cached policy is
// evaluated against whichever method ARN the next request calls, so a policy written for
// one route is applied to every route that shares the authorizer.
//
// Unauthorized is cached too: API Gateway keeps the 401 outcome for the TTL, so a token
// that was refused stays refused until the entry expires even if it became valid (e.g.
// after a clock skew). Errors, timeouts and malformed results are not cached.
type authCache struct {
	mu      sync.Mutex
	entries map[[32]byte]cacheEntry
}

type cacheEntry struct {
	expires      time.Time
	unauthorized bool
	result       AuthorizerResult
}

// maxCacheEntries bounds memory; expired entries are swept when it is reached.
const maxCacheEntries = 10000

func newAuthCache() *authCache { return &authCache{entries: map[[32]byte]cacheEntry{}} }

func (c *authCache) get(key [32]byte, now time.Time) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return cacheEntry{}, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, key)
		return cacheEntry{}, false
	}
	return e, true
}

func (c *authCache) put(key [32]byte, e cacheEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCacheEntries {
		for k, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCacheEntries {
			c.entries = map[[32]byte]cacheEntry{}
		}
	}
	c.entries[key] = e
}

func (c *authCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[[32]byte]cacheEntry{}
}

// authOutcome is what the authorizer step decided.
type authOutcome struct {
	// responseType is "" when the request may proceed, else the gateway response to send.
	responseType string
	errMessage   string
	// context is the authorizer context plus principalId, for the backend and templates.
	context map[string]string
	// cacheHit is nil when no cache was consulted.
	cacheHit *bool
	// usageIdentifierKey is the authorizer's (or its cached answer's) usageIdentifierKey.
	usageIdentifierKey string
}

// identityValues returns the request's identity-source values, or ok=false when one is
// missing or empty (API Gateway then answers 401 without invoking the authorizer).
func identityValues(az samtpl.Authorizer, req *request) ([]string, bool) {
	vals := make([]string, 0, len(az.IdentityHeaders)+len(az.IdentityQueryStrings))
	for _, h := range az.IdentityHeaders {
		v := req.httpHeader.Get(h)
		if v == "" {
			return nil, false
		}
		vals = append(vals, "header:"+h+"="+v)
	}
	for _, q := range az.IdentityQueryStrings {
		v := req.multiQuery[q]
		if len(v) == 0 || v[0] == "" {
			return nil, false
		}
		vals = append(vals, "query:"+q+"="+v[0])
	}
	for _, c := range az.IdentityContext {
		v := req.contextValue(c)
		if v == "" {
			return nil, false
		}
		vals = append(vals, "context:"+c+"="+v)
	}
	return vals, true
}

// identityContextVars are the $context variables usable as identity sources here.
var identityContextVars = map[string]bool{
	"identity.sourceIp": true, "identity.userAgent": true, "stage": true, "apiId": true,
	"accountId": true, "httpMethod": true, "resourcePath": true, "resourceId": true,
}

// contextValue is the value of a $context variable for this request.
func (req *request) contextValue(name string) string {
	switch name {
	case "identity.sourceIp":
		return req.sourceIP
	case "identity.userAgent":
		return req.userAgent
	case "stage":
		return req.g.api.StageName
	case "apiId":
		return req.g.apiID
	case "accountId":
		return req.g.accountID
	case "httpMethod":
		return req.method
	case "resourcePath":
		return req.route.Path
	case "resourceId":
		return resourceID(req.route.Path)
	}
	return ""
}

// cacheKey hashes the identity values so that raw tokens are not kept as map keys.
func cacheKey(authorizer string, vals []string) [32]byte {
	h := sha256.New()
	h.Write([]byte(authorizer))
	for _, v := range vals {
		h.Write([]byte{0})
		h.Write([]byte(v))
	}
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// authorize runs the route's authorizer (or answers from the cache) and evaluates the
// policy for this request's method ARN.
func (g *Gateway) authorize(ctx context.Context, req *request) authOutcome {
	az := g.api.Authorizers[req.route.AuthorizerName]
	vals, ok := identityValues(az, req)
	if !ok {
		return authOutcome{responseType: Unauthorized}
	}
	methodARN := MethodARN(g.region, g.accountID, g.apiID, g.api.StageName, req.method, req.path)

	var out authOutcome
	cache := g.caches[az.Name]
	key := cacheKey(az.Name, vals)
	var entry cacheEntry
	hit := false
	if az.TTL > 0 {
		entry, hit = cache.get(key, g.now())
		out.cacheHit = &hit
	}
	if !hit {
		var failure authOutcome
		entry, failure = g.invokeAuthorizer(ctx, az, req, methodARN)
		if failure.responseType != "" {
			failure.cacheHit = out.cacheHit
			return failure
		}
		if az.TTL > 0 {
			entry.expires = g.now().Add(az.TTL)
			cache.put(key, entry, g.now())
		}
	}
	if entry.unauthorized {
		out.responseType = Unauthorized
		return out
	}

	out.context = make(map[string]string, len(entry.result.Context)+1)
	for k, v := range entry.result.Context {
		out.context[k] = v
	}
	out.context["principalId"] = entry.result.PrincipalID
	out.usageIdentifierKey = entry.result.UsageIdentifierKey
	switch entry.result.Policy.Evaluate(methodARN) {
	case Allow:
	case ExplicitDeny:
		out.responseType = AccessDenied
		out.errMessage = "User is not authorized to access this resource with an explicit deny"
	default:
		out.responseType = AccessDenied
	}
	return out
}

// invokeAuthorizer calls the authorizer function. A cacheable result (a policy or the
// Unauthorized verdict) comes back as a cacheEntry; anything else as a failure outcome:
// AUTHORIZER_CONFIGURATION_ERROR for a context value of the wrong type (API Gateway's
// AuthorizerConfigurationException), AUTHORIZER_FAILURE for any other error, timeout or
// malformed result. (Field reports say deployed API Gateway also answers a thrown error with
// AuthorizerConfigurationException; verify on a deployment before relying on the split.)
func (g *Gateway) invokeAuthorizer(ctx context.Context, az samtpl.Authorizer, req *request, methodARN string) (cacheEntry, authOutcome) {
	payload, err := json.Marshal(newAuthorizerEvent(req, methodARN))
	if err != nil {
		return cacheEntry{}, authOutcome{responseType: AuthorizerFailure}
	}
	ctx, cancel := context.WithTimeout(ctx, g.integrationTimeout)
	defer cancel()
	start := g.now()
	raw, err := g.invoker.Invoke(ctx, az.FunctionID, payload)
	req.authorizerLatency = g.now().Sub(start)
	if err != nil {
		var fe *lambdarun.FunctionError
		if errors.As(err, &fe) && fe.Message == "Unauthorized" {
			return cacheEntry{unauthorized: true}, authOutcome{}
		}
		g.logf(req, "authorizer %s failed: %v", az.FunctionID, err)
		return cacheEntry{}, authOutcome{responseType: AuthorizerFailure}
	}
	res, err := ParseAuthorizerResponse(raw)
	switch {
	case errors.Is(err, ErrInvalidAuthorizerContext):
		g.logf(req, "authorizer %s: %v", az.FunctionID, err)
		return cacheEntry{}, authOutcome{responseType: AuthorizerConfigurationError}
	case err != nil:
		g.logf(req, "authorizer %s: %v", az.FunctionID, err)
		return cacheEntry{}, authOutcome{responseType: AuthorizerFailure}
	}
	return cacheEntry{result: res}, authOutcome{}
}
