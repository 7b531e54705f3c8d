package provision_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/keygate/keygate/infra/local/provision"
	"github.com/keygate/keygate/infra/local/samtpl"
)

func TestUsagePlanInputKeepsTheTemplatesLimits(t *testing.T) {
	tpl, err := samtpl.Load(realTemplate, samtpl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*apigateway.CreateUsagePlanInput{}
	for _, up := range tpl.UsagePlans {
		byName[up.Name] = provision.UsagePlanInput(up, "api123", tpl.API.StageName)
	}
	tests := []struct {
		name         string
		rate         float64
		burst, quota int32
		period       types.QuotaPeriodType
	}{
		{"keygate-dev-free", 1, 60, 10000, types.QuotaPeriodTypeDay},
		{"keygate-dev-startup", 16.667, 1000, 1000000, types.QuotaPeriodTypeMonth},
		{"keygate-dev-growth", 166.667, 5000, 20000000, types.QuotaPeriodTypeMonth},
		{"keygate-dev-enterprise", 1666.667, 5000, 500000000, types.QuotaPeriodTypeMonth},
	}
	if len(byName) != len(tests) {
		t.Fatalf("the template has %d usage plans, this test knows %d: update it", len(byName), len(tests))
	}
	for _, tc := range tests {
		in := byName[tc.name]
		if in == nil {
			t.Errorf("no plan %s", tc.name)
			continue
		}
		if in.Throttle == nil || in.Throttle.RateLimit != tc.rate || in.Throttle.BurstLimit != tc.burst {
			t.Errorf("%s throttle = %+v", tc.name, in.Throttle)
		}
		if in.Quota == nil || in.Quota.Limit != tc.quota || in.Quota.Period != tc.period || in.Quota.Offset != 0 {
			t.Errorf("%s quota = %+v", tc.name, in.Quota)
		}
		if len(in.ApiStages) != 1 || aws.ToString(in.ApiStages[0].ApiId) != "api123" || aws.ToString(in.ApiStages[0].Stage) != "dev" {
			t.Errorf("%s apiStages = %+v", tc.name, in.ApiStages)
		}
	}
	if got := provision.RestAPIName(tpl); got != "keygate-dev" {
		t.Errorf("RestAPIName = %q, want the Api's Name keygate-dev", got)
	}
}

// noAPIGateway fails every call: a template without usage plans must not reach it.
type noAPIGateway struct{ provision.APIGateway }

func TestATemplateWithoutUsagePlansNeedsNoRestAPI(t *testing.T) {
	tpl, err := samtpl.Parse([]byte(`
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
`), samtpl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if provision.NeedsRestAPI(tpl) {
		t.Fatal("NeedsRestAPI = true")
	}
	if id, err := provision.ApplyUsagePlans(context.Background(), tpl, noAPIGateway{}); id != "" || err != nil {
		t.Errorf("ApplyUsagePlans = %q, %v", id, err)
	}
}

// stageTemplate is the real template renamed to a stage of the test's own (the template
// allows only its four stage names), so that tests sharing the emulator never meet each
// other's REST API or plans.
func stageTemplate(t *testing.T) *samtpl.Template {
	t.Helper()
	tpl := loadTemplate(t)
	stage := fmt.Sprintf("t%d", time.Now().UnixNano())
	prefix := "keygate-" + tpl.API.StageName + "-"
	for i, up := range tpl.UsagePlans {
		if !strings.HasPrefix(up.Name, prefix) {
			t.Fatalf("usage plan %s is not named %s<tier>", up.Name, prefix)
		}
		tpl.UsagePlans[i].Name = "keygate-" + stage + "-" + strings.TrimPrefix(up.Name, prefix)
	}
	tpl.API.StageName = stage
	if len(tpl.UsagePlans) == 0 {
		t.Fatal("the template has no usage plans")
	}
	return tpl
}

// removeStage deletes, when the test ends, the usage plans and REST APIs named for tpl's
// stage: the emulator is shared, and every reader of usage plans reads them all.
func removeStage(t *testing.T, apigw *apigateway.Client, tpl *samtpl.Template) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		prefix := "keygate-" + tpl.API.StageName
		if plans, err := apigw.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{}); err == nil {
			for _, p := range plans.Items {
				if strings.HasPrefix(aws.ToString(p.Name), prefix+"-") {
					_, _ = apigw.DeleteUsagePlan(ctx, &apigateway.DeleteUsagePlanInput{UsagePlanId: p.Id})
				}
			}
		}
		removeRestAPIs(ctx, apigw, prefix)
	})
}

func removeRestAPIs(ctx context.Context, apigw *apigateway.Client, name string) {
	if apis, err := apigw.GetRestApis(ctx, &apigateway.GetRestApisInput{}); err == nil {
		for _, a := range apis.Items {
			if aws.ToString(a.Name) == name {
				_, _ = apigw.DeleteRestApi(ctx, &apigateway.DeleteRestApiInput{RestApiId: a.Id})
			}
		}
	}
}

func TestApplyUsagePlansOnTheEmulator(t *testing.T) {
	ep := emulatorEndpoints(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	apigw := provision.NewAPIGatewayClient(ep.SecretsManager, "us-east-1")
	tpl := stageTemplate(t)
	removeStage(t, apigw, tpl)

	first, err := provision.ApplyUsagePlans(ctx, tpl, apigw)
	if err != nil || first == "" {
		t.Fatalf("first run: %q, %v", first, err)
	}
	second, err := provision.ApplyUsagePlans(ctx, tpl, apigw)
	if err != nil || second != first {
		t.Fatalf("second run: %q, %v; want the same REST API %s", second, err, first)
	}
	if found, err := provision.FindRestAPI(ctx, apigw, provision.RestAPIName(tpl)); err != nil || found != first {
		t.Errorf("FindRestAPI = %q, %v", found, err)
	}

	plans, err := apigw.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{})
	if err != nil {
		t.Fatal(err)
	}
	named := map[string][]types.UsagePlan{}
	for _, p := range plans.Items {
		named[aws.ToString(p.Name)] = append(named[aws.ToString(p.Name)], p)
	}
	for _, up := range tpl.UsagePlans {
		got := named[up.Name]
		if len(got) != 1 {
			t.Errorf("%d plans named %s after two runs, want 1", len(got), up.Name)
			continue
		}
		p := got[0]
		if p.Throttle == nil || p.Throttle.RateLimit != up.RateLimit || int(p.Throttle.BurstLimit) != up.BurstLimit ||
			p.Quota == nil || int(p.Quota.Limit) != up.QuotaLimit || string(p.Quota.Period) != up.QuotaPeriod {
			t.Errorf("%s on the emulator: throttle %+v quota %+v, template %+v", up.Name, p.Throttle, p.Quota, up)
		}
		if len(p.ApiStages) != 1 || aws.ToString(p.ApiStages[0].ApiId) != first || aws.ToString(p.ApiStages[0].Stage) != tpl.API.StageName {
			t.Errorf("%s apiStages = %+v", up.Name, p.ApiStages)
		}
	}
}

func TestAPlanThatDriftedFromTheTemplateIsAnErrorNotAnUpdate(t *testing.T) {
	ep := emulatorEndpoints(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	apigw := provision.NewAPIGatewayClient(ep.SecretsManager, "us-east-1")
	tpl := stageTemplate(t)
	removeStage(t, apigw, tpl)
	if _, err := provision.ApplyUsagePlans(ctx, tpl, apigw); err != nil {
		t.Fatal(err)
	}
	// The same stage started again with other tier parameters.
	changed := *tpl
	changed.UsagePlans = append([]samtpl.UsagePlan(nil), tpl.UsagePlans...)
	changed.UsagePlans[1].RateLimit, changed.UsagePlans[1].QuotaPeriod = 2.5, "WEEK"
	_, err := provision.ApplyUsagePlans(ctx, &changed, apigw)
	if !errors.Is(err, provision.ErrPlanDrift) || !strings.Contains(err.Error(), changed.UsagePlans[1].Name) ||
		!strings.Contains(err.Error(), "2.5/s") || !strings.Contains(err.Error(), "per WEEK") {
		t.Fatalf("err = %v, want ErrPlanDrift naming the plan and both limits", err)
	}
	plans, err := apigw.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plans.Items {
		if aws.ToString(p.Name) == tpl.UsagePlans[1].Name && (p.Throttle.RateLimit != tpl.UsagePlans[1].RateLimit || string(p.Quota.Period) != tpl.UsagePlans[1].QuotaPeriod) {
			t.Errorf("the plan was changed: %+v %+v", p.Throttle, p.Quota)
		}
	}
}

func TestFindRestAPIRefusesToGuess(t *testing.T) {
	ep := emulatorEndpoints(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	apigw := provision.NewAPIGatewayClient(ep.SecretsManager, "us-east-1")
	name := fmt.Sprintf("keygate-t%d", time.Now().UnixNano())
	t.Cleanup(func() { removeRestAPIs(context.Background(), apigw, name) })
	if _, err := provision.FindRestAPI(ctx, apigw, name); !errors.Is(err, provision.ErrNoRestAPI) {
		t.Fatalf("before any: err = %v, want ErrNoRestAPI", err)
	}
	for range 2 {
		if _, err := apigw.CreateRestApi(ctx, &apigateway.CreateRestApiInput{Name: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	if id, err := provision.FindRestAPI(ctx, apigw, name); err == nil || !strings.Contains(err.Error(), "REST APIs are named "+name) {
		t.Fatalf("two of a name: %q, %v", id, err)
	}
}

// Suites that start stacks of one stage at once (make test runs them in parallel on one
// emulator) end up with one REST API and one plan of each name, all naming that API.
func TestConcurrentApplyUsagePlansCreateEachPlanOnce(t *testing.T) {
	ep := emulatorEndpoints(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	apigw := provision.NewAPIGatewayClient(ep.SecretsManager, "us-east-1")
	tpl := stageTemplate(t)
	removeStage(t, apigw, tpl)
	ids := make([]string, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = provision.ApplyUsagePlans(ctx, tpl, apigw)
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("run %d: %q, %v; want every run to find the first one's REST API %q", i, ids[i], errs[i], ids[0])
		}
	}
	plans, err := apigw.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, p := range plans.Items {
		count[aws.ToString(p.Name)]++
	}
	for _, up := range tpl.UsagePlans {
		if count[up.Name] != 1 {
			t.Errorf("%d plans named %s", count[up.Name], up.Name)
		}
	}
}

// fakeAPIGW is API Gateway's control plane in memory for the calls ApplyUsagePlans makes. A
// call named in lose is applied but answered with an error, once: an answer lost on the way
// back, as seen from the emulator under load.
type fakeAPIGW struct {
	apis  []types.RestApi
	plans []types.UsagePlan
	lose  map[string]bool
	n     int
}

var errLostAnswer = errors.New("read tcp: use of closed network connection")

func (f *fakeAPIGW) id() *string { f.n++; return aws.String(fmt.Sprintf("id%03d", f.n)) }

func (f *fakeAPIGW) lost(op string) bool {
	if f.lose[op] {
		delete(f.lose, op)
		return true
	}
	return false
}

func (f *fakeAPIGW) GetRestApis(context.Context, *apigateway.GetRestApisInput, ...func(*apigateway.Options)) (*apigateway.GetRestApisOutput, error) {
	return &apigateway.GetRestApisOutput{Items: append([]types.RestApi(nil), f.apis...)}, nil
}

func (f *fakeAPIGW) CreateRestApi(_ context.Context, in *apigateway.CreateRestApiInput, _ ...func(*apigateway.Options)) (*apigateway.CreateRestApiOutput, error) {
	a := types.RestApi{Id: f.id(), Name: in.Name}
	f.apis = append(f.apis, a)
	if f.lost("CreateRestApi") {
		return nil, errLostAnswer
	}
	return &apigateway.CreateRestApiOutput{Id: a.Id, Name: a.Name}, nil
}

func (f *fakeAPIGW) GetUsagePlans(context.Context, *apigateway.GetUsagePlansInput, ...func(*apigateway.Options)) (*apigateway.GetUsagePlansOutput, error) {
	return &apigateway.GetUsagePlansOutput{Items: append([]types.UsagePlan(nil), f.plans...)}, nil
}

func (f *fakeAPIGW) CreateUsagePlan(_ context.Context, in *apigateway.CreateUsagePlanInput, _ ...func(*apigateway.Options)) (*apigateway.CreateUsagePlanOutput, error) {
	p := types.UsagePlan{Id: f.id(), Name: in.Name, ApiStages: in.ApiStages, Throttle: in.Throttle, Quota: in.Quota}
	f.plans = append(f.plans, p)
	if f.lost("CreateUsagePlan") {
		return nil, errLostAnswer
	}
	return &apigateway.CreateUsagePlanOutput{Id: p.Id, Name: p.Name}, nil
}

// A create whose answer was lost is not made again: the next run of the template would find
// two of a name and refuse to guess.
func TestALostCreateAnswerDoesNotMakeASecondOne(t *testing.T) {
	tpl := loadTemplate(t)
	f := &fakeAPIGW{lose: map[string]bool{"CreateRestApi": true, "CreateUsagePlan": true}}
	id, err := provision.ApplyUsagePlans(context.Background(), tpl, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.apis) != 1 || aws.ToString(f.apis[0].Id) != id {
		t.Errorf("REST APIs %+v, returned %q: want one, returned", f.apis, id)
	}
	if len(f.plans) != len(tpl.UsagePlans) {
		t.Errorf("%d plans for the template's %d", len(f.plans), len(tpl.UsagePlans))
	}
	if again, err := provision.ApplyUsagePlans(context.Background(), tpl, f); err != nil || again != id {
		t.Errorf("a second run: %q, %v", again, err)
	}
}
