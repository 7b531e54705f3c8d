package templatecheck_test

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/gateway"
	"github.com/keygate/keygate/infra/samtpl"
)

// route is one method on one resource path as API Gateway serves it.
type route struct {
	method, path, function, authorizer string
}

func (r route) String() string {
	auth := r.authorizer
	if auth == "" {
		auth = "no authorizer"
	}
	return fmt.Sprintf("%s %s → %s (%s)", r.method, r.path, r.function, auth)
}

// localRoutes is the local gateway's route table: the routes it builds its router from.
func localRoutes(t *testing.T) (*samtpl.Template, *gateway.Router, map[string]route) {
	t.Helper()
	tpl, err := samtpl.Load(templatePath, samtpl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	router, err := gateway.NewRouter(tpl.Routes)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]route{}
	for _, r := range tpl.Routes {
		rt := route{r.Method, r.Path, r.FunctionID, r.AuthorizerName}
		out[rt.method+" "+rt.path] = rt
	}
	return tpl, router, out
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// checkServes asks the local router for every route of want, with a concrete path, and
// fails unless it answers with exactly that route; then checks the tables are the same size,
// so the local gateway serves nothing the deployment does not.
func checkServes(t *testing.T, router *gateway.Router, local, want map[string]route) {
	t.Helper()
	for _, k := range sortedKeys(want) {
		w := want[k]
		method := w.method
		if method == "ANY" {
			method = "PUT" // what an ANY method catches when the path has no PUT of its own
			if _, own := want["PUT "+w.path]; own {
				continue
			}
		}
		m, ok := router.Match(method, pathParam.ReplaceAllString(w.path, "x1"))
		got := route{m.Route.Method, m.Route.Path, m.Route.FunctionID, m.Route.AuthorizerName}
		if !ok || got != w {
			t.Errorf("deployed %v; the local gateway serves %v (matched %t)", w, got, ok)
		}
	}
	var extra []string
	for _, k := range sortedKeys(local) {
		if _, ok := want[k]; !ok {
			extra = append(extra, local[k].String())
		}
	}
	if len(extra) > 0 {
		t.Errorf("the local gateway serves routes the deployment lacks:\n  %s", strings.Join(extra, "\n  "))
	}
}

// TestLocalGatewayRoutesEqualTheTemplate reads the Api events straight from the template (not
// through samtpl) and checks the local gateway's router serves exactly those.
func TestLocalGatewayRoutesEqualTheTemplate(t *testing.T) {
	c := loadTemplate(t)
	defaultAuth := str(path(c.resource("Api"), "Properties", "Auth", "DefaultAuthorizer"))
	want := map[string]route{}
	for _, fn := range sortedKeys(c.resources("AWS::Serverless::Function")) {
		events, _ := props(c.resource(fn))["Events"].(map[string]any)
		for _, name := range sortedKeys(events) {
			ev := events[name].(map[string]any)
			if ev["Type"] != "Api" {
				continue
			}
			p := ev["Properties"].(map[string]any)
			auth := defaultAuth
			if a := path(p, "Auth", "Authorizer"); a != nil {
				auth = str(a)
			}
			if auth == "NONE" {
				auth = ""
			}
			r := route{strings.ToUpper(str(p["Method"])), str(p["Path"]), fn, auth}
			want[r.method+" "+r.path] = r
		}
	}
	if len(want) == 0 {
		t.Fatal("no Api events found in the template")
	}
	_, router, local := localRoutes(t)
	checkServes(t, router, local, want)
}

var integrationFunction = regexp.MustCompile(`functions/\$\{(\w+)\.Arn\}/invocations`)

// TestLocalGatewayRoutesEqualTheDeployedAPI compares the local router with the OpenAPI
// document SAM generates for API Gateway (what actually deploys): every Lambda-proxy method,
// its function and its authorizer. SAM's CORS preflights (OPTIONS with a mock integration on
// every path) are checked separately: they exist exactly when the template sets Cors, without
// an authorizer; the local gateway does not serve them (samtpl.API.Cors documents them).
func TestLocalGatewayRoutesEqualTheDeployedAPI(t *testing.T) {
	out := samTransform(t)
	tpl, router, local := localRoutes(t)
	body, _ := path(out.resource("Api"), "Properties", "Body").(map[string]any)
	paths, _ := body["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal("the transformed template has no Api paths")
	}
	want := map[string]route{}
	var preflights []string
	for _, p := range sortedKeys(paths) {
		methods := paths[p].(map[string]any)
		for _, m := range sortedKeys(methods) {
			op := methods[m].(map[string]any)
			integ, _ := op["x-amazon-apigateway-integration"].(map[string]any)
			method := strings.ToUpper(m)
			if m == "x-amazon-apigateway-any-method" {
				method = "ANY"
			}
			if integ["type"] == "mock" && method == "OPTIONS" {
				if op["security"] != nil {
					t.Errorf("preflight OPTIONS %s requires %v; browsers send preflights without credentials", p, op["security"])
				}
				preflights = append(preflights, p)
				continue
			}
			if integ["type"] != "aws_proxy" {
				t.Errorf("%s %s: integration %v, want aws_proxy", method, p, integ["type"])
				continue
			}
			fn := integrationFunction.FindStringSubmatch(fmt.Sprint(path(integ, "uri", "Fn::Sub")))
			if fn == nil {
				t.Errorf("%s %s: cannot tell the function from %v", method, p, integ["uri"])
				continue
			}
			auth := ""
			for _, sec := range list(op["security"]) {
				for name := range sec.(map[string]any) {
					if name != "NONE" {
						auth = name
					}
				}
			}
			want[method+" "+p] = route{method, p, fn[1], auth}
		}
	}
	checkServes(t, router, local, want)

	var resources []string
	for _, r := range local {
		resources = append(resources, r.path)
	}
	resources = dedupe(resources)
	switch {
	case tpl.API.Cors == nil && len(preflights) > 0:
		t.Errorf("SAM generated preflights for %v, but samtpl sees no Cors", preflights)
	case tpl.API.Cors != nil && strings.Join(preflights, ",") != strings.Join(resources, ","):
		t.Errorf("preflights on %v, want one on every resource %v", preflights, resources)
	case tpl.API.Cors != nil && tpl.API.Cors.PreflightAuthorized:
		t.Error("samtpl says the preflights carry the authorizer; the deployed ones do not")
	}
}

func dedupe(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
