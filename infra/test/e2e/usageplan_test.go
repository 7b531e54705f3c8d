package e2e_test

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/keygate/keygate/infra/test/emulatortest"
)

// Per-key limits on protected routes (issue 19): each key's API Gateway API key sits in its
// usage plan, the authorizer names it (usageIdentifierKey) and the gateway throttles and meters
// every protected call, authorizer-cache hits included. The suite's stack caches authorizer
// answers for authorizerCacheTTL seconds, so most calls below are cache hits.

// protectedCall is one GET of a protected route with bearer.
func protectedCall(t *testing.T, bearer string) response {
	t.Helper()
	return call(t, http.MethodGet, "/v1/customers", bearer, nil)
}

// expectThrottled checks a 429 in the error shape with retry_after and Retry-After.
func expectThrottled(t *testing.T, r response, code string) {
	t.Helper()
	expect(t, r, http.StatusTooManyRequests, code)
	body := r.json(t)["error"].(map[string]any)
	if n, ok := body["retry_after"].(float64); !ok || n < 1 {
		t.Errorf("retry_after = %v, want a whole number of seconds ≥ 1: %s", body["retry_after"], r.Body)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After = %q, want seconds ≥ 1", r.Header.Get("Retry-After"))
	}
}

// allowedIn is how many calls a bucket of burst refilled at perMinute lets through in elapsed:
// the burst, plus what refilled meanwhile.
func allowedIn(burst, perMinute int, elapsed time.Duration) int {
	return burst + int(elapsed.Seconds()*float64(perMinute)/60)
}

func TestAKeysRateLimitThrottlesItsProtectedCalls(t *testing.T) {
	need(t)
	for _, mode := range []string{"access token", "API key as Bearer"} {
		t.Run(mode, func(t *testing.T) {
			key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "tier": "free", "rate_limit": 5})
			bearer := key
			if mode == "access token" {
				bearer, _ = tokenFor(t, key, nil)
			}
			other, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "tier": "free", "rate_limit": 5})
			start := time.Now()
			passed := 0
			var refused response
			for i := 0; i < 10; i++ {
				r := protectedCall(t, bearer)
				if r.Status != http.StatusOK {
					refused = r
					break
				}
				passed++
			}
			if most := allowedIn(5, 5, time.Since(start)); passed < 5 || passed > most {
				t.Fatalf("%d calls passed before the first refusal, want 5 (the burst) to %d", passed, most)
			}
			expectThrottled(t, refused, "rate_limit_exceeded")
			// Another key's bucket is its own.
			expect(t, protectedCall(t, other), http.StatusOK, "")
		})
	}
}

func TestRaisingAKeysRateLimitTakesEffect(t *testing.T) {
	need(t)
	key, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "tier": "free", "rate_limit": 2})
	for i := 0; i < 2; i++ {
		expect(t, protectedCall(t, key), http.StatusOK, "")
	}
	expectThrottled(t, protectedCall(t, key), "rate_limit_exceeded")

	expect(t, call(t, http.MethodPatch, "/v1/keys/"+id, adminKey, map[string]any{"rate_limit": 600}), http.StatusOK, "")
	// The key is in the 600/min plan now, a new bucket of 600.
	for i := 0; i < 20; i++ {
		expect(t, protectedCall(t, key), http.StatusOK, "")
	}
	if got := planOf(t, id); got != "keygate-local-free-600pm" {
		t.Errorf("plan %q, want keygate-local-free-600pm", got)
	}
}

func TestATierChangeMovesTheKeysPlan(t *testing.T) {
	need(t)
	key, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "tier": "free"})
	if got := planOf(t, id); got != "keygate-local-free" {
		t.Fatalf("plan %q, want keygate-local-free", got)
	}
	r := call(t, http.MethodPatch, "/v1/keys/"+id, adminKey, map[string]any{"tier": "growth"})
	expect(t, r, http.StatusOK, "")
	if m := r.json(t); m["tier"] != "growth" || m["rate_limit"] != float64(10000) {
		t.Errorf("after the tier change: tier %v rate_limit %v, want growth at its 10000/min", m["tier"], m["rate_limit"])
	}
	if got := planOf(t, id); got != "keygate-local-growth" {
		t.Errorf("plan %q, want keygate-local-growth", got)
	}
	expect(t, protectedCall(t, key), http.StatusOK, "")
	expect(t, call(t, http.MethodPatch, "/v1/keys/"+id, adminKey, map[string]any{"tier": "platinum"}), http.StatusBadRequest, "invalid_request")
}

func TestARevokedKeysAPIKeyIsGone(t *testing.T) {
	need(t)
	_, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	if planOf(t, id) == "" {
		t.Fatal("a new key has no API key in a plan")
	}
	expect(t, call(t, http.MethodDelete, "/v1/keys/"+id, adminKey, nil), http.StatusOK, "")
	if ak := apiKeyOf(t, id); ak != nil {
		t.Errorf("the revoked key's API key %s is still there", aws.ToString(ak.Id))
	}
}

// A key whose API key is missing (made before usage plans, or a write lost half-way) is
// refused, never unmetered, until it is repaired.
func TestAKeyWithoutItsAPIKeyIsRefusedUntilRepaired(t *testing.T) {
	need(t)
	key, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	plans, err := stack.UsagePlans(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := plans.Remove(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the gateway rereads the plans at least every second
	expect(t, protectedCall(t, key), http.StatusForbidden, "key_not_provisioned")

	// Ensure is what authctl keys sync runs for each key.
	rec, err := stack.KeyRecord(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := plans.Ensure(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := protectedCall(t, key)
		if r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the repair: %d %s", r.Status, r.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// 50 calls at once against a bucket of 20: exactly the bucket's allowance passes, the rest are
// 429s, none is a 5xx.
func TestConcurrentCallsPassExactlyTheBucketsAllowance(t *testing.T) {
	need(t)
	key, _ := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "tier": "free", "rate_limit": 20})
	access, _ := tokenFor(t, key, nil)
	var ok, throttled, other atomic.Int32
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := protectedCall(t, access)
			switch r.Status {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusTooManyRequests:
				throttled.Add(1)
			default:
				other.Add(1)
				t.Errorf("%d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	most := allowedIn(20, 20, time.Since(start))
	if n := int(ok.Load()); n < 20 || n > most {
		t.Errorf("%d of 50 passed, want 20 (the burst) to %d; %d throttled, %d other", n, most, throttled.Load(), other.Load())
	}
	if int(ok.Load()+throttled.Load()) != 50 {
		t.Errorf("%d passed + %d throttled ≠ 50", ok.Load(), throttled.Load())
	}
}

// A plan's quota, once used, answers QUOTA_EXCEEDED in the error shape, and the key's usage
// shows the calls. The tiers' quotas are too large to use up here, so the test puts a plan with
// a quota of 3 a day where the keys API looks for the plan of (free, 7/min).
func TestAUsedQuotaIsRefusedAndShownInUsage(t *testing.T) {
	need(t)
	gw := emulatortest.APIGateway(t)
	name := "keygate-local-free-7pm"
	if planID(t, gw, name) == "" {
		if _, err := gw.CreateUsagePlan(t.Context(), &apigateway.CreateUsagePlanInput{
			Name:      aws.String(name),
			ApiStages: stagesOf(t, gw, "keygate-local-free"),
			Throttle:  &types.ThrottleSettings{RateLimit: 7.0 / 60, BurstLimit: 7},
			Quota:     &types.QuotaSettings{Limit: 3, Period: types.QuotaPeriodTypeDay},
		}); err != nil {
			t.Fatal(err)
		}
	}
	key, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}, "tier": "free", "rate_limit": 7})
	for i := 0; i < 3; i++ {
		expect(t, protectedCall(t, key), http.StatusOK, "")
	}
	expectThrottled(t, protectedCall(t, key), "quota_exceeded")

	r := call(t, http.MethodGet, "/v1/keys/"+id+"/usage", adminKey, nil)
	expect(t, r, http.StatusOK, "")
	u := r.json(t)
	days, _ := u["days"].([]any)
	if len(days) != 7 {
		t.Fatalf("usage has %d days, want the default 7: %s", len(days), r.Body)
	}
	today := days[len(days)-1].(map[string]any)
	if today["date"] != time.Now().UTC().Format("2006-01-02") || today["used"] != float64(3) || today["remaining"] != float64(0) {
		t.Errorf("today's usage %v, want 3 used and 0 remaining", today)
	}
	if plan := u["plan"].(map[string]any); plan["name"] != name || plan["quota_limit"] != float64(3) || plan["quota_period"] != "DAY" {
		t.Errorf("plan %v", plan)
	}
}

// planOf returns the name of the plan the key's API key is in ("" when none).
func planOf(t *testing.T, keyID string) string {
	t.Helper()
	ak := apiKeyOf(t, keyID)
	if ak == nil {
		return ""
	}
	out, err := emulatortest.APIGateway(t).GetUsagePlans(t.Context(), &apigateway.GetUsagePlansInput{KeyId: ak.Id})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 1 {
		t.Fatalf("the API key of %s is in %d plans, want 1", keyID, len(out.Items))
	}
	return aws.ToString(out.Items[0].Name)
}

// apiKeyOf returns the key's API Gateway API key (nil when none).
func apiKeyOf(t *testing.T, keyID string) *types.ApiKey {
	t.Helper()
	name := "keygate-local-" + keyID
	out, err := emulatortest.APIGateway(t).GetApiKeys(t.Context(), &apigateway.GetApiKeysInput{NameQuery: aws.String(name), IncludeValues: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range out.Items {
		if aws.ToString(out.Items[i].Name) == name {
			return &out.Items[i]
		}
	}
	return nil
}

func planID(t *testing.T, gw *apigateway.Client, name string) string {
	t.Helper()
	out, err := gw.GetUsagePlans(context.Background(), &apigateway.GetUsagePlansInput{Limit: aws.Int32(500)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range out.Items {
		if aws.ToString(p.Name) == name {
			return aws.ToString(p.Id)
		}
	}
	return ""
}

func stagesOf(t *testing.T, gw *apigateway.Client, name string) []types.ApiStage {
	t.Helper()
	out, err := gw.GetUsagePlans(context.Background(), &apigateway.GetUsagePlansInput{Limit: aws.Int32(500)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range out.Items {
		if aws.ToString(p.Name) == name {
			return p.ApiStages
		}
	}
	t.Fatalf("no plan %s: the stack is not provisioned", name)
	return nil
}
