package apigwcontract_test

// Behaviours keygate relies on that moto shares with API Gateway.

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

// Provisioning creates the tiers with CreateUsagePlan: a fractional rateLimit (the startup
// tier's 16.667/s) and the quota come back as sent.
func TestCreateUsagePlanKeepsAFractionalRateAndTheQuota(t *testing.T) {
	c, ctx := client(t), testContext(t)
	st := stage(ctx, t, c)
	p := plan(ctx, t, c, "keygate-dev-startup", st)
	got, err := c.GetUsagePlan(ctx, &apigateway.GetUsagePlanInput{UsagePlanId: p.Id})
	if err != nil {
		t.Fatal(err)
	}
	if got.Throttle == nil || got.Throttle.RateLimit != 16.667 || got.Throttle.BurstLimit != 1000 ||
		got.Quota == nil || got.Quota.Limit != 1000000 || got.Quota.Period != types.QuotaPeriodTypeMonth {
		t.Errorf("throttle %+v quota %+v", got.Throttle, got.Quota)
	}
	if len(got.ApiStages) != 1 || aws.ToString(got.ApiStages[0].ApiId) != aws.ToString(st.ApiId) || aws.ToString(got.ApiStages[0].Stage) != "dev" {
		t.Errorf("apiStages %+v", got.ApiStages)
	}
}

// The local gateway matches the authorizer's usageIdentifierKey against API key values, which
// GetApiKeys returns only with includeValues, as API Gateway does.
func TestAPIKeyValuesAreListedOnlyWhenAsked(t *testing.T) {
	c, ctx := client(t), testContext(t)
	id := apiKey(ctx, t, c, "keygate-dev-key_1", hexValue(1))
	for _, include := range []bool{false, true} {
		out, err := c.GetApiKeys(ctx, &apigateway.GetApiKeysInput{IncludeValues: aws.Bool(include)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Items) != 1 || aws.ToString(out.Items[0].Id) != id || !out.Items[0].Enabled {
			t.Fatalf("includeValues %v: %+v", include, out.Items)
		}
		if got := aws.ToString(out.Items[0].Value); include && got != hexValue(1) || !include && got != "" {
			t.Errorf("includeValues %v: value %q", include, got)
		}
	}
	// nameQuery is a prefix match, which shared/usageplan uses to find a stage's keys.
	for query, want := range map[string]int{"keygate-dev-": 1, "keygate-prod-": 0} {
		out, err := c.GetApiKeys(ctx, &apigateway.GetApiKeysInput{NameQuery: aws.String(query)})
		if err != nil || len(out.Items) != want {
			t.Errorf("nameQuery %q: %d keys, %v; want %d", query, len(out.Items), err, want)
		}
	}
}

// API key values are at least 20 characters and unique, as in API Gateway.
func TestAPIKeyValuesMustBeLongEnoughAndUnique(t *testing.T) {
	c, ctx := client(t), testContext(t)
	_, err := c.CreateApiKey(ctx, &apigateway.CreateApiKeyInput{Name: aws.String("short"), Value: aws.String("tooshort"), Enabled: true})
	var br *types.BadRequestException
	if !errors.As(err, &br) {
		t.Errorf("a 8-character value: err = %v, want BadRequestException", err)
	}
	apiKey(ctx, t, c, "first", hexValue(2))
	_, err = c.CreateApiKey(ctx, &apigateway.CreateApiKeyInput{Name: aws.String("second"), Value: aws.String(hexValue(2)), Enabled: true})
	var conflict *types.ConflictException
	if !errors.As(err, &conflict) {
		t.Errorf("a duplicate value: err = %v, want ConflictException", err)
	}
}

// Which plans hold a key (GetUsagePlans keyId) and which keys a plan holds (GetUsagePlanKeys,
// with their values), after a move: DeleteUsagePlanKey, then CreateUsagePlanKey.
func TestAKeyMovesBetweenPlans(t *testing.T) {
	c, ctx := client(t), testContext(t)
	st := stage(ctx, t, c)
	free, startup := plan(ctx, t, c, "keygate-dev-free", st), plan(ctx, t, c, "keygate-dev-startup", st)
	id := apiKey(ctx, t, c, "keygate-dev-key_3", hexValue(3))
	addKey(ctx, t, c, aws.ToString(free.Id), id)
	// Without retries: moto answers a repeated delete with 500 (see the gaps); a failure is
	// judged by the state below.
	if _, err := c.DeleteUsagePlanKey(ctx, &apigateway.DeleteUsagePlanKeyInput{UsagePlanId: free.Id, KeyId: aws.String(id)}, noRetry); err != nil {
		t.Logf("DeleteUsagePlanKey: %v (the state decides)", err)
	}
	addKey(ctx, t, c, aws.ToString(startup.Id), id)
	plans, err := c.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{KeyId: aws.String(id)})
	if err != nil || len(plans.Items) != 1 || aws.ToString(plans.Items[0].Id) != aws.ToString(startup.Id) {
		t.Fatalf("plans of the key: %+v, %v", plans, err)
	}
	keys, err := c.GetUsagePlanKeys(ctx, &apigateway.GetUsagePlanKeysInput{UsagePlanId: startup.Id})
	if err != nil || len(keys.Items) != 1 || aws.ToString(keys.Items[0].Id) != id || aws.ToString(keys.Items[0].Value) != hexValue(3) ||
		aws.ToString(keys.Items[0].Type) != "API_KEY" {
		t.Fatalf("keys of the plan: %+v, %v", keys, err)
	}
	if keys, err := c.GetUsagePlanKeys(ctx, &apigateway.GetUsagePlanKeysInput{UsagePlanId: free.Id}); err != nil || len(keys.Items) != 0 {
		t.Errorf("the old plan still holds %+v, %v", keys, err)
	}
}
