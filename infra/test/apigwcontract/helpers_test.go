package apigwcontract_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/keygate/keygate/infra/test/emulatortest"
)

// client returns an API Gateway client on the emulator ($KEYGATE_SECRETS_ENDPOINT: one moto
// serves every service) in a fresh moto account. It retries as the SDK does (a loaded emulator
// drops a connection now and then); a call whose 500 is pinned passes noRetry.
func client(t *testing.T) *apigateway.Client {
	t.Helper()
	endpoint, in := emulatortest.MotoAccount(t)
	return in(endpoint)
}

// noRetry makes one call without the SDK's retries: a pinned 500 shows as one 500.
func noRetry(o *apigateway.Options) { o.RetryMaxAttempts = 1 }

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// stage creates a REST API and returns the apiStages entry of its stage "dev".
func stage(ctx context.Context, t *testing.T, c *apigateway.Client) types.ApiStage {
	t.Helper()
	api, err := c.CreateRestApi(ctx, &apigateway.CreateRestApiInput{Name: aws.String("keygate-dev")})
	if err != nil {
		t.Fatalf("CreateRestApi: %v", err)
	}
	return types.ApiStage{ApiId: api.Id, Stage: aws.String("dev")}
}

// plan creates a usage plan on st with the startup tier's limits.
func plan(ctx context.Context, t *testing.T, c *apigateway.Client, name string, st types.ApiStage) *apigateway.CreateUsagePlanOutput {
	t.Helper()
	p, err := c.CreateUsagePlan(ctx, &apigateway.CreateUsagePlanInput{Name: aws.String(name), ApiStages: []types.ApiStage{st},
		Throttle: &types.ThrottleSettings{RateLimit: 16.667, BurstLimit: 1000},
		Quota:    &types.QuotaSettings{Limit: 1000000, Period: types.QuotaPeriodTypeMonth}})
	if err != nil {
		t.Fatalf("CreateUsagePlan: %v", err)
	}
	return p
}

// apiKey creates an enabled API key whose value is value. A ConflictException can only be the
// SDK's retry of a create whose answer was lost (the account is the test's own): the key the
// first attempt made is then looked up by its value.
func apiKey(ctx context.Context, t *testing.T, c *apigateway.Client, name, value string) string {
	t.Helper()
	k, err := c.CreateApiKey(ctx, &apigateway.CreateApiKeyInput{Name: aws.String(name), Value: aws.String(value), Enabled: true})
	if err == nil {
		return aws.ToString(k.Id)
	}
	var conflict *types.ConflictException
	if errors.As(err, &conflict) {
		if keys, lerr := c.GetApiKeys(ctx, &apigateway.GetApiKeysInput{IncludeValues: aws.Bool(true)}); lerr == nil {
			for _, k := range keys.Items {
				if aws.ToString(k.Value) == value && aws.ToString(k.Name) == name {
					return aws.ToString(k.Id)
				}
			}
		}
	}
	t.Fatalf("CreateApiKey: %v", err)
	return ""
}

func addKey(ctx context.Context, t *testing.T, c *apigateway.Client, planID, keyID string) {
	t.Helper()
	if _, err := c.CreateUsagePlanKey(ctx, &apigateway.CreateUsagePlanKeyInput{UsagePlanId: aws.String(planID),
		KeyId: aws.String(keyID), KeyType: aws.String("API_KEY")}); err != nil {
		t.Fatalf("CreateUsagePlanKey: %v", err)
	}
}

// status is the HTTP status of the emulator's answer behind err (0 when there was none).
func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// hexValue is a usage identifier in keygate's form: 64 hex digits.
func hexValue(n int) string { return fmt.Sprintf("%064x", n) }
