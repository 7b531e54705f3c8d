// Config reads keygate's settings from the environment that template.yaml gives every
// function, and validates all of them at once so a misconfigured deploy names every problem in
// one cold-start log line instead of one per attempt.
//
// A function must refuse to start (fail closed) when LoadConfig returns an error. Logging is
// not configured here: Lambda passes the template's LoggingConfig to the log handler (see
// NewLogger).

package app

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/signing"
	"github.com/keygate/keygate/shared/token"
)

// Config is the validated configuration.
type Config struct {
	Stage             string
	Issuer            string
	Audience          string
	KeyPrefix         string
	AccessTokenTTL    time.Duration
	MaxAccessTokenTTL time.Duration
	RefreshTokenTTL   time.Duration
	RefreshGrace      time.Duration
	// RevocationMaxAge bounds how stale the authorizer's view of revocations may be.
	RevocationMaxAge time.Duration
	KeysTable        string
	TokensTable      string
	SigningSecret    string
	PepperSecret     string
	SigningAlg       string
	// CORSAllowOrigin is the Access-Control-Allow-Origin of every HTTP response: the one origin
	// browsers may call from, or *; empty adds no header.
	CORSAllowOrigin string

	// KeyringRefresh is how long a warm function trusts its cached signing keys: how soon it
	// signs with a rotated key and stops trusting a retired one.
	KeyringRefresh time.Duration

	// MaxUsagePlans bounds the usage plans the keys API may make (template MaxUsagePlans).
	MaxUsagePlans int
}

// corsOrigin is the template's AllowedPattern for CorsAllowOrigin, anchored as CloudFormation
// anchors it: a header value that is a list, a path or a wildcard subdomain is not an origin.
var corsOrigin = regexp.MustCompile(`^(\*|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?)$`)

// LoadConfig reads the configuration through getenv (os.Getenv in production) and validates
// it.
func LoadConfig(getenv func(string) string) (Config, error) {
	var problems []string
	req := func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			problems = append(problems, name+" is required")
		}
		return v
	}
	seconds := func(name string, def, lo, hi int) time.Duration {
		raw := strings.TrimSpace(getenv(name))
		if raw == "" {
			return time.Duration(def) * time.Second
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < lo || n > hi {
			problems = append(problems, fmt.Sprintf("%s must be a whole number of seconds in %d..%d", name, lo, hi))
			return time.Duration(def) * time.Second
		}
		return time.Duration(n) * time.Second
	}

	c := Config{
		Stage:             req("KEYGATE_STAGE"),
		Issuer:            req("KEYGATE_ISSUER"),
		Audience:          req("KEYGATE_AUDIENCE"),
		KeyPrefix:         req("KEYGATE_KEY_PREFIX"),
		AccessTokenTTL:    seconds("KEYGATE_ACCESS_TOKEN_TTL", 3600, 60, 86400),
		MaxAccessTokenTTL: seconds("KEYGATE_MAX_ACCESS_TOKEN_TTL", 86400, 60, 86400),
		RefreshTokenTTL:   seconds("KEYGATE_REFRESH_TOKEN_TTL", 30*86400, 3600, 90*86400),
		RefreshGrace:      seconds("KEYGATE_REFRESH_GRACE", 10, 0, 60),
		RevocationMaxAge:  seconds("KEYGATE_REVOCATION_MAX_AGE", 30, 1, 30), // the template's cap: with AuthorizerCacheTTL ≤ 30, revocation within 60 s
		KeyringRefresh:    seconds("KEYGATE_KEYRING_REFRESH", 300, 1, 3600),
		KeysTable:         req("KEYGATE_KEYS_TABLE"),
		TokensTable:       req("KEYGATE_TOKENS_TABLE"),
		SigningSecret:     req("KEYGATE_SIGNING_SECRET"),
		PepperSecret:      req("KEYGATE_PEPPER_SECRET"),
		SigningAlg:        strings.TrimSpace(getenv("KEYGATE_SIGNING_ALG")),
		CORSAllowOrigin:   strings.TrimSpace(getenv("KEYGATE_CORS_ALLOW_ORIGIN")),
	}
	c.MaxUsagePlans = 200
	if raw := strings.TrimSpace(getenv("KEYGATE_MAX_USAGE_PLANS")); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 4 || n > 10000 {
			problems = append(problems, "KEYGATE_MAX_USAGE_PLANS must be a whole number in 4..10000")
		}
		c.MaxUsagePlans = n
	}
	if c.SigningAlg == "" {
		c.SigningAlg = signing.RS256
	}
	if !signing.ValidAlg(c.SigningAlg) {
		problems = append(problems, "KEYGATE_SIGNING_ALG must be RS256, ES256 or EdDSA")
	}
	if c.KeyPrefix != "" && !apikey.ValidPrefix(c.KeyPrefix) {
		problems = append(problems, "KEYGATE_KEY_PREFIX must be kg_live or kg_test")
	}
	if c.AccessTokenTTL > c.MaxAccessTokenTTL {
		problems = append(problems, "KEYGATE_ACCESS_TOKEN_TTL must not exceed KEYGATE_MAX_ACCESS_TOKEN_TTL")
	}
	if c.CORSAllowOrigin != "" && !corsOrigin.MatchString(c.CORSAllowOrigin) {
		problems = append(problems, "KEYGATE_CORS_ALLOW_ORIGIN must be * or one origin such as https://app.example.com (scheme, host, optional port)")
	}
	if len(problems) > 0 {
		return Config{}, errors.New("invalid configuration: " + strings.Join(problems, "; "))
	}
	return c, nil
}

// Lifetimes are the stage's token lifetimes, as the token, refresh and revoke handlers take
// them.
func (c Config) Lifetimes() token.Lifetimes {
	return token.Lifetimes{AccessTTL: c.AccessTokenTTL, MaxAccessTTL: c.MaxAccessTokenTTL, RefreshTTL: c.RefreshTokenTTL, RefreshGrace: c.RefreshGrace}
}
