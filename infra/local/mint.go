package local

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/apigateway"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/dynamo"
	"github.com/keygate/keygate/shared/usageplan"
)

// MintKey writes a new API key straight to the stack's keys table, as `authctl bootstrap` does
// (the pepper from the stack's secret, its API key in its usage plan first, an audit event
// saying why), and returns the plain key. Tests and benchmarks use it for the credentials they
// start from. spec.Tier must be one of the template's tiers; a RateLimit other than the tier's
// gets a plan of its own, as through the admin API.
func (s *Stack) MintKey(ctx context.Context, spec apikey.Spec, why string) (string, error) {
	env := s.Env("KeysFunction")
	events := dynamo.NewEvents(s.DynamoDB, env["KEYGATE_TOKENS_TABLE"], 0, time.Now)
	keys := dynamo.NewKeys(s.DynamoDB, env["KEYGATE_KEYS_TABLE"], time.Now, events)
	plans, err := s.UsagePlans(ctx)
	if err != nil {
		return "", err
	}
	plain, _, err := apikey.Bootstrap(ctx, s.Secrets, env["KEYGATE_PEPPER_SECRET"], env["KEYGATE_KEY_PREFIX"], keys, plans, spec, why, rand.Reader, time.Now())
	return plain, err
}

// KeyRecord reads a key's stored record, as the keys function reads it.
func (s *Stack) KeyRecord(ctx context.Context, keyID string) (store.Key, error) {
	env := s.Env("KeysFunction")
	events := dynamo.NewEvents(s.DynamoDB, env["KEYGATE_TOKENS_TABLE"], 0, time.Now)
	return dynamo.NewKeys(s.DynamoDB, env["KEYGATE_KEYS_TABLE"], time.Now, events).KeyByID(ctx, keyID)
}

// UsagePlans is the stack's usage-plan keeper, as the keys function has it, on the emulator's
// API Gateway control plane (moto serves it on the Secrets Manager endpoint).
func (s *Stack) UsagePlans(ctx context.Context) (*usageplan.Manager, error) {
	env := s.Env("KeysFunction")
	h, err := apikey.ReadHasher(ctx, s.Secrets, env["KEYGATE_PEPPER_SECRET"])
	if err != nil {
		return nil, fmt.Errorf("local: usage plans: %w", err)
	}
	gw := s.APIGatewayClient // through the local control plane, so the gateway sees each write at once
	if gw == nil {           // an attached stack (sam local): the emulator itself
		o := s.Secrets.Options()
		gw = apigateway.New(apigateway.Options{Region: o.Region, Credentials: o.Credentials, BaseEndpoint: o.BaseEndpoint, HTTPClient: o.HTTPClient})
	}
	return usageplan.New(gw, apikey.StaticHashers{H: h}, env["KEYGATE_STAGE"], 200, time.Now), nil
}
