package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/keygate/keygate/infra/local/gateway"
	"github.com/keygate/keygate/infra/local/samtpl"
)

// The stage the fake control plane's plans name, as provisioning names the template's API.
const (
	testAPIID = "restapi001"
	testStage = "dev" // the real template's default stage
)

// fakeControlPlane is API Gateway's control plane in memory: plans, API keys and which keys
// each plan holds. It counts the calls the gateway makes.
type fakeControlPlane struct {
	mu       sync.Mutex
	plans    map[string]types.UsagePlan
	keys     map[string]types.ApiKey
	planKeys map[string][]string // plan id → API key ids
	calls    atomic.Int64
}

func newFakeControlPlane() *fakeControlPlane {
	return &fakeControlPlane{plans: map[string]types.UsagePlan{}, keys: map[string]types.ApiKey{}, planKeys: map[string][]string{}}
}

// plan adds a usage plan on the test stage: rate and burst (0, 0: no throttle), quota per
// period ("": none).
func (f *fakeControlPlane) plan(id string, rate float64, burst int32, quota int32, period types.QuotaPeriodType) {
	p := types.UsagePlan{Id: aws.String(id), Name: aws.String("plan-" + id),
		ApiStages: []types.ApiStage{{ApiId: aws.String(testAPIID), Stage: aws.String(testStage)}}}
	if rate > 0 || burst > 0 {
		p.Throttle = &types.ThrottleSettings{RateLimit: rate, BurstLimit: burst}
	}
	if period != "" {
		p.Quota = &types.QuotaSettings{Limit: quota, Period: period}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plans[id] = p
}

// key adds an API key with value, enabled or not, in the plans listed.
func (f *fakeControlPlane) key(id, value string, enabled bool, plans ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[id] = types.ApiKey{Id: aws.String(id), Name: aws.String("key-" + id), Value: aws.String(value), Enabled: enabled}
	for _, p := range plans {
		f.planKeys[p] = append(f.planKeys[p], id)
	}
}

// move takes key out of plan from and puts it into plan to, as the keys function does.
func (f *fakeControlPlane) move(key, from, to string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var kept []string
	for _, k := range f.planKeys[from] {
		if k != key {
			kept = append(kept, k)
		}
	}
	f.planKeys[from] = kept
	f.planKeys[to] = append(f.planKeys[to], key)
}

func (f *fakeControlPlane) GetUsagePlans(_ context.Context, _ *apigateway.GetUsagePlansInput, _ ...func(*apigateway.Options)) (*apigateway.GetUsagePlansOutput, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &apigateway.GetUsagePlansOutput{}
	for _, p := range f.plans {
		out.Items = append(out.Items, p)
	}
	return out, nil
}

func (f *fakeControlPlane) GetUsagePlan(_ context.Context, in *apigateway.GetUsagePlanInput, _ ...func(*apigateway.Options)) (*apigateway.GetUsagePlanOutput, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.plans[aws.ToString(in.UsagePlanId)]
	if !ok {
		return nil, &types.NotFoundException{Message: aws.String("Invalid Usage Plan ID specified")}
	}
	return &apigateway.GetUsagePlanOutput{Id: p.Id, Name: p.Name, ApiStages: p.ApiStages, Throttle: p.Throttle, Quota: p.Quota}, nil
}

func (f *fakeControlPlane) GetUsagePlanKeys(_ context.Context, in *apigateway.GetUsagePlanKeysInput, _ ...func(*apigateway.Options)) (*apigateway.GetUsagePlanKeysOutput, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &apigateway.GetUsagePlanKeysOutput{}
	for _, id := range f.planKeys[aws.ToString(in.UsagePlanId)] {
		out.Items = append(out.Items, types.UsagePlanKey{Id: aws.String(id), Type: aws.String("API_KEY"), Value: f.keys[id].Value})
	}
	return out, nil
}

func (f *fakeControlPlane) GetApiKeys(_ context.Context, in *apigateway.GetApiKeysInput, _ ...func(*apigateway.Options)) (*apigateway.GetApiKeysOutput, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &apigateway.GetApiKeysOutput{}
	for _, k := range f.keys {
		if !aws.ToBool(in.IncludeValues) {
			k.Value = nil
		}
		out.Items = append(out.Items, k)
	}
	return out, nil
}

var _ gateway.APIGatewayReader = (*fakeControlPlane)(nil)

// withUsagePlans turns usage plans on, read from cp; the snapshot never ages by itself, so
// only invalidation and unknown keys reload it (tests that want aging set MaxAge).
func withUsagePlans(cp *fakeControlPlane, maxAge time.Duration) option {
	return withUsagePlansSpaced(cp, maxAge, time.Millisecond)
}

// withUsagePlansSpaced is withUsagePlans with reloads caused by unknown keys at least every apart.
func withUsagePlansSpaced(cp *fakeControlPlane, maxAge, every time.Duration) option {
	return func(c *gateway.Config, _ *samtpl.Options) {
		c.UsagePlans = &gateway.UsagePlanSource{Client: cp, RestAPIID: testAPIID, MaxAge: maxAge, MinReloadInterval: every}
	}
}

// meteredAuthorizer allows every method and names the API key whose value is the bearer
// token (usageIdentifierKey), or none for the token "none".
func meteredAuthorizer(_ context.Context, payload []byte) ([]byte, error) {
	var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	token := strings.TrimPrefix(ev.Headers["Authorization"], "Bearer ")
	out := map[string]any{
		"principalId": "key_" + token,
		"policyDocument": map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
			"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*:*:*/*/*/*"}}},
		"context": map[string]any{"scope": "admin:full"},
	}
	if token != "none" {
		out["usageIdentifierKey"] = token
	}
	return json.Marshal(out)
}

// meteredEnv is a gateway for the real template with usage plans read from a fake control
// plane, whose authorizer names the API key by the bearer token.
func meteredEnv(t testing.TB, cp *fakeControlPlane, opts ...option) *env {
	t.Helper()
	return newEnv(t, map[string]handlerFunc{"AuthorizerFunction": meteredAuthorizer}, append([]option{withUsagePlans(cp, -1)}, opts...)...)
}

// value is a usage identifier in the form keygate gives them: 64 hex digits.
func value(n int) string { return fmt.Sprintf("%064x", n) }

// step is one request of a sequence: move the clock by advance first, then expect status
// and, for a refusal, the error code of the template's gateway response.
type step struct {
	advance time.Duration
	status  int
	code    string
}

func ok() step                   { return step{status: 200} }
func after(d time.Duration) step { return step{advance: d, status: 200} }
func throttled() step            { return step{status: 429, code: "rate_limit_exceeded"} }
func overQuota() step            { return step{status: 429, code: "quota_exceeded"} }
func overQuotaAfter(d time.Duration) step {
	return step{advance: d, status: 429, code: "quota_exceeded"}
}

func runSteps(t *testing.T, e *env, token string, steps []step) {
	t.Helper()
	for i, s := range steps {
		e.clock.Advance(s.advance)
		w := e.do(t, "GET", "/v1/customers/c1", token, nil)
		if w.Code != s.status {
			t.Fatalf("request %d (+%s, at %s): status %d, want %d; body %s", i+1, s.advance, e.clock.Now().Format(time.RFC3339Nano), w.Code, s.status, w.Body)
		}
		if s.code != "" {
			if code := errorCode(t, w.Body.String()); code != s.code {
				t.Fatalf("request %d: error code %q, want %q", i+1, code, s.code)
			}
		}
	}
}

func TestUsagePlanThrottleIsATokenBucketPerKey(t *testing.T) {
	tests := []struct {
		name  string
		rate  float64
		burst int32
		steps []step
	}{
		{"the bucket starts full and holds burst requests", 1, 3, []step{ok(), ok(), ok(), throttled()}},
		{"it refills continuously at rate per second", 2, 3, []step{ok(), ok(), ok(), throttled(),
			after(500 * time.Millisecond), throttled(), after(500 * time.Millisecond), throttled()}},
		{"a fractional rate refills fractionally", 0.5, 1, []step{ok(), {advance: 1999 * time.Millisecond, status: 429, code: "rate_limit_exceeded"},
			after(time.Millisecond)}},
		{"an idle key's bucket never holds more than burst", 10, 2, []step{ok(), after(time.Hour), ok(), throttled()}},
		{"a burst of one is one request per 1/rate", 16.667, 1, []step{ok(), throttled(),
			{advance: 59 * time.Millisecond, status: 429, code: "rate_limit_exceeded"}, after(time.Millisecond), throttled()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp := newFakeControlPlane()
			cp.plan("p1", tc.rate, tc.burst, 0, "")
			cp.key("k1", value(1), true, "p1")
			cp.key("k2", value(2), true, "p1")
			e := meteredEnv(t, cp)
			runSteps(t, e, value(1), tc.steps)
			// Another key of the same plan has a bucket of its own.
			runSteps(t, e, value(2), []step{ok()})
		})
	}
}

func TestUsagePlanQuotaPerPeriod(t *testing.T) {
	// 2026-11-07 is a Saturday, 2026-11-30 a Monday (the last day of the month).
	sat := time.Date(2026, 11, 7, 23, 59, 0, 0, time.UTC)
	endOfMonth := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		period types.QuotaPeriodType
		start  time.Time
		steps  []step
	}{
		{"DAY: the limit holds until 00:00 UTC", types.QuotaPeriodTypeDay, time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC),
			[]step{ok(), ok(), overQuota(), overQuotaAfter(13*time.Hour + 59*time.Minute), after(time.Minute), ok(), overQuota()}},
		{"WEEK: the period starts on Sunday 00:00 UTC", types.QuotaPeriodTypeWeek, sat,
			[]step{ok(), ok(), overQuotaAfter(59 * time.Second), after(time.Second), ok(), overQuotaAfter(6 * 24 * time.Hour),
				after(24 * time.Hour)}},
		{"WEEK: a new day in the same week does not reset it", types.QuotaPeriodTypeWeek, time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC),
			[]step{ok(), ok(), overQuotaAfter(24 * time.Hour), overQuotaAfter(4 * 24 * time.Hour)}},
		{"MONTH: the period starts on the 1st 00:00 UTC", types.QuotaPeriodTypeMonth, endOfMonth,
			[]step{ok(), ok(), overQuotaAfter(11*time.Hour + 59*time.Minute), after(time.Minute), ok(), overQuotaAfter(29 * 24 * time.Hour),
				after(2 * 24 * time.Hour)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp := newFakeControlPlane()
			cp.plan("p1", 0, 0, 2, tc.period)
			cp.key("k1", value(1), true, "p1")
			e := meteredEnv(t, cp)
			e.clock.Set(tc.start)
			runSteps(t, e, value(1), tc.steps)
		})
	}
}

func TestAThrottledRequestDoesNotCountTowardTheQuota(t *testing.T) {
	cp := newFakeControlPlane()
	cp.plan("p1", 1, 1, 2, types.QuotaPeriodTypeDay)
	cp.key("k1", value(1), true, "p1")
	e := meteredEnv(t, cp)
	// Were the throttled ones counted, the quota of 2 would be spent by the second request.
	runSteps(t, e, value(1), []step{ok(), throttled(), throttled(), after(time.Second), throttled(), overQuotaAfter(time.Second)})
}

func TestRequestsWithoutAKeyOfAUsagePlanGetInvalidAPIKey(t *testing.T) {
	tests := []struct {
		name  string
		setup func(cp *fakeControlPlane)
		token string
	}{
		{"the authorizer names no key", func(*fakeControlPlane) {}, "none"},
		{"no API key has the value", func(*fakeControlPlane) {}, value(9)},
		{"the API key is disabled", func(cp *fakeControlPlane) { cp.key("k9", value(9), false, "p1") }, value(9)},
		{"the API key is in no usage plan", func(cp *fakeControlPlane) { cp.key("k9", value(9), true) }, value(9)},
		{"the API key's plan is for another API", func(cp *fakeControlPlane) {
			cp.mu.Lock()
			cp.plans["other"] = types.UsagePlan{Id: aws.String("other"), ApiStages: []types.ApiStage{{ApiId: aws.String("another"), Stage: aws.String(testStage)}}}
			cp.mu.Unlock()
			cp.key("k9", value(9), true, "other")
		}, value(9)},
		{"the API key's plan is for another stage", func(cp *fakeControlPlane) {
			cp.mu.Lock()
			cp.plans["other"] = types.UsagePlan{Id: aws.String("other"), ApiStages: []types.ApiStage{{ApiId: aws.String(testAPIID), Stage: aws.String("prod")}}}
			cp.mu.Unlock()
			cp.key("k9", value(9), true, "other")
		}, value(9)},
		{"the API key is in two plans of the stage, which API Gateway refuses", func(cp *fakeControlPlane) {
			cp.plan("p2", 1, 1, 0, "")
			cp.key("k9", value(9), true, "p1", "p2")
		}, value(9)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp := newFakeControlPlane()
			cp.plan("p1", 10, 10, 0, "")
			tc.setup(cp)
			e := meteredEnv(t, cp)
			w := e.do(t, "GET", "/v1/customers/c1", tc.token, nil)
			if w.Code != http.StatusForbidden || errorCode(t, w.Body.String()) != "key_not_provisioned" {
				t.Fatalf("got %d %s, want 403 key_not_provisioned (INVALID_API_KEY from the template)", w.Code, w.Body)
			}
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin = %q, want the template's *", got)
			}
			if n := e.inv.count("EchoFunction"); n != 0 {
				t.Errorf("the backend ran %d times", n)
			}
			if !strings.Contains(e.accessLog(), `"responseType":"INVALID_API_KEY"`) {
				t.Errorf("access log lacks the response type:\n%s", e.accessLog())
			}
		})
	}
}

func TestGatewayResponsesOfTheUsagePlansComeFromTheTemplate(t *testing.T) {
	tests := []struct {
		name                   string
		quota                  int32
		status                 int
		code, retryAfter, kind string
	}{
		{"THROTTLED", 5, 429, "rate_limit_exceeded", "1", "rate_limit_error"},
		{"QUOTA_EXCEEDED", 1, 429, "quota_exceeded", "3600", "rate_limit_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp := newFakeControlPlane()
			cp.plan("p1", 1, 1, tc.quota, types.QuotaPeriodTypeDay)
			cp.key("k1", value(1), true, "p1")
			e := meteredEnv(t, cp)
			e.do(t, "GET", "/v1/customers/c1", value(1), nil)
			if tc.name == "QUOTA_EXCEEDED" {
				e.clock.Advance(time.Second) // a full bucket again: only the quota can refuse now
			}
			w := e.do(t, "GET", "/v1/customers/c1", value(1), nil)
			var body struct {
				Error struct {
					Code       string `json:"code"`
					Type       string `json:"type"`
					RetryAfter int    `json:"retry_after"`
				} `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			if w.Code != tc.status || body.Error.Code != tc.code || body.Error.Type != tc.kind || fmt.Sprint(body.Error.RetryAfter) != tc.retryAfter {
				t.Errorf("got %d %s", w.Code, w.Body)
			}
			for h, want := range map[string]string{"Retry-After": tc.retryAfter, "Access-Control-Allow-Origin": "*", "Content-Type": "application/json"} {
				if got := w.Header().Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if !strings.Contains(e.accessLog(), `"responseType":"`+tc.name+`"`) {
				t.Errorf("access log lacks %s:\n%s", tc.name, e.accessLog())
			}
		})
	}
}

func TestAuthorizerCacheHitsAreMeteredToo(t *testing.T) {
	cp := newFakeControlPlane()
	cp.plan("p1", 1, 3, 0, "")
	cp.key("k1", value(1), true, "p1")
	e := meteredEnv(t, cp)
	runSteps(t, e, value(1), []step{ok(), ok(), ok(), throttled()})
	if n := e.inv.count("AuthorizerFunction"); n != 1 {
		t.Fatalf("authorizer ran %d times, want 1 (the rest from its cache)", n)
	}
	if !strings.Contains(e.accessLog(), `"authorizerCacheHit":true`) {
		t.Fatalf("no cache hit logged:\n%s", e.accessLog())
	}
}

func TestAPlanChangeTakesEffectAtTheNextRequest(t *testing.T) {
	cp := newFakeControlPlane()
	cp.plan("small", 0, 0, 1, types.QuotaPeriodTypeDay)
	cp.plan("large", 0, 0, 3, types.QuotaPeriodTypeDay)
	cp.key("k1", value(1), true, "small")
	e := meteredEnv(t, cp)
	runSteps(t, e, value(1), []step{ok(), overQuota()})

	// The keys function moves the key (DeleteUsagePlanKey, CreateUsagePlanKey) through the
	// control plane, which invalidates the gateway's state.
	cp.move("k1", "small", "large")
	e.gw.InvalidateUsagePlans()
	runSteps(t, e, value(1), []step{ok(), ok(), ok(), overQuota()})

	// Disabled and deleted keys stop at once too.
	cp.mu.Lock()
	k := cp.keys["k1"]
	k.Enabled = false
	cp.keys["k1"] = k
	cp.mu.Unlock()
	e.gw.InvalidateUsagePlans()
	runSteps(t, e, value(1), []step{{status: 403, code: "key_not_provisioned"}})
}

func TestAKnownKeyCostsNoControlPlaneCall(t *testing.T) {
	cp := newFakeControlPlane()
	cp.plan("p1", 1000, 1000, 0, "")
	cp.key("k1", value(1), true, "p1")
	e := meteredEnv(t, cp)
	runSteps(t, e, value(1), []step{ok()})
	before := cp.calls.Load()
	for range 100 {
		runSteps(t, e, value(1), []step{ok()})
	}
	if n := cp.calls.Load() - before; n != 0 {
		t.Fatalf("100 requests of a known key made %d control-plane calls", n)
	}
}

func TestAnUnknownKeyReloadsTheStateOnce(t *testing.T) {
	cp := newFakeControlPlane()
	cp.plan("p1", 10, 10, 0, "")
	e := meteredEnv(t, cp)
	runSteps(t, e, value(1), []step{{status: 403, code: "key_not_provisioned"}})

	// A key created a moment ago (by a tool writing the emulator directly): found on its
	// first request, without an invalidation.
	cp.key("k1", value(1), true, "p1")
	before := cp.calls.Load()
	runSteps(t, e, value(1), []step{ok()})
	if n := cp.calls.Load() - before; n == 0 || n > 3 {
		t.Fatalf("the first request of a new key made %d control-plane calls, want one reload (3)", n)
	}

	// Concurrent requests naming unknown keys share reloads: with reloads spaced by 200 ms (the
	// default is 100 ms), 20 requests at once cause at most a few, however loaded the machine
	// (with 1 ms spacing a slow machine spreads them over many).
	e = newEnv(t, map[string]handlerFunc{"AuthorizerFunction": meteredAuthorizer}, withUsagePlansSpaced(cp, -1, 200*time.Millisecond))
	before = cp.calls.Load()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if w := e.do(t, "GET", "/v1/customers/c1", value(100+i), nil); w.Code != 403 {
				t.Errorf("unknown key %d: %d", i, w.Code)
			}
		}()
	}
	close(start)
	wg.Wait()
	// A reload is 3 calls here; one per request would be 60. Here: the new gateway's first load
	// and a few spaced reloads (12 calls, on a quiet machine and a loaded one alike).
	if n := cp.calls.Load() - before; n > 15 {
		t.Errorf("20 concurrent unknown keys made %d control-plane calls, want them to share reloads", n)
	}
}

func TestTheStateIsReloadedWhenItIsOlderThanMaxAge(t *testing.T) {
	cp := newFakeControlPlane()
	cp.plan("p1", 10, 10, 0, "")
	cp.key("k1", value(1), true, "p1")
	e := meteredEnv(t, cp, withUsagePlans(cp, time.Second))
	runSteps(t, e, value(1), []step{ok()})
	cp.mu.Lock()
	delete(cp.keys, "k1") // behind the control plane's back: no invalidation
	cp.mu.Unlock()
	runSteps(t, e, value(1), []step{ok(), after(time.Second), {advance: time.Millisecond, status: 403, code: "key_not_provisioned"}})
}

func TestFiftyConcurrentRequestsAgainstABurstOfTwenty(t *testing.T) {
	cp := newFakeControlPlane()
	cp.plan("p1", 1, 20, 0, "")
	cp.key("k1", value(1), true, "p1")
	e := meteredEnv(t, cp)
	runSteps(t, e, value(1), []step{ok()}) // load the state and warm the authorizer cache
	e.clock.Advance(time.Hour)             // a full bucket again; the clock then stands still

	var passed, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			switch w := e.do(t, "GET", "/v1/customers/c1", value(1), nil); w.Code {
			case 200:
				passed.Add(1)
			case 429:
				refused.Add(1)
			default:
				t.Errorf("status %d: %s", w.Code, w.Body)
			}
		}()
	}
	close(start)
	wg.Wait()
	if passed.Load() != 20 || refused.Load() != 30 {
		t.Fatalf("%d passed and %d were throttled, want exactly 20 and 30", passed.Load(), refused.Load())
	}
}

func TestPublicRoutesAndPreflightsAreNotMetered(t *testing.T) {
	cp := newFakeControlPlane()
	e := meteredEnv(t, cp)
	if w := e.do(t, "POST", "/v1/auth/token", "", strings.NewReader(`{}`)); w.Code != 200 {
		t.Errorf("public route: %d %s", w.Code, w.Body)
	}
	r := e.do(t, "OPTIONS", "/v1/customers/c1", "", nil)
	if r.Code != 200 {
		t.Errorf("preflight: %d %s", r.Code, r.Body)
	}
	if n := cp.calls.Load(); n != 0 {
		t.Errorf("%d control-plane calls for routes that need no API key", n)
	}
}

func TestTheBackendSeesTheAPIKeyThatMeteredTheRequest(t *testing.T) {
	cp := newFakeControlPlane()
	cp.plan("p1", 10, 10, 0, "")
	cp.key("k1", value(1), true, "p1")
	e := meteredEnv(t, cp)
	runSteps(t, e, value(1), []step{ok()})
	id := e.event(t, "EchoFunction").RequestContext.Identity
	if id.APIKey != value(1) || id.APIKeyID != "k1" {
		t.Errorf("identity apiKey %q apiKeyId %q, want the key's value and id", id.APIKey, id.APIKeyID)
	}
}

func TestUsagePlansNeedAClientAndTheAPI(t *testing.T) {
	tpl, err := samtpl.Load(realTemplate, samtpl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []gateway.UsagePlanSource{{RestAPIID: "x"}, {Client: newFakeControlPlane()}} {
		if _, err := gateway.New(gateway.Config{Template: tpl, Invoker: &fakeInvoker{}, UsagePlans: &src}); err == nil {
			t.Errorf("New accepted UsagePlans %+v", src)
		}
	}
}

// BenchmarkGatewayOverheadWithUsagePlans is BenchmarkGatewayOverhead with the request metered
// by a usage plan (a known key: a map lookup and its counter), to compare with it.
func BenchmarkGatewayOverheadWithUsagePlans(b *testing.B) {
	tpl, err := samtpl.Load(realTemplate, samtpl.Options{})
	if err != nil {
		b.Fatal(err)
	}
	inv := &fakeInvoker{handlers: map[string]handlerFunc{
		"AuthorizerFunction": meteredAuthorizer,
		"EchoFunction": func(context.Context, []byte) ([]byte, error) {
			return []byte(`{"statusCode":200,"body":"{}"}`), nil
		},
	}}
	cp := newFakeControlPlane()
	cp.plan("p1", 1e9, 2e9, 2e9, types.QuotaPeriodTypeMonth)
	for i := range 1000 { // a stage with many keys
		cp.key(fmt.Sprint("k", i), value(i), true, "p1")
	}
	gw, err := gateway.New(gateway.Config{Template: tpl, Invoker: inv,
		UsagePlans: &gateway.UsagePlanSource{Client: cp, RestAPIID: testAPIID}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := httptest.NewRequest("GET", "/v1/customers/c1?limit=10", nil)
		r.Header.Set("Authorization", "Bearer "+value(7))
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if i%1000 == 0 {
			inv.mu.Lock()
			inv.calls = nil // keep the recorder from growing without bound
			inv.mu.Unlock()
		}
	}
}
