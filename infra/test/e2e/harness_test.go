package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/infra/local"
	"github.com/keygate/keygate/infra/local/awsproxy"
	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/apikey"
)

// The end-to-end suite runs the real bootstraps behind the local API Gateway against DynamoDB
// Local and moto, as `make run` does. It needs the emulators (KEYGATE_DYNAMODB_ENDPOINT,
// KEYGATE_SECRETS_ENDPOINT) and the host binaries (KEYGATE_LOCAL_BIN); `make test` provides all
// three. Without them it skips, unless KEYGATE_REQUIRE_EMULATORS=1 makes that a failure.

// The e2e stack's revocation bounds (seconds): a revocation reaches every protected route
// within their sum.
const (
	authorizerCacheTTL = 2
	revocationMaxAge   = 1
)

// refreshGrace is the e2e stack's RefreshGrace: a spent refresh token presented again later
// than this is reuse, and revokes its family.
const refreshGrace = 2 * time.Second

var (
	api       *httptest.Server // the local API Gateway
	apiURL    string           // where requests go: api.URL, or KEYGATE_E2E_API_URL
	target    string           // "" for the in-process gateway, else the external target's name
	stack     *local.Stack
	ddbCalls  *awsproxy.Proxy     // in front of the DynamoDB emulator: counts the functions' requests, injects faults
	smCalls   *awsproxy.Proxy     // the same in front of moto (Secrets Manager)
	logs      emulatortest.Buffer // everything the functions printed
	adminKey  string
	setupErr  error
	skipCause string
)

// sideStack starts a stack of its own beside the suite's: a stage of its own (params), on the
// same emulators and binaries, provisioned, its logs joining those the suite scans for secrets.
func sideStack(params map[string]string) (*local.Stack, error) {
	return local.Start(context.Background(), local.Options{
		Template:  filepath.Join("..", "..", "..", "template.yaml"),
		Params:    params,
		BinDir:    os.Getenv("KEYGATE_LOCAL_BIN"),
		DynamoDB:  os.Getenv("KEYGATE_DYNAMODB_ENDPOINT"),
		Secrets:   os.Getenv("KEYGATE_SECRETS_ENDPOINT"),
		Provision: true,
		Logs:      &logs,
		Quiet:     true,
	})
}

// e2eParams are the template parameters of the suite's stage: caching stays on, with bounds
// short enough to watch a revocation take effect.
func e2eParams() map[string]string {
	return map[string]string{"Stage": "local", "RefreshGrace": strconv.Itoa(int(refreshGrace.Seconds())),
		"AuthorizerCacheTTL": strconv.Itoa(authorizerCacheTTL), "RevocationMaxAge": strconv.Itoa(revocationMaxAge)}
}

func TestMain(m *testing.M) {
	if os.Getenv("KEYGATE_E2E_PRINT_PARAMS") == "1" {
		// The SAM tier starts its stack with the suite's parameters, read from here.
		p := e2eParams()
		keys := make([]string, 0, len(p))
		for k := range p {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Printf("%s=%s\n", k, p[k])
		}
		os.Exit(0)
	}
	env, skip, err := emulatortest.StackFromEnv()
	ddb, sm, bin := env.DynamoDB, env.Secrets, env.Bin
	if external := os.Getenv("KEYGATE_E2E_API_URL"); external != "" && ddb != "" && sm != "" {
		os.Exit(runAgainst(m, external, ddb, sm))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	if skip != "" {
		skipCause = skip
		os.Exit(m.Run())
	}
	code := func() int {
		var err error
		if ddbCalls, err = awsproxy.Start(ddb); err != nil {
			setupErr = err
			return m.Run()
		}
		defer ddbCalls.Close()
		if smCalls, err = awsproxy.Start(sm); err != nil {
			setupErr = err
			return m.Run()
		}
		defer smCalls.Close()
		ctx := context.Background()
		stack, err = local.Start(ctx, local.Options{
			Template:  filepath.Join("..", "..", "..", "template.yaml"),
			Params:    e2eParams(),
			BinDir:    bin,
			DynamoDB:  ddbCalls.URL,
			Secrets:   smCalls.URL,
			Provision: true,
			Logs:      &logs,
			Quiet:     true,
		})
		if err != nil {
			setupErr = err
			return m.Run()
		}
		defer stack.Close()
		api = httptest.NewServer(stack.Gateway)
		defer api.Close()
		apiURL = api.URL
		adminKey, setupErr = bootstrapKey(ctx, []string{"admin:full"})
		remember(adminKey)
		code := m.Run()
		if code == 0 && setupErr == nil {
			// SECURITY-CASES 29, suite-wide: no credential any test handled, nor the pepper or
			// a private signing key, appears in anything the functions printed.
			if leak := leakedSecret(ctx); leak != "" {
				fmt.Fprintln(os.Stderr, "e2e: the function logs contain a secret: "+leak)
				return 1
			}
		}
		return code
	}()
	os.Exit(code)
}

// runAgainst runs the suite against an API that something else serves from the same template
// on the same emulators (the SAM tier: sam local start-api): only the tests in externalTier
// run, since the others need the in-process gateway's fault injection, call counts, clock or
// function logs.
func runAgainst(m *testing.M, url, ddb, sm string) int {
	apiURL, target = url, os.Getenv("KEYGATE_E2E_TARGET")
	if target == "" {
		target = "external"
	}
	stack, setupErr = local.Attach(local.Options{
		Template: filepath.Join("..", "..", "..", "template.yaml"), Params: e2eParams(), DynamoDB: ddb, Secrets: sm})
	if setupErr == nil {
		adminKey, setupErr = bootstrapKey(context.Background(), []string{"admin:full"})
		remember(adminKey)
	}
	return m.Run()
}

// externalTier is the user-facing contract the SAM tier proves through sam local start-api:
// token (body and Bearer), refresh with rotation and reuse, validate, revoke, JWKS, the admin
// key lifecycle, a protected route allowed, denied and refused.
var externalTier = map[string]bool{
	"TestThinPathFromAPIKeyToProtectedRoute":            true,
	"TestGatewayAnswersInTheErrorShape":                 true,
	"TestJWKSPublishesTheKeyThatSignsTokens":            true,
	"TestTokenResponseFollowsTheContract":               true,
	"TestTokenEndpointRefusesBadInput":                  true,
	"TestEveryAPIKeyFailureLooksTheSame":                true,
	"TestRefreshRotatesAndDetectsReuse":                 true,
	"TestRefreshFailsForRevokedKeysAndNonRefreshTokens": true,
	"TestRevokeEndsRefreshFamiliesAndAccessTokens":      true,
	"TestAdminRoutesNeedAdminFull":                      true,
	"TestTheBackendGetsTheContextNotTheToken":           true,
	"TestKeyLifecycleCreateUseRotateRevoke":             true,
	"TestTheLocationOfACreatedKeyLeadsToIt":             true,
	"TestAdminAPIListsGetsAndUpdatesWithoutSecrets":     true,
	"TestAdminAPIValidationSaysWhatToFix":               true,
	"TestSAMLocalInvokeRunsTheEventFixtures":            true,
	"TestParityBetweenTheLocalGatewayAndSAMLocal":       true,
}

// need skips or fails the test when the stack is not there.
func need(t *testing.T) {
	t.Helper()
	if skipCause != "" {
		t.Skip(skipCause)
	}
	if target != "" && !externalTier[strings.SplitN(t.Name(), "/", 2)[0]] {
		t.Skipf("runs on the in-process gateway only (it needs fault injection, call counts, the gateway clock or the function logs), not on %s", target)
	}
	if setupErr != nil {
		t.Fatalf("local stack setup failed: %v\nfunction logs:\n%s", setupErr, logs.String())
	}
}

// bootstrapKey creates a key directly in DynamoDB, as `authctl bootstrap` does.
func bootstrapKey(ctx context.Context, scopes []string) (string, error) {
	return stack.MintKey(ctx, apikey.Spec{Name: "e2e admin", Scopes: scopes, RateLimit: 100000, Tier: "enterprise"}, "e2e bootstrap")
}

// response is a decoded HTTP answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// errorCode returns error.code of an error-shaped body, failing if the shape is wrong.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	var b struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &b); err != nil || b.Error == nil {
		t.Fatalf("status %d body is not the error shape: %s", r.Status, r.Body)
	}
	for _, k := range []string{"code", "message", "type"} {
		if s, _ := b.Error[k].(string); s == "" {
			t.Fatalf("error shape lacks %q: %s", k, r.Body)
		}
	}
	return b.Error["code"].(string)
}

// call sends one request to the local API; bearer may be empty.
func call(t *testing.T, method, path, bearer string, body any) response {
	t.Helper()
	return callAt(t, apiURL, method, path, bearer, body)
}

// callAt sends one request to the API at base (another stack's gateway); bearer may be empty.
func callAt(t *testing.T, base, method, path, bearer string, body any) response {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	status, header, out, err := local.Request(t.Context(), base, method, path, bearer, raw)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return response{Status: status, Header: header, Body: out}
}

// expect fails unless r has the status (and, for errors, the code).
func expect(t *testing.T, r response, status int, code string) {
	t.Helper()
	if standIn(t, r, status, code) {
		return
	}
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if code != "" {
		if got := r.errorCode(t); got != code {
			t.Fatalf("error code = %q, want %q; body %s", got, code, r.Body)
		}
	}
}

// createKey creates a key through the admin API and returns the plain key and its id.
func createKey(t *testing.T, spec map[string]any) (string, string) {
	t.Helper()
	if spec["name"] == nil {
		spec["name"] = t.Name()
	}
	r := call(t, http.MethodPost, "/v1/keys", adminKey, spec)
	expect(t, r, http.StatusCreated, "")
	m := r.json(t)
	remember(m["key"].(string))
	return m["key"].(string), m["key_id"].(string)
}

// tokenFor exchanges key for a token pair.
func tokenFor(t *testing.T, key string, body map[string]any) (access, refreshTok string) {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	body["api_key"] = key
	r := call(t, http.MethodPost, "/v1/auth/token", "", body)
	expect(t, r, http.StatusOK, "")
	m := r.json(t)
	remember(m["access_token"].(string), m["refresh_token"].(string))
	return m["access_token"].(string), m["refresh_token"].(string)
}

// inject makes p misbehave until the test ends.
func inject(t *testing.T, p *awsproxy.Proxy, f awsproxy.Fault) {
	t.Helper()
	p.Inject(f)
	t.Cleanup(p.Clear)
}

// samLocalStandIns are SAM CLI's own answers where API Gateway answers with one of the
// template's GatewayResponses (SAM local ignores them, and turns the authorizer's Unauthorized
// error into a 502). docs/sam-local.md lists the same differences.
var samLocalStandIns = map[string][]response{
	"401 invalid_token": {
		{Status: 401, Body: []byte("Unauthorized")},          // no Authorization header (identity source missing)
		{Status: 502, Body: []byte("Internal server error")}, // the authorizer's Unauthorized error
	},
	"403 insufficient_permissions": {{Status: 403, Body: []byte("User is not authorized to access this resource")}},
	"403 ip_not_allowed":           {{Status: 403, Body: []byte("User is not authorized to access this resource")}},
	"404 not_found":                {{Status: 403, Body: []byte("Missing Authentication Token")}},
	// SAM's invoke path refuses payloads over Lambda's 6 MB before any size check of its own.
	"413 request_too_large":   {{Status: 500, Body: []byte("Internal server error")}},
	"503 service_unavailable": {{Status: 502, Body: []byte("Internal server error")}},
}

// standIn reports whether r is SAM local's documented stand-in for the gateway answer
// (status, code): on the SAM tier only, and only when r is SAM's own {"message": …} shape, so a
// function's answer is always checked in full.
func standIn(t *testing.T, r response, status int, code string) bool {
	t.Helper()
	if target != "sam-local" {
		return false
	}
	var own struct {
		Message *string         `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(r.Body, &own) != nil || own.Message == nil || own.Error != nil {
		return false
	}
	for _, s := range samLocalStandIns[fmt.Sprintf("%d %s", status, code)] {
		if r.Status == s.Status && *own.Message == string(s.Body) {
			t.Logf("SAM local answers %d %q where API Gateway answers %d %s (a documented SAM local difference)", r.Status, *own.Message, status, code)
			return true
		}
	}
	return false
}
