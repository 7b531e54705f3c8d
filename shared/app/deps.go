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
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/signing"
	"github.com/keygate/keygate/shared/store/dynamo"
	"github.com/keygate/keygate/shared/token"
	"github.com/keygate/keygate/shared/usageplan"
)

// Deps are one container's dependencies. Load fills the exported fields; the clients, stores
// and keyrings are built by the methods below on first call and kept, so a function builds
// only what its main asks for, and two handler fields that ask for the same thing (the token
// function's authenticator and audit log both write events; an issuer and a verifier share
// the signing keys) share one instance, one cache and one Secrets Manager read.
//
// The methods are meant for main, during init: they are not safe for concurrent use, and a
// handler is given what they return, never Deps itself.
type Deps struct {
	Config Config
	Log    *slog.Logger
	Now    func() time.Time
	AWS    aws.Config

	dynamoDB *dynamodb.Client
	secrets  *secretsmanager.Client
	gateway  *apigateway.Client
	plans    *usageplan.Manager
	keyring  *signing.Keyring
	events   *dynamo.Events
	keys     *dynamo.Keys
	tokens   *dynamo.Tokens
	limiter  *dynamo.Limiter
	pepper   apikey.Pepper
	keyAuth  *apikey.Authenticator
	issuer   *token.Issuer
	verifier *token.Verifier
}

// Load reads and validates the configuration, builds the logger and loads the AWS SDK
// configuration. It builds no client and does no network I/O: secrets are fetched on first
// use, so an outage at cold start becomes a 503 on that request (and a retry on the next)
// instead of a crashed init.
func Load(ctx context.Context, getenv func(string) string) (*Deps, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := AWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &Deps{Config: cfg, Log: NewLogger(), Now: time.Now, AWS: awsCfg}, nil
}

// MustLoad is Load for mains: on error it logs the problem and exits non-zero, which Lambda
// reports as an init error (fail closed: a misconfigured function serves nothing).
func MustLoad() *Deps {
	d, err := Load(context.Background(), os.Getenv)
	if err != nil {
		initFailed(NewLogger(), err)
	}
	return d
}

func initFailed(log *slog.Logger, err error) {
	log.Error("init failed", slog.String("error", err.Error()))
	os.Exit(1)
}

// HTTP is the Lambda handler of an HTTP function: h behind httpapi.Lambda (the one error shape,
// panic recovery, the invocation's time budget), with the stage's CORS origin on every response.
func (d *Deps) HTTP(h httpapi.Handler) func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return httpapi.WithCORS(d.Config.CORSAllowOrigin, httpapi.Lambda(d.Log, h))
}

// DynamoDB is the DynamoDB client.
func (d *Deps) DynamoDB() *dynamodb.Client {
	if d.dynamoDB == nil {
		d.dynamoDB = dynamodb.NewFromConfig(d.AWS)
	}
	return d.dynamoDB
}

// Secrets is the Secrets Manager client.
func (d *Deps) Secrets() *secretsmanager.Client {
	if d.secrets == nil {
		d.secrets = secretsmanager.NewFromConfig(d.AWS)
	}
	return d.secrets
}

// APIGateway is the API Gateway control-plane client (API keys and usage plans).
func (d *Deps) APIGateway() *apigateway.Client {
	if d.gateway == nil {
		d.gateway = apigateway.NewFromConfig(d.AWS)
	}
	return d.gateway
}

// UsagePlans keeps the stage's API Gateway usage plans in step with its keys.
func (d *Deps) UsagePlans() *usageplan.Manager {
	if d.plans == nil {
		d.plans = usageplan.New(d.APIGateway(), d.KeyAuth(), d.Config.Stage, d.Config.MaxUsagePlans, d.Now)
	}
	return d.plans
}

// Keyring holds the signing keys for signing and verifying, refreshed every KeyringRefresh.
func (d *Deps) Keyring() *signing.Keyring {
	if d.keyring == nil {
		every := d.Config.KeyringRefresh
		d.keyring = signing.New(d.Secrets(), d.Config.SigningSecret, signing.Options{
			Now: d.Now, RefreshEvery: every, ActivationDelay: signing.DefaultActivationDelay(every)})
	}
	return d.keyring
}

// PublishingKeyring is the JWKS function's keyring, used instead of Keyring: it also reads the
// pending key once a rotation has tested it, so verifiers can learn it before it signs.
func (d *Deps) PublishingKeyring() *signing.Keyring {
	return signing.New(d.Secrets(), d.Config.SigningSecret, signing.Options{
		Now: d.Now, RefreshEvery: d.Config.KeyringRefresh, Publish: true})
}

// Events is the audit log (in the tokens table).
func (d *Deps) Events() *dynamo.Events {
	if d.events == nil {
		d.events = dynamo.NewEvents(d.DynamoDB(), d.Config.TokensTable, 0, d.Now)
	}
	return d.events
}

// Keys is the API-key store.
func (d *Deps) Keys() *dynamo.Keys {
	if d.keys == nil {
		d.keys = dynamo.NewKeys(d.DynamoDB(), d.Config.KeysTable, d.Now, d.Events())
	}
	return d.keys
}

// Tokens is the refresh-token and token-revocation store.
func (d *Deps) Tokens() *dynamo.Tokens {
	if d.tokens == nil {
		d.tokens = dynamo.NewTokens(d.DynamoDB(), d.Config.TokensTable, d.Config.KeysTable, d.Now, d.Events())
	}
	return d.tokens
}

// Limiter is the per-key rate limiter.
func (d *Deps) Limiter() *dynamo.Limiter {
	if d.limiter == nil {
		d.limiter = dynamo.NewLimiter(d.DynamoDB(), d.Config.TokensTable, d.Now)
	}
	return d.limiter
}

// Pepper is the API-key HMAC pepper, fetched from Secrets Manager on first use and kept.
func (d *Deps) Pepper() apikey.Pepper {
	if d.pepper == nil {
		d.pepper = secret.NewLazy(d.Secrets(), d.Config.PepperSecret, func(b []byte) error {
			_, err := apikey.NewHasher(b)
			return err
		})
	}
	return d.pepper
}

// KeyAuth authenticates API keys against the key store.
func (d *Deps) KeyAuth() *apikey.Authenticator {
	if d.keyAuth == nil {
		d.keyAuth = apikey.NewAuthenticator(d.Config.KeyPrefix, d.Pepper(), d.Keys(), d.Now)
	}
	return d.keyAuth
}

// Issuer signs the stage's access tokens.
func (d *Deps) Issuer() *token.Issuer {
	if d.issuer == nil {
		d.issuer = token.NewIssuer(d.Keyring(), d.Config.Issuer, d.Config.Audience, d.Now)
	}
	return d.issuer
}

// MustVerifier verifies the stage's access tokens. The configuration guarantees what the
// verifier needs, so an error here is a bug; it exits like MustLoad.
func (d *Deps) MustVerifier() *token.Verifier {
	if d.verifier == nil {
		v, err := token.NewVerifier(d.Keyring(), d.Config.Issuer, d.Config.Audience, token.DefaultLeeway, d.Now)
		if err != nil {
			initFailed(d.Log, err)
		}
		d.verifier = v
	}
	return d.verifier
}

// AWSConfig loads the SDK configuration with short timeouts and bounded retries, so a slow or
// failing dependency turns into a 503 well before API Gateway's 29 s limit. Endpoints come from
// the standard SDK settings (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SECRETS_MANAGER,
// AWS_ENDPOINT_URL_API_GATEWAY), which
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
