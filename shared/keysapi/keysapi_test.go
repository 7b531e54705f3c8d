package keysapi_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/httpx"
	"github.com/keygate/keygate/shared/keysapi"
	"github.com/keygate/keygate/shared/store"
	"github.com/keygate/keygate/shared/store/memstore"
)

// A grace period outside 0..604800 is refused however large it is: the bound is checked before
// the seconds become a time.Duration, which a huge value would overflow into range.
func TestRotateRefusesAGraceThatWouldOverflowADuration(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	h, err := apikey.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	const id = "key_AAAAAAAAAAAAAAAAAAAA"
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"the longest grace", `{"grace_period_seconds":604800}`, 200},
		{"no grace", `{"grace_period_seconds":0}`, 200},
		{"one second too long", `{"grace_period_seconds":604801}`, 400},
		{"negative", `{"grace_period_seconds":-1}`, 400},
		{"seconds whose nanoseconds wrap to a negative Duration", `{"grace_period_seconds":9223372037}`, 400},
		{"seconds whose nanoseconds wrap into 0..7 days", `{"grace_period_seconds":18446744074}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := memstore.NewKeys(now)
			if err := keys.CreateKey(context.Background(), store.Key{KeyID: id, Hash: "h", Name: "k",
				Scopes: []string{"customers:read"}, Status: store.StatusActive, RateLimit: 1, KeyGen: 1, CreatedAt: now()}); err != nil {
				t.Fatal(err)
			}
			serve := httpx.Lambda(slog.New(slog.NewJSONHandler(io.Discard, nil)), keysapi.New(keys, hashers{h}, "kg_test", now).Router().Serve)
			ev := events.APIGatewayProxyRequest{HTTPMethod: "POST", Resource: "/v1/keys/{id}/rotate", Path: "/v1/keys/" + id + "/rotate",
				PathParameters: map[string]string{"id": id}, Headers: map[string]string{"Content-Type": "application/json"}, Body: tt.body}
			ev.RequestContext.Authorizer = map[string]any{"scope": "admin:full", "key_id": "key_admin"}
			resp, err := serve(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, resp.Body)
			}
			k, err := keys.KeyByID(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if rotated := k.KeyGen != 1; rotated != (tt.status == 200) {
				t.Errorf("key_gen = %d after a %d", k.KeyGen, resp.StatusCode)
			}
			if tt.status == 400 && !strings.Contains(resp.Body, "604800") {
				t.Errorf("the message does not give the bounds: %s", resp.Body)
			}
		})
	}
}
