package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

// upstream stands in for the emulator behind the control plane: it records what reaches it
// and applies DeleteUsagePlanKey to the fake control plane the gateway reads.
type upstream struct {
	cp   *fakeControlPlane
	mu   sync.Mutex
	seen []string
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.seen = append(u.seen, r.Method+" "+r.URL.Path)
	u.mu.Unlock()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/apikeys":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"item":[{"id":"k1","name":"key-k1","enabled":true}]}`)
	case r.Method == http.MethodDelete && len(parts) == 4 && parts[0] == "usageplans" && parts[2] == "keys":
		u.cp.move(parts[3], parts[1], "")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{}`)
	default:
		http.NotFound(w, r)
	}
}

func (u *upstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

// controlPlane serves the gateway's control plane in front of up and returns an SDK client on it.
func controlPlane(t *testing.T, e *env, up http.Handler) *apigateway.Client {
	t.Helper()
	emu := httptest.NewServer(up)
	t.Cleanup(emu.Close)
	h, err := e.gw.ControlPlane(emu.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return apigateway.New(apigateway.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local", "")})
}

func TestGetUsageIsAnsweredFromTheGatewaysCounters(t *testing.T) {
	cp := newFakeControlPlane()
	cp.plan("p1", 1, 2, 3, types.QuotaPeriodTypeDay)
	cp.key("k1", value(1), true, "p1")
	cp.key("k2", value(2), true, "p1")
	cp.mu.Lock()
	cp.plans["other"] = types.UsagePlan{Id: aws.String("other"), Quota: &types.QuotaSettings{Limit: 7, Period: types.QuotaPeriodTypeMonth},
		ApiStages: []types.ApiStage{{ApiId: aws.String("another-api"), Stage: aws.String(testStage)}}}
	cp.mu.Unlock()
	cp.key("k3", value(3), true, "other")
	e := meteredEnv(t, cp)
	e.clock.Set(time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC))
	// Nov 5: three count (the throttled and the over-quota one do not); Nov 6: one.
	runSteps(t, e, value(1), []step{ok(), ok(), throttled(), after(time.Second), overQuotaAfter(time.Second),
		after(24 * time.Hour)})
	client := controlPlane(t, e, &upstream{cp: cp})
	ctx := context.Background()

	get := func(in apigateway.GetUsageInput) *apigateway.GetUsageOutput {
		t.Helper()
		in.StartDate, in.EndDate = aws.String("2026-11-05"), aws.String("2026-11-07")
		out, err := client.GetUsage(ctx, &in)
		if err != nil {
			t.Fatalf("GetUsage %+v: %v", in, err)
		}
		return out
	}
	out := get(apigateway.GetUsageInput{UsagePlanId: aws.String("p1")})
	want := map[string][][]int64{
		"k1": {{3, 0}, {1, 2}, {0, 3}},
		"k2": {{0, 3}, {0, 3}, {0, 3}},
	}
	if fmt.Sprint(out.Items) != fmt.Sprint(want) {
		t.Errorf("items = %v, want %v", out.Items, want)
	}
	if aws.ToString(out.UsagePlanId) != "p1" || aws.ToString(out.StartDate) != "2026-11-05" || aws.ToString(out.EndDate) != "2026-11-07" || out.Position != nil {
		t.Errorf("usagePlanId %q startDate %q endDate %q position %v", aws.ToString(out.UsagePlanId), aws.ToString(out.StartDate),
			aws.ToString(out.EndDate), out.Position)
	}

	if out := get(apigateway.GetUsageInput{UsagePlanId: aws.String("p1"), KeyId: aws.String("k1")}); fmt.Sprint(out.Items) != fmt.Sprint(map[string][][]int64{"k1": want["k1"]}) {
		t.Errorf("keyId k1: items = %v", out.Items)
	}

	// Pages of one key each, as the SDK's paginator walks them.
	var pages []string
	p := apigateway.NewGetUsagePaginator(client, &apigateway.GetUsageInput{UsagePlanId: aws.String("p1"), Limit: aws.Int32(1),
		StartDate: aws.String("2026-11-05"), EndDate: aws.String("2026-11-05")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, fmt.Sprint(page.Items))
	}
	if got := strings.Join(pages, " "); got != "map[k1:[[3 0]]] map[k2:[[0 3]]]" {
		t.Errorf("pages = %s", got)
	}

	// A plan of another stage exists and has had no requests here.
	if out := get(apigateway.GetUsageInput{UsagePlanId: aws.String("other")}); fmt.Sprint(out.Items) != "map[k3:[[0 7] [0 7] [0 7]]]" {
		t.Errorf("other plan: items = %v", out.Items)
	}
}

func TestGetUsageRefusesWhatAPIGatewayRefuses(t *testing.T) {
	cp := newFakeControlPlane()
	cp.plan("p1", 1, 1, 3, types.QuotaPeriodTypeDay)
	e := meteredEnv(t, cp)
	client := controlPlane(t, e, &upstream{cp: cp})
	tests := []struct {
		name       string
		in         apigateway.GetUsageInput
		notFound   bool
		badRequest bool
	}{
		{"an unknown plan", apigateway.GetUsageInput{UsagePlanId: aws.String("nope"), StartDate: aws.String("2026-11-05"), EndDate: aws.String("2026-11-05")}, true, false},
		{"a date that is not YYYY-MM-DD", apigateway.GetUsageInput{UsagePlanId: aws.String("p1"), StartDate: aws.String("5/11/2026"), EndDate: aws.String("2026-11-05")}, false, true},
		{"an end before the start", apigateway.GetUsageInput{UsagePlanId: aws.String("p1"), StartDate: aws.String("2026-11-05"), EndDate: aws.String("2026-11-04")}, false, true},
		{"a limit above 500", apigateway.GetUsageInput{UsagePlanId: aws.String("p1"), StartDate: aws.String("2026-11-05"), EndDate: aws.String("2026-11-05"), Limit: aws.Int32(501)}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.GetUsage(context.Background(), &tc.in)
			var nf *types.NotFoundException
			var br *types.BadRequestException
			if errors.As(err, &nf) != tc.notFound || errors.As(err, &br) != tc.badRequest {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestTheControlPlaneForwardsTheRestAndChangesTakeEffectAtOnce(t *testing.T) {
	cp := newFakeControlPlane()
	cp.plan("p1", 10, 10, 0, "")
	cp.key("k1", value(1), true, "p1")
	e := meteredEnv(t, cp)
	up := &upstream{cp: cp}
	client := controlPlane(t, e, up)
	ctx := context.Background()
	runSteps(t, e, value(1), []step{ok()})

	keys, err := client.GetApiKeys(ctx, &apigateway.GetApiKeysInput{})
	if err != nil || len(keys.Items) != 1 || aws.ToString(keys.Items[0].Id) != "k1" {
		t.Fatalf("GetApiKeys through the control plane = %+v, %v", keys, err)
	}
	// The keys function takes the key out of its plan: the gateway's next request knows,
	// although the key is known and the state never ages in this test.
	if _, err := client.DeleteUsagePlanKey(ctx, &apigateway.DeleteUsagePlanKeyInput{UsagePlanId: aws.String("p1"), KeyId: aws.String("k1")}); err != nil {
		t.Fatal(err)
	}
	runSteps(t, e, value(1), []step{{status: 403, code: "key_not_provisioned"}})
	if got, want := strings.Join(up.requests(), ", "), "GET /apikeys, DELETE /usageplans/p1/keys/k1"; got != want {
		t.Errorf("the emulator saw %s, want %s", got, want)
	}
}
