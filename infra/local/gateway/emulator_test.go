package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/keygate/keygate/infra/local/gateway"
	"github.com/keygate/keygate/infra/local/samtpl"
	"github.com/keygate/keygate/infra/test/emulatortest"
)

// noRetry makes one call without the SDK's retries.
func noRetry(o *apigateway.Options) { o.RetryMaxAttempts = 1 }

// createAPIKey creates an API key. A ConflictException can only be the SDK's retry of a
// create whose answer was lost (the account is the test's own): the key is then found by value.
func createAPIKey(ctx context.Context, t *testing.T, c *apigateway.Client, in *apigateway.CreateApiKeyInput) *apigateway.CreateApiKeyOutput {
	t.Helper()
	out, err := c.CreateApiKey(ctx, in)
	if err == nil {
		return out
	}
	var conflict *types.ConflictException
	if errors.As(err, &conflict) {
		if keys, lerr := c.GetApiKeys(ctx, &apigateway.GetApiKeysInput{IncludeValues: aws.Bool(true)}); lerr == nil {
			for _, k := range keys.Items {
				if aws.ToString(k.Value) == aws.ToString(in.Value) {
					return &apigateway.CreateApiKeyOutput{Id: k.Id, Value: k.Value, Enabled: k.Enabled}
				}
			}
		}
	}
	t.Fatalf("CreateApiKey %s: %v", aws.ToString(in.Name), err)
	return nil
}

// The gateway meters by the state on the emulator, and the changes the keys function makes
// through the control plane (create, move, delete) take effect at the next request; GetUsage
// through the control plane is answered from the gateway, everything else by moto.
func TestTheGatewayFollowsTheEmulatorsUsagePlans(t *testing.T) {
	endpoint, client := emulatortest.MotoAccount(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	moto := client(endpoint)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	api, err := moto.CreateRestApi(ctx, &apigateway.CreateRestApiInput{Name: aws.String("keygate-dev")})
	if err != nil {
		t.Fatal(err)
	}
	st := []types.ApiStage{{ApiId: api.Id, Stage: aws.String(testStage)}}
	small, err := moto.CreateUsagePlan(ctx, &apigateway.CreateUsagePlanInput{Name: aws.String("keygate-dev-free"), ApiStages: st,
		Throttle: &types.ThrottleSettings{RateLimit: 1, BurstLimit: 2}, Quota: &types.QuotaSettings{Limit: 100, Period: types.QuotaPeriodTypeDay}})
	if err != nil {
		t.Fatal(err)
	}
	large, err := moto.CreateUsagePlan(ctx, &apigateway.CreateUsagePlanInput{Name: aws.String("keygate-dev-startup"), ApiStages: st,
		Throttle: &types.ThrottleSettings{RateLimit: 16.667, BurstLimit: 1000}, Quota: &types.QuotaSettings{Limit: 1, Period: types.QuotaPeriodTypeMonth}})
	if err != nil {
		t.Fatal(err)
	}
	k1 := createAPIKey(ctx, t, moto, &apigateway.CreateApiKeyInput{Name: aws.String("keygate-dev-key_1"), Value: aws.String(value(1)), Enabled: true})
	k2 := createAPIKey(ctx, t, moto, &apigateway.CreateApiKeyInput{Name: aws.String("keygate-dev-key_2"), Value: aws.String(value(2))})
	for _, k := range []*string{k1.Id, k2.Id} {
		must(moto.CreateUsagePlanKey(ctx, &apigateway.CreateUsagePlanKeyInput{UsagePlanId: small.Id, KeyId: k, KeyType: aws.String("API_KEY")}))
	}

	e := newEnv(t, map[string]handlerFunc{"AuthorizerFunction": meteredAuthorizer}, func(c *gateway.Config, _ *samtpl.Options) {
		c.UsagePlans = &gateway.UsagePlanSource{Client: moto, RestAPIID: aws.ToString(api.Id), MaxAge: -1}
	})
	cp, err := e.gw.ControlPlane(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cp)
	defer srv.Close()
	fn := client(srv.URL) // what the keys function holds

	runSteps(t, e, value(1), []step{ok(), ok(), throttled()})
	runSteps(t, e, value(2), []step{{status: 403, code: "key_not_provisioned"}}) // disabled

	// A new key, created through the control plane.
	k3 := createAPIKey(ctx, t, fn, &apigateway.CreateApiKeyInput{Name: aws.String("keygate-dev-key_3"), Value: aws.String(value(3)), Enabled: true})
	must(fn.CreateUsagePlanKey(ctx, &apigateway.CreateUsagePlanKeyInput{UsagePlanId: large.Id, KeyId: k3.Id, KeyType: aws.String("API_KEY")}))
	runSteps(t, e, value(3), []step{ok(), overQuota()})

	// Key 1 moves to the large plan (its quota of 1 a month is the new limit).
	if _, err := fn.DeleteUsagePlanKey(ctx, &apigateway.DeleteUsagePlanKeyInput{UsagePlanId: small.Id, KeyId: k1.Id}, noRetry); err != nil {
		// Without retries (moto answers a repeated delete with 500); the state decides.
		if keys, lerr := moto.GetUsagePlanKeys(ctx, &apigateway.GetUsagePlanKeysInput{UsagePlanId: small.Id}); lerr != nil || len(keys.Items) != 1 {
			t.Fatalf("DeleteUsagePlanKey: %v; the plan holds %+v (%v)", err, keys, lerr)
		}
	}
	must(fn.CreateUsagePlanKey(ctx, &apigateway.CreateUsagePlanKeyInput{UsagePlanId: large.Id, KeyId: k1.Id, KeyType: aws.String("API_KEY")}))
	runSteps(t, e, value(1), []step{ok(), overQuota()})

	// GetUsage comes from the gateway, in the SDK's shape; reads go to moto.
	day := e.clock.Now().UTC().Format("2006-01-02")
	usage, err := fn.GetUsage(ctx, &apigateway.GetUsageInput{UsagePlanId: large.Id, StartDate: aws.String(day), EndDate: aws.String(day)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][][]int64{aws.ToString(k1.Id): {{1, 0}}, aws.ToString(k3.Id): {{1, 0}}}
	if fmt.Sprint(usage.Items) != fmt.Sprint(want) {
		t.Errorf("usage of the large plan = %v, want %v", usage.Items, want)
	}
	usage, err = fn.GetUsage(ctx, &apigateway.GetUsageInput{UsagePlanId: small.Id, KeyId: k1.Id, StartDate: aws.String(day), EndDate: aws.String(day)})
	if err != nil || fmt.Sprint(usage.Items) != fmt.Sprintf("map[%s:[[2 98]]]", aws.ToString(k1.Id)) {
		t.Errorf("key 1's usage in its old plan = %v, %v", usage.Items, err)
	}
	plans, err := fn.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{KeyId: k1.Id})
	if err != nil || len(plans.Items) != 1 || aws.ToString(plans.Items[0].Id) != aws.ToString(large.Id) {
		t.Errorf("GetUsagePlans through the control plane = %+v, %v", plans, err)
	}

	// Deleted through the control plane: refused at once, although moto keeps it in its plan.
	var nf *types.NotFoundException
	if _, err := fn.DeleteApiKey(ctx, &apigateway.DeleteApiKeyInput{ApiKey: k3.Id}); err != nil && !errors.As(err, &nf) {
		t.Fatal(err) // NotFound: a retry after a lost answer met the first attempt's delete
	}
	runSteps(t, e, value(3), []step{{status: 403, code: "key_not_provisioned"}})
}
