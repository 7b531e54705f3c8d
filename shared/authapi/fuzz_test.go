package authapi_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/shared/httpapi"
)

// FuzzEndpointBodies: any body and Content-Type sent to token, refresh or revoke is answered in
// the documented way: a success, or a 4xx in the error shape (never a 5xx, never a panic).
// The real handlers run over in-memory stores and a real keyring, issuer and verifier.
func FuzzEndpointBodies(f *testing.F) {
	for _, s := range []string{
		`{"api_key":"KEY"}`, `{"api_key":"KEY","scopes":["customers:read"],"customer_id":"c_1","expires_in":60}`,
		`{"api_key":"KEY","expires_in":0}`, `{"api_key":"KEY","scopes":["admin:full"]}`, `{"refresh_token":"kgr_x"}`,
		`{"token":"x","token_type_hint":"refresh_token"}`, `{"api_key":"KEY","unknown":1}`, `{"api_key":1}`, `[]`, `{`, ``,
	} {
		for route := uint8(0); route < 3; route++ {
			f.Add(route, "application/json", []byte(s))
		}
	}
	f.Add(uint8(0), "text/plain", []byte(`{"api_key":"KEY"}`))
	f.Add(uint8(0), "application/json; charset=utf-8", []byte(`{"api_key":"KEY"}`))
	f.Fuzz(func(t *testing.T, route uint8, contentType string, body []byte) {
		e := newEnv(t)
		key, _ := e.addKey(t, nil)
		b := bytes.Replace(body, []byte("KEY"), []byte(key), 1)
		var h httpapi.Handler
		path := ""
		switch route % 3 {
		case 0:
			h, path = e.tokenH.Router().Serve, "/v1/auth/token"
		case 1:
			h, path = e.refreshHandler(e.tokens).Router().Serve, "/v1/auth/refresh"
		case 2:
			h, path = e.revokeHandler(e.tokens).Router().Serve, "/v1/auth/revoke"
		}
		ev := events.APIGatewayProxyRequest{HTTPMethod: "POST", Resource: path, Path: path,
			Headers: map[string]string{"Content-Type": contentType}, Body: string(b)}
		if route%3 == 2 {
			ev.Headers["Authorization"] = "Bearer " + key
		}
		ev.RequestContext.Identity.SourceIP = sourceIP
		resp, err := httpapi.Lambda(e.log, h)(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		switch resp.StatusCode {
		case 200, 400, 401, 403, 413, 415, 429:
		default:
			t.Fatalf("%s: status %d for %q: %s", path, resp.StatusCode, b, resp.Body)
		}
		var out map[string]any
		if json.Unmarshal([]byte(resp.Body), &out) != nil {
			t.Fatalf("%s: body is not JSON: %s", path, resp.Body)
		}
		if resp.StatusCode >= 400 {
			eb, _ := out["error"].(map[string]any)
			if eb == nil || eb["code"] == "" || eb["message"] == "" || eb["type"] == "" {
				t.Fatalf("%s: not the error shape: %s", path, resp.Body)
			}
		}
	})
}
