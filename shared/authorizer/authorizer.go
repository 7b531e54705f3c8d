// Package authorizer is the API Gateway REQUEST authorizer: it accepts an access token or an
// API key in Authorization: Bearer and answers with an IAM policy listing exactly the method
// ARNs the credential's scopes allow (see package policy), plus a flat context for backends.
//
// Outcomes follow API Gateway's contract: the error "Unauthorized" → 401; a policy without the
// called method → 403; any other error → AUTHORIZER_FAILURE (mapped to 503), so an outage never
// yields an Allow, nor a Deny that API Gateway would cache. The token is never logged nor put
// into the context.
package authorizer

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/httpx"
	"github.com/keygate/keygate/shared/keyauth"
	"github.com/keygate/keygate/shared/policy"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

// ErrUnauthorized is the exact error API Gateway turns into a 401.
var ErrUnauthorized = errors.New("Unauthorized")

// errUnavailable is returned when a dependency fails; API Gateway answers AUTHORIZER_FAILURE.
var errUnavailable = errors.New("authorizer: dependency unavailable")

// KeyAuthenticator checks API keys.
type KeyAuthenticator interface {
	Authenticate(ctx context.Context, raw string, source netip.Addr) (store.Key, error)
}

// TokenVerifier checks access tokens.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (*token.Claims, error)
}

// Authorizer handles authorizer events.
type Authorizer struct {
	Keys   KeyAuthenticator
	Tokens TokenVerifier
	Log    *slog.Logger
}

// principal is what a verified credential grants.
type principal struct {
	id, keyID, customerID, tier, tokenType string
	scopes                                 []string
	rateLimit                              int
}

// Handle authorizes one request.
func (a *Authorizer) Handle(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	stageARN, err := policy.StageARN(ev.MethodArn)
	if err != nil {
		a.Log.ErrorContext(ctx, "bad methodArn", slog.String("request_id", ev.RequestContext.RequestID))
		return events.APIGatewayCustomAuthorizerResponse{}, err
	}
	cred, ok := httpx.ParseBearer(header(ev.Headers, "Authorization"))
	if !ok {
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	}
	p, err := a.authenticate(ctx, cred, ev)
	if err != nil {
		if !errors.Is(err, ErrUnauthorized) {
			a.Log.ErrorContext(ctx, "authorizer dependency failed",
				slog.String("request_id", ev.RequestContext.RequestID), slog.String("cause", err.Error()))
			return events.APIGatewayCustomAuthorizerResponse{}, errUnavailable
		}
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID:    p.id,
		PolicyDocument: policy.Document(stageARN, p.scopes),
		Context: map[string]any{
			"key_id":      p.keyID,
			"customer_id": p.customerID,
			"scope":       strings.Join(p.scopes, " "),
			"tier":        p.tier,
			"token_type":  p.tokenType,
			"rate_limit":  strconv.Itoa(p.rateLimit),
		},
	}, nil
}

func (a *Authorizer) authenticate(ctx context.Context, cred string, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (principal, error) {
	if apikey.LooksLikeKey(cred) {
		ip, _ := netip.ParseAddr(ev.RequestContext.Identity.SourceIP)
		k, err := a.Keys.Authenticate(ctx, cred, ip)
		switch {
		case errors.Is(err, keyauth.ErrInvalid), errors.Is(err, keyauth.ErrIPNotAllowed):
			return principal{}, ErrUnauthorized
		case err != nil:
			return principal{}, err
		}
		return principal{id: k.KeyID, keyID: k.KeyID, tier: k.Tier, tokenType: "api_key", scopes: k.Scopes, rateLimit: k.RateLimit}, nil
	}
	c, err := a.Tokens.Verify(ctx, cred)
	switch {
	case errors.Is(err, token.ErrInvalid), errors.Is(err, token.ErrExpired):
		return principal{}, ErrUnauthorized
	case err != nil:
		return principal{}, err
	}
	return principal{id: c.Subject, keyID: c.KeyID, customerID: c.CustomerID, tier: c.Tier, tokenType: "access_token", scopes: c.Scopes(), rateLimit: c.RateLimit}, nil
}

func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
