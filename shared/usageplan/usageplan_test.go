package usageplan_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/usageplan"
	"github.com/keygate/keygate/shared/usageplan/usageplantest"
)

var start = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

type hashers struct{ err error }

func (h hashers) Hasher(context.Context) (*apikey.Hasher, error) {
	if h.err != nil {
		return nil, h.err
	}
	return apikey.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
}

func identifier(t *testing.T, keyID string) string {
	t.Helper()
	h, _ := hashers{}.Hasher(context.Background())
	return usageplan.Identifier(h, keyID)
}

func newManager(t *testing.T, f *usageplantest.Fake, maxPlans int) (*usageplan.Manager, *clocktest.Clock) {
	t.Helper()
	clk := clocktest.New(start)
	return usageplan.New(f, hashers{}, "local", maxPlans, clk.Now), clk
}

func key(id, tier string, rate int) store.Key {
	return store.Key{KeyID: id, Tier: tier, RateLimit: rate, Status: store.StatusActive, KeyGen: 1, CreatedAt: start}
}

const keyA = "key_AAAAAAAAAAAAAAAAAAAA"

func TestIdentifierIsAnAPIGatewayKeyValueAndDistinctPerKeyAndPepper(t *testing.T) {
	h1, _ := apikey.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	h2, _ := apikey.NewHasher([]byte("fedcba9876543210fedcba9876543210"))
	a := usageplan.Identifier(h1, keyA)
	if len(a) < 20 || len(a) > 128 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Fatalf("identifier %q: want 20..128 alphanumeric characters", a)
	}
	for _, other := range []string{usageplan.Identifier(h1, "key_BBBBBBBBBBBBBBBBBBBB"), usageplan.Identifier(h2, keyA), h1.Hash(keyA)} {
		if other == a {
			t.Errorf("identifier collides with %q", other)
		}
	}
	if usageplan.Identifier(h1, keyA) != a {
		t.Error("identifier is not deterministic")
	}
}

func TestTiersAreTheStagesPlansCheapestFirst(t *testing.T) {
	tiers := append(slices.Clone(usageplantest.DefaultTiers), usageplantest.Tier{Name: "free", Rate: 9, Burst: 9, Quota: 9, Period: types.QuotaPeriodTypeDay, StageOverride: "prod"})
	m, _ := newManager(t, usageplantest.New("local", tiers...), 200)
	got, err := m.Tiers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Tier)
	}
	if want := []string{"free", "startup", "growth", "enterprise"}; !slices.Equal(names, want) {
		t.Fatalf("tiers %v, want %v (another stage's plan is not ours)", names, want)
	}
	if s := got[1]; s.RatePerMinute != 1000 || s.Burst != 1000 || s.QuotaLimit != 1000000 || s.QuotaPeriod != "MONTH" {
		t.Errorf("startup = %+v", s)
	}
	if _, err := m.Tier(context.Background(), "platinum"); !errors.Is(err, usageplan.ErrUnknownTier) {
		t.Errorf("unknown tier: %v, want ErrUnknownTier", err)
	}
}

func TestEnsurePutsAKeyInExactlyItsPlan(t *testing.T) {
	cases := []struct {
		name      string
		steps     []store.Key
		wantPlans []string
	}{
		{"tier rate", []store.Key{key(keyA, "startup", 1000)}, []string{"keygate-local-startup"}},
		{"own rate", []store.Key{key(keyA, "free", 5)}, []string{"keygate-local-free-5pm"}},
		{"tier change", []store.Key{key(keyA, "free", 60), key(keyA, "growth", 10000)}, []string{"keygate-local-growth"}},
		{"rate raised", []store.Key{key(keyA, "free", 5), key(keyA, "free", 50)}, []string{"keygate-local-free-50pm"}},
		{"back to the tier's rate", []store.Key{key(keyA, "free", 5), key(keyA, "free", 60)}, []string{"keygate-local-free"}},
		{"repeat", []store.Key{key(keyA, "free", 5), key(keyA, "free", 5)}, []string{"keygate-local-free-5pm"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := usageplantest.New("local", usageplantest.DefaultTiers...)
			m, _ := newManager(t, f, 200)
			for _, k := range tc.steps {
				if err := m.Ensure(context.Background(), k); err != nil {
					t.Fatal(err)
				}
			}
			value, plans := f.KeyPlans("keygate-local-" + keyA)
			if value != identifier(t, keyA) {
				t.Errorf("API key value %q, want the key's identifier", value)
			}
			if !slices.Equal(plans, tc.wantPlans) {
				t.Errorf("plans %v, want %v", plans, tc.wantPlans)
			}
		})
	}
}

func TestARatePlanHasTheRateAsABucketAndTheTiersQuota(t *testing.T) {
	f := usageplantest.New("local", usageplantest.DefaultTiers...)
	m, _ := newManager(t, f, 200)
	if err := m.Ensure(context.Background(), key(keyA, "free", 5)); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure(context.Background(), key("key_BBBBBBBBBBBBBBBBBBBB", "free", 1_000_000)); err != nil {
		t.Fatal(err)
	}
	got := map[string]types.UsagePlan{}
	for _, p := range f.Plans() {
		got[aws.ToString(p.Name)] = p
	}
	p := got["keygate-local-free-5pm"]
	if p.Throttle == nil || p.Throttle.BurstLimit != 5 || p.Throttle.RateLimit != 5.0/60 {
		t.Errorf("5/min plan throttle %+v, want burst 5 at 5/60 per second", p.Throttle)
	}
	if p.Quota == nil || p.Quota.Limit != 10000 || p.Quota.Period != types.QuotaPeriodTypeDay {
		t.Errorf("5/min plan quota %+v, want free's 10000 a day", p.Quota)
	}
	if !slices.EqualFunc(p.ApiStages, []types.ApiStage{{ApiId: usageplantest.Stage.ApiId, Stage: aws.String("local")}}, func(a, b types.ApiStage) bool {
		return aws.ToString(a.ApiId) == aws.ToString(b.ApiId) && aws.ToString(a.Stage) == aws.ToString(b.Stage)
	}) {
		t.Errorf("stages %+v, want the tier plan's", p.ApiStages)
	}
	if big := got["keygate-local-free-1000000pm"]; big.Throttle == nil || big.Throttle.BurstLimit != usageplan.MaxBurst {
		t.Errorf("1,000,000/min plan throttle %+v, want the burst capped at %d", big.Throttle, usageplan.MaxBurst)
	}
}

func TestRatePlansStopAtMaxPlans(t *testing.T) {
	f := usageplantest.New("local", usageplantest.DefaultTiers...)
	m, _ := newManager(t, f, 5) // four tiers + one
	if err := m.Ensure(context.Background(), key(keyA, "free", 5)); err != nil {
		t.Fatal(err)
	}
	err := m.Ensure(context.Background(), key("key_BBBBBBBBBBBBBBBBBBBB", "free", 6))
	if !errors.Is(err, usageplan.ErrPlanLimit) {
		t.Fatalf("sixth plan: %v, want ErrPlanLimit", err)
	}
	if names := f.APIKeyNames(); !slices.Equal(names, []string{"keygate-local-" + keyA}) {
		t.Errorf("API keys %v: a key refused for its plan must get no API key", names)
	}
	// An existing pair still works.
	if err := m.Ensure(context.Background(), key("key_CCCCCCCCCCCCCCCCCCCC", "free", 5)); err != nil {
		t.Errorf("an existing (tier, rate_limit) plan: %v", err)
	}
}

func TestUnusableKeysHaveNoAPIKey(t *testing.T) {
	expired := key(keyA, "free", 60)
	expired.ExpiresAt = start.Add(time.Minute)
	revoked := key(keyA, "free", 60)
	revoked.Status = store.StatusRevoked
	for name, k := range map[string]store.Key{"revoked": revoked, "expired": expired} {
		t.Run(name, func(t *testing.T) {
			f := usageplantest.New("local", usageplantest.DefaultTiers...)
			m, clk := newManager(t, f, 200)
			if err := m.Ensure(context.Background(), key(keyA, "free", 60)); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Hour)
			if err := m.Ensure(context.Background(), k); err != nil {
				t.Fatal(err)
			}
			if names := f.APIKeyNames(); len(names) != 0 {
				t.Errorf("API keys %v after the key became %s", names, name)
			}
			if err := m.Remove(context.Background(), keyA); err != nil {
				t.Errorf("Remove of a key with no API key: %v, want nil (idempotent)", err)
			}
		})
	}
}

func TestEnsureReplacesADisabledAPIKey(t *testing.T) {
	f := usageplantest.New("local", usageplantest.DefaultTiers...)
	m, _ := newManager(t, f, 200)
	ctx := context.Background()
	if err := m.Ensure(ctx, key(keyA, "startup", 1000)); err != nil {
		t.Fatal(err)
	}
	if err := f.DisableAPIKey("keygate-local-" + keyA); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure(ctx, key(keyA, "startup", 1000)); err != nil {
		t.Fatal(err)
	}
	value, plans := f.KeyPlans("keygate-local-" + keyA)
	if value != identifier(t, keyA) || !slices.Equal(plans, []string{"keygate-local-startup"}) {
		t.Errorf("after repair: value %q plans %v", value, plans)
	}
}

func TestFailuresHalfWayAreRepairedByTheNextEnsure(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	for _, op := range []string{"CreateApiKey", "CreateUsagePlanKey", "CreateUsagePlan", "GetUsagePlans", "GetApiKeys", "DeleteUsagePlanKey"} {
		t.Run(op, func(t *testing.T) {
			f := usageplantest.New("local", usageplantest.DefaultTiers...)
			m, _ := newManager(t, f, 200)
			if op != "CreateApiKey" { // else the failing Ensure creates the API key
				if err := m.Ensure(ctx, key(keyA, "free", 60)); err != nil {
					t.Fatal(err)
				}
			}
			f.Fail = map[string][]error{op: {boom}}
			// A move to a new rate plan touches every other operation above.
			if err := m.Ensure(ctx, key(keyA, "free", 7)); !errors.Is(err, boom) {
				t.Fatalf("Ensure with %s failing: %v, want the failure", op, err)
			}
			_, plans := f.KeyPlans("keygate-local-" + keyA)
			if len(plans) > 1 {
				t.Errorf("after the failure the API key is in %v: at most one plan", plans)
			}
			if err := m.Ensure(ctx, key(keyA, "free", 7)); err != nil {
				t.Fatal(err)
			}
			if _, plans := f.KeyPlans("keygate-local-" + keyA); !slices.Equal(plans, []string{"keygate-local-free-7pm"}) {
				t.Errorf("after the retry: plans %v", plans)
			}
		})
	}
}

func TestControlPlaneLimitsAreNamed(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		err  error
		want error
	}{
		"throttled": {&types.TooManyRequestsException{Message: aws.String("slow down")}, usageplan.ErrThrottled},
		"quota":     {&types.LimitExceededException{Message: aws.String("10000 keys")}, usageplan.ErrPlanLimit},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := usageplantest.New("local", usageplantest.DefaultTiers...)
			f.Fail = map[string][]error{"CreateApiKey": {tc.err}}
			m, _ := newManager(t, f, 200)
			if err := m.Ensure(ctx, key(keyA, "free", 60)); !errors.Is(err, tc.want) {
				t.Errorf("Ensure: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAPepperFailureFailsEnsure(t *testing.T) {
	f := usageplantest.New("local", usageplantest.DefaultTiers...)
	boom := errors.New("secrets manager down")
	m := usageplan.New(f, hashers{err: boom}, "local", 200, clocktest.New(start).Now)
	if err := m.Ensure(context.Background(), key(keyA, "free", 60)); !errors.Is(err, boom) {
		t.Fatalf("Ensure: %v, want the pepper's failure", err)
	}
	if names := f.APIKeyNames(); len(names) != 0 {
		t.Errorf("API keys %v made without the pepper", names)
	}
}

func TestUsageReadsTheKeysDaysInItsPlan(t *testing.T) {
	ctx := context.Background()
	f := usageplantest.New("local", usageplantest.DefaultTiers...)
	m, _ := newManager(t, f, 200)
	if _, err := m.Usage(ctx, keyA, start, start); !errors.Is(err, usageplan.ErrNotProvisioned) {
		t.Errorf("usage of a key without an API key: %v, want ErrNotProvisioned", err)
	}
	if err := m.Ensure(ctx, key(keyA, "free", 60)); err != nil {
		t.Fatal(err)
	}
	var planID, akID string
	for _, p := range f.Plans() {
		if aws.ToString(p.Name) == "keygate-local-free" {
			planID = aws.ToString(p.Id)
		}
	}
	out, _ := f.GetApiKeys(ctx, &apigateway.GetApiKeysInput{})
	akID = aws.ToString(out.Items[0].Id)
	f.Usage = map[string]map[string][][]int64{planID: {akID: {{3, 9997}, {5, 9992}}}}
	u, err := m.Usage(ctx, keyA, start.AddDate(0, 0, -1), start)
	if err != nil {
		t.Fatal(err)
	}
	want := []usageplan.Day{{Date: "2026-12-06", Used: 3, Remaining: 9997}, {Date: "2026-12-07", Used: 5, Remaining: 9992}}
	if !slices.Equal(u.Days, want) || u.Plan.Tier != "free" || u.Plan.QuotaLimit != 10000 {
		t.Errorf("usage %+v, want days %v in free", u, want)
	}
}

func TestSyncRepairsAndPrunes(t *testing.T) {
	ctx := context.Background()
	f := usageplantest.New("local", usageplantest.DefaultTiers...)
	m, clk := newManager(t, f, 200)
	f.Now = clk.Now
	a, b, c := key(keyA, "free", 5), key("key_BBBBBBBBBBBBBBBBBBBB", "growth", 10000), key("key_CCCCCCCCCCCCCCCCCCCC", "startup", 77)
	for _, k := range []store.Key{a, b, c} {
		if err := m.Ensure(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Hour)
	// f is being created right now: its API key exists, its record is not listed yet.
	fresh := key("key_FFFFFFFFFFFFFFFFFFFF", "startup", 1000)
	if err := m.Ensure(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	// b was revoked while API Gateway was down; c was deleted from the table; d was made before
	// usage plans; e has a tier that no longer exists.
	b.Status = store.StatusRevoked
	d := key("key_DDDDDDDDDDDDDDDDDDDD", "startup", 1000)
	e := key("key_EEEEEEEEEEEEEEEEEEEE", "pro", 1000)
	r, err := m.Sync(ctx, func(yield func(store.Key) bool) error {
		for _, k := range []store.Key{a, b, d, e} {
			if !yield(k) {
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"keygate-local-" + keyA, "keygate-local-key_DDDDDDDDDDDDDDDDDDDD", "keygate-local-key_FFFFFFFFFFFFFFFFFFFF"}; !slices.Equal(f.APIKeyNames(), want) {
		t.Errorf("API keys after sync %v, want %v", f.APIKeyNames(), want)
	}
	if r.Keys != 4 || r.Ensured != 2 || r.Removed != 2 || r.PlansDeleted != 1 || len(r.UnknownTiers) != 1 || len(r.Failed) != 0 {
		t.Errorf("report %+v", r)
	}
	for _, p := range f.Plans() {
		if aws.ToString(p.Name) == "keygate-local-startup-77pm" {
			t.Error("the unused 77/min plan was not deleted")
		}
	}
	if !strings.Contains(r.String(), "key_EEEEEEEEEEEEEEEEEEEE (tier pro)") {
		t.Errorf("report text does not name the key with an unknown tier:\n%s", r)
	}
}
