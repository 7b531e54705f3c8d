package apigwcontract_test

// Where moto 5.2.5 differs from API Gateway in what keygate touches. Each test pins what moto
// does today, says what API Gateway does and names keygate's workaround. A test here failing
// means the emulator changed: re-check the workaround, then update the pin.

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

// Difference: API Gateway's UpdateUsagePlan accepts a fractional rateLimit
// ("replace /throttle/rateLimit 2.5"); moto does int(value), which fails on "2.5": HTTP 500,
// the plan unchanged. An integral value works.
//
// Workaround: nothing keygate runs updates a plan's throttle. Provisioning never updates a
// plan (a plan that drifted from the template is an error: reset the emulator), and
// shared/usageplan creates a plan per (tier, rate_limit) instead of changing one.
func TestMotoCannotUpdateAFractionalRateLimit(t *testing.T) {
	c, ctx := client(t), testContext(t)
	p := plan(ctx, t, c, "keygate-dev-startup", stage(ctx, t, c))
	_, err := c.UpdateUsagePlan(ctx, &apigateway.UpdateUsagePlanInput{UsagePlanId: p.Id,
		PatchOperations: []types.PatchOperation{{Op: types.OpReplace, Path: aws.String("/throttle/rateLimit"), Value: aws.String("2.5")}}}, noRetry)
	if status(err) != 500 {
		t.Fatalf("a fractional rateLimit: err = %v (HTTP %d), want moto's 500", err, status(err))
	}
	got, err := c.GetUsagePlan(ctx, &apigateway.GetUsagePlanInput{UsagePlanId: p.Id})
	if err != nil || got.Throttle.RateLimit != 16.667 {
		t.Fatalf("after the failed update: %+v, %v", got, err)
	}
	out, err := c.UpdateUsagePlan(ctx, &apigateway.UpdateUsagePlanInput{UsagePlanId: p.Id,
		PatchOperations: []types.PatchOperation{{Op: types.OpReplace, Path: aws.String("/throttle/rateLimit"), Value: aws.String("3")}}})
	if err != nil || out.Throttle.RateLimit != 3 {
		t.Fatalf("an integral rateLimit: %+v, %v", out, err)
	}
}

// Difference: moto stores a patched quota limit ("replace /quota/limit 200") as the string
// "200", and answers it as a JSON string, which the SDK refuses to read (API Gateway answers a
// number). Worse, from then on every GetUsagePlans of the account fails the same way, for
// every caller (the local gateway and the keys function included).
//
// Workaround: as above, nothing keygate runs patches a plan; every test doing so must use a
// moto account of its own (this suite does).
func TestMotoStoresAPatchedQuotaLimitAsAString(t *testing.T) {
	c, ctx := client(t), testContext(t)
	p := plan(ctx, t, c, "keygate-dev-free", stage(ctx, t, c))
	_, err := c.UpdateUsagePlan(ctx, &apigateway.UpdateUsagePlanInput{UsagePlanId: p.Id,
		PatchOperations: []types.PatchOperation{{Op: types.OpReplace, Path: aws.String("/quota/limit"), Value: aws.String("200")}}}, noRetry)
	const undecodable = "expected Integer to be json.Number, got string"
	if err == nil || !strings.Contains(err.Error(), undecodable) {
		t.Fatalf("patching the quota: err = %v, want the SDK unable to read moto's answer", err)
	}
	if _, err := c.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{}, noRetry); err == nil || !strings.Contains(err.Error(), undecodable) {
		t.Fatalf("GetUsagePlans of the account afterwards: err = %v, want it unreadable too", err)
	}
}

// Difference: moto does not implement GetUsage (GET /usageplans/{id}/usage): 404 with an HTML
// body. API Gateway answers each key's daily [used, remaining].
//
// Workaround: the local stack's control plane (infra/local/gateway.ControlPlane, the
// functions' AWS_ENDPOINT_URL_API_GATEWAY) answers GetUsage from the local gateway's own
// counters and forwards everything else to moto. Under sam local (functions pointed at moto
// directly) GET /v1/keys/{id}/usage cannot work.
func TestMotoDoesNotImplementGetUsage(t *testing.T) {
	c, ctx := client(t), testContext(t)
	p := plan(ctx, t, c, "keygate-dev-free", stage(ctx, t, c))
	_, err := c.GetUsage(ctx, &apigateway.GetUsageInput{UsagePlanId: p.Id, StartDate: aws.String("2026-11-01"), EndDate: aws.String("2026-11-02")}, noRetry)
	if status(err) != 404 {
		t.Fatalf("GetUsage: err = %v (HTTP %d), want moto's 404", err, status(err))
	}
}

// Difference: API Gateway removes a deleted API key from its usage plans; moto keeps it in
// GetUsagePlanKeys (with its value) and in GetUsagePlans' keyId filter.
//
// Workaround: the local gateway meters only keys that GetApiKeys still lists (and are
// enabled), so a deleted key is refused (INVALID_API_KEY) as on AWS; GetUsage lists only
// existing keys.
func TestMotoKeepsADeletedAPIKeyInItsUsagePlans(t *testing.T) {
	c, ctx := client(t), testContext(t)
	p := plan(ctx, t, c, "keygate-dev-free", stage(ctx, t, c))
	id := apiKey(ctx, t, c, "keygate-dev-key_4", hexValue(4))
	addKey(ctx, t, c, aws.ToString(p.Id), id)
	var nf *types.NotFoundException
	if _, err := c.DeleteApiKey(ctx, &apigateway.DeleteApiKeyInput{ApiKey: aws.String(id)}); err != nil && !errors.As(err, &nf) {
		t.Fatal(err) // NotFound: a retry after a lost answer met the first attempt's delete
	}
	if keys, err := c.GetApiKeys(ctx, &apigateway.GetApiKeysInput{}); err != nil || len(keys.Items) != 0 {
		t.Fatalf("GetApiKeys after the delete: %+v, %v", keys, err)
	}
	keys, err := c.GetUsagePlanKeys(ctx, &apigateway.GetUsagePlanKeysInput{UsagePlanId: p.Id})
	if err != nil || len(keys.Items) != 1 || aws.ToString(keys.Items[0].Id) != id {
		t.Fatalf("GetUsagePlanKeys after the delete: %+v, %v; want moto still listing the key", keys, err)
	}
	if plans, err := c.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{KeyId: aws.String(id)}); err != nil || len(plans.Items) != 1 {
		t.Fatalf("GetUsagePlans keyId after the delete: %+v, %v; want moto still listing the plan", plans, err)
	}
}

// Difference: API Gateway refuses to put an API key in a second usage plan of the same stage
// (ConflictException); moto accepts it, and then lists both plans for the key.
//
// Workaround: shared/usageplan takes a key out of its old plan before adding it to the new
// one; the local gateway refuses a key it finds in two plans of its stage (INVALID_API_KEY,
// with a warning in its log), so a bug that AWS would reject does not pass silently.
func TestMotoLetsAnAPIKeyJoinTwoPlansOfOneStage(t *testing.T) {
	c, ctx := client(t), testContext(t)
	st := stage(ctx, t, c)
	free, startup := plan(ctx, t, c, "keygate-dev-free", st), plan(ctx, t, c, "keygate-dev-startup", st)
	id := apiKey(ctx, t, c, "keygate-dev-key_5", hexValue(5))
	addKey(ctx, t, c, aws.ToString(free.Id), id)
	addKey(ctx, t, c, aws.ToString(startup.Id), id)
	if plans, err := c.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{KeyId: aws.String(id)}); err != nil || len(plans.Items) != 2 {
		t.Fatalf("plans of the key: %+v, %v; want moto listing both", plans, err)
	}
}

// Difference: API Gateway answers DeleteUsagePlanKey for a key that is not in the plan with
// NotFoundException; moto fails with HTTP 500 (a Python KeyError).
//
// Workaround: shared/usageplan only deletes plan keys GetUsagePlans(keyId) listed; its
// NotFound handling is for AWS and cannot be exercised on moto.
func TestMotoFailsToDeleteAPlanKeyThatIsNotThere(t *testing.T) {
	c, ctx := client(t), testContext(t)
	p := plan(ctx, t, c, "keygate-dev-free", stage(ctx, t, c))
	id := apiKey(ctx, t, c, "keygate-dev-key_6", hexValue(6))
	_, err := c.DeleteUsagePlanKey(ctx, &apigateway.DeleteUsagePlanKeyInput{UsagePlanId: p.Id, KeyId: aws.String(id)}, noRetry)
	var nf *types.NotFoundException
	if errors.As(err, &nf) || status(err) != 500 {
		t.Fatalf("err = %v (HTTP %d), want moto's 500 rather than NotFoundException", err, status(err))
	}
}

// Difference: API Gateway pages GetApiKeys, GetUsagePlans and GetUsagePlanKeys (limit, at most
// 500, and a position); moto ignores limit and answers everything at once, without a position.
//
// Workaround: keygate's readers page with the SDK's paginators, which work on both; paging
// itself is exercised only against AWS.
func TestMotoIgnoresPaging(t *testing.T) {
	c, ctx := client(t), testContext(t)
	for i := range 3 {
		apiKey(ctx, t, c, "keygate-dev-page", hexValue(10+i))
	}
	out, err := c.GetApiKeys(ctx, &apigateway.GetApiKeysInput{Limit: aws.Int32(1)})
	if err != nil || len(out.Items) != 3 || out.Position != nil {
		t.Fatalf("limit 1: %d keys, position %v, %v; want moto's 3 and none", len(out.Items), out.Position, err)
	}
}

// Difference: API Gateway refuses a usage plan whose apiStages name an API or stage that does
// not exist; moto accepts any.
//
// Workaround: provisioning creates the REST API the plans name (found by the Api's name), so
// the ids are real; it creates no stage or deployment, which moto never asks for and the
// local gateway does not need.
func TestMotoDoesNotCheckApiStages(t *testing.T) {
	c, ctx := client(t), testContext(t)
	if _, err := c.CreateUsagePlan(ctx, &apigateway.CreateUsagePlanInput{Name: aws.String("nowhere"),
		ApiStages: []types.ApiStage{{ApiId: aws.String("noSuchApi0"), Stage: aws.String("nostage")}}}); err != nil {
		t.Fatalf("err = %v, want moto accepting apiStages of no API", err)
	}
}
