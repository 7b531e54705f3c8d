package samtpl_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/infra/local/samtpl"
)

// realTemplate is the project's template; the tests pin the values the local stack relies on.
const realTemplate = "../../../template.yaml"

func loadReal(t *testing.T, opts samtpl.Options) *samtpl.Template {
	t.Helper()
	tpl, err := samtpl.Load(realTemplate, opts)
	if err != nil {
		t.Fatalf("Load(%s): %v", realTemplate, err)
	}
	return tpl
}

func findRoute(tpl *samtpl.Template, method, path string) (samtpl.Route, bool) {
	for _, r := range tpl.Routes {
		if r.Method == method && r.Path == path {
			return r, true
		}
	}
	return samtpl.Route{}, false
}

func TestRealTemplateRoutes(t *testing.T) {
	tpl := loadReal(t, samtpl.Options{})
	tests := []struct {
		method, path, function, authorizer string
	}{
		{"POST", "/v1/auth/token", "TokenFunction", ""},
		{"ANY", "/v1/auth/token", "TokenFunction", ""},
		{"POST", "/v1/auth/refresh", "RefreshFunction", ""},
		{"GET", "/v1/auth/validate", "ValidateFunction", ""},
		{"POST", "/v1/auth/revoke", "RevokeFunction", ""},
		{"GET", "/.well-known/jwks.json", "JwksFunction", ""},
		{"POST", "/v1/keys", "KeysFunction", "KeygateAuthorizer"},
		{"GET", "/v1/keys", "KeysFunction", "KeygateAuthorizer"},
		{"ANY", "/v1/keys", "KeysFunction", "KeygateAuthorizer"},
		{"GET", "/v1/keys/{id}", "KeysFunction", "KeygateAuthorizer"},
		{"PATCH", "/v1/keys/{id}", "KeysFunction", "KeygateAuthorizer"},
		{"DELETE", "/v1/keys/{id}", "KeysFunction", "KeygateAuthorizer"},
		{"POST", "/v1/keys/{id}/rotate", "KeysFunction", "KeygateAuthorizer"},
		{"GET", "/v1/keys/{id}/events", "KeysFunction", "KeygateAuthorizer"},
		{"GET", "/v1/customers", "EchoFunction", "KeygateAuthorizer"},
		{"DELETE", "/v1/customers/{id}", "EchoFunction", "KeygateAuthorizer"},
		{"GET", "/v1/billing", "EchoFunction", "KeygateAuthorizer"},
		{"POST", "/v1/inference/completions", "EchoFunction", "KeygateAuthorizer"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r, ok := findRoute(tpl, tc.method, tc.path)
			if !ok {
				t.Fatalf("route %s %s not found", tc.method, tc.path)
			}
			if r.FunctionID != tc.function || r.AuthorizerName != tc.authorizer {
				t.Errorf("got function %q authorizer %q, want %q %q", r.FunctionID, r.AuthorizerName, tc.function, tc.authorizer)
			}
		})
	}
	if _, ok := findRoute(tpl, "GET", "/v1/auth/token"); ok {
		t.Errorf("GET /v1/auth/token must only be served through ANY")
	}
}

func TestRealTemplateAPI(t *testing.T) {
	tpl := loadReal(t, samtpl.Options{})
	api := tpl.API
	if api.LogicalID != "Api" || api.StageName != "dev" || api.DefaultAuthorizer != "KeygateAuthorizer" {
		t.Fatalf("api = %+v", api)
	}
	want := samtpl.Authorizer{
		Name: "KeygateAuthorizer", FunctionID: "AuthorizerFunction", PayloadType: "REQUEST",
		IdentityHeaders: []string{"Authorization"}, IdentityContext: []string{"identity.sourceIp", "httpMethod", "resourcePath"}, TTL: 30 * time.Second,
	}
	if got := api.Authorizers["KeygateAuthorizer"]; !reflect.DeepEqual(got, want) {
		t.Errorf("authorizer = %+v, want %+v", got, want)
	}

	tests := []struct {
		typ          string
		status       int
		headers      map[string]string
		bodyContains string
	}{
		{"UNAUTHORIZED", 401, map[string]string{"WWW-Authenticate": "Bearer"}, `"code":"invalid_token"`},
		{"ACCESS_DENIED", 403, nil, `"code":"$context.authorizer.deny_code"`},
		{"AUTHORIZER_FAILURE", 503, map[string]string{"Retry-After": "5"}, `"retry_after":5`},
		{"AUTHORIZER_CONFIGURATION_ERROR", 503, map[string]string{"Retry-After": "5"}, `"code":"service_unavailable"`},
		{"MISSING_AUTHENTICATION_TOKEN", 404, nil, `"code":"not_found"`},
		{"REQUEST_TOO_LARGE", 413, nil, `"code":"request_too_large"`},
		{"THROTTLED", 429, map[string]string{"Retry-After": "1"}, `"code":"rate_limit_exceeded"`},
		{"INTEGRATION_TIMEOUT", 504, nil, `"code":"timeout"`},
		{"DEFAULT_4XX", 0, nil, `"code":"invalid_request"`},
		{"DEFAULT_5XX", 0, nil, `"code":"internal_error"`},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			gr, ok := api.GatewayResponses[tc.typ]
			if !ok {
				t.Fatalf("gateway response %s missing", tc.typ)
			}
			if gr.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", gr.StatusCode, tc.status)
			}
			// Every gateway response carries the CORS origin, so browsers can read the error.
			want := map[string]string{"Access-Control-Allow-Origin": "*"}
			for k, v := range tc.headers {
				want[k] = v
			}
			if !reflect.DeepEqual(gr.Headers, want) {
				t.Errorf("headers = %v, want %v", gr.Headers, want)
			}
			if !strings.Contains(gr.Template, tc.bodyContains) {
				t.Errorf("template %q does not contain %q", gr.Template, tc.bodyContains)
			}
		})
	}
}

func TestRealTemplateCORS(t *testing.T) {
	tpl := loadReal(t, samtpl.Options{Parameters: map[string]string{"CorsAllowOrigin": "https://app.example.com"}})
	want := &samtpl.CORS{
		AllowOrigin: "https://app.example.com", AllowHeaders: "Authorization,Content-Type",
		AllowMethods: "GET,POST,PUT,PATCH,DELETE,OPTIONS", MaxAge: "600",
	}
	if !reflect.DeepEqual(tpl.API.Cors, want) {
		t.Errorf("cors = %+v, want %+v (preflights must not need the authorizer)", tpl.API.Cors, want)
	}
	for typ, gr := range tpl.API.GatewayResponses {
		if got := gr.Headers["Access-Control-Allow-Origin"]; got != "https://app.example.com" {
			t.Errorf("%s: Access-Control-Allow-Origin = %q", typ, got)
		}
	}
	if _, err := samtpl.Load(realTemplate, samtpl.Options{Parameters: map[string]string{"CorsAllowOrigin": "https://a.example, https://b.example"}}); err == nil {
		t.Error("a list of origins was accepted; API Gateway's static header holds one")
	}
}

func TestRealTemplateFunctions(t *testing.T) {
	tpl := loadReal(t, samtpl.Options{})
	tests := []struct {
		id, dir string
		timeout time.Duration
		memory  int
	}{
		{"TokenFunction", "token", 10 * time.Second, 1024}, // the Globals'
		{"AuthorizerFunction", "authorizer", 5 * time.Second, 1024},
		{"RotateFunction", "rotate", 30 * time.Second, 128}, // its own
		{"EchoFunction", "echo", 10 * time.Second, 256},
		{"JwksFunction", "jwks", 10 * time.Second, 128},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			f, ok := tpl.Function(tc.id)
			if !ok {
				t.Fatalf("function %s missing", tc.id)
			}
			if f.Dir != tc.dir || f.Timeout != tc.timeout || f.MemorySize != tc.memory || f.Handler != "bootstrap" {
				t.Errorf("got dir %q timeout %v memory %d handler %q", f.Dir, f.Timeout, f.MemorySize, f.Handler)
			}
			wantEnv := map[string]string{
				"KEYGATE_STAGE":            "dev",
				"KEYGATE_KEYS_TABLE":       "keygate-dev-keys",
				"KEYGATE_TOKENS_TABLE":     "keygate-dev-tokens",
				"KEYGATE_SIGNING_SECRET":   "keygate-dev-signing-key",
				"KEYGATE_PEPPER_SECRET":    "keygate-dev-api-key-pepper",
				"KEYGATE_KEY_PREFIX":       "kg_test",
				"KEYGATE_ACCESS_TOKEN_TTL": "3600",
			}
			for k, v := range wantEnv {
				if f.Env[k] != v {
					t.Errorf("Env[%s] = %q, want %q", k, f.Env[k], v)
				}
			}
		})
	}
}

func TestRealTemplateStorage(t *testing.T) {
	tpl := loadReal(t, samtpl.Options{Parameters: map[string]string{"Stage": "local"}})
	if len(tpl.Tables) != 2 {
		t.Fatalf("tables = %+v", tpl.Tables)
	}
	keys := tpl.Tables[0]
	if keys.LogicalID != "KeysTable" || keys.Name != "keygate-local-keys" || keys.TTLAttribute != "ttl" {
		t.Errorf("keys table = %+v", keys)
	}
	// The indexes evolve with the store; what must always hold is what DynamoDB checks:
	// every key attribute is declared, and every declared attribute is a key somewhere.
	for _, tb := range tpl.Tables {
		declared := map[string]bool{}
		for _, ad := range tb.AttributeDefinitions {
			declared[ad.AttributeName] = true
		}
		used := map[string]bool{}
		schemas := [][]samtpl.KeyElement{tb.KeySchema}
		for _, gsi := range tb.GlobalSecondaryIndexes {
			if gsi.IndexName == "" || gsi.ProjectionType == "" {
				t.Errorf("%s: index %+v lacks a name or projection", tb.LogicalID, gsi)
			}
			schemas = append(schemas, gsi.KeySchema)
		}
		for _, ks := range schemas {
			for _, k := range ks {
				if !declared[k.AttributeName] {
					t.Errorf("%s: key attribute %s is not in AttributeDefinitions", tb.LogicalID, k.AttributeName)
				}
				used[k.AttributeName] = true
			}
		}
		for name := range declared {
			if !used[name] {
				t.Errorf("%s: attribute %s is declared but is no key (DynamoDB refuses that)", tb.LogicalID, name)
			}
		}
	}
	tokens := tpl.Tables[1]
	wantKS := []samtpl.KeyElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "sk", KeyType: "RANGE"}}
	if tokens.Name != "keygate-local-tokens" || !reflect.DeepEqual(tokens.KeySchema, wantKS) {
		t.Errorf("tokens table = %+v", tokens)
	}

	if len(tpl.Secrets) != 2 {
		t.Fatalf("secrets = %+v", tpl.Secrets)
	}
	signing, pepper := tpl.Secrets[0], tpl.Secrets[1]
	if signing.Name != "keygate-local-signing-key" || signing.RotationFunctionID != "RotateFunction" ||
		!signing.RotateImmediately || signing.GenerateSecretString != nil || signing.HasSecretString {
		t.Errorf("signing secret = %+v", signing)
	}
	if pepper.Name != "keygate-local-api-key-pepper" || pepper.RotationFunctionID != "" || pepper.GenerateSecretString == nil {
		t.Fatalf("pepper secret = %+v", pepper)
	}
	if g := pepper.GenerateSecretString; g.PasswordLength != 64 || !g.ExcludePunctuation || !g.RequireEachIncludedType {
		t.Errorf("pepper generation = %+v", g)
	}
	if got, want := tpl.Outputs["ApiUrl"], "https://Api.execute-api.us-east-1.amazonaws.com/local"; got != want {
		t.Errorf("ApiUrl = %q, want %q", got, want)
	}
}

func TestParameterOverrides(t *testing.T) {
	tests := []struct {
		name    string
		params  map[string]string
		wantErr string
	}{
		{"a stage from AllowedValues is accepted", map[string]string{"Stage": "prod"}, ""},
		{"cache TTL zero is accepted", map[string]string{"AuthorizerCacheTTL": "0"}, ""},
		{"a stage outside AllowedValues is refused", map[string]string{"Stage": "qa"}, "AllowedValues"},
		{"a number below MinValue is refused", map[string]string{"AccessTokenTTL": "10"}, "MinValue"},
		{"a number above MaxValue is refused", map[string]string{"AuthorizerCacheTTL": "4000"}, "MaxValue"},
		{"a non-number is refused", map[string]string{"AccessTokenTTL": "soon"}, "not a Number"},
		{"an empty string below MinLength is refused", map[string]string{"Issuer": ""}, "MinLength"},
		{"an unknown parameter is refused", map[string]string{"Stagee": "dev"}, "no such parameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := samtpl.Load(realTemplate, samtpl.Options{Parameters: tc.params})
			checkErr(t, err, tc.wantErr)
		})
	}
}

func TestCacheTTLFollowsParameter(t *testing.T) {
	tpl := loadReal(t, samtpl.Options{Parameters: map[string]string{"AuthorizerCacheTTL": "0"}})
	if ttl := tpl.API.Authorizers["KeygateAuthorizer"].TTL; ttl != 0 {
		t.Errorf("TTL = %v, want 0", ttl)
	}
}

func TestRegionAndAccount(t *testing.T) {
	tpl := loadReal(t, samtpl.Options{Region: "eu-west-1", AccountID: "123456789012"})
	if got, want := tpl.Outputs["ApiUrl"], "https://Api.execute-api.eu-west-1.amazonaws.com/dev"; got != want {
		t.Errorf("ApiUrl = %q, want %q", got, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := samtpl.Load("testdata/does-not-exist.yaml", samtpl.Options{})
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("err = %v, want a not-exist error", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("want an error containing %q, got none", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

// Lambda hands each runtime its LoggingConfig as AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL;
// the local runner reads them from the template too, so a stage's LogLevel reaches the local
// functions as it reaches the deployed ones.
func TestEveryFunctionTakesItsLoggingConfigFromTheTemplate(t *testing.T) {
	for _, level := range []string{"", "DEBUG", "WARN"} {
		t.Run("LogLevel "+level, func(t *testing.T) {
			opts := samtpl.Options{}
			want := "INFO" // the template's default
			if level != "" {
				opts.Parameters, want = map[string]string{"LogLevel": level}, level
			}
			tpl := loadReal(t, opts)
			if len(tpl.Functions) == 0 {
				t.Fatal("no functions")
			}
			for _, f := range tpl.Functions {
				if f.LogFormat != "JSON" || f.LogLevel != want {
					t.Errorf("%s: LogFormat %q, LogLevel %q; want JSON, %s", f.LogicalID, f.LogFormat, f.LogLevel, want)
				}
			}
		})
	}
}
