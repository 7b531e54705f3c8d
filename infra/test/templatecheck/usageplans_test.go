package templatecheck_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/local/samtpl"
	"github.com/keygate/keygate/shared/console"
	"github.com/keygate/keygate/shared/keysapi"
)

// Per-key limits (docs/usage-plans.md) hold only if every protected route requires an API key
// sourced from the authorizer, and the public ones do not (no caller could present one).
func TestEveryProtectedRouteIsMeteredByAUsagePlan(t *testing.T) {
	for _, stage := range []string{"dev", "prod"} {
		tpl, err := samtpl.Load(templatePath, samtpl.Options{Parameters: map[string]string{"Stage": stage}})
		if err != nil {
			t.Fatal(err)
		}
		if tpl.API.APIKeySourceType != "AUTHORIZER" {
			t.Errorf("ApiKeySourceType = %q, want AUTHORIZER: callers must not choose their own bucket", tpl.API.APIKeySourceType)
		}
		for _, r := range tpl.Routes {
			if protected := r.AuthorizerName != ""; r.APIKeyRequired != protected {
				t.Errorf("%s %s: authorizer %q but ApiKeyRequired %t; a protected route must be metered, a public one cannot be", r.Method, r.Path, r.AuthorizerName, r.APIKeyRequired)
			}
		}
		if tpl.API.Cors != nil && tpl.API.Cors.PreflightAPIKeyRequired {
			t.Error("preflights require an API key: browsers send them without credentials")
		}
	}
}

// The tiers are the template's usage plans: named keygate-<Stage>-<tier> (the keys function
// finds them by name), with a rate, a burst and a quota; the admin API's default tier and the
// console's suggestions are among them.
func TestTheTiersAreTheTemplatesUsagePlans(t *testing.T) {
	tpl, err := samtpl.Load(templatePath, samtpl.Options{Parameters: map[string]string{"Stage": "staging"}})
	if err != nil {
		t.Fatal(err)
	}
	var tiers []string
	for _, p := range tpl.UsagePlans {
		tier, ok := strings.CutPrefix(p.Name, "keygate-staging-")
		if !ok || tier == "" || strings.Contains(tier, "-") {
			t.Errorf("%s: plan name %q, want keygate-<Stage>-<tier> (a tier without '-', so a (tier, rate) plan's name stays unambiguous)", p.LogicalID, p.Name)
			continue
		}
		if p.RateLimit <= 0 || p.BurstLimit < 1 || p.QuotaLimit < 1 || p.QuotaPeriod == "" {
			t.Errorf("%s: rate %v burst %d quota %d per %q: every tier needs all four", p.LogicalID, p.RateLimit, p.BurstLimit, p.QuotaLimit, p.QuotaPeriod)
		}
		tiers = append(tiers, tier)
	}
	if !slices.Contains(tiers, keysapi.DefaultTier) {
		t.Errorf("the admin API's default tier %q is not one of the template's %v", keysapi.DefaultTier, tiers)
	}
	got, want := slices.Sorted(slices.Values(console.SuggestedTiers)), slices.Sorted(slices.Values(tiers))
	if !slices.Equal(got, want) {
		t.Errorf("the console suggests %v, the template's tiers are %v", got, want)
	}
	for _, typ := range []string{"THROTTLED", "QUOTA_EXCEEDED", "INVALID_API_KEY"} {
		if _, ok := tpl.API.GatewayResponses[typ]; !ok {
			t.Errorf("no %s gateway response: API Gateway's own body would break the one error shape", typ)
		}
	}
}
