package authapi

import (
	"net/http"

	"github.com/keygate/keygate/shared/httpx"
)

// RefreshRouter serves POST /v1/auth/refresh. Refresh tokens are not issued yet, so every
// refresh is refused with 501 until the refresh-token families land.
func RefreshRouter() *httpx.Router {
	var rt httpx.Router
	rt.Handle(http.MethodPost, "/v1/auth/refresh", httpx.NotImplemented)
	return &rt
}

// RevokeRouter serves POST /v1/auth/revoke (501 until revocation lands).
func RevokeRouter() *httpx.Router {
	var rt httpx.Router
	rt.Handle(http.MethodPost, "/v1/auth/revoke", httpx.NotImplemented)
	return &rt
}
