// Package keysapi is the admin API for API keys (/v1/keys). The authorizer admits only callers
// holding admin:full. Until key management lands every route answers 501 in the error shape.
package keysapi

import (
	"net/http"

	"github.com/keygate/keygate/shared/httpx"
)

// Router returns the admin routes.
func Router() *httpx.Router {
	var rt httpx.Router
	for _, r := range []struct{ method, resource string }{
		{http.MethodPost, "/v1/keys"},
		{http.MethodGet, "/v1/keys"},
		{http.MethodGet, "/v1/keys/{id}"},
		{http.MethodPatch, "/v1/keys/{id}"},
		{http.MethodDelete, "/v1/keys/{id}"},
		{http.MethodPost, "/v1/keys/{id}/rotate"},
		{http.MethodGet, "/v1/keys/{id}/events"},
	} {
		rt.Handle(r.method, r.resource, httpx.NotImplemented)
	}
	return &rt
}
