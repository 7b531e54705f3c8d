// Package policy knows keygate's scopes and how they map onto routes: the access level an HTTP
// method needs (GET read, POST/PUT/PATCH write, DELETE delete), the scope a route needs
// (<resource>:<level>, where the resource is the first path segment after /v1), and the IAM
// policy an authorizer returns for a set of scopes.
//
// The policy depends only on the credential, never on the route being called, because API
// Gateway caches an authorizer result per Authorization header and applies it to every route:
// a policy listing exactly the method ARNs the scopes allow stays correct under that cache.
package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Admin grants every action on every route.
const Admin = "admin:full"

// All is every scope keygate knows, in display order.
var All = []string{
	"inference:read", "inference:write",
	"customers:read", "customers:write", "customers:delete",
	"billing:read", "billing:write",
	"webhooks:read", "webhooks:write",
	Admin,
}

// MaxScopes bounds how many scopes a request may name (there are only len(All) distinct ones).
const MaxScopes = 32

// Valid reports whether s is a known scope.
func Valid(s string) bool { return slices.Contains(All, s) }

// Level is the access level an HTTP method needs.
func Level(method string) string {
	switch strings.ToUpper(method) {
	case "GET", "HEAD", "OPTIONS":
		return "read"
	case "DELETE":
		return "delete"
	default:
		return "write"
	}
}

// methodsOf lists the HTTP methods an access level allows.
func methodsOf(level string) []string {
	switch level {
	case "read":
		return []string{"GET", "HEAD", "OPTIONS"}
	case "write":
		return []string{"POST", "PUT", "PATCH"}
	case "delete":
		return []string{"DELETE"}
	}
	return nil
}

// Required returns the scope needed to call method on path (a request path such as
// /v1/customers/42). Routes outside a resource that has that scope need admin:full.
func Required(method, path string) string {
	res := resourceOf(path)
	if res == "" {
		return Admin
	}
	s := res + ":" + Level(method)
	if Valid(s) && s != Admin {
		return s
	}
	return Admin
}

// Allows reports whether scopes permit calling method on path.
func Allows(scopes []string, method, path string) bool {
	return slices.Contains(scopes, Admin) || slices.Contains(scopes, Required(method, path))
}

func resourceOf(path string) string {
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return ""
	}
	res, _, _ := strings.Cut(rest, "/")
	return res
}

// ErrBadMethodARN means the authorizer event's methodArn is not an execute-api ARN.
var ErrBadMethodARN = errors.New("policy: malformed methodArn")

// StageARN returns "arn:…:execute-api:region:account:apiId/stage" from a method ARN.
func StageARN(methodARN string) (string, error) {
	i := strings.IndexByte(methodARN, '/')
	if i < 0 {
		return "", ErrBadMethodARN
	}
	j := strings.IndexByte(methodARN[i+1:], '/')
	if j <= 0 || !strings.HasPrefix(methodARN, "arn:") || !strings.Contains(methodARN[:i], ":execute-api:") {
		return "", ErrBadMethodARN
	}
	return methodARN[:i+1+j], nil
}

// Document returns the IAM policy allowing exactly what scopes permit under stageARN. With no
// usable scope it is an explicit Deny of everything.
func Document(stageARN string, scopes []string) events.APIGatewayCustomAuthorizerPolicy {
	doc := events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17"}
	if slices.Contains(scopes, Admin) {
		doc.Statement = []events.IAMPolicyStatement{allow(stageARN + "/*/*")}
		return doc
	}
	var resources []string
	for _, s := range All {
		if s == Admin || !slices.Contains(scopes, s) {
			continue
		}
		res, level, _ := strings.Cut(s, ":")
		for _, m := range methodsOf(level) {
			resources = append(resources,
				fmt.Sprintf("%s/%s/v1/%s", stageARN, m, res),
				fmt.Sprintf("%s/%s/v1/%s/*", stageARN, m, res))
		}
	}
	if len(resources) == 0 {
		return DenyAll(stageARN)
	}
	doc.Statement = []events.IAMPolicyStatement{allow(resources...)}
	return doc
}

// DenyAll is an explicit Deny of every method under stageARN.
func DenyAll(stageARN string) events.APIGatewayCustomAuthorizerPolicy {
	return events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{{
		Action: []string{"execute-api:Invoke"}, Effect: "Deny", Resource: []string{stageARN + "/*/*"},
	}}}
}

func allow(resources ...string) events.IAMPolicyStatement {
	return events.IAMPolicyStatement{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: resources}
}
