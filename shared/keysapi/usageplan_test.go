package keysapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/keysapi"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/memstore"
	"github.com/keygate/keygate/shared/usageplan"
	"github.com/keygate/keygate/shared/usageplan/usageplantest"
)

// planEnv is the admin handler over an empty key store and a fake API Gateway holding the
// template's four tiers.
type planEnv struct {
	h    *keysapi.Handler
	keys *failingStore
	gw   *usageplantest.Fake
}

// failingStore fails CreateKey or SaveKey with err when set.
type failingStore struct {
	*memstore.Keys
	createErr, saveErr error
}

func (f *failingStore) CreateKey(ctx context.Context, k store.Key, audit ...store.Event) error {
	if f.createErr != nil {
		return f.createErr
	}
	return f.Keys.CreateKey(ctx, k, audit...)
}

func (f *failingStore) SaveKey(ctx context.Context, prev *store.Key, next store.Key, audit ...store.Event) error {
	if f.saveErr != nil {
		return f.saveErr
	}
	return f.Keys.SaveKey(ctx, prev, next, audit...)
}

func newPlanEnv(t *testing.T, maxPlans int) *planEnv {
	t.Helper()
	h, err := apikey.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e := &planEnv{keys: &failingStore{Keys: memstore.NewKeys(now)}, gw: usageplantest.New("local", usageplantest.DefaultTiers...)}
	e.h = keysapi.New(e.keys, hashers{h}, usageplan.New(e.gw, hashers{h}, "local", maxPlans, now), "kg_test", now, nil)
	return e
}

// create posts body and returns the status, the answer's key_id, rate_limit and tier, and the
// error code if any.
func (e *planEnv) create(t *testing.T, body string) (status int, view map[string]any) {
	t.Helper()
	resp := adminCall(t, e.h, "POST", "/v1/keys", "", body)
	view = map[string]any{}
	if err := json.Unmarshal([]byte(resp.Body), &view); err != nil {
		t.Fatalf("answer %q: %v", resp.Body, err)
	}
	return resp.StatusCode, view
}

func errCode(view map[string]any) string {
	e, _ := view["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (e *planEnv) plansOf(t *testing.T, keyID string) []string {
	t.Helper()
	_, plans := e.gw.KeyPlans("keygate-local-" + keyID)
	return plans
}

func TestACreatedKeyIsInItsPlanBeforeItIsStored(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantRate  float64
		wantTier  string
		wantPlans []string
	}{
		{"defaults: the startup tier at its rate", `{"name":"a","scopes":["customers:read"]}`, 1000, "startup", []string{"keygate-local-startup"}},
		{"a tier brings its rate", `{"name":"a","scopes":["customers:read"],"tier":"free"}`, 60, "free", []string{"keygate-local-free"}},
		{"a rate of its own gets the pair's plan", `{"name":"a","scopes":["customers:read"],"tier":"free","rate_limit":5}`, 5, "free", []string{"keygate-local-free-5pm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPlanEnv(t, 200)
			status, view := e.create(t, tt.body)
			if status != 201 {
				t.Fatalf("status %d: %v", status, view)
			}
			if view["rate_limit"] != tt.wantRate || view["tier"] != tt.wantTier {
				t.Errorf("rate_limit %v tier %v, want %v %s", view["rate_limit"], view["tier"], tt.wantRate, tt.wantTier)
			}
			if got := e.plansOf(t, view["key_id"].(string)); !slices.Equal(got, tt.wantPlans) {
				t.Errorf("plans %v, want %v", got, tt.wantPlans)
			}
		})
	}
}

func TestACreateThatCannotKeepTheGatewayInStepStoresNothing(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		body     string
		maxPlans int
		setup    func(e *planEnv)
		status   int
		code     string
	}{
		{"unknown tier", `{"name":"a","scopes":["customers:read"],"tier":"pro"}`, 200, nil, 400, "invalid_request"},
		{"API Gateway down", `{"name":"a","scopes":["customers:read"]}`, 200,
			func(e *planEnv) { e.gw.Fail = map[string][]error{"CreateApiKey": {boom}} }, 503, "service_unavailable"},
		{"CreateApiKey throttled (5/s per account)", `{"name":"a","scopes":["customers:read"]}`, 200,
			func(e *planEnv) {
				e.gw.Fail = map[string][]error{"CreateApiKey": {&types.TooManyRequestsException{Message: aws.String("slow down")}}}
			}, 429, "rate_limit_exceeded"},
		{"no room for another plan", `{"name":"a","scopes":["customers:read"],"rate_limit":7}`, 4, nil, 409, "usage_plan_limit_reached"},
		{"AWS's API-key quota", `{"name":"a","scopes":["customers:read"]}`, 200,
			func(e *planEnv) {
				e.gw.Fail = map[string][]error{"CreateApiKey": {&types.LimitExceededException{Message: aws.String("10000")}}}
			}, 409, "usage_plan_limit_reached"},
		{"adding it to its plan fails", `{"name":"a","scopes":["customers:read"]}`, 200,
			func(e *planEnv) { e.gw.Fail = map[string][]error{"CreateUsagePlanKey": {boom}} }, 503, "service_unavailable"},
		{"the store fails after the gateway", `{"name":"a","scopes":["customers:read"]}`, 200,
			func(e *planEnv) { e.keys.createErr = boom }, 503, "service_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPlanEnv(t, tt.maxPlans)
			if tt.setup != nil {
				tt.setup(e)
			}
			status, view := e.create(t, tt.body)
			if status != tt.status || errCode(view) != tt.code {
				t.Fatalf("status %d %v, want %d %s", status, view, tt.status, tt.code)
			}
			page, err := e.keys.ListKeys(context.Background(), 10, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Keys) != 0 {
				t.Errorf("a key was stored: %+v", page.Keys)
			}
			if names := e.gw.APIKeyNames(); len(names) != 0 {
				t.Errorf("API keys left without a keygate key: %v", names)
			}
			if tt.code == "invalid_request" && !strings.Contains(view["error"].(map[string]any)["message"].(string), "free, startup, growth, enterprise") {
				t.Errorf("the message does not list the tiers: %v", view)
			}
			if tt.status == 429 && view["error"].(map[string]any)["retry_after"] == nil {
				t.Errorf("429 without retry_after: %v", view)
			}
		})
	}
}

func TestChangingTierOrRateMovesTheKeysPlan(t *testing.T) {
	tests := []struct {
		name      string
		patch     string
		wantRate  float64
		wantPlans []string
	}{
		{"tier change brings the tier's rate", `{"tier":"growth"}`, 10000, []string{"keygate-local-growth"}},
		{"tier change with a rate", `{"tier":"growth","rate_limit":20}`, 20, []string{"keygate-local-growth-20pm"}},
		{"rate raised", `{"rate_limit":50}`, 50, []string{"keygate-local-free-50pm"}},
		{"something else leaves it", `{"name":"renamed"}`, 5, []string{"keygate-local-free-5pm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPlanEnv(t, 200)
			_, view := e.create(t, `{"name":"a","scopes":["customers:read"],"tier":"free","rate_limit":5}`)
			keyID := view["key_id"].(string)
			resp := adminCall(t, e.h, "PATCH", "/v1/keys/{id}", keyID, tt.patch)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
			}
			k, _ := e.keys.KeyByID(context.Background(), keyID)
			if float64(k.RateLimit) != tt.wantRate {
				t.Errorf("stored rate_limit %d, want %v", k.RateLimit, tt.wantRate)
			}
			if got := e.plansOf(t, keyID); !slices.Equal(got, tt.wantPlans) {
				t.Errorf("plans %v, want %v", got, tt.wantPlans)
			}
		})
	}
}

func TestAFailedMoveLeavesTheKeyAndItsPlan(t *testing.T) {
	boom := errors.New("boom")
	for name, setup := range map[string]func(e *planEnv){
		"the gateway fails": func(e *planEnv) { e.gw.Fail = map[string][]error{"CreateUsagePlanKey": {boom}} },
		"the store fails":   func(e *planEnv) { e.keys.saveErr = boom },
	} {
		t.Run(name, func(t *testing.T) {
			e := newPlanEnv(t, 200)
			_, view := e.create(t, `{"name":"a","scopes":["customers:read"],"tier":"free"}`)
			keyID := view["key_id"].(string)
			setup(e)
			if resp := adminCall(t, e.h, "PATCH", "/v1/keys/{id}", keyID, `{"tier":"growth"}`); resp.StatusCode != 503 {
				t.Fatalf("status %d, want 503: %s", resp.StatusCode, resp.Body)
			}
			k, _ := e.keys.KeyByID(context.Background(), keyID)
			if k.Tier != "free" || k.RateLimit != 60 {
				t.Errorf("record changed to %s %d", k.Tier, k.RateLimit)
			}
			if got := e.plansOf(t, keyID); !slices.Equal(got, []string{"keygate-local-free"}) {
				t.Errorf("plans %v, want the key back in free", got)
			}
		})
	}
}

func TestRevokingAKeyDeletesItsAPIKeyAndARetryFinishesAFailedDelete(t *testing.T) {
	e := newPlanEnv(t, 200)
	_, view := e.create(t, `{"name":"a","scopes":["customers:read"]}`)
	keyID := view["key_id"].(string)
	e.gw.Fail = map[string][]error{"DeleteApiKey": {errors.New("boom")}}
	if resp := adminCall(t, e.h, "DELETE", "/v1/keys/{id}", keyID, ""); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, resp.Body)
	}
	if names := e.gw.APIKeyNames(); len(names) != 1 {
		t.Fatalf("API keys %v: the failed delete should have left it", names)
	}
	if resp := adminCall(t, e.h, "DELETE", "/v1/keys/{id}", keyID, ""); resp.StatusCode != 200 {
		t.Fatalf("revoke again: %d %s", resp.StatusCode, resp.Body)
	}
	if names := e.gw.APIKeyNames(); len(names) != 0 {
		t.Errorf("API keys %v after the repeated revoke", names)
	}
}

func TestRotationKeepsTheKeysAPIKeyAndUsage(t *testing.T) {
	e := newPlanEnv(t, 200)
	_, view := e.create(t, `{"name":"a","scopes":["customers:read"]}`)
	keyID := view["key_id"].(string)
	before, _ := e.gw.KeyPlans("keygate-local-" + keyID)
	calls := e.gw.Calls("CreateApiKey")
	if resp := adminCall(t, e.h, "POST", "/v1/keys/{id}/rotate", keyID, ""); resp.StatusCode != 200 {
		t.Fatalf("rotate: %d %s", resp.StatusCode, resp.Body)
	}
	after, plans := e.gw.KeyPlans("keygate-local-" + keyID)
	if after != before || !slices.Equal(plans, []string{"keygate-local-startup"}) || e.gw.Calls("CreateApiKey") != calls {
		t.Errorf("after rotation: value changed %t, plans %v, CreateApiKey calls %d → %d", after != before, plans, calls, e.gw.Calls("CreateApiKey"))
	}
}

func TestUsageReportsDaysAgainstThePlan(t *testing.T) {
	e := newPlanEnv(t, 200)
	_, view := e.create(t, `{"name":"a","scopes":["customers:read"],"tier":"free"}`)
	keyID := view["key_id"].(string)
	var planID string
	for _, p := range e.gw.Plans() {
		if aws.ToString(p.Name) == "keygate-local-free" {
			planID = aws.ToString(p.Id)
		}
	}
	out, _ := e.gw.GetApiKeys(context.Background(), &apigateway.GetApiKeysInput{})
	e.gw.Usage = map[string]map[string][][]int64{planID: {aws.ToString(out.Items[0].Id): {{0, 10000}, {7, 9993}}}}

	resp := adminCall(t, e.h, "GET", "/v1/keys/{id}/usage", keyID, "")
	if resp.StatusCode != 200 {
		t.Fatalf("usage: %d %s", resp.StatusCode, resp.Body)
	}
	var got struct {
		KeyID string `json:"key_id"`
		Plan  struct {
			Name        string `json:"name"`
			RateLimit   int    `json:"rate_limit"`
			QuotaLimit  int    `json:"quota_limit"`
			QuotaPeriod string `json:"quota_period"`
		} `json:"plan"`
		Days      []usageplan.Day `json:"days"`
		Remaining int64           `json:"remaining"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
		t.Fatal(err)
	}
	if got.KeyID != keyID || got.Plan.Name != "keygate-local-free" || got.Plan.RateLimit != 60 || got.Plan.QuotaLimit != 10000 ||
		got.Plan.QuotaPeriod != "DAY" || len(got.Days) != 2 || got.Days[1].Used != 7 || got.Remaining != 9993 {
		t.Errorf("usage %+v", got)
	}

	for _, bad := range []string{"0", "91", "x"} {
		ev := adminCallQuery(t, e.h, "/v1/keys/{id}/usage", keyID, map[string]string{"days": bad})
		if ev.StatusCode != 400 {
			t.Errorf("days=%s: %d, want 400", bad, ev.StatusCode)
		}
	}
	adminCall(t, e.h, "DELETE", "/v1/keys/{id}", keyID, "")
	if resp := adminCall(t, e.h, "GET", "/v1/keys/{id}/usage", keyID, ""); resp.StatusCode != 404 || !strings.Contains(resp.Body, "authctl keys sync") {
		t.Errorf("usage of a revoked key: %d %s, want 404 saying how to repair", resp.StatusCode, resp.Body)
	}
}

// adminCallQuery is adminCall for a GET with query parameters.
func adminCallQuery(t *testing.T, h *keysapi.Handler, resource, id string, query map[string]string) events.APIGatewayProxyResponse {
	t.Helper()
	serve := httpapi.Lambda(slog.New(slog.NewJSONHandler(io.Discard, nil)), h.Router().Serve)
	ev := events.APIGatewayProxyRequest{HTTPMethod: "GET", Resource: resource, Path: strings.ReplaceAll(resource, "{id}", id),
		PathParameters: map[string]string{"id": id}, QueryStringParameters: query}
	ev.RequestContext.Authorizer = map[string]any{"scope": "admin:full", "key_id": "key_admin"}
	resp, err := serve(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// A key made before tiers were usage plans (tier "standard") is refused a rate change with a
// 400 naming the tiers, never a 503, and moves once it is given a tier.
func TestALegacyTierIsRefusedWithTheTiersUntilChanged(t *testing.T) {
	h, keys := oneKey(t, func(k *store.Key) { k.Tier, k.RateLimit = "standard", 1000 })
	resp := adminCall(t, h, "PATCH", "/v1/keys/{id}", id, `{"rate_limit":50}`)
	if resp.StatusCode != 400 || !strings.Contains(resp.Body, "free, startup, growth, enterprise") {
		t.Fatalf("rate change of a legacy-tier key: %d %s, want 400 listing the tiers", resp.StatusCode, resp.Body)
	}
	if resp := adminCall(t, h, "PATCH", "/v1/keys/{id}", id, `{"name":"renamed"}`); resp.StatusCode != 200 {
		t.Errorf("a change that does not move it: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := adminCall(t, h, "PATCH", "/v1/keys/{id}", id, `{"tier":"startup"}`); resp.StatusCode != 200 {
		t.Fatalf("giving it a tier: %d %s", resp.StatusCode, resp.Body)
	}
	if k, _ := keys.KeyByID(context.Background(), id); k.Tier != "startup" || k.RateLimit != 1000 {
		t.Errorf("after the move: tier %q rate %d", k.Tier, k.RateLimit)
	}
}
