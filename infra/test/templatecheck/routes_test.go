package templatecheck_test

import (
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/local/gateway"
	"github.com/keygate/keygate/infra/local/samtpl"
)

// route is one method on one resource path as API Gateway serves it.
type route struct {
	method, path, function, authorizer string
	apiKey                             bool // the method requires an API key (a usage plan's)
}

func (r route) String() string {
	auth := r.authorizer
	if auth == "" {
		auth = "no authorizer"
	}
	if r.apiKey {
		auth += ", API key"
	}
	return fmt.Sprintf("%s %s → %s (%s)", r.method, r.path, r.function, auth)
}

// mockIntegration stands for the function of a route API Gateway answers itself (SAM's CORS
// preflights).
const mockIntegration = "MOCK"

// localRoutes is the local gateway's route table: the routes it builds its router from, and
// the preflights that router answers itself, built as gateway.New builds it.
func localRoutes(t *testing.T, opts samtpl.Options) (*samtpl.Template, *gateway.Router, map[string]route) {
	t.Helper()
	tpl, err := samtpl.Load(templatePath, opts)
	if err != nil {
		t.Fatal(err)
	}
	router, err := gateway.NewRouter(tpl.Routes, gateway.WithCORS(tpl.API))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]route{}
	for _, r := range tpl.Routes {
		rt := route{r.Method, r.Path, r.FunctionID, r.AuthorizerName, r.APIKeyRequired}
		out[rt.method+" "+rt.path] = rt
		if m, ok := router.Match(http.MethodOptions, concretePath(r.Path)); ok && m.Mock != nil {
			out[http.MethodOptions+" "+r.Path] = served(m)
		}
	}
	return tpl, router, out
}

// served is the route a match stands for.
func served(m gateway.Match) route {
	fn := m.Route.FunctionID
	if m.Mock != nil {
		fn = mockIntegration
	}
	return route{m.Route.Method, m.Route.Path, fn, m.Route.AuthorizerName, m.Route.APIKeyRequired}
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// concretePath fills a resource path's parameters with a value a request could carry.
func concretePath(resource string) string { return pathParam.ReplaceAllString(resource, "x1") }

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
		m, ok := router.Match(method, concretePath(w.path))
		if got := served(m); !ok || got != w {
			t.Errorf("deployed %v; the local gateway serves %v (matched %t)", w, served(m), ok)
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
// through samtpl) and checks the local gateway's router serves exactly those, plus the CORS
// preflight SAM adds to every path of an Api with Cors (without the default authorizer when
// AddDefaultAuthorizerToCorsPreflight is false).
func TestLocalGatewayRoutesEqualTheTemplate(t *testing.T) {
	c := loadTemplate(t)
	api := props(c.resource("Api"))
	defaultAuth := str(path(api, "Auth", "DefaultAuthorizer"))
	defaultKey := path(api, "Auth", "ApiKeyRequired") == true
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
			key := defaultKey
			if k, ok := path(p, "Auth", "ApiKeyRequired").(bool); ok {
				key = k
			}
			r := route{strings.ToUpper(str(p["Method"])), str(p["Path"]), fn, auth, key}
			want[r.method+" "+r.path] = r
		}
	}
	if len(want) == 0 {
		t.Fatal("no Api events found in the template")
	}
	if api["Cors"] != nil {
		auth := defaultAuth
		if path(api, "Auth", "AddDefaultAuthorizerToCorsPreflight") == false {
			auth = ""
		}
		key := defaultKey && path(api, "Auth", "AddApiKeyRequiredToCorsPreflight") != false
		for _, k := range sortedKeys(want) {
			p := want[k].path
			if _, own := want[http.MethodOptions+" "+p]; !own {
				want[http.MethodOptions+" "+p] = route{http.MethodOptions, p, mockIntegration, auth, key}
			}
		}
	}
	_, router, local := localRoutes(t, samtpl.Options{})
	checkServes(t, router, local, want)
}

var integrationFunction = regexp.MustCompile(`functions/\$\{(\w+)\.Arn\}/invocations`)

// TestLocalGatewayRoutesEqualTheDeployedAPI compares the local router with the OpenAPI
// document SAM generates for API Gateway (what actually deploys): every Lambda-proxy method,
// its function and its authorizer, and every mock method (SAM's CORS preflights) with the
// response API Gateway gives without a function: status, headers and body. CorsAllowOrigin
// is overridden so that an origin the gateway took from anywhere but the parameter shows.
func TestLocalGatewayRoutesEqualTheDeployedAPI(t *testing.T) {
	out := samTransform(t)
	tpl, router, local := localRoutes(t, samtpl.Options{Parameters: map[string]string{"CorsAllowOrigin": "https://app.example.com"}})
	body, _ := path(out.resource("Api"), "Properties", "Body").(map[string]any)
	paths, _ := body["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal("the transformed template has no Api paths")
	}
	want := map[string]route{}
	for _, p := range sortedKeys(paths) {
		methods := paths[p].(map[string]any)
		for _, m := range sortedKeys(methods) {
			op := methods[m].(map[string]any)
			integ, _ := op["x-amazon-apigateway-integration"].(map[string]any)
			method := strings.ToUpper(m)
			if m == "x-amazon-apigateway-any-method" {
				method = "ANY"
			}
			auth, key := "", false
			for _, sec := range list(op["security"]) {
				for name := range sec.(map[string]any) {
					switch name {
					case "NONE":
					case "api_key": // SAM's name for the API key requirement
						key = true
					default:
						auth = name
					}
				}
			}
			switch integ["type"] {
			case "mock":
				if method == http.MethodOptions && auth != "" {
					t.Errorf("preflight OPTIONS %s requires %s; browsers send preflights without credentials", p, auth)
				}
				want[method+" "+p] = route{method, p, mockIntegration, auth, key}
				checkMock(t, router, tpl, method, p, integ)
			case "aws_proxy":
				fn := integrationFunction.FindStringSubmatch(fmt.Sprint(path(integ, "uri", "Fn::Sub")))
				if fn == nil {
					t.Errorf("%s %s: cannot tell the function from %v", method, p, integ["uri"])
					continue
				}
				want[method+" "+p] = route{method, p, fn[1], auth, key}
			default:
				t.Errorf("%s %s: integration %v, want aws_proxy or mock", method, p, integ["type"])
			}
		}
	}
	checkServes(t, router, local, want)
}

// checkMock compares the response the local router holds for a mock method with the one the
// integration gives deployed: its default response (the request template's statusCode 200
// selects it), the static header values with their quotes stripped and !Sub resolved against
// the template's parameters, and the application/json body template, which holds no VTL.
func checkMock(t *testing.T, router *gateway.Router, tpl *samtpl.Template, method, resource string, integ map[string]any) {
	t.Helper()
	m, ok := router.Match(method, concretePath(resource))
	if !ok || m.Mock == nil {
		t.Errorf("%s %s: the local gateway has no mock response", method, resource)
		return
	}
	responses, _ := integ["responses"].(map[string]any)
	def, _ := responses["default"].(map[string]any)
	if len(responses) != 1 || def == nil {
		t.Errorf("%s %s: integration responses %v, want only a default one", method, resource, integ["responses"])
		return
	}
	if got, want := strconv.Itoa(m.Mock.Status), str(def["statusCode"]); got != want {
		t.Errorf("%s %s: status %s, deployed %s", method, resource, got, want)
	}
	headers := map[string]string{}
	params, _ := def["responseParameters"].(map[string]any)
	for k, v := range params {
		name, ok := strings.CutPrefix(k, "method.response.header.")
		if !ok {
			t.Errorf("%s %s: response parameter %s is not a header", method, resource, k)
			continue
		}
		headers[name] = staticValue(t, v, tpl.Parameters)
	}
	if !reflect.DeepEqual(m.Mock.Headers, headers) {
		t.Errorf("%s %s: headers %v, deployed %v", method, resource, m.Mock.Headers, headers)
	}
	tmpl := str(path(def, "responseTemplates", "application/json"))
	if strings.ContainsAny(tmpl, "$#") {
		t.Errorf("%s %s: the body template %q has VTL; compare its rendering instead", method, resource, tmpl)
	}
	if m.Mock.Body != tmpl {
		t.Errorf("%s %s: body %q, deployed %q", method, resource, m.Mock.Body, tmpl)
	}
}

// staticValue resolves an API Gateway static value ('...', literally or from a !Sub of
// parameters) as the browser receives it.
func staticValue(t *testing.T, v any, params map[string]samtpl.Parameter) string {
	t.Helper()
	s, ok := v.(string)
	if sub, isSub := path(v, "Fn::Sub").(string); isSub {
		s, ok = subVar.ReplaceAllStringFunc(sub, func(ref string) string {
			p, known := params[subVar.FindStringSubmatch(ref)[1]]
			if !known {
				t.Errorf("%s: !Sub of something other than a parameter", sub)
			}
			return p.Value
		}), true
	}
	if !ok || len(s) < 2 || s[0] != '\'' || s[len(s)-1] != '\'' {
		t.Errorf("%v is not a static '...' value", v)
		return ""
	}
	return s[1 : len(s)-1]
}
