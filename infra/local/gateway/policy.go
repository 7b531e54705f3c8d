package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrMalformedAuthorizerResponse: the authorizer's output is not a valid
	// {principalId, policyDocument, context} document.
	ErrMalformedAuthorizerResponse = errors.New("gateway: malformed authorizer response")
	// ErrInvalidAuthorizerContext: a context value is not a string, number or boolean.
	ErrInvalidAuthorizerContext = errors.New("gateway: authorizer context values must be strings, numbers or booleans")
)

// Decision is the outcome of evaluating a policy for one method ARN.
type Decision int

const (
	// ImplicitDeny: no statement allows the method.
	ImplicitDeny Decision = iota
	// Allow: a statement allows it and none denies it.
	Allow
	// ExplicitDeny: a Deny statement matches; it wins over any Allow.
	ExplicitDeny
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "Allow"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return "ImplicitDeny"
}

// Statement is one policy statement with Action and Resource normalised to lists.
type Statement struct {
	Effect    string
	Actions   []string
	Resources []string
}

// Policy is an authorizer's IAM policy document.
type Policy struct {
	Version    string
	Statements []Statement
}

// AuthorizerResult is a parsed Lambda authorizer output.
type AuthorizerResult struct {
	PrincipalID string
	Policy      Policy
	// Context holds the context values stringified the way API Gateway hands them to the
	// backend ("value", "123", "true").
	Context            map[string]string
	UsageIdentifierKey string
}

// invokeAction is the action API Gateway checks.
const invokeAction = "execute-api:Invoke"

// Evaluate decides whether p lets the caller invoke methodARN, as API Gateway does: an
// explicit Deny wins, else any Allow allows, else the request is denied.
func (p Policy) Evaluate(methodARN string) Decision {
	allowed := false
	for _, st := range p.Statements {
		if !st.matches(methodARN) {
			continue
		}
		if st.Effect == "Deny" {
			return ExplicitDeny
		}
		allowed = true
	}
	if allowed {
		return Allow
	}
	return ImplicitDeny
}

func (st Statement) matches(methodARN string) bool {
	actionOK := false
	for _, a := range st.Actions {
		// IAM action names are case-insensitive.
		if MatchPattern(strings.ToLower(a), strings.ToLower(invokeAction)) {
			actionOK = true
			break
		}
	}
	if !actionOK {
		return false
	}
	for _, r := range st.Resources {
		if MatchPattern(r, methodARN) {
			return true
		}
	}
	return false
}

// MatchPattern reports whether value matches an IAM-style pattern in which * matches any
// run of characters (including none, and including "/" and ":") and ? matches exactly one.
func MatchPattern(pattern, value string) bool {
	// Iterative glob matching with single-star backtracking: linear in practice, no
	// recursion, so hostile patterns cannot blow the stack or time.
	p, v := 0, 0
	star, mark := -1, 0
	for v < len(value) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, v
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == value[v]):
			p++
			v++
		case star >= 0:
			p = star + 1
			mark++
			v = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// MethodARN is the ARN API Gateway evaluates policies against:
// arn:aws:execute-api:<region>:<account>:<apiId>/<stage>/<METHOD>/<path without leading slash>.
func MethodARN(region, accountID, apiID, stage, method, path string) string {
	return fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s/%s/%s",
		region, accountID, apiID, stage, method, strings.TrimPrefix(path, "/"))
}

// ParseAuthorizerResponse parses a Lambda authorizer's output strictly: principalId and
// policyDocument are required, JSON member names are matched exactly (a misspelt "policydocument" is an error here, never a silent deny
// or allow), Action and Resource may be a string or a list, Statement may be an object or
// a list. Conditions and NotAction/NotResource are not supported and are errors.
// ErrInvalidAuthorizerContext is returned for a context value that is not a string,
// number or boolean (API Gateway answers 500 AUTHORIZER_CONFIGURATION_ERROR).
func ParseAuthorizerResponse(data []byte) (AuthorizerResult, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		return AuthorizerResult{}, fmt.Errorf("%w: not a JSON object", ErrMalformedAuthorizerResponse)
	}
	var res AuthorizerResult
	for k, raw := range top {
		var err error
		switch k {
		case "principalId":
			err = json.Unmarshal(raw, &res.PrincipalID)
		case "usageIdentifierKey":
			err = json.Unmarshal(raw, &res.UsageIdentifierKey)
		case "policyDocument":
			res.Policy, err = parsePolicy(raw)
		case "context":
			res.Context, err = parseContext(raw)
			if err != nil {
				return AuthorizerResult{}, err
			}
		default:
			err = fmt.Errorf("unknown member %q", k)
		}
		if err != nil {
			return AuthorizerResult{}, fmt.Errorf("%w: %s: %v", ErrMalformedAuthorizerResponse, k, err)
		}
	}
	if _, ok := top["policyDocument"]; !ok {
		return AuthorizerResult{}, fmt.Errorf("%w: policyDocument is missing", ErrMalformedAuthorizerResponse)
	}
	// The output "must include the principal identifier (principalId) and a policy document".
	if _, ok := top["principalId"]; !ok {
		return AuthorizerResult{}, fmt.Errorf("%w: principalId is missing", ErrMalformedAuthorizerResponse)
	}
	return res, nil
}

func parsePolicy(raw json.RawMessage) (Policy, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return Policy{}, errors.New("not a JSON object")
	}
	var p Policy
	for k, v := range doc {
		switch k {
		case "Version":
			if err := json.Unmarshal(v, &p.Version); err != nil {
				return Policy{}, fmt.Errorf("Version: %v", err)
			}
		case "Statement":
			var list []json.RawMessage
			if bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) {
				list = []json.RawMessage{v}
			} else if err := json.Unmarshal(v, &list); err != nil {
				return Policy{}, fmt.Errorf("Statement: %v", err)
			}
			for i, s := range list {
				st, err := parseStatement(s)
				if err != nil {
					return Policy{}, fmt.Errorf("Statement[%d]: %v", i, err)
				}
				p.Statements = append(p.Statements, st)
			}
		default:
			return Policy{}, fmt.Errorf("unknown member %q", k)
		}
	}
	if _, ok := doc["Statement"]; !ok {
		return Policy{}, errors.New("Statement is missing")
	}
	return p, nil
}

func parseStatement(raw json.RawMessage) (Statement, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return Statement{}, errors.New("not a JSON object")
	}
	var st Statement
	for k, v := range m {
		var err error
		switch k {
		case "Sid":
			var sid string
			err = json.Unmarshal(v, &sid)
		case "Effect":
			err = json.Unmarshal(v, &st.Effect)
		case "Action":
			st.Actions, err = stringOrList(v)
		case "Resource":
			st.Resources, err = stringOrList(v)
		default:
			err = errors.New("unsupported member")
		}
		if err != nil {
			return Statement{}, fmt.Errorf("%s: %v", k, err)
		}
	}
	if st.Effect != "Allow" && st.Effect != "Deny" {
		return Statement{}, fmt.Errorf("Effect %q is neither Allow nor Deny", st.Effect)
	}
	if len(st.Actions) == 0 || len(st.Resources) == 0 {
		return Statement{}, errors.New("Action and Resource are required")
	}
	return st, nil
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("want a string or a list of strings")
	}
	return list, nil
}

// parseContext checks and stringifies the context map: strings as they are, numbers as
// written, booleans as "true"/"false". Objects, arrays and null are refused.
func parseContext(raw json.RawMessage) (map[string]string, error) {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: context is not a JSON object", ErrMalformedAuthorizerResponse)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		v = bytes.TrimSpace(v)
		switch {
		case len(v) > 0 && v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("%w: %s", ErrInvalidAuthorizerContext, k)
			}
			out[k] = s
		case bytes.Equal(v, []byte("true")), bytes.Equal(v, []byte("false")):
			out[k] = string(v)
		case len(v) > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')):
			var n json.Number
			if err := json.Unmarshal(v, &n); err != nil {
				return nil, fmt.Errorf("%w: %s", ErrInvalidAuthorizerContext, k)
			}
			out[k] = n.String()
		default:
			return nil, fmt.Errorf("%w: %s", ErrInvalidAuthorizerContext, k)
		}
	}
	return out, nil
}
