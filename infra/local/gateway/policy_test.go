package gateway_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/local/gateway"
)

const arn = "arn:aws:execute-api:us-east-1:000000000000:keygatelcl/dev/GET/v1/keys/key_1"

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, value string
		want           bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"*", "", true},
		{"*", "anything/at:all", true},
		{"a*c", "abbbc", true},
		{"a*c", "ab/c", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a?c", "abbc", false},
		{"*/GET/*", "x/dev/GET/v1/keys", true},
		{"*/GET/*", "x/dev/POST/v1/keys", false},
		{"a**b", "ab", true},
		{"", "", true},
		{"", "a", false},
		{"abc*", "ab", false},
	}
	for _, tc := range tests {
		if got := gateway.MatchPattern(tc.pattern, tc.value); got != tc.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", tc.pattern, tc.value, got, tc.want)
		}
	}
}

func TestMethodARN(t *testing.T) {
	got := gateway.MethodARN("us-east-1", "000000000000", "keygatelcl", "dev", "GET", "/v1/keys/key_1")
	if got != arn {
		t.Errorf("MethodARN = %q", got)
	}
	if root := gateway.MethodARN("r", "a", "id", "s", "GET", "/"); root != "arn:aws:execute-api:r:a:id/s/GET/" {
		t.Errorf("root ARN = %q", root)
	}
}

func TestPolicyEvaluation(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		want   gateway.Decision
	}{
		{"an exact Allow", stmts(`{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"` + arn + `"}`), gateway.Allow},
		{"a wildcard across the path", stmts(`{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:000000000000:keygatelcl/dev/*"}`), gateway.Allow},
		{"a wildcard method and path", stmts(`{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:*/*/*/*"}`), gateway.Allow},
		{"a ? wildcard", stmts(`{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:000000000000:keygatelcl/dev/GET/v1/keys/key_?"}`), gateway.Allow},
		{"a ? does not span two characters", stmts(`{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:000000000000:keygatelcl/dev/GET/v1/keys/key?"}`), gateway.ImplicitDeny},
		{"another method is not allowed", stmts(`{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:000000000000:keygatelcl/dev/POST/*"}`), gateway.ImplicitDeny},
		{"another stage is not allowed", stmts(`{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:000000000000:keygatelcl/prod/*"}`), gateway.ImplicitDeny},
		{"resources are case-sensitive", stmts(`{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:us-east-1:000000000000:keygatelcl/dev/get/*"}`), gateway.ImplicitDeny},
		{"a resource list", stmts(`{"Effect":"Allow","Action":["execute-api:Invoke"],"Resource":["arn:other","` + arn + `"]}`), gateway.Allow},
		{"an explicit Deny wins over an Allow", stmts(`{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}`, `{"Effect":"Deny","Action":"execute-api:Invoke","Resource":"*/GET/v1/keys/*"}`), gateway.ExplicitDeny},
		{"a Deny elsewhere does not matter", stmts(`{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}`, `{"Effect":"Deny","Action":"execute-api:Invoke","Resource":"*/DELETE/*"}`), gateway.Allow},
		{"an action wildcard", stmts(`{"Effect":"Allow","Action":"execute-api:*","Resource":"*"}`), gateway.Allow},
		{"a bare star action", stmts(`{"Effect":"Allow","Action":"*","Resource":"*"}`), gateway.Allow},
		{"actions are case-insensitive", stmts(`{"Effect":"Allow","Action":"Execute-API:invoke","Resource":"*"}`), gateway.Allow},
		{"another action does not allow", stmts(`{"Effect":"Allow","Action":"execute-api:ManageConnections","Resource":"*"}`), gateway.ImplicitDeny},
		{"a Deny with another action does not deny", stmts(`{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}`, `{"Effect":"Deny","Action":"s3:*","Resource":"*"}`), gateway.Allow},
		{"no statement is an implicit deny", `{"principalId":"u","policyDocument":{"Version":"2012-10-17","Statement":[]}}`, gateway.ImplicitDeny},
		{"a single statement object", `{"principalId":"u","policyDocument":{"Statement":{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}}}`, gateway.Allow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := gateway.ParseAuthorizerResponse([]byte(tc.policy))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := res.Policy.Evaluate(arn); got != tc.want {
				t.Errorf("Evaluate = %v, want %v", got, tc.want)
			}
		})
	}
}

func stmts(statements ...string) string {
	return `{"principalId":"u","policyDocument":{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}}`
}

func TestParseAuthorizerResponse(t *testing.T) {
	ok := `"policyDocument":{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]}`
	tests := []struct {
		name    string
		in      string
		wantErr error
		context map[string]string
	}{
		{"context values are stringified", `{"principalId":"u",` + ok + `,"context":{"s":"v","n":123,"f":1.5,"b":true,"f2":false}}`, nil,
			map[string]string{"s": "v", "n": "123", "f": "1.5", "b": "true", "f2": "false"}},
		{"a null context is no context", `{"principalId":"u",` + ok + `,"context":null}`, nil, nil},
		{"an object context value", `{"principalId":"u",` + ok + `,"context":{"o":{"a":1}}}`, gateway.ErrInvalidAuthorizerContext, nil},
		{"an array context value", `{"principalId":"u",` + ok + `,"context":{"a":[1]}}`, gateway.ErrInvalidAuthorizerContext, nil},
		{"a null context value", `{"principalId":"u",` + ok + `,"context":{"x":null}}`, gateway.ErrInvalidAuthorizerContext, nil},
		{"no policyDocument", `{"principalId":"u"}`, gateway.ErrMalformedAuthorizerResponse, nil},
		{"no principalId", `{"policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"*"}]}}`, gateway.ErrMalformedAuthorizerResponse, nil},
		{"not an object", `[]`, gateway.ErrMalformedAuthorizerResponse, nil},
		{"a misspelt member", `{"principalId":"u","policydocument":{}}`, gateway.ErrMalformedAuthorizerResponse, nil},
		{"a lower-case effect", `{"policyDocument":{"Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}}`, gateway.ErrMalformedAuthorizerResponse, nil},
		{"a statement without Resource", `{"policyDocument":{"Statement":[{"Effect":"Allow","Action":"*"}]}}`, gateway.ErrMalformedAuthorizerResponse, nil},
		{"a Condition", `{"policyDocument":{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}]}}`, gateway.ErrMalformedAuthorizerResponse, nil},
		{"a numeric principal", `{"principalId":7,` + ok + `}`, gateway.ErrMalformedAuthorizerResponse, nil},
		{"a Sid and usageIdentifierKey are fine", `{"principalId":"u","usageIdentifierKey":"k","policyDocument":{"Statement":[{"Sid":"x","Effect":"Deny","Action":"*","Resource":"*"}]}}`, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := gateway.ParseAuthorizerResponse([]byte(tc.in))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr != nil && err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.context != nil && !equalMaps(res.Context, tc.context) {
				t.Errorf("context = %v, want %v", res.Context, tc.context)
			}
		})
	}
}

// FuzzMatchPattern checks the glob matcher against a regular-expression oracle.
func FuzzMatchPattern(f *testing.F) {
	f.Add("arn:aws:execute-api:*:*:*/dev/GET/*", arn)
	f.Add("a?c*", "abcdef")
	f.Add("**?*", "x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, pattern, value string) {
		if len(pattern) > 64 || len(value) > 256 {
			return
		}
		var re strings.Builder
		re.WriteString(`(?s)\A`)
		for _, r := range pattern {
			switch r {
			case '*':
				re.WriteString(".*")
			case '?':
				re.WriteString(".")
			default:
				re.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		re.WriteString(`\z`)
		oracle, err := regexp.Compile(re.String())
		if err != nil {
			return
		}
		// The matcher works on bytes, the oracle on runes: compare on ASCII only.
		for i := 0; i < len(pattern); i++ {
			if pattern[i] >= 0x80 {
				return
			}
		}
		for i := 0; i < len(value); i++ {
			if value[i] >= 0x80 {
				return
			}
		}
		if got, want := gateway.MatchPattern(pattern, value), oracle.MatchString(value); got != want {
			t.Errorf("MatchPattern(%q, %q) = %v, oracle says %v", pattern, value, got, want)
		}
	})
}

// FuzzParseAuthorizerResponse: arbitrary authorizer output never panics, and what parses
// can be evaluated.
func FuzzParseAuthorizerResponse(f *testing.F) {
	f.Add([]byte(stmts(`{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}`)))
	f.Add([]byte(`{"principalId":"u","policyDocument":{"Statement":{"Effect":"Deny","Action":["*"],"Resource":["a","b"]}},"context":{"n":1}}`))
	f.Add([]byte(`{"context":{"x":[1]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := gateway.ParseAuthorizerResponse(data)
		if err != nil {
			return
		}
		_ = res.Policy.Evaluate(arn)
	})
}
