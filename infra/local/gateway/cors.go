package gateway

import (
	"net/http"
	"sort"
	"strings"

	"github.com/keygate/keygate/infra/local/samtpl"
)

// What SAM generates for an Api with Cors (samtranslator's SwaggerEditor.add_cors): on every
// resource path without an OPTIONS method of its own, an OPTIONS method with a MOCK
// integration whose default response is 200 with the Cors values as static headers and
// the body template below. Nothing of it is in template.yaml except the Cors values, so it
// lives here; infra/test/templatecheck compares it with SAM's actual output.
const (
	// preflightBody is SAM's response template for application/json, static text that
	// API Gateway's VTL renders as written.
	preflightBody = "{}\n"
	// preflightStatus is the status of SAM's default integration response.
	preflightStatus = http.StatusOK
)

// anyMethods is SAM's Access-Control-Allow-Methods for a path with an ANY method and no
// AllowMethods in Cors: every method API Gateway has, sorted.
const anyMethods = "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT"

// WithCORS makes the router serve the CORS preflights SAM generates when api has Cors (and
// nothing when it has none, as API Gateway then has no OPTIONS method to answer). A
// preflight carries the API's default authorizer only when AddDefaultAuthorizerToCorsPreflight
// leaves it on, because that is where SAM puts it; browsers send preflights without
// credentials, so such a preflight fails with 401.
func WithCORS(api samtpl.API) RouterOption {
	return func(c *routerConfig) {
		c.cors = api.Cors
		if api.Cors != nil && api.Cors.PreflightAuthorized {
			c.corsAuthorizer = api.DefaultAuthorizer
		}
		c.corsAPIKeyRequired = api.Cors != nil && api.Cors.PreflightAPIKeyRequired
	}
}

// addPreflights adds the preflight to n and every resource below it that has methods but
// no OPTIONS: a function's own OPTIONS event wins, as SAM then adds nothing to the path.
func (n *node) addPreflights(c *samtpl.CORS, authorizer string, apiKeyRequired bool) {
	if n.methods != nil {
		if _, own := n.methods[http.MethodOptions]; !own {
			n.mock = preflightResponse(c, n.methods)
			n.methods[http.MethodOptions] = samtpl.Route{Method: http.MethodOptions, Path: n.resource, AuthorizerName: authorizer,
				APIKeyRequired: apiKeyRequired}
		}
	}
	for _, child := range n.literal {
		child.addPreflights(c, authorizer, apiKeyRequired)
	}
	for _, child := range []*node{n.param, n.greedy} {
		if child != nil {
			child.addPreflights(c, authorizer, apiKeyRequired)
		}
	}
}

// preflightResponse is the mock's answer on a path with methods: only the headers whose
// Cors value is set (SAM skips empty ones), and Access-Control-Allow-Credentials only when
// it is true, the one value the header may have.
func preflightResponse(c *samtpl.CORS, methods map[string]samtpl.Route) *RenderedResponse {
	h := map[string]string{"Access-Control-Allow-Origin": c.AllowOrigin}
	if c.AllowHeaders != "" {
		h["Access-Control-Allow-Headers"] = c.AllowHeaders
	}
	h["Access-Control-Allow-Methods"] = c.AllowMethods
	if c.AllowMethods == "" {
		h["Access-Control-Allow-Methods"] = pathMethods(methods)
	}
	if c.MaxAge != "" {
		h["Access-Control-Max-Age"] = c.MaxAge
	}
	if c.AllowCredentials {
		h["Access-Control-Allow-Credentials"] = "true"
	}
	return &RenderedResponse{Status: preflightStatus, Headers: h, Body: preflightBody}
}

// pathMethods is SAM's Access-Control-Allow-Methods when Cors sets none: the path's methods
// and OPTIONS, sorted, or every method when the path has ANY.
func pathMethods(methods map[string]samtpl.Route) string {
	if _, ok := methods["ANY"]; ok {
		return anyMethods
	}
	list := []string{http.MethodOptions} // not among methods: the path would have no preflight
	for m := range methods {
		list = append(list, m)
	}
	sort.Strings(list)
	return strings.Join(list, ",")
}
