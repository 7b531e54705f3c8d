package keysapi

import (
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/policy"
	"github.com/keygate/keygate/shared/store"
)

func validateCreate(req createRequest, now time.Time) (apikey.Spec, error) {
	// RateLimit stays 0 when the request has none: the tier's is filled in by the handler.
	spec := apikey.Spec{OwnerID: req.OwnerID, Tier: DefaultTier}
	var err error
	if spec.Name, err = validName(req.Name); err != nil {
		return spec, err
	}
	if req.OwnerID != "" && !validLabel(req.OwnerID) {
		return spec, httpapi.InvalidRequest("owner_id must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'.")
	}
	if spec.Scopes, err = validScopes(req.Scopes); err != nil {
		return spec, err
	}
	if spec.AllowedIPs, err = validCIDRs(req.AllowedIPs); err != nil {
		return spec, err
	}
	if req.RateLimit != nil {
		if spec.RateLimit, err = validRateLimit(*req.RateLimit); err != nil {
			return spec, err
		}
	}
	if req.Tier != "" {
		if !validLabel(req.Tier) {
			return spec, httpapi.InvalidRequest("tier must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'.")
		}
		spec.Tier = req.Tier
	}
	if req.ExpiresAt != nil {
		if spec.ExpiresAt, err = validExpiry(*req.ExpiresAt, now); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

// applyUpdate returns k with req applied and the names of the fields that changed.
func applyUpdate(k store.Key, req updateRequest, now time.Time) (store.Key, []string, error) {
	var changed []string
	var err error
	if req.Name != nil {
		if k.Name, err = validName(*req.Name); err != nil {
			return k, nil, err
		}
		changed = append(changed, "name")
	}
	if req.Scopes != nil {
		prev := k.Scopes
		if k.Scopes, err = validScopes(*req.Scopes); err != nil {
			return k, nil, err
		}
		changed = append(changed, "scopes")
		if narrows(prev, k.Scopes) {
			// Tokens carry their scopes, so those minted before would keep what was taken
			// away: end them all (within the revocation bound, as revoking does) and let
			// clients exchange the key again. Two generations, not one: during a rotation's
			// grace the previous generation stays valid, and the wider tokens must not be it.
			k.KeyGen += 2
			changed = append(changed, "tokens_ended")
		}
	}
	if req.AllowedIPs != nil {
		if k.AllowedIPs, err = validCIDRs(*req.AllowedIPs); err != nil {
			return k, nil, err
		}
		changed = append(changed, "allowed_ips")
	}
	if req.RateLimit != nil {
		if k.RateLimit, err = validRateLimit(*req.RateLimit); err != nil {
			return k, nil, err
		}
		changed = append(changed, "rate_limit")
	}
	if req.Tier != nil {
		if !validLabel(*req.Tier) {
			return k, nil, httpapi.InvalidRequest("tier must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'.")
		}
		k.Tier = *req.Tier
		changed = append(changed, "tier")
	}
	if req.ExpiresAt != nil {
		if k.ExpiresAt, err = validExpiry(*req.ExpiresAt, now); err != nil {
			return k, nil, err
		}
		changed = append(changed, "expires_at")
	}
	if len(changed) == 0 {
		return k, nil, httpapi.InvalidRequest("Nothing to update: send at least one of name, scopes, allowed_ips, rate_limit, tier, expires_at.")
	}
	return k, changed, nil
}

// narrows reports whether next grants less than prev: a scope prev held (itself or through
// admin:full) that next does not.
func narrows(prev, next []string) bool {
	if slices.Contains(next, policy.Admin) {
		return false
	}
	for _, s := range prev {
		if !slices.Contains(next, s) {
			return true
		}
	}
	return false
}

func validName(name string) (string, error) {
	n := utf8.RuneCountInString(name)
	if n < 1 || n > 128 || !utf8.ValidString(name) || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "", httpapi.InvalidRequest("name must be 1 to 128 printable characters.")
	}
	return name, nil
}

func validLabel(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._:-", c)) {
			return false
		}
	}
	return true
}

func validScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, httpapi.InvalidScope("scopes must name at least one scope. Valid scopes: " + strings.Join(policy.All, ", ") + ".")
	}
	if len(scopes) > policy.MaxScopes {
		return nil, httpapi.InvalidScope("Too many scopes; name each scope at most once.")
	}
	var out, unknown []string
	for _, s := range scopes {
		switch {
		case !policy.Valid(s):
			if len(s) > 64 {
				s = s[:64] + "…"
			}
			unknown = append(unknown, `"`+s+`"`)
		case !slices.Contains(out, s):
			out = append(out, s)
		}
	}
	if len(unknown) > 0 {
		return nil, httpapi.InvalidScope("Unknown scopes: " + strings.Join(unknown, ", ") + ". Valid scopes: " + strings.Join(policy.All, ", ") + ".")
	}
	return out, nil
}

// validCIDRs parses IPv4 and IPv6 prefixes. A bare address means that one host (/32 or /128).
// A prefix with host bits set (10.0.0.1/8) is refused rather than silently widened or narrowed:
// the message names the network the caller probably meant.
func validCIDRs(in []string) ([]string, error) {
	if len(in) > MaxAllowedIPs {
		return nil, httpapi.InvalidRequest("allowed_ips may hold at most 100 entries.")
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		if len(s) > 64 {
			return nil, httpapi.InvalidRequest("allowed_ips entries must be IPv4 or IPv6 CIDRs such as 203.0.113.0/24 or 2001:db8::/32.")
		}
		var p netip.Prefix
		if a, err := netip.ParseAddr(s); err == nil {
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		} else if p, err = netip.ParsePrefix(s); err != nil {
			return nil, httpapi.InvalidRequest(`allowed_ips entry "` + s + `" is not an IPv4 or IPv6 CIDR such as 203.0.113.0/24 or 2001:db8::/32.`)
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			// Callers' addresses are compared unmapped (apikey.IPAllowed), so an IPv4-mapped
			// prefix would never match; store the IPv4 prefix it means.
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		if p.Masked() != p {
			return nil, httpapi.InvalidRequest(`allowed_ips entry "` + s + `" has host bits set; did you mean "` + p.Masked().String() + `"?`)
		}
		if !slices.Contains(out, p.String()) {
			out = append(out, p.String())
		}
	}
	return out, nil
}

func validRateLimit(n int) (int, error) {
	if n < 1 || n > MaxRateLimit {
		return 0, httpapi.InvalidRequest("rate_limit must be a whole number of requests per minute from 1 to 1000000.")
	}
	return n, nil
}

func validExpiry(s string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, httpapi.InvalidRequest("expires_at must be an RFC 3339 time such as 2027-01-31T00:00:00Z.")
	}
	if !t.After(now) {
		return time.Time{}, httpapi.InvalidRequest("expires_at must be in the future.")
	}
	return t.UTC().Truncate(time.Second), nil
}
