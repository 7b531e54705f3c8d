package policy_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/shared/policy"
)

const (
	stage     = "arn:aws:execute-api:us-east-1:123456789012:abc123defg/prod"
	methodARN = stage + "/GET/v1/customers/42"
)

func TestLevelPerMethod(t *testing.T) {
	tests := map[string]string{
		"GET": "read", "HEAD": "read", "OPTIONS": "read",
		"get": "read", "Head": "read",
		"POST": "write", "PUT": "write", "PATCH": "write",
		"DELETE": "delete", "delete": "delete",
	}
	for method, want := range tests {
		if got := policy.Level(method); got != want {
			t.Errorf("Level(%q) = %q, want %q", method, got, want)
		}
	}
}

func TestRequired(t *testing.T) {
	tests := []struct {
		method, path, want string
	}{
		{"GET", "/v1/customers", "customers:read"},
		{"GET", "/v1/customers/42", "customers:read"},
		{"HEAD", "/v1/customers/42", "customers:read"},
		{"OPTIONS", "/v1/customers", "customers:read"},
		{"POST", "/v1/customers", "customers:write"},
		{"PUT", "/v1/customers/42", "customers:write"},
		{"PATCH", "/v1/customers/42", "customers:write"},
		{"DELETE", "/v1/customers/42", "customers:delete"},
		{"GET", "/v1/customers/42/notes/7", "customers:read"},
		{"GET", "/v1/billing/invoices", "billing:read"},
		{"POST", "/v1/billing/charges", "billing:write"},
		{"DELETE", "/v1/billing/invoices/1", policy.Admin}, // billing has no delete scope
		{"POST", "/v1/inference/run", "inference:write"},
		{"DELETE", "/v1/inference/jobs/1", policy.Admin},
		{"GET", "/v1/webhooks", "webhooks:read"},
		{"DELETE", "/v1/webhooks/1", policy.Admin},
		{"GET", "/v1/keys", policy.Admin},
		{"POST", "/v1/keys", policy.Admin},
		{"DELETE", "/v1/keys/key_1", policy.Admin},
		{"GET", "/v1/admin", policy.Admin}, // "admin:read" is not a scope; never derive admin:full from a path
		{"GET", "/v1/unknown", policy.Admin},
		{"GET", "/v1/Customers", policy.Admin},
		{"GET", "/v1//customers", policy.Admin},
		{"GET", "/v1", policy.Admin},
		{"GET", "/v1/", policy.Admin},
		{"GET", "/", policy.Admin},
		{"GET", "", policy.Admin},
		{"GET", "/health", policy.Admin},
		{"GET", "/v2/customers", policy.Admin},
		{"GET", "v1/customers", policy.Admin},
	}
	for _, tt := range tests {
		if got := policy.Required(tt.method, tt.path); got != tt.want {
			t.Errorf("Required(%s %s) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestValidKnowsExactlyTheDocumentedScopes(t *testing.T) {
	for _, s := range policy.All {
		if !policy.Valid(s) {
			t.Errorf("Valid(%q) = false", s)
		}
	}
	for _, s := range []string{"", "admin", "admin:read", "customers", "customers:*", "*", "Customers:read", "customers:read "} {
		if policy.Valid(s) {
			t.Errorf("Valid(%q) = true", s)
		}
	}
	if len(policy.All) > policy.MaxScopes {
		t.Errorf("MaxScopes %d is below the number of scopes %d", policy.MaxScopes, len(policy.All))
	}
}

func TestStageARN(t *testing.T) {
	tests := []struct {
		name, arn, want string
	}{
		{"a method ARN", methodARN, stage},
		{"a root path", stage + "/GET/", stage},
		{"a deep path", stage + "/DELETE/v1/a/b/c", stage},
		{"the GovCloud partition", "arn:aws-us-gov:execute-api:us-gov-west-1:1:api/prod/GET/x", "arn:aws-us-gov:execute-api:us-gov-west-1:1:api/prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := policy.StageARN(tt.arn)
			if err != nil || got != tt.want {
				t.Errorf("StageARN = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{
		"",
		"garbage",
		"arn:aws:lambda:us-east-1:1:function:f/prod/GET/x",
		"arn:aws:execute-api:us-east-1:1:api",
		"arn:aws:execute-api:us-east-1:1:api/prod",
		"arn:aws:execute-api:us-east-1:1:api//GET/x",
		"execute-api:us-east-1:1:api/prod/GET/x",
		"/prod/GET/x",
	} {
		if got, err := policy.StageARN(bad); !errors.Is(err, policy.ErrBadMethodARN) || got != "" {
			t.Errorf("StageARN(%q) = %q, %v; want ErrBadMethodARN", bad, got, err)
		}
	}
}

func TestDocumentForAdminAllowsTheWholeStage(t *testing.T) {
	for _, scopes := range [][]string{{policy.Admin}, {"customers:read", policy.Admin}} {
		doc := policy.Document(stage, scopes)
		if doc.Version != "2012-10-17" || len(doc.Statement) != 1 {
			t.Fatalf("Document = %+v", doc)
		}
		st := doc.Statement[0]
		if st.Effect != "Allow" || !slices.Equal(st.Action, []string{"execute-api:Invoke"}) || !slices.Equal(st.Resource, []string{stage + "/*/*"}) {
			t.Errorf("admin statement = %+v, want Allow execute-api:Invoke on %s/*/*", st, stage)
		}
	}
}

func TestDocumentForCustomersReadListsExactlyItsARNs(t *testing.T) {
	doc := policy.Document(stage, []string{"customers:read"})
	if len(doc.Statement) != 1 || doc.Statement[0].Effect != "Allow" {
		t.Fatalf("Document = %+v, want one Allow", doc)
	}
	var want []string
	for _, m := range []string{"GET", "HEAD", "OPTIONS"} {
		want = append(want, stage+"/"+m+"/v1/customers", stage+"/"+m+"/v1/customers/*")
	}
	got := slices.Clone(doc.Statement[0].Resource)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("resources = %v\nwant        %v", got, want)
	}
}

func TestDocumentWithoutUsableScopesIsAnExplicitDeny(t *testing.T) {
	for name, scopes := range map[string][]string{
		"no scopes":      nil,
		"empty":          {},
		"unknown scopes": {"customers:*", "admin", "keys:read", ""},
	} {
		t.Run(name, func(t *testing.T) {
			doc := policy.Document(stage, scopes)
			if len(doc.Statement) != 1 {
				t.Fatalf("Document = %+v", doc)
			}
			st := doc.Statement[0]
			if st.Effect != "Deny" || !slices.Equal(st.Resource, []string{stage + "/*/*"}) {
				t.Errorf("statement = %+v, want an explicit Deny of %s/*/*", st, stage)
			}
		})
	}
}

func TestDocumentIgnoresUnknownScopes(t *testing.T) {
	with := policy.Document(stage, []string{"billing:read", "billing:*", "keys:write", "admin:ful"})
	without := policy.Document(stage, []string{"billing:read"})
	if len(with.Statement) != 1 || !slices.Equal(with.Statement[0].Resource, without.Statement[0].Resource) {
		t.Errorf("unknown scopes changed the policy:\n%v\n%v", with.Statement, without.Statement)
	}
}

// iamMatch matches an ARN against an IAM resource pattern: '*' is any run of characters
// (including '/' and ':'), '?' exactly one; everything else is literal and case-sensitive.
func iamMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if iamMatch(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && iamMatch(pattern[1:], s[1:])
	default:
		return s != "" && s[0] == pattern[0] && iamMatch(pattern[1:], s[1:])
	}
}

// evaluate is IAM's decision for one request: an explicit Deny wins, then any Allow.
func evaluate(doc events.APIGatewayCustomAuthorizerPolicy, arn string) bool {
	allowed := false
	for _, st := range doc.Statement {
		if !slices.Contains(st.Action, "execute-api:Invoke") && !slices.Contains(st.Action, "execute-api:*") {
			continue
		}
		for _, r := range st.Resource {
			if iamMatch(r, arn) {
				if st.Effect == "Deny" {
					return false
				}
				if st.Effect == "Allow" {
					allowed = true
				}
			}
		}
	}
	return allowed
}

func TestIAMMatcher(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"a/*", "a/b/c", true},
		{"a/*", "a/", true},
		{"a/*", "a", false},
		{"a/?", "a/b", true},
		{"a/?", "a/bc", false},
		{"a/b", "a/B", false},
		{"*/GET/*", "x/GET/y", true},
		{"*", "", true},
	}
	for _, tt := range tests {
		if got := iamMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("iamMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// API Gateway caches one authorizer policy per Authorization header and applies it to every
// route, so the policy must decide every (method, path) exactly as Allows does. This is the
// caching-correctness property (SECURITY-CASES 26).
func TestTheDocumentDecidesEveryRouteExactlyAsAllows(t *testing.T) {
	methods := []string{"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"}
	paths := []string{
		"/v1/customers", "/v1/customers/", "/v1/customers/42", "/v1/customers/42/notes/7",
		"/v1/customersX", "/v1/customers-archive/1", "/v1/Customers", "/v1//customers", "/v1/customers/../keys",
		"/v1/inference", "/v1/inference/run", "/v1/billing", "/v1/billing/invoices/7",
		"/v1/webhooks", "/v1/webhooks/1", "/v1/keys", "/v1/keys/key_1", "/v1/keys/key_1/rotate",
		"/v1/auth/validate", "/v1/admin", "/v1", "/v1/", "/", "/health", "/v2/customers", "/v1/unknown/x",
	}
	// Every subset of the known scopes, plus sets with unknown scopes and duplicates.
	var scopeSets [][]string
	for mask := 0; mask < 1<<len(policy.All); mask++ {
		var set []string
		for i, s := range policy.All {
			if mask&(1<<i) != 0 {
				set = append(set, s)
			}
		}
		scopeSets = append(scopeSets, set)
	}
	scopeSets = append(scopeSets,
		[]string{"customers:*"}, []string{"admin"}, []string{"keys:read", "customers:read"},
		[]string{"customers:read", "customers:read"}, []string{""}, []string{"*"},
	)

	checked := 0
	for _, scopes := range scopeSets {
		doc := policy.Document(stage, scopes)
		for _, m := range methods {
			for _, p := range paths {
				arn := stage + "/" + m + p
				if got, want := evaluate(doc, arn), policy.Allows(scopes, m, p); got != want {
					t.Fatalf("scopes %v, %s %s: the policy decides %v, Allows says %v", scopes, m, p, got, want)
				}
				checked++
			}
		}
	}
	if checked < 100000 {
		t.Errorf("only %d combinations checked", checked)
	}
}

// A policy for one stage never grants another stage or API.
func TestTheDocumentStaysInsideItsStage(t *testing.T) {
	for _, scopes := range [][]string{{policy.Admin}, {"customers:read"}, policy.All} {
		doc := policy.Document(stage, scopes)
		for _, other := range []string{
			"arn:aws:execute-api:us-east-1:123456789012:abc123defg/dev/GET/v1/customers",
			"arn:aws:execute-api:us-east-1:123456789012:otherapi00/prod/GET/v1/customers",
			"arn:aws:execute-api:us-east-1:999999999999:abc123defg/prod/GET/v1/customers",
		} {
			if evaluate(doc, other) {
				t.Errorf("scopes %v allow %s", scopes, other)
			}
		}
		for _, st := range doc.Statement {
			for _, r := range st.Resource {
				if !strings.HasPrefix(r, stage+"/") {
					t.Errorf("resource %q is outside the stage", r)
				}
			}
		}
	}
}
