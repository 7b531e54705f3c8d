package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/app"
)

func full() map[string]string {
	return map[string]string{
		"KEYGATE_STAGE":                "prod",
		"KEYGATE_ISSUER":               "https://auth.keygate.dev",
		"KEYGATE_AUDIENCE":             "https://api.keygate.dev",
		"KEYGATE_KEY_PREFIX":           "kg_live",
		"KEYGATE_ACCESS_TOKEN_TTL":     "900",
		"KEYGATE_MAX_ACCESS_TOKEN_TTL": "7200",
		"KEYGATE_REFRESH_TOKEN_TTL":    "86400",
		"KEYGATE_REFRESH_GRACE":        "5",
		"KEYGATE_REVOCATION_MAX_AGE":   "25",
		"KEYGATE_KEYRING_REFRESH":      "60",
		"KEYGATE_KEYS_TABLE":           "keygate-prod-keys",
		"KEYGATE_TOKENS_TABLE":         "keygate-prod-tokens",
		"KEYGATE_SIGNING_SECRET":       "keygate/prod/signing",
		"KEYGATE_PEPPER_SECRET":        "keygate/prod/pepper",
		"KEYGATE_SIGNING_ALG":          "ES256",
		"KEYGATE_CORS_ALLOW_ORIGIN":    "https://app.keygate.dev",
		"KEYGATE_MAX_USAGE_PLANS":      "250",
	}
}

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadReadsEveryVariable(t *testing.T) {
	c, err := app.LoadConfig(getenv(full()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := app.Config{
		Stage: "prod", Issuer: "https://auth.keygate.dev", Audience: "https://api.keygate.dev", KeyPrefix: "kg_live",
		AccessTokenTTL: 15 * time.Minute, MaxAccessTokenTTL: 2 * time.Hour, RefreshTokenTTL: 24 * time.Hour,
		RefreshGrace: 5 * time.Second, RevocationMaxAge: 25 * time.Second, KeyringRefresh: time.Minute, KeysTable: "keygate-prod-keys", TokensTable: "keygate-prod-tokens",
		SigningSecret: "keygate/prod/signing", PepperSecret: "keygate/prod/pepper",
		SigningAlg: "ES256", CORSAllowOrigin: "https://app.keygate.dev", MaxUsagePlans: 250,
	}
	if c != want {
		t.Errorf("Load =\n%+v\nwant\n%+v", c, want)
	}
}

func TestLoadFillsDefaults(t *testing.T) {
	env := full()
	for _, k := range []string{"KEYGATE_ACCESS_TOKEN_TTL", "KEYGATE_MAX_ACCESS_TOKEN_TTL", "KEYGATE_REFRESH_TOKEN_TTL", "KEYGATE_REFRESH_GRACE", "KEYGATE_REVOCATION_MAX_AGE", "KEYGATE_KEYRING_REFRESH", "KEYGATE_SIGNING_ALG", "KEYGATE_CORS_ALLOW_ORIGIN", "KEYGATE_MAX_USAGE_PLANS"} {
		delete(env, k)
	}
	c, err := app.LoadConfig(getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessTokenTTL != time.Hour || c.MaxAccessTokenTTL != 24*time.Hour || c.RefreshTokenTTL != 30*24*time.Hour || c.RefreshGrace != 10*time.Second ||
		c.RevocationMaxAge != 30*time.Second || c.KeyringRefresh != 5*time.Minute || c.SigningAlg != "RS256" || c.CORSAllowOrigin != "" || c.MaxUsagePlans != 200 {
		t.Errorf("defaults = %+v", c)
	}
}

func TestLoadTrimsWhitespace(t *testing.T) {
	env := full()
	env["KEYGATE_ISSUER"] = "  https://auth.keygate.dev\n"
	env["KEYGATE_ACCESS_TOKEN_TTL"] = " 900 "
	c, err := app.LoadConfig(getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://auth.keygate.dev" || c.AccessTokenTTL != 15*time.Minute {
		t.Errorf("Issuer %q, TTL %v", c.Issuer, c.AccessTokenTTL)
	}
}

func TestLoadNamesEveryMissingVariableInOneError(t *testing.T) {
	env := full()
	missing := []string{"KEYGATE_ISSUER", "KEYGATE_AUDIENCE", "KEYGATE_KEYS_TABLE", "KEYGATE_PEPPER_SECRET"}
	for _, k := range missing {
		delete(env, k)
	}
	env["KEYGATE_STAGE"] = "   " // blank counts as missing
	missing = append(missing, "KEYGATE_STAGE")
	c, err := app.LoadConfig(getenv(env))
	if err == nil {
		t.Fatalf("Load succeeded with %v missing: %+v", missing, c)
	}
	for _, k := range missing {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error %q does not name %s", err, k)
		}
	}
	if c != (app.Config{}) {
		t.Errorf("Load returned a partial config with its error: %+v", c)
	}
}

func TestLoadWithNothingSetNamesAllRequiredVariables(t *testing.T) {
	_, err := app.LoadConfig(func(string) string { return "" })
	if err == nil {
		t.Fatal("Load succeeded on an empty environment")
	}
	for _, k := range []string{"KEYGATE_STAGE", "KEYGATE_ISSUER", "KEYGATE_AUDIENCE", "KEYGATE_KEY_PREFIX",
		"KEYGATE_KEYS_TABLE", "KEYGATE_TOKENS_TABLE", "KEYGATE_SIGNING_SECRET", "KEYGATE_PEPPER_SECRET"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error does not name %s", k)
		}
	}
}

func TestLoadRefusesBadValues(t *testing.T) {
	tests := []struct {
		name  string
		set   map[string]string
		names []string // every one must appear in the error
	}{
		{"a TTL that is not a number", map[string]string{"KEYGATE_ACCESS_TOKEN_TTL": "1h"}, []string{"KEYGATE_ACCESS_TOKEN_TTL"}},
		{"a fractional TTL", map[string]string{"KEYGATE_ACCESS_TOKEN_TTL": "900.5"}, []string{"KEYGATE_ACCESS_TOKEN_TTL"}},
		{"an access TTL below a minute", map[string]string{"KEYGATE_ACCESS_TOKEN_TTL": "59"}, []string{"KEYGATE_ACCESS_TOKEN_TTL"}},
		{"an access TTL above a day", map[string]string{"KEYGATE_ACCESS_TOKEN_TTL": "86401", "KEYGATE_MAX_ACCESS_TOKEN_TTL": "86400"}, []string{"KEYGATE_ACCESS_TOKEN_TTL"}},
		{"a negative TTL", map[string]string{"KEYGATE_MAX_ACCESS_TOKEN_TTL": "-1"}, []string{"KEYGATE_MAX_ACCESS_TOKEN_TTL"}},
		{"an overflowing TTL", map[string]string{"KEYGATE_REFRESH_TOKEN_TTL": "99999999999999999999999"}, []string{"KEYGATE_REFRESH_TOKEN_TTL"}},
		{"a refresh TTL below an hour", map[string]string{"KEYGATE_REFRESH_TOKEN_TTL": "3599"}, []string{"KEYGATE_REFRESH_TOKEN_TTL"}},
		{"a refresh TTL above 90 days", map[string]string{"KEYGATE_REFRESH_TOKEN_TTL": "7776001"}, []string{"KEYGATE_REFRESH_TOKEN_TTL"}},
		{"an access TTL above the maximum", map[string]string{"KEYGATE_ACCESS_TOKEN_TTL": "7200", "KEYGATE_MAX_ACCESS_TOKEN_TTL": "3600"}, []string{"KEYGATE_ACCESS_TOKEN_TTL", "KEYGATE_MAX_ACCESS_TOKEN_TTL"}},
		{"a refresh grace above a minute", map[string]string{"KEYGATE_REFRESH_GRACE": "61"}, []string{"KEYGATE_REFRESH_GRACE"}},
		{"a negative refresh grace", map[string]string{"KEYGATE_REFRESH_GRACE": "-1"}, []string{"KEYGATE_REFRESH_GRACE"}},
		{"a revocation bound above the template's 30 s cap", map[string]string{"KEYGATE_REVOCATION_MAX_AGE": "31"}, []string{"KEYGATE_REVOCATION_MAX_AGE"}},
		{"no revocation caching at all", map[string]string{"KEYGATE_REVOCATION_MAX_AGE": "0"}, []string{"KEYGATE_REVOCATION_MAX_AGE"}},
		{"a keyring that never caches", map[string]string{"KEYGATE_KEYRING_REFRESH": "0"}, []string{"KEYGATE_KEYRING_REFRESH"}},
		{"a keyring refresh above an hour", map[string]string{"KEYGATE_KEYRING_REFRESH": "3601"}, []string{"KEYGATE_KEYRING_REFRESH"}},
		{"an unknown key prefix", map[string]string{"KEYGATE_KEY_PREFIX": "kg_prod"}, []string{"KEYGATE_KEY_PREFIX"}},
		{"an upper-case key prefix", map[string]string{"KEYGATE_KEY_PREFIX": "KG_LIVE"}, []string{"KEYGATE_KEY_PREFIX"}},
		{"an HMAC signing algorithm", map[string]string{"KEYGATE_SIGNING_ALG": "HS256"}, []string{"KEYGATE_SIGNING_ALG"}},
		{"alg none", map[string]string{"KEYGATE_SIGNING_ALG": "none"}, []string{"KEYGATE_SIGNING_ALG"}},
		{"a lower-case algorithm", map[string]string{"KEYGATE_SIGNING_ALG": "rs256"}, []string{"KEYGATE_SIGNING_ALG"}},
		{"a CORS origin with a path", map[string]string{"KEYGATE_CORS_ALLOW_ORIGIN": "https://app.example.com/"}, []string{"KEYGATE_CORS_ALLOW_ORIGIN"}},
		{"a CORS origin without a scheme", map[string]string{"KEYGATE_CORS_ALLOW_ORIGIN": "app.example.com"}, []string{"KEYGATE_CORS_ALLOW_ORIGIN"}},
		{"a list of CORS origins", map[string]string{"KEYGATE_CORS_ALLOW_ORIGIN": "https://a.example.com,https://b.example.com"}, []string{"KEYGATE_CORS_ALLOW_ORIGIN"}},
		{"a wildcard subdomain as CORS origin", map[string]string{"KEYGATE_CORS_ALLOW_ORIGIN": "https://*.example.com"}, []string{"KEYGATE_CORS_ALLOW_ORIGIN"}},
		{"a header injected through the CORS origin", map[string]string{"KEYGATE_CORS_ALLOW_ORIGIN": "*\r\nSet-Cookie: a=b"}, []string{"KEYGATE_CORS_ALLOW_ORIGIN"}},
		{"fewer usage plans than the four tiers", map[string]string{"KEYGATE_MAX_USAGE_PLANS": "3"}, []string{"KEYGATE_MAX_USAGE_PLANS"}},
		{"usage plans that are not a number", map[string]string{"KEYGATE_MAX_USAGE_PLANS": "many"}, []string{"KEYGATE_MAX_USAGE_PLANS"}},
		{"several problems at once", map[string]string{
			"KEYGATE_SIGNING_ALG": "HS256", "KEYGATE_KEY_PREFIX": "sk_live", "KEYGATE_ACCESS_TOKEN_TTL": "x", "KEYGATE_CORS_ALLOW_ORIGIN": "null",
		}, []string{"KEYGATE_SIGNING_ALG", "KEYGATE_KEY_PREFIX", "KEYGATE_ACCESS_TOKEN_TTL", "KEYGATE_CORS_ALLOW_ORIGIN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := full()
			for k, v := range tt.set {
				env[k] = v
			}
			c, err := app.LoadConfig(getenv(env))
			if err == nil {
				t.Fatalf("Load accepted %v: %+v", tt.set, c)
			}
			for _, n := range tt.names {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error %q does not name %s", err, n)
				}
			}
		})
	}
}

func TestLoadAcceptsTheBoundaries(t *testing.T) {
	for _, set := range []map[string]string{
		{"KEYGATE_ACCESS_TOKEN_TTL": "60", "KEYGATE_MAX_ACCESS_TOKEN_TTL": "60"},
		{"KEYGATE_ACCESS_TOKEN_TTL": "86400", "KEYGATE_MAX_ACCESS_TOKEN_TTL": "86400"},
		{"KEYGATE_REFRESH_TOKEN_TTL": "3600"},
		{"KEYGATE_REFRESH_TOKEN_TTL": "7776000"},
		{"KEYGATE_REFRESH_GRACE": "0"},
		{"KEYGATE_REFRESH_GRACE": "60"},
		{"KEYGATE_KEY_PREFIX": "kg_test"},
		{"KEYGATE_SIGNING_ALG": "EdDSA"},
		{"KEYGATE_SIGNING_ALG": "RS256"},
		{"KEYGATE_CORS_ALLOW_ORIGIN": "*"},
		{"KEYGATE_CORS_ALLOW_ORIGIN": "http://localhost:3000"},
		{"KEYGATE_CORS_ALLOW_ORIGIN": ""},
	} {
		env := full()
		for k, v := range set {
			env[k] = v
		}
		if _, err := app.LoadConfig(getenv(env)); err != nil {
			t.Errorf("Load(%v) = %v", set, err)
		}
	}
}
