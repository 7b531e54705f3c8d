package templatecheck_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	smithyrand "github.com/aws/smithy-go/rand"

	"github.com/keygate/keygate/infra/local/awsproxy"
	"github.com/keygate/keygate/infra/local/gateway"
	"github.com/keygate/keygate/infra/local/lambdarun"
	"github.com/keygate/keygate/infra/local/provision"
	"github.com/keygate/keygate/infra/local/samtpl"
	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/apikey"

	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/store/dynamo"
	"github.com/keygate/keygate/shared/usageplan"
)

// auditPrefix names the tables and secrets of this test's stack on the shared emulators, so it
// never touches the e2e suite's (every Stage value is taken by one of its stacks). The functions
// keep the template's names; the recording proxies rewrite them on the way.
const auditPrefix = "keygate-iamaudit-"

// recorder is one function's view of AWS: a proxy per service that records every call as the
// IAM actions it needs (TransactWriteItems as its items' PutItem/UpdateItem/DeleteItem/
// ConditionCheckItem, as IAM authorises it) on the resources it names, and rewrites names.
type recorder struct {
	mu    sync.Mutex
	calls map[string]bool // "dynamodb:GetItem on keygate-local-keys"
}

func (rc *recorder) add(action, resource string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls[action+" on "+resource] = true
}

func (rc *recorder) list() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]string, 0, len(rc.calls))
	for c := range rc.calls {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// record reads the IAM actions of one request body.
func (rc *recorder) record(service, target string, body []byte) error {
	op := target[strings.LastIndexByte(target, '.')+1:]
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		return fmt.Errorf("%s %s: %v", service, op, err)
	}
	if service == "secretsmanager" {
		id, _ := req["SecretId"].(string)
		rc.add("secretsmanager:"+op, id)
		return nil
	}
	switch op {
	case "TransactWriteItems":
		for _, it := range list(req["TransactItems"]) {
			for kind, action := range map[string]string{"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"} {
				if t, ok := path(it, kind, "TableName").(string); ok {
					rc.add("dynamodb:"+action, t)
				}
			}
		}
	case "TransactGetItems":
		for _, it := range list(req["TransactItems"]) {
			rc.add("dynamodb:GetItem", str(path(it, "Get", "TableName")))
		}
	case "BatchGetItem", "BatchWriteItem":
		for t := range req["RequestItems"].(map[string]any) {
			rc.add("dynamodb:"+op, t)
		}
	default:
		t := str(req["TableName"])
		if idx, ok := req["IndexName"].(string); ok {
			t += "/index/" + idx
		}
		rc.add("dynamodb:"+op, t)
	}
	return nil
}

// proxy forwards to target, recording each call and renaming (old → new on the way in, back on
// the way out).
func (rc *recorder) proxy(t *testing.T, service, target string, rename *strings.Replacer, back *strings.Replacer) *httptest.Server {
	return httptest.NewServer(awsproxy.Renaming(target, rename, back, func(r *http.Request, body []byte) {
		if service == "apigateway" {
			rc.recordREST(r)
			return
		}
		if err := rc.record(service, r.Header.Get("X-Amz-Target"), body); err != nil {
			t.Error(err)
		}
	}))
}

// apigatewayARN is how the template writes an API Gateway control-plane resource.
const apigatewayARN = "arn:${AWS::Partition}:apigateway:${AWS::Region}::"

// recordREST records an API Gateway control-plane call as IAM authorises it: the HTTP method
// as the action, on the path with each generated id a * (/usageplans/abc/keys →
// /usageplans/*/keys).
func (rc *recorder) recordREST(r *http.Request) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	for i := 1; i < len(segs); i += 2 { // collection/id/collection/id
		segs[i] = "*"
	}
	rc.add("apigateway:"+r.Method, apigatewayARN+"/"+strings.Join(segs, "/"))
}

// TestEveryCallTheFunctionsMakeIsGranted runs the real function binaries on the emulators,
// each behind its own recording proxies, drives every endpoint (admin API, token, validate,
// refresh with reuse, revoke, protected routes with a token and a key, JWKS, a signing-key
// rotation) and checks each call a function made is allowed by its role in the template: a
// missing grant would be an AccessDenied in AWS that no local test would otherwise notice.
// Grants never exercised are logged (the failure paths that need a lost race are not driven).
func TestEveryCallTheFunctionsMakeIsGranted(t *testing.T) {
	ddbEndpoint, smEndpoint, bin := os.Getenv("KEYGATE_DYNAMODB_ENDPOINT"), os.Getenv("KEYGATE_SECRETS_ENDPOINT"), os.Getenv("KEYGATE_LOCAL_BIN")
	if ddbEndpoint == "" || smEndpoint == "" || bin == "" {
		emulatortest.MissingTool(t, "needs KEYGATE_DYNAMODB_ENDPOINT, KEYGATE_SECRETS_ENDPOINT and KEYGATE_LOCAL_BIN (run make test)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	tpl, err := samtpl.Load(templatePath, samtpl.Options{Parameters: map[string]string{"Stage": "local", "RefreshGrace": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	// Names as the functions know them → the names on the emulators, and → logical ids.
	var pairs, backPairs []string
	logical := map[string]string{}
	audit := *tpl
	audit.Tables = append([]samtpl.Table(nil), tpl.Tables...)
	audit.Secrets = append([]samtpl.Secret(nil), tpl.Secrets...)
	for i, tb := range tpl.Tables {
		n := auditPrefix + strings.TrimPrefix(tb.Name, "keygate-local-")
		audit.Tables[i].Name = n
		pairs, backPairs = append(pairs, tb.Name, n), append(backPairs, n, tb.Name)
		logical[tb.Name] = tb.LogicalID
	}
	for i, s := range tpl.Secrets {
		n := auditPrefix + strings.TrimPrefix(s.Name, "keygate-local-")
		audit.Secrets[i].Name = n
		pairs, backPairs = append(pairs, s.Name, n), append(backPairs, n, s.Name)
		logical[s.Name], logical[n] = s.LogicalID, s.LogicalID
	}
	rename, back := strings.NewReplacer(pairs...), strings.NewReplacer(backPairs...)
	// The stage's usage plans and API keys get names of this test's own too (keygate-local-… →
	// keygate-iamaudit-…), so PlansFunction's sync here never judges the e2e suite's.
	audit.UsagePlans = append([]samtpl.UsagePlan(nil), tpl.UsagePlans...)
	for i, p := range tpl.UsagePlans {
		audit.UsagePlans[i].Name = auditPrefix + strings.TrimPrefix(p.Name, "keygate-local-")
	}
	audit.API.Name = strings.TrimSuffix(auditPrefix, "-")
	gwRename, gwBack := strings.NewReplacer("keygate-local-", auditPrefix), strings.NewReplacer(auditPrefix, "keygate-local-")

	recorders := map[string]*recorder{}
	fns := lambdarun.FromTemplate(tpl, bin)
	for i := range fns {
		rc := &recorder{calls: map[string]bool{}}
		recorders[fns[i].ID] = rc
		d, s := rc.proxy(t, "dynamodb", ddbEndpoint, rename, back), rc.proxy(t, "secretsmanager", smEndpoint, rename, back)
		g := rc.proxy(t, "apigateway", smEndpoint, gwRename, gwBack)
		defer d.Close()
		defer s.Close()
		defer g.Close()
		env := map[string]string{}
		for k, v := range fns[i].Env {
			env[k] = v
		}
		env["AWS_ENDPOINT_URL_DYNAMODB"], env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = d.URL, s.URL
		env["AWS_ENDPOINT_URL_API_GATEWAY"] = g.URL
		fns[i].Env = env
	}
	var logs syncBuffer
	runner, err := lambdarun.New(fns, lambdarun.Options{Region: tpl.Region, AccountID: tpl.AccountID, Logs: &logs, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Close()
	ddb, sm := provision.NewClients(provision.Endpoints{DynamoDB: ddbEndpoint, SecretsManager: smEndpoint}, tpl.Region)
	if err := provision.Apply(ctx, &audit, ddb, sm, runner); err != nil {
		t.Fatalf("provision: %v\n%s", err, logs.String())
	}
	if _, err := provision.ApplyUsagePlans(ctx, &audit, emulatortest.APIGateway(t)); err != nil {
		t.Fatalf("provision usage plans: %v", err)
	}
	gw, err := gateway.New(gateway.Config{Template: tpl, Invoker: runner})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(gw)
	defer api.Close()

	// The first admin key, written directly as authctl bootstrap does.
	env := fns[0].Env
	pepper, err := secret.Read(ctx, sm, auditPrefix+strings.TrimPrefix(env["KEYGATE_PEPPER_SECRET"], "keygate-local-"), secret.StageCurrent)
	if err != nil {
		t.Fatal(err)
	}
	h, err := apikey.NewHasher(pepper.Value)
	if err != nil {
		t.Fatal(err)
	}
	admin, rec, err := apikey.Mint(env["KEYGATE_KEY_PREFIX"], h, apikey.Spec{Name: "iam audit admin", Scopes: []string{"admin:full"}, RateLimit: 1000, Tier: "startup"}, rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Its API key in its usage plan, as authctl bootstrap makes it (not through a function).
	if err := usageplan.New(emulatortest.APIGateway(t), apikey.StaticHashers{H: h}, strings.TrimSuffix(strings.TrimPrefix(auditPrefix, "keygate-"), "-"), 200, time.Now).Ensure(ctx, rec); err != nil {
		t.Fatal(err)
	}
	events := dynamo.NewEvents(ddb, auditPrefix+"tokens", 0, time.Now)
	if err := dynamo.NewKeys(ddb, auditPrefix+"keys", time.Now, events).CreateKey(ctx, rec); err != nil {
		t.Fatal(err)
	}

	// Every endpoint, the way a user would call them.
	call := func(method, p, bearer string, body any, want int) map[string]any {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(ctx, method, api.URL+p, rd)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, p, err)
		}
		defer resp.Body.Close()
		var out map[string]any
		raw, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(raw, &out)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d\nfunction logs:\n%s", method, p, resp.StatusCode, raw, want, logs.String())
		}
		return out
	}
	created := call("POST", "/v1/keys", admin, map[string]any{"name": "svc", "scopes": []string{"customers:read", "customers:write"}}, 201)
	key, id := str(created["key"]), str(created["key_id"])
	call("GET", "/v1/keys", admin, nil, 200)
	call("GET", "/v1/keys/"+id, admin, nil, 200)
	call("PATCH", "/v1/keys/"+id, admin, map[string]any{"name": "svc-renamed"}, 200)
	call("GET", "/v1/keys/"+id+"/events", admin, nil, 200)
	call("PATCH", "/v1/keys/"+id, admin, map[string]any{"rate_limit": 77}, 200) // a plan of its own

	pair := call("POST", "/v1/auth/token", key, map[string]any{}, 200)
	access, refresh := str(pair["access_token"]), str(pair["refresh_token"])
	call("GET", "/v1/auth/validate", key, nil, 200)
	call("GET", "/v1/auth/validate", access, nil, 200)
	call("GET", "/v1/customers", access, nil, 200)
	call("POST", "/v1/customers", key, map[string]any{}, 200)
	call("GET", "/.well-known/jwks.json", "", nil, 200)

	next := call("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": refresh}, 200)
	call("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": refresh}, 400) // reuse: the family is revoked
	second := call("POST", "/v1/auth/token", key, map[string]any{}, 200)
	call("POST", "/v1/auth/revoke", key, map[string]any{"token": str(second["access_token"])}, 200)
	call("POST", "/v1/auth/revoke", key, map[string]any{"token": str(second["refresh_token"])}, 200)
	call("GET", "/v1/customers", str(next["access_token"]), nil, 200)

	call("POST", "/v1/keys/"+id+"/rotate", admin, map[string]any{"grace_period_seconds": 0}, 200)
	call("DELETE", "/v1/keys/"+id, admin, nil, 200)

	// The scheduled usage-plan sync, as EventBridge invokes it.
	scheduled, _ := json.Marshal(map[string]any{"version": "0", "id": "iam-audit", "detail-type": "Scheduled Event", "source": "aws.events",
		"account": tpl.AccountID, "region": tpl.Region, "time": time.Now().UTC().Format(time.RFC3339), "resources": []string{}, "detail": map[string]any{}})
	if _, err := runner.Invoke(ctx, "PlansFunction", scheduled); err != nil {
		t.Fatalf("PlansFunction: %v\n%s", err, logs.String())
	}

	// A second signing-key rotation, the four steps as Secrets Manager runs them.
	token, err := smithyrand.NewUUID(rand.Reader).GetUUID()
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range provision.RotationSteps() {
		payload, _ := json.Marshal(map[string]string{"SecretId": tpl.Secrets[0].Name, "ClientRequestToken": token, "Step": step})
		if _, err := runner.Invoke(ctx, "RotateFunction", payload); err != nil {
			t.Fatalf("rotation %s: %v\n%s", step, err, logs.String())
		}
	}

	// Compare with the template's grants.
	c := loadTemplate(t)
	wantFunctionPermissions := loadFunctionPermissions(t)
	for _, fn := range sortedKeys(recorders) {
		role, _ := refTarget(props(c.resource(fn))["Role"])
		granted := map[string]bool{}
		for _, p := range rolePermissions(t, c, role, c.resource(role)) {
			granted[p.action+" on "+p.resource] = true
		}
		used := map[string]bool{}
		for _, call := range recorders[fn].list() {
			action, res, _ := strings.Cut(call, " on ")
			name, index, _ := strings.Cut(res, "/index/")
			for n, id := range logical {
				if name == n || strings.Contains(name, ":secret:"+n) {
					name = id
				}
			}
			if index != "" {
				name += "/index/" + index
			}
			used[action+" on "+name] = true
			if !granted[action+" on "+name] {
				t.Errorf("%s called %s on %s (%s), which %s does not grant: AccessDenied in AWS", fn, action, name, res, role)
			}
		}
		var unused []string
		for _, g := range sortedKeys(granted) {
			// kms: calls are made by DynamoDB and Secrets Manager on the function's behalf,
			// never by its code, and the emulators do not encrypt.
			if !used[g] && !strings.HasPrefix(g, "logs:") && !strings.HasPrefix(g, "xray:") && !strings.HasPrefix(g, "kms:") {
				unused = append(unused, g)
			}
		}
		t.Logf("%s: %d calls observed; granted but not exercised here: %v", fn, len(used), unused)
		// A function whose entry in function-permissions.yaml is empty (EchoFunction) calls no
		// AWS service; every other one must have been seen calling.
		if len(wantFunctionPermissions[fn]) > 0 && len(used) == 0 {
			t.Errorf("%s made no AWS call through its proxy; the audit is not seeing it (a function that calls AWS needs a request above that reaches it)", fn)
		}
	}
}

// syncBuffer collects the functions' output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
