package usageplan_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/usageplan"
)

// The tests in this file keep usage plans on moto's API Gateway control plane through the real
// SDK client; each uses a stage of its own, so they share the emulator with everything else.

// emulatorStage creates the four default tier plans of a new stage on the emulator.
func emulatorStage(t *testing.T, gw *apigateway.Client) string {
	t.Helper()
	ctx := emuCtx(t)
	stage := emulatortest.UniqueName("t")
	for _, tier := range []struct {
		name   string
		rate   float64
		burst  int32
		quota  int32
		period types.QuotaPeriodType
	}{{"free", 1, 60, 10000, "DAY"}, {"startup", 16.667, 1000, 1000000, "MONTH"}} {
		_, err := gw.CreateUsagePlan(ctx, &apigateway.CreateUsagePlanInput{
			Name:      aws.String("keygate-" + stage + "-" + tier.name),
			ApiStages: []types.ApiStage{{ApiId: aws.String("emuapi"), Stage: aws.String(stage)}},
			Throttle:  &types.ThrottleSettings{RateLimit: tier.rate, BurstLimit: tier.burst},
			Quota:     &types.QuotaSettings{Limit: tier.quota, Period: tier.period},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return stage
}

func emuCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// emuPlans returns the names of the plans the API key named name is in, and its value.
func emuPlans(t *testing.T, gw *apigateway.Client, name string) (string, []string) {
	t.Helper()
	ctx := emuCtx(t)
	keys, err := gw.GetApiKeys(ctx, &apigateway.GetApiKeysInput{NameQuery: aws.String(name), IncludeValues: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.Items {
		if aws.ToString(k.Name) != name {
			continue
		}
		plans, err := gw.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{KeyId: k.Id})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range plans.Items {
			names = append(names, aws.ToString(p.Name))
		}
		slices.Sort(names)
		return aws.ToString(k.Value), names
	}
	return "", nil
}

func TestKeysFollowTheirPlansOnTheEmulator(t *testing.T) {
	gw := emulatortest.APIGateway(t)
	stage := emulatorStage(t, gw)
	m := usageplan.New(gw, hashers{}, stage, 200, time.Now)
	ctx := emuCtx(t)
	name := m.APIKeyName(keyA)
	k := key(keyA, "free", 60)
	k.CreatedAt = time.Now()

	steps := []struct {
		name  string
		key   func(store.Key) store.Key
		plans []string
	}{
		{"created in its tier", func(k store.Key) store.Key { return k }, []string{"keygate-" + stage + "-free"}},
		{"again (idempotent)", func(k store.Key) store.Key { return k }, []string{"keygate-" + stage + "-free"}},
		{"rate lowered: a plan of its own", func(k store.Key) store.Key { k.RateLimit = 5; return k }, []string{"keygate-" + stage + "-free-5pm"}},
		{"tier changed", func(k store.Key) store.Key { k.Tier, k.RateLimit = "startup", 1000; return k }, []string{"keygate-" + stage + "-startup"}},
		{"revoked", func(k store.Key) store.Key { k.Status = store.StatusRevoked; return k }, nil},
	}
	for _, st := range steps {
		if err := m.Ensure(ctx, st.key(k)); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		value, plans := emuPlans(t, gw, name)
		if !slices.Equal(plans, st.plans) {
			t.Errorf("%s: plans %v, want %v", st.name, plans, st.plans)
		}
		if st.plans != nil && value != identifier(t, keyA) {
			t.Errorf("%s: API key value %q, want the key's identifier", st.name, value)
		}
	}

	// The 5/min plan has the rate as its bucket; Sync deletes it now that no key uses it.
	var ratePlan *types.UsagePlan
	all, err := gw.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range all.Items {
		if aws.ToString(p.Name) == "keygate-"+stage+"-free-5pm" {
			ratePlan = &all.Items[i]
		}
	}
	if ratePlan == nil || ratePlan.Throttle == nil || ratePlan.Throttle.BurstLimit != 5 || ratePlan.Quota == nil || ratePlan.Quota.Limit != 10000 {
		t.Fatalf("the 5/min plan on the emulator: %+v", ratePlan)
	}
	r, err := m.Sync(ctx, func(func(store.Key) bool) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if r.PlansDeleted != 1 {
		t.Errorf("sync deleted %d plans, want the unused 5/min plan: %+v", r.PlansDeleted, r)
	}
}

// Two API keys cannot share a value on API Gateway, and moto agrees: the second Ensure of a
// key whose API key a concurrent call created finds it instead of failing.
func TestConcurrentEnsuresOfOneKeyMakeOneAPIKey(t *testing.T) {
	gw := emulatortest.APIGateway(t)
	stage := emulatorStage(t, gw)
	ctx := emuCtx(t)
	k := key(keyA, "free", 60)
	k.CreatedAt = time.Now()
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- usageplan.New(gw, hashers{}, stage, 200, time.Now).Ensure(ctx, k) }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	keys, err := gw.GetApiKeys(ctx, &apigateway.GetApiKeysInput{NameQuery: aws.String("keygate-" + stage + "-")})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Items) != 1 {
		t.Errorf("%d API keys for one key, want 1", len(keys.Items))
	}
}
