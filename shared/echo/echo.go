// Package echo is the sample protected backend: it answers with the authorizer context API
// Gateway handed it, so integrators can see what their own backends receive (key id, customer
// id, scope, tier, token type, rate limit — never the credential itself).
package echo

import (
	"context"
	"net/http"

	"github.com/keygate/keygate/shared/httpapi"
)

type response struct {
	Message    string         `json:"message"`
	Method     string         `json:"method"`
	Path       string         `json:"path"`
	Resource   string         `json:"resource"`
	RequestID  string         `json:"request_id"`
	Authorizer map[string]any `json:"authorizer"`
}

// Router returns the sample routes; other methods on them get 405.
func Router() *httpapi.Router {
	var rt httpapi.Router
	for _, r := range []struct{ method, resource string }{
		{http.MethodGet, "/v1/customers"},
		{http.MethodPost, "/v1/customers"},
		{http.MethodGet, "/v1/customers/{id}"},
		{http.MethodDelete, "/v1/customers/{id}"},
		{http.MethodGet, "/v1/billing"},
		{http.MethodPost, "/v1/inference/completions"},
	} {
		rt.Handle(r.method, r.resource, Handle)
	}
	return &rt
}

// Handle echoes the request's route and authorizer context.
func Handle(_ context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	return httpapi.JSON(http.StatusOK, response{
		Message:    "authorized",
		Method:     r.HTTPMethod,
		Path:       r.Path,
		Resource:   r.Resource,
		RequestID:  r.RequestContext.RequestID,
		Authorizer: r.RequestContext.Authorizer,
	})
}
