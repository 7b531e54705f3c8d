package keysapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/keysapi"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/memstore"
	"github.com/keygate/keygate/shared/usageplan"
	"github.com/keygate/keygate/shared/usageplan/usageplantest"
)

type hashers struct{ h *apikey.Hasher }

func (s hashers) Hasher(context.Context) (*apikey.Hasher, error) { return s.h, nil }

// FuzzAdminBodies: any body sent to the admin API's create, update and rotate routes is answered
// with a 2xx or a 4xx in the error shape: never a 5xx, never a panic, never an unexpected status.
func FuzzAdminBodies(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","scopes":["customers:read"]}`,
		`{"name":"a","scopes":["customers:read"],"allowed_ips":["10.0.0.0/8","::1/128"],"rate_limit":5,"tier":"pro","expires_at":"2030-01-01T00:00:00Z"}`,
		`{"grace_period_seconds":0}`, `{"grace_period_seconds":604801}`, `{"scopes":["nope"]}`, `{"name":"` + "\u0000" + `"}`,
		`{"allowed_ips":["10.0.0.1/8"]}`, `{"rate_limit":-1}`, `{"unknown":1}`, `[]`, `null`, `{`, ``,
	} {
		for _, route := range []uint8{0, 1, 2} {
			f.Add(route, []byte(s))
		}
	}
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	h, err := apikey.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		keys := memstore.NewKeys(now)
		if err := keys.CreateKey(context.Background(), store.Key{KeyID: "key_AAAAAAAAAAAAAAAAAAAA", Hash: "h", Name: "k",
			Scopes: []string{"customers:read"}, Status: store.StatusActive, RateLimit: 1, KeyGen: 1, CreatedAt: now()}); err != nil {
			t.Fatal(err)
		}
		serve := httpapi.Lambda(log, keysapi.New(keys, hashers{h}, usageplan.New(usageplantest.New("local", usageplantest.DefaultTiers...), hashers{h}, "local", 200, now), "kg_test", now, nil).Router().Serve)
		ev := events.APIGatewayProxyRequest{Headers: map[string]string{"Content-Type": "application/json"}, Body: string(body)}
		ev.RequestContext.Authorizer = map[string]any{"scope": "admin:full", "key_id": "key_admin"}
		switch route % 3 {
		case 0:
			ev.HTTPMethod, ev.Resource, ev.Path = "POST", "/v1/keys", "/v1/keys"
		case 1:
			ev.HTTPMethod, ev.Resource, ev.Path = "PATCH", "/v1/keys/{id}", "/v1/keys/key_AAAAAAAAAAAAAAAAAAAA"
			ev.PathParameters = map[string]string{"id": "key_AAAAAAAAAAAAAAAAAAAA"}
		case 2:
			ev.HTTPMethod, ev.Resource, ev.Path = "POST", "/v1/keys/{id}/rotate", "/v1/keys/key_AAAAAAAAAAAAAAAAAAAA/rotate"
			ev.PathParameters = map[string]string{"id": "key_AAAAAAAAAAAAAAAAAAAA"}
		}
		resp, err := serve(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		switch resp.StatusCode {
		case 200, 201, 400, 404, 409, 413, 415:
		default:
			t.Fatalf("status %d for %q: %s", resp.StatusCode, body, resp.Body)
		}
		var out map[string]any
		if json.Unmarshal([]byte(resp.Body), &out) != nil {
			t.Fatalf("body is not JSON: %s", resp.Body)
		}
		if resp.StatusCode >= 400 {
			e, _ := out["error"].(map[string]any)
			if e == nil || e["code"] == "" || e["message"] == "" {
				t.Fatalf("not the error shape: %s", resp.Body)
			}
		}
	})
}
