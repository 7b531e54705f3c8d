package templatecheck_test

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// wildcardAllowList is every permitted wildcard, each with the reason AWS leaves no narrower
// choice. Anything else with a * in an action or a resource fails TestIAMHasNoWildcards.
var wildcardAllowList = []struct {
	role, action, resource, why string
}{
	{"", "xray:PutTraceSegments", "*", "X-Ray has no resource-level permissions; granted only when EnableTracing=true"},
	{"", "xray:PutTelemetryRecords", "*", "X-Ray has no resource-level permissions; granted only when EnableTracing=true"},
	{"KeysFunctionRole", "apigateway:GET", "arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans/*/usage", usagePlansWhy},
	{"KeysFunctionRole", "apigateway:POST", "arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans/*/keys", usagePlansWhy},
	{"KeysFunctionRole", "apigateway:DELETE", "arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans/*/keys/*", usagePlansWhy},
	{"KeysFunctionRole", "apigateway:DELETE", "arn:${AWS::Partition}:apigateway:${AWS::Region}::/apikeys/*", usagePlansWhy},
	{"PlansFunctionRole", "apigateway:GET", "arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans/*/keys", usagePlansWhy},
	{"PlansFunctionRole", "apigateway:POST", "arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans/*/keys", usagePlansWhy},
	{"PlansFunctionRole", "apigateway:DELETE", "arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans/*", usagePlansWhy},
	{"PlansFunctionRole", "apigateway:DELETE", "arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans/*/keys/*", usagePlansWhy},
	{"PlansFunctionRole", "apigateway:DELETE", "arn:${AWS::Partition}:apigateway:${AWS::Region}::/apikeys/*", usagePlansWhy},
}

// usagePlansWhy is why the keys function's API Gateway grants name every plan or API key.
const usagePlansWhy = "API Gateway names usage plans and API keys by generated ids, and the keys API makes both at run time (shared/usageplan): no narrower ARN exists; the code touches only keygate-<Stage>-* names"

// managedPolicyAllowList is every AWS managed policy a role may attach (managed policies are
// opaque here, so each is an explicit decision).
var managedPolicyAllowList = []struct {
	role, arn, why string
}{
	{"ApiGatewayLoggingRole", "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
		"API Gateway's account-wide logging role must write every API's log groups in the region (logs:* on *); created only when CreateApiGatewayLoggingRole=true"},
}

// singleResourceParameters are parameters a policy may name as a Resource: each one's
// AllowedPattern admits exactly one resource's ARN, never a wildcard
// (TestSingleResourceParametersAdmitNoWildcard), so the grant is as narrow as a Ref to a
// resource of this template. Its values that are not ARNs never reach a policy.
var singleResourceParameters = map[string]string{
	"KmsKey": "one KMS key's ARN (its other values, empty and create, select AWS's keys or EncryptionKey and never reach a policy)",
}

// functionPermissionsFile lists each function's complete IAM, derived from what its code calls.
// It is data, not code, so that adding a function means editing template.yaml and this file
// (its header says how), never a map inside a test.
const functionPermissionsFile = "function-permissions.yaml"

// loadFunctionPermissions reads functionPermissionsFile: function logical id → its grants, each
// "<action> on <resource logical id>".
func loadFunctionPermissions(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(functionPermissionsFile)
	if err != nil {
		t.Fatal(err)
	}
	var perms map[string][]string
	if err := yaml.Unmarshal(data, &perms); err != nil {
		t.Fatalf("infra/test/templatecheck/%s: %v", functionPermissionsFile, err)
	}
	if len(perms) == 0 {
		t.Fatalf("infra/test/templatecheck/%s lists no function", functionPermissionsFile)
	}
	for fn, grants := range perms {
		for _, g := range grants {
			if action, resource, ok := strings.Cut(g, " on "); !ok || action == "" || resource == "" {
				t.Errorf("infra/test/templatecheck/%s: %s: %q is not \"<action> on <resource>\"", functionPermissionsFile, fn, g)
			}
		}
	}
	return perms
}

// permission is one action on one resource granted by a statement.
type permission struct {
	role, action, resource string
	wildcard               bool
}

// statements returns the policy statements of an IAM role or policy, with Fn::If expanded.
func statements(typ string, p map[string]any) []any {
	var docs []any
	switch typ {
	case "AWS::IAM::Role":
		for _, pol := range list(p["Policies"]) {
			for _, b := range branches(pol) {
				docs = append(docs, path(b, "PolicyDocument"))
			}
		}
	case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
		docs = append(docs, p["PolicyDocument"])
	}
	var out []any
	for _, d := range docs {
		for _, st := range list(path(d, "Statement")) {
			out = append(out, branches(st)...)
		}
	}
	return out
}

var subVar = regexp.MustCompile(`\$\{([^}!]+)\}`)

// describeResource renders a Resource entry as the logical id it names (KeysTable,
// KeysTable/index/list-index) and says whether it is a wildcard. A Ref or GetAtt of a resource
// of this template is that resource; a parameter could hold anything, so it counts as a
// wildcard; literal text with * is a wildcard. (A log group's Arn ends in ":*", which means
// the streams of that one group, so GetAtt LogGroup.Arn is specific.)
func describeResource(c cfn, v any) (string, bool, error) {
	res := c["Resources"].(map[string]any)
	params, _ := c["Parameters"].(map[string]any)
	if s, ok := v.(string); ok {
		return s, strings.Contains(s, "*"), nil
	}
	if id, attr := refTarget(v); id != "" {
		if _, ok := res[id]; ok && (attr == "" || attr == "Arn") {
			return id, false, nil
		}
		if _, ok := singleResourceParameters[id]; ok && attr == "" && params[id] != nil {
			return id, false, nil
		}
		return id, true, nil
	}
	if m, ok := v.(map[string]any); ok {
		if sub, ok := m["Fn::Sub"]; ok {
			tpl, _ := sub.(string)
			if l, ok := sub.([]any); ok && len(l) == 2 {
				tpl, _ = l[0].(string)
				if vars, _ := l[1].(map[string]any); len(vars) > 0 {
					return tpl, true, nil // variables could hold anything
				}
			}
			wild := false
			desc := subVar.ReplaceAllStringFunc(tpl, func(ref string) string {
				name := subVar.FindStringSubmatch(ref)[1]
				id, attr, _ := strings.Cut(name, ".")
				switch {
				case strings.HasPrefix(name, "AWS::"):
					return ref
				case res[id] != nil && (attr == "" || attr == "Arn"):
					return id
				case params[id] != nil:
					wild = true
				}
				return ref
			})
			return desc, wild || strings.Contains(subVar.ReplaceAllString(tpl, ""), "*"), nil
		}
	}
	return "", true, fmt.Errorf("unsupported Resource expression %v", v)
}

func rolePermissions(t *testing.T, c cfn, roleID string, role map[string]any) []permission {
	t.Helper()
	var out []permission
	for _, st := range statements(str(role["Type"]), props(role)) {
		sm, ok := st.(map[string]any)
		if !ok {
			t.Errorf("%s: statement %v is not a mapping", roleID, st)
			continue
		}
		for _, forbidden := range []string{"NotAction", "NotResource", "NotPrincipal"} {
			if _, ok := sm[forbidden]; ok {
				t.Errorf("%s: statement uses %s (grants everything else)", roleID, forbidden)
			}
		}
		if sm["Effect"] != "Allow" {
			continue // a Deny only narrows
		}
		var resources []any
		for _, r := range list(sm["Resource"]) {
			resources = append(resources, branches(r)...) // the key is EncryptionKey or KmsKey
		}
		for _, a := range list(sm["Action"]) {
			action := str(a)
			for _, r := range resources {
				desc, wild, err := describeResource(c, r)
				if err != nil {
					t.Errorf("%s: %v", roleID, err)
				}
				out = append(out, permission{role: roleID, action: action, resource: desc, wildcard: wild || strings.Contains(action, "*")})
			}
		}
	}
	return out
}

func allowListed(p permission) bool {
	for _, a := range wildcardAllowList {
		if (a.role == "" || a.role == p.role) && a.action == p.action && a.resource == p.resource {
			return true
		}
	}
	return false
}

func TestIAMHasNoWildcardsOutsideTheAllowList(t *testing.T) {
	c := loadTemplate(t)
	for _, typ := range []string{"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for _, id := range sortedKeys(c.resources(typ)) {
			r := c.resource(id)
			for _, p := range rolePermissions(t, c, id, r) {
				if p.wildcard && !allowListed(p) {
					t.Errorf("%s: %s on %s is a wildcard outside the allow-list", id, p.action, p.resource)
				}
			}
			for _, m := range list(props(r)["ManagedPolicyArns"]) {
				arn := str(m)
				if s, ok := path(m, "Fn::Sub").(string); ok {
					arn = s
				}
				ok := false
				for _, a := range managedPolicyAllowList {
					ok = ok || (a.role == id && a.arn == arn)
				}
				if !ok {
					t.Errorf("%s: managed policy %s is not in the allow-list", id, arn)
				}
			}
			for _, st := range list(path(props(r), "AssumeRolePolicyDocument", "Statement")) {
				principal := path(st, "Principal")
				if _, ok := principal.(map[string]any)["Service"]; !ok || len(principal.(map[string]any)) != 1 {
					t.Errorf("%s: trust policy principal %v: only AWS services may assume keygate's roles", id, principal)
				}
			}
		}
	}
}

func TestEveryFunctionHasItsOwnRoleAndNoSAMPolicies(t *testing.T) {
	c := loadTemplate(t)
	if path(c, "Globals", "Function", "Policies") != nil || path(c, "Globals", "Function", "Role") != nil {
		t.Error("Globals.Function sets Policies or Role; each function names its own role")
	}
	seen := map[string]string{}
	for _, fn := range sortedKeys(c.resources("AWS::Serverless::Function")) {
		p := props(c.resource(fn))
		// With Policies (or without Role) SAM generates a role and attaches
		// AWSLambdaBasicExecutionRole, which allows logs:* actions on every log group.
		if p["Policies"] != nil {
			t.Errorf("%s: SAM Policies; use the function's own AWS::IAM::Role instead", fn)
		}
		role, attr := refTarget(p["Role"])
		if role == "" || attr != "Arn" || c.resource(role)["Type"] != "AWS::IAM::Role" {
			t.Errorf("%s: Role must be !GetAtt <role>.Arn of an AWS::IAM::Role of this template, got %v", fn, p["Role"])
			continue
		}
		if other, ok := seen[role]; ok {
			t.Errorf("%s and %s share %s; a role per function keeps each one's permissions its own", fn, other, role)
		}
		seen[role] = fn
		trust := path(list(path(props(c.resource(role)), "AssumeRolePolicyDocument", "Statement"))[0], "Principal", "Service")
		if trust != "lambda.amazonaws.com" {
			t.Errorf("%s: %s is assumable by %v, want lambda.amazonaws.com", fn, role, trust)
		}
	}
}

func TestFunctionPermissionsAreExactlyWhatTheCodeUses(t *testing.T) {
	c := loadTemplate(t)
	wantFunctionPermissions := loadFunctionPermissions(t)
	functions := c.resources("AWS::Serverless::Function")
	for _, fn := range sortedKeys(wantFunctionPermissions) {
		if functions[fn] == nil {
			t.Errorf("%s is expected (infra/test/templatecheck/%s) but not in the template", fn, functionPermissionsFile)
		}
	}
	for _, fn := range sortedKeys(functions) {
		want, ok := wantFunctionPermissions[fn]
		if !ok {
			t.Errorf("%s has no entry in infra/test/templatecheck/%s: list what its code calls there", fn, functionPermissionsFile)
			continue
		}
		role, _ := refTarget(props(functions[fn])["Role"])
		logGroup, _ := refTarget(path(props(functions[fn]), "LoggingConfig", "LogGroup"))
		if logGroup == "" {
			t.Errorf("%s: LoggingConfig.LogGroup must name the function's own AWS::Logs::LogGroup", fn)
		}
		want = append(append([]string{}, want...),
			"logs:CreateLogStream on "+logGroup, "logs:PutLogEvents on "+logGroup,
			"xray:PutTraceSegments on *", "xray:PutTelemetryRecords on *")
		var got []string
		for _, p := range rolePermissions(t, c, role, c.resource(role)) {
			// The key's use follows from the data access above, and its conditions matter as
			// much as its actions: TestRoleKmsGrantsFollowTheDataEachFunctionUses checks them.
			if strings.HasPrefix(p.action, "kms:") {
				continue
			}
			got = append(got, p.action+" on "+p.resource)
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s (%s) grants:\n  %s\nwant:\n  %s", fn, role, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

// TestSAMAddsNoHiddenPermissions transforms the template the way sam deploy does and checks
// what SAM generates: no IAM role beyond the template's own (a generated one would carry
// AWSLambdaBasicExecutionRole) and no Lambda permission open beyond this stack's API, the
// secret's rotation or this account.
func TestSAMAddsNoHiddenPermissions(t *testing.T) {
	raw := loadTemplate(t)
	out := samTransform(t)
	for id := range out.resources("AWS::IAM::Role") {
		if raw.resource(id) == nil {
			t.Errorf("SAM generated role %s", id)
		}
	}
	for _, id := range sortedKeys(out.resources("AWS::Lambda::Permission")) {
		p := props(out.resource(id))
		switch p["Principal"] {
		case "apigateway.amazonaws.com":
			arn := fmt.Sprint(p["SourceArn"])
			if !strings.Contains(arn, "__ApiId__:map[Ref:Api]") && !strings.Contains(arn, "${Api}") {
				t.Errorf("%s: API Gateway may invoke from %v, not only this stack's API", id, p["SourceArn"])
			}
		case "events.amazonaws.com":
			// A Schedule event: only its own rule may invoke the function.
			if arn := fmt.Sprint(p["SourceArn"]); !strings.Contains(arn, "Fn::GetAtt") && !strings.Contains(arn, "GetAtt") {
				t.Errorf("%s: EventBridge may invoke from %v, not only this stack's rule", id, p["SourceArn"])
			}
		case "secretsmanager.amazonaws.com":
			if p["SourceAccount"] == nil && p["SourceArn"] == nil {
				t.Errorf("%s: Secrets Manager may invoke on behalf of any account", id)
			}
		default:
			t.Errorf("%s: unexpected principal %v", id, p["Principal"])
		}
	}
}
