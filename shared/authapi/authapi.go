// Package authapi implements the public /v1/auth endpoints: token (API key → access token),
// validate, refresh and revoke.
//
// Handlers read as a straight line (decode → parse key without I/O → one lookup → verify →
// sign) and return *apierr.Error values; httpx renders them. Keys and tokens never reach a log
// or an error message.
package authapi

import (
	"context"
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"time"

	"github.com/keygate/keygate/shared/apierr"
	"github.com/keygate/keygate/shared/httpx"
	"github.com/keygate/keygate/shared/keyauth"
	"github.com/keygate/keygate/shared/policy"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/token"
)

// KeyAuthenticator checks a presented API key.
type KeyAuthenticator interface {
	Authenticate(ctx context.Context, raw string, source netip.Addr) (store.Key, error)
}

// TokenIssuer signs access tokens.
type TokenIssuer interface {
	Issue(ctx context.Context, g token.Grant) (string, *token.Claims, error)
}

// TokenVerifier checks access tokens.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (*token.Claims, error)
}

// Limits are the per-stage bounds on token lifetimes.
type Limits struct {
	DefaultTTL time.Duration
	MaxTTL     time.Duration
}

var customerIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// mapKeyErr maps key-authentication failures onto the public errors.
func mapKeyErr(err error) error {
	switch {
	case errors.Is(err, keyauth.ErrInvalid):
		return apierr.InvalidAPIKey()
	case errors.Is(err, keyauth.ErrIPNotAllowed):
		return apierr.IPNotAllowed()
	default:
		return apierr.Unavailable(err)
	}
}

// mapTokenErr maps access-token verification failures onto the public errors.
func mapTokenErr(err error) error {
	switch {
	case errors.Is(err, token.ErrExpired):
		return apierr.TokenExpired()
	case errors.Is(err, token.ErrInvalid):
		return apierr.InvalidToken()
	default:
		return apierr.Unavailable(err)
	}
}

// checkScopes validates requested scopes against the known set and the key's grant. An empty
// request means all of the key's scopes. admin:full on the key grants any scope.
func checkScopes(requested, held []string) ([]string, error) {
	if len(requested) == 0 {
		return slices.Clone(held), nil
	}
	if len(requested) > policy.MaxScopes {
		return nil, apierr.InvalidScope("Too many scopes; name each scope at most once.")
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
		return nil, apierr.InvalidScope("Unknown scopes: " + quoteList(unknown) + ". Valid scopes: " + quoteList(policy.All) + ".")
	}
	if len(notHeld) > 0 {
		return nil, apierr.InvalidScope("The API key does not hold the scopes " + quoteList(notHeld) + "; request a subset of the key's scopes.")
	}
	return out, nil
}

func quoteList(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		if len(s) > 64 { // never echo large input back
			s = s[:64] + "…"
		}
		out += `"` + s + `"`
	}
	return out
}

// sourceIP is the caller's address from API Gateway's request context.
func sourceIP(r *httpx.Request) netip.Addr {
	ip, _ := httpx.SourceIP(r)
	return ip
}
