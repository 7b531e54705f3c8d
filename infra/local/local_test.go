package local_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"

	"github.com/keygate/keygate/infra/local"
	"github.com/keygate/keygate/infra/local/provision"
	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/apikey"
)

// Start provisions the template's usage plans on a REST API of the Api's name and serves the
// control plane the functions are given: the emulator's API Gateway, with GetUsage answered by
// the gateway, which meters a freshly minted key.
func TestStartProvisionsTheUsagePlansAndServesTheControlPlane(t *testing.T) {
	env, skip, err := emulatortest.StackFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if skip != "" {
		t.Skip(skip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Stage local with the template's defaults, as the other suites on these emulators start it
	// (each of the four stages is some suite's; a stage started with other parameters, such as
	// another signing algorithm, would break theirs).
	o := local.Options{Template: filepath.Join("..", "..", "template.yaml"), Params: map[string]string{"Stage": "local"},
		BinDir: env.Bin, DynamoDB: env.DynamoDB, Secrets: env.Secrets, Provision: true, Quiet: true, Logs: io.Discard}
	st, err := local.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.RestAPIID == "" || st.APIGateway == "" || st.APIGateway == env.Secrets {
		t.Fatalf("RestAPIID %q, APIGateway %q: want a REST API and a control plane of the stack's own", st.RestAPIID, st.APIGateway)
	}

	plans, err := st.APIGatewayClient.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{})
	if err != nil {
		t.Fatalf("GetUsagePlans through the control plane: %v", err)
	}
	planID := map[string]string{}
	for _, p := range plans.Items {
		for _, s := range p.ApiStages {
			if aws.ToString(s.ApiId) == st.RestAPIID && aws.ToString(s.Stage) == "local" {
				planID[aws.ToString(p.Name)] = aws.ToString(p.Id)
			}
		}
	}
	for _, up := range st.Template.UsagePlans {
		if planID[up.Name] == "" {
			t.Errorf("no usage plan %s on the stage (have %v)", up.Name, planID)
		}
	}

	key, err := st.MintKey(ctx, apikey.Spec{Name: "local-test", Scopes: []string{"customers:read"}, Tier: "free", RateLimit: 60}, "infra/local test")
	if err != nil {
		t.Fatal(err)
	}
	srvStatus, _, body, err := request(ctx, st.Gateway, key)
	if err != nil || srvStatus != http.StatusOK {
		t.Fatalf("protected route with a minted key: %d %s %v", srvStatus, body, err)
	}
	day := time.Now().UTC().Format("2006-01-02")
	usage, err := st.APIGatewayClient.GetUsage(ctx, &apigateway.GetUsageInput{UsagePlanId: aws.String(planID["keygate-local-free"]),
		StartDate: aws.String(day), EndDate: aws.String(day)})
	if err != nil {
		t.Fatalf("GetUsage through the control plane: %v", err)
	}
	counted := false
	for _, days := range usage.Items {
		counted = counted || len(days) == 1 && days[0][0] >= 1
	}
	if !counted {
		t.Errorf("GetUsage of the free plan today = %v, want the request counted", usage.Items)
	}

	// Without provisioning, a second stack finds the same REST API by name.
	o.Provision = false
	again, err := local.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.RestAPIID != st.RestAPIID {
		t.Errorf("without provisioning: REST API %q, want %q", again.RestAPIID, st.RestAPIID)
	}
	again.Close()
	if id, err := provision.FindRestAPI(ctx, provision.NewAPIGatewayClient(env.Secrets, "us-east-1"), "keygate-local"); err != nil || id != st.RestAPIID {
		t.Errorf("FindRestAPI = %q, %v", id, err)
	}

	url := st.APIGateway
	st.Close()
	if resp, err := http.Get(url + "/apikeys"); err == nil {
		resp.Body.Close()
		t.Errorf("the control plane still answers after Close: %d", resp.StatusCode)
	}
}

// request calls the protected sample route through h with bearer.
func request(ctx context.Context, h http.Handler, bearer string) (int, http.Header, []byte, error) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	return local.Request(ctx, srv.URL, http.MethodGet, "/v1/customers/c1", bearer, nil)
}
