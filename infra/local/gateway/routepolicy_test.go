package gateway_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/local/gateway"
	"github.com/keygate/keygate/infra/local/samtpl"
	"github.com/keygate/keygate/shared/policy"
)

// The route policy is declared once: every protected route of template.yaml needs the scope
// policy.Required names (its resource's scope at the method's access level, else admin:full),
// and the authorizer's policy document for a credential allows a route's method ARN exactly
// when the credential holds that scope (or admin:full). This walks every route and method of
// the real template through the gateway's own IAM evaluation.
func TestEveryProtectedRouteIsAllowedByItsRequiredScopeOnly(t *testing.T) {
	tpl, err := samtpl.Load(realTemplate, samtpl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const region, account, apiID, stage = "us-east-1", "123456789012", "abc123", "dev"
	stageARN := "arn:aws:execute-api:" + region + ":" + account + ":" + apiID + "/" + stage
	checked := 0
	for _, r := range tpl.Routes {
		if r.AuthorizerName == "" {
			continue // public: token, refresh, validate, revoke, JWKS
		}
		methods := []string{r.Method}
		if r.Method == "ANY" {
			methods = []string{"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"}
		}
		path := strings.NewReplacer("{id}", "x_1").Replace(r.Path)
		for _, m := range methods {
			arn := gateway.MethodARN(region, account, apiID, stage, m, path)
			need := policy.Required(m, r.Path)
			for _, held := range append(append([]string{}, policy.All...), "") {
				var scopes []string
				if held != "" {
					scopes = []string{held}
				}
				got := evaluate(t, policy.Document(stageARN, scopes), arn) == gateway.Allow
				want := held == need || held == policy.Admin
				if got != want {
					t.Errorf("%s %s (needs %s) with scope %q: allowed %v, want %v", m, r.Path, need, held, got, want)
				}
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d protected route/method pairs in the template", checked)
	}
	// The admin API needs admin:full, whatever the method.
	for _, m := range []string{"GET", "POST", "PATCH", "DELETE"} {
		if got := policy.Required(m, "/v1/keys/{id}"); got != policy.Admin {
			t.Errorf("%s /v1/keys/{id} needs %s", m, got)
		}
	}
}

// evaluate runs the policy through the gateway's parser and evaluator, as a response would.
func evaluate(t *testing.T, doc any, arn string) gateway.Decision {
	t.Helper()
	b, err := json.Marshal(map[string]any{"principalId": "p", "policyDocument": doc})
	if err != nil {
		t.Fatal(err)
	}
	res, err := gateway.ParseAuthorizerResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	return res.Policy.Evaluate(arn)
}
