// Deps builds what a keygate function needs once per container: configuration, the
// JSON logger, the AWS SDK config and clients, the keyring and the stores. Thin mains call Load
// during init and hand the result to a handler; nothing here runs per invocation.

package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/authapi"
	"github.com/keygate/keygate/shared/authorizer"

	"github.com/keygate/keygate/shared/httpapi"

	"github.com/keygate/keygate/shared/ratelimit"
	"github.com/keygate/keygate/shared/signing"

	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/store/dynamo"
	"github.com/keygate/keygate/shared/token"
)

// Deps are the per-container dependencies.
type Deps struct {
	Config   Config
	Log      *slog.Logger
	Now      func() time.Time
	DynamoDB *dynamodb.Client
	Secrets  *secretsmanager.Client
	Keyring  *signing.Keyring
	Keys     *dynamo.Keys
	Events   *dynamo.Events
	Tokens   *dynamo.Tokens
	Limiter  *ratelimit.Limiter
	KeyAuth  *apikey.Authenticator
	Pepper   apikey.Pepper // the API-key HMAC pepper, fetched once on first use
}

// Load reads the configuration and builds the clients. It does no network I/O: secrets are
// fetched on first use, so an outage at cold start becomes a 503 on that request (and a retry
// on the next) instead of a crashed init.
func Load(ctx context.Context) (*Deps, error) {
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	log := NewLogger(cfg.LogLevel)
	awsCfg, err := AWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	d := &Deps{Config: cfg, Log: log, Now: time.Now}
	d.DynamoDB = dynamodb.NewFromConfig(awsCfg)
	d.Secrets = secretsmanager.NewFromConfig(awsCfg)
	d.Keyring = signing.New(d.Secrets, cfg.SigningSecret, signing.Options{Now: d.Now, RefreshEvery: cfg.KeyringRefresh,
		ActivationDelay: signing.DefaultActivationDelay(cfg.KeyringRefresh)})
	d.Events = dynamo.NewEvents(d.DynamoDB, cfg.TokensTable, 0, d.Now)
	d.Keys = dynamo.NewKeys(d.DynamoDB, cfg.KeysTable, d.Now, d.Events)
	d.Tokens = dynamo.NewTokens(d.DynamoDB, cfg.TokensTable, cfg.KeysTable, d.Now, d.Events)
	d.Limiter = ratelimit.New(d.DynamoDB, cfg.TokensTable, d.Now)
	d.Pepper = secret.NewLazy(d.Secrets, cfg.PepperSecret, func(b []byte) error {
		_, err := apikey.NewHasher(b)
		return err
	})
	d.KeyAuth = apikey.NewAuthenticator(cfg.KeyPrefix, d.Pepper, d.Keys, d.Now)
	return d, nil
}

// MustLoad is Load for mains: on error it logs the problem and exits non-zero, which Lambda
// reports as an init error (fail closed: a misconfigured function serves nothing).
func MustLoad() *Deps {
	d, err := Load(context.Background())
	if err != nil {
		NewLogger(slog.LevelInfo).Error("init failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	return d
}

// NewLogger returns the structured JSON logger every function uses.
func NewLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
}

// AWSConfig loads the SDK configuration with short timeouts and bounded retries, so a slow or
// failing dependency turns into a 503 well before API Gateway's 29 s limit. Endpoints come from
// the standard SDK settings (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SECRETS_MANAGER), which
// is how the local stack points the unchanged code at its emulators.
func AWSConfig(ctx context.Context) (aws.Config, error) {
	// A BuildableClient (not a plain http.Client) so that AWS_CA_BUNDLE keeps working.
	httpClient := awshttp.NewBuildableClient().
		WithTimeout(2 * time.Second).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = time.Second; d.KeepAlive = 30 * time.Second }).
		WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = 32
			t.MaxIdleConnsPerHost = 32
			t.IdleConnTimeout = 90 * time.Second
			t.TLSHandshakeTimeout = 2 * time.Second
			t.ResponseHeaderTimeout = 2 * time.Second
		})
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithHTTPClient(httpClient),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.MaxBackoff = 200 * time.Millisecond
			})
		}),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	return cfg, nil
}

// MustVerifier returns the access-token verifier for d's issuer and audience, exiting like
// MustLoad when they are unusable.
func MustVerifier(d *Deps) *token.Verifier {
	v, err := token.NewVerifier(d.Keyring, d.Config.Issuer, d.Config.Audience, token.DefaultLeeway, d.Now)
	if err != nil {
		d.Log.Error("init failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	return v
}

// Authorizer wires the REQUEST authorizer: API-key lookups and revocation state are cached
// per container for the stage's RevocationMaxAge, so a warm container authorizes a known
// credential without network I/O and learns of revocations within that bound.
func Authorizer(d *Deps) *authorizer.Authorizer {
	opts := authorizer.CacheOptions{MaxAge: d.Config.RevocationMaxAge, Now: d.Now}
	return &authorizer.Authorizer{
		Keys:     apikey.NewAuthenticator(d.Config.KeyPrefix, d.Pepper, authorizer.NewKeyCache(d.Keys, opts), d.Now),
		Tokens:   MustVerifier(d),
		Revoked:  authorizer.NewChecker(d.Keys, d.Tokens, opts),
		Log:      d.Log,
		Now:      d.Now,
		Remember: d.Config.RevocationMaxAge,
	}
}

// PublishingKeyring is the JWKS function's keyring: like d.Keyring, and it also reads the
// pending key once a rotation has tested it, so verifiers can learn it early.
func (d *Deps) PublishingKeyring() *signing.Keyring {
	return signing.New(d.Secrets, d.Config.SigningSecret, signing.Options{Now: d.Now, RefreshEvery: d.Config.KeyringRefresh, Publish: true})
}

// Settings are the token lifetimes of the stage.
func (d *Deps) Settings() authapi.Settings {
	return authapi.Settings{
		AccessTTL: d.Config.AccessTokenTTL, MaxAccessTTL: d.Config.MaxAccessTokenTTL,
		RefreshTTL: d.Config.RefreshTokenTTL, RefreshGrace: d.Config.RefreshGrace,
	}
}

// Issuer returns the access-token issuer of the stage.
func (d *Deps) Issuer() *token.Issuer {
	return token.NewIssuer(d.Keyring, d.Config.Issuer, d.Config.Audience, d.Now)
}

// HTTP is the Lambda handler of an HTTP function: h behind httpapi.Lambda (the one error shape,
// panic recovery, the invocation's time budget), with the stage's CORS origin
// (KEYGATE_CORS_ALLOW_ORIGIN, the template's CorsAllowOrigin) on every response.
func HTTP(log *slog.Logger, h httpapi.Handler) func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return httpapi.WithCORS(os.Getenv("KEYGATE_CORS_ALLOW_ORIGIN"), httpapi.Lambda(log, h))
}
