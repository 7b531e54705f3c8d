package keysapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
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

// A grace period outside 0..604800 is refused however large it is: the bound is checked before
// the seconds become a time.Duration, which a huge value would overflow into range.
func TestRotateRefusesAGraceThatWouldOverflowADuration(t *testing.T) {
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
			h, keys := oneKey(t, nil)
			resp := adminCall(t, h, "POST", "/v1/keys/{id}/rotate", id, tt.body)
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

// now is the fixed time of these tests; id the one key's id.
func now() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

const id = "key_AAAAAAAAAAAAAAAAAAAA"

// oneKey is the admin handler over a store holding one live key (customers:read, generation
// 1) as tweak leaves it.
func oneKey(t *testing.T, tweak func(*store.Key)) (*keysapi.Handler, *memstore.Keys) {
	t.Helper()
	h, err := apikey.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	k := store.Key{KeyID: id, Hash: "h", Name: "k", Scopes: []string{"customers:read"}, Status: store.StatusActive,
		RateLimit: 1, KeyGen: 1, CreatedAt: now()}
	if tweak != nil {
		tweak(&k)
	}
	keys := memstore.NewKeys(now)
	if err := keys.CreateKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	plans := usageplan.New(usageplantest.New("local", usageplantest.DefaultTiers...), hashers{h}, "local", 200, now)
	return keysapi.New(keys, hashers{h}, plans, "kg_test", now, nil), keys
}

// adminCall sends one admin request for key id through the handler's router, as the
// authorizer would pass it on for an admin:full caller.
func adminCall(t *testing.T, h *keysapi.Handler, method, resource, id, body string) events.APIGatewayProxyResponse {
	t.Helper()
	serve := httpapi.Lambda(slog.New(slog.NewJSONHandler(io.Discard, nil)), h.Router().Serve)
	ev := events.APIGatewayProxyRequest{HTTPMethod: method, Resource: resource, Path: strings.ReplaceAll(resource, "{id}", id),
		PathParameters: map[string]string{"id": id}, Headers: map[string]string{"Content-Type": "application/json"}, Body: body}
	ev.RequestContext.Authorizer = map[string]any{"scope": "admin:full", "key_id": "key_admin"}
	resp, err := serve(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// Tokens carry their scopes: a PATCH that takes a scope away must end the tokens minted
// before (they would keep it until they expire, and refresh families for ever), two generations
// on so that not even a rotation's grace keeps them; one that only adds keeps them.
func TestAPatchThatTakesScopesAwayEndsTheKeysTokens(t *testing.T) {
	tests := []struct {
		name    string
		before  []string
		patch   string
		wantGen int64
	}{
		{"removing a scope ends them", []string{"customers:read", "billing:read"}, `{"scopes":["customers:read"]}`, 7},
		{"replacing a scope ends them", []string{"customers:read"}, `{"scopes":["billing:read"]}`, 7},
		{"dropping admin:full for every other scope ends them", []string{"admin:full"},
			`{"scopes":["inference:read","inference:write","customers:read","customers:write","customers:delete","billing:read","billing:write","webhooks:read","webhooks:write"]}`, 7},
		{"adding a scope keeps them", []string{"customers:read"}, `{"scopes":["customers:read","billing:read"]}`, 5},
		{"the same scopes in another order keep them", []string{"customers:read", "billing:read"}, `{"scopes":["billing:read","customers:read"]}`, 5},
		{"widening to admin:full keeps them", []string{"customers:read"}, `{"scopes":["admin:full"]}`, 5},
		{"changing something else keeps them", []string{"customers:read"}, `{"name":"renamed"}`, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, keys := oneKey(t, func(k *store.Key) {
				k.Scopes, k.KeyGen = tt.before, 5
				k.PreviousHash, k.GraceUntil = "h-old", now().Add(time.Hour) // mid-rotation
			})
			resp := adminCall(t, h, "PATCH", "/v1/keys/{id}", id, tt.patch)
			if resp.StatusCode != 200 {
				t.Fatalf("PATCH answered %d: %s", resp.StatusCode, resp.Body)
			}
			k, err := keys.KeyByID(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if k.KeyGen != tt.wantGen {
				t.Errorf("key_gen = %d, want %d", k.KeyGen, tt.wantGen)
			}
			for _, gen := range []int64{5, 4} { // the tokens before, and those of the old secret in its grace
				if valid := k.TokenGenValid(gen, now()); valid != (tt.wantGen == 5) {
					t.Errorf("a token of generation %d is valid = %v after the PATCH", gen, valid)
				}
			}
		})
	}
}

// Callers' addresses are compared unmapped, so allowed_ips stores what an entry means: an
// IPv4-mapped IPv6 address or prefix becomes the IPv4 one (it would otherwise never match).
func TestAllowedIPsAreStoredAsTheyWillBeMatched(t *testing.T) {
	tests := []struct {
		name    string
		entries string
		want    []string
		allowed string // an address the stored list must let in
	}{
		{"an IPv4-mapped prefix is its IPv4 prefix", `["::ffff:10.0.0.0/104"]`, []string{"10.0.0.0/8"}, "10.1.2.3"},
		{"an IPv4-mapped address is its IPv4 address", `["::ffff:192.0.2.1"]`, []string{"192.0.2.1/32"}, "192.0.2.1"},
		{"both spellings of one prefix are one entry", `["10.0.0.0/8","::ffff:10.0.0.0/104"]`, []string{"10.0.0.0/8"}, "10.200.0.1"},
		{"an IPv6 prefix stays", `["2001:db8::/32"]`, []string{"2001:db8::/32"}, "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, keys := oneKey(t, nil)
			resp := adminCall(t, h, "PATCH", "/v1/keys/{id}", id, `{"allowed_ips":`+tt.entries+`}`)
			if resp.StatusCode != 200 {
				t.Fatalf("PATCH answered %d: %s", resp.StatusCode, resp.Body)
			}
			k, err := keys.KeyByID(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(k.AllowedIPs, tt.want) {
				t.Errorf("allowed_ips stored as %v, want %v", k.AllowedIPs, tt.want)
			}
			if !apikey.IPAllowed(k.AllowedIPs, netip.MustParseAddr(tt.allowed)) {
				t.Errorf("%s is not let in by %v", tt.allowed, k.AllowedIPs)
			}
		})
	}
}

// The Location of a created key resolves against the URL the caller posted to, whatever
// prefix that URL had: the stage of the execute-api URL, a custom domain's base path, none.
func TestTheLocationOfACreatedKeyResolvesUnderAnyPrefix(t *testing.T) {
	h, _ := oneKey(t, nil)
	resp := adminCall(t, h, "POST", "/v1/keys", "", `{"name":"n","scopes":["customers:read"]}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create answered %d: %s", resp.StatusCode, resp.Body)
	}
	var created struct {
		KeyID string `json:"key_id"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &created); err != nil || created.KeyID == "" {
		t.Fatalf("create body %s: %v", resp.Body, err)
	}
	loc := resp.Headers["Location"]
	for _, base := range []string{
		"https://abc123.execute-api.eu-west-1.amazonaws.com/dev/v1/keys",
		"https://api.example.com/auth/v1/keys",
		"http://127.0.0.1:3000/v1/keys",
	} {
		b, _ := url.Parse(base)
		got, err := b.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		if want := base + "/" + created.KeyID; got.String() != want {
			t.Errorf("Location %q posted to %s resolves to %s, want %s", loc, base, got, want)
		}
	}
}

// countingStore fails nothing but counts every storage call, to prove a request was answered
// without one.
type countingStore struct {
	keysapi.Store
	calls int
}

func (s *countingStore) KeyByID(ctx context.Context, id string) (store.Key, error) {
	s.calls++
	return s.Store.KeyByID(ctx, id)
}

func (s *countingStore) SaveKey(ctx context.Context, prev *store.Key, next store.Key, audit ...store.Event) error {
	s.calls++
	return s.Store.SaveKey(ctx, prev, next, audit...)
}

func (s *countingStore) ListEvents(ctx context.Context, keyID string, limit int, cursor string) (store.EventPage, error) {
	s.calls++
	return s.Store.ListEvents(ctx, keyID, limit, cursor)
}

// An admin who pastes a key where its id belongs (DELETE /v1/keys/<key>) gets a 404 that says
// so and how to find the id, answered without a storage read, and the key appears in no log
// line and not in the answer.
func TestAPlainKeyInThePathIsNeitherLookedUpNorLogged(t *testing.T) {
	plain, err := apikey.Generate("kg_test", strings.NewReader(strings.Repeat("k", 4096)))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := apikey.Generate("kg_live", strings.NewReader(strings.Repeat("o", 4096)))
	typo := plain[:len(plain)-1] + "0"
	if typo == plain {
		typo = plain[:len(plain)-1] + "1"
	}
	routes := []struct{ method, resource, body string }{
		{"GET", "/v1/keys/{id}", ""},
		{"PATCH", "/v1/keys/{id}", `{"name":"renamed"}`},
		{"PATCH", "/v1/keys/{id}", `{"name":`}, // a bad body too: the path is refused first
		{"DELETE", "/v1/keys/{id}", ""},
		{"POST", "/v1/keys/{id}/rotate", `{"grace_period_seconds":0}`},
		{"GET", "/v1/keys/{id}/events", ""},
	}
	for name, key := range map[string]string{"this environment's key": plain, "another environment's key": other, "a mistyped key": typo} {
		for _, rt := range routes {
			t.Run(name+"/"+rt.method+" "+rt.resource, func(t *testing.T) {
				h, keys := oneKey(t, nil)
				counted := &countingStore{Store: keys}
				h.Store = counted
				var logs strings.Builder
				serve := httpapi.Lambda(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), h.Router().Serve)
				ev := events.APIGatewayProxyRequest{HTTPMethod: rt.method, Resource: rt.resource, Path: strings.ReplaceAll(rt.resource, "{id}", key),
					PathParameters: map[string]string{"id": key}, Headers: map[string]string{"Content-Type": "application/json"}, Body: rt.body}
				ev.RequestContext.Authorizer = map[string]any{"scope": "admin:full", "key_id": "key_admin"}
				ev.RequestContext.RequestID = "req-1"
				resp, err := serve(context.Background(), ev)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != 404 || counted.calls != 0 {
					t.Fatalf("status %d after %d storage calls, want 404 after none: %s", resp.StatusCode, counted.calls, resp.Body)
				}
				var e struct {
					Error struct{ Code, Message string } `json:"error"`
				}
				if err := json.Unmarshal([]byte(resp.Body), &e); err != nil || e.Error.Code != "not_found" ||
					!strings.Contains(e.Error.Message, "API key") || !strings.Contains(e.Error.Message, "GET /v1/keys") {
					t.Fatalf("answer %s: want not_found saying an API key is not a key id and how to list ids", resp.Body)
				}
				secret := key[len("kg_test_"):] // the part after the prefix, checksum included
				for where, text := range map[string]string{"log": logs.String(), "answer": resp.Body} {
					if strings.Contains(text, secret) || strings.Contains(text, secret[:apikey.SecretLen]) {
						t.Fatalf("the key appears in the %s: %s", where, text)
					}
				}
				if !strings.Contains(logs.String(), "req-1") {
					t.Fatalf("the refusal was not logged with its request id: %q", logs.String())
				}
			})
		}
	}
}
