// Config reads keygate's settings from the environment that template.yaml gives every
// function, and validates all of them at once so a misconfigured deploy names every problem in
// one cold-start log line instead of one per attempt.
//
// A function must refuse to start (fail closed) when Load returns an error.

package app

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/signing"
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
	LogLevel         slog.Level

	// KeyringRefresh is how long a warm function trusts its cached signing keys: how soon it
	// signs with a rotated key and stops trusting a retired one.
	KeyringRefresh time.Duration
}

// Load reads the configuration through getenv (os.Getenv in production) and validates it.
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
	if lvl := strings.TrimSpace(getenv("KEYGATE_LOG_LEVEL")); lvl != "" {
		if err := c.LogLevel.UnmarshalText([]byte(lvl)); err != nil {
			problems = append(problems, "KEYGATE_LOG_LEVEL must be DEBUG, INFO, WARN or ERROR")
		}
	}
	if len(problems) > 0 {
		return Config{}, errors.New("invalid configuration: " + strings.Join(problems, "; "))
	}
	return c, nil
}
