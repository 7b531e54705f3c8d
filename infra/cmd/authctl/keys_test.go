package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/keygate/keygate/shared/apikey"
)

// fakeAdmin answers /v1/keys… with canned JSON and records "METHOD uri body" and the
// Authorization header of each request.
type fakeAdmin struct {
	mu    sync.Mutex
	calls []string
	auth  []string
}

const adminView = `"key_id":"key_01234567890123456789","name":"svc","scopes":["billing:read","customers:read"],"allowed_ips":["10.0.0.0/8"],"rate_limit":600,"tier":"gold","status":"active","key_gen":1,"created_at":"2026-11-30T10:00:00Z"`

func (f *fakeAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(b)))
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.Contains(r.URL.Path, "key_missing"):
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"No key with that id.","type":"invalid_request_error"}}`)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/keys":
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{`+adminView+`,"key":"kg_test_SECRETSECRETSECRETSECRETSECRETSECRET_abcdef","warning":"Store this key now."}`)
	case strings.HasSuffix(r.URL.Path, "/rotate"):
		_, _ = io.WriteString(w, `{`+adminView+`,"previous_key_valid_until":"2026-12-01T10:00:00Z","key":"kg_test_SECRETSECRETSECRETSECRETSECRETSECRET_abcdef","warning":"Store this key now."}`)
	case r.URL.Path == "/v1/keys":
		_, _ = io.WriteString(w, `{"data":[{`+adminView+`}],"next_cursor":"c2"}`)
	case strings.HasSuffix(r.URL.Path, "/events"):
		_, _ = io.WriteString(w, `{"data":[{"time":"2026-11-30T10:00:00.5Z","action":"key.created","key_id":"key_01234567890123456789","actor_key_id":"key_admin0000000000000","source_ip":"127.0.0.1","request_id":"r1"}]}`)
	default:
		_, _ = io.WriteString(w, `{`+adminView+`}`)
	}
}

func TestKeysCommands(t *testing.T) {
	f := &fakeAdmin{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv("KEYGATE_ADMIN_KEY", "kg_test_ADMINADMINADMINADMINADMINADMINADMI_abcdef")
	t.Setenv("KEYGATE_URL", srv.URL)
	tests := []struct {
		name     string
		args     []string
		wantCall string
		wantOut  []string
		wantErr  string
	}{
		{"create sends only the flags given and prints the key once",
			[]string{"create", "-name", "svc", "-scopes", "billing:read, customers:read", "-rate-limit", "600", "-allowed-ips", "10.0.0.0/8", "-expires-at", "2027-01-31T00:00:00Z"},
			`POST /v1/keys {"name":"svc","scopes":["billing:read","customers:read"],"allowed_ips":["10.0.0.0/8"],"rate_limit":600,"expires_at":"2027-01-31T00:00:00Z"}`,
			[]string{"key_id", "key_01234567890123456789", "rate_limit", "600", "kg_test_SECRETSECRETSECRETSECRETSECRETSECRET_abcdef", "Store this key now."}, ""},
		{"list prints a table and the next cursor", []string{"list", "-limit", "5"}, `GET /v1/keys?limit=5`,
			[]string{"KEY_ID", "key_01234567890123456789", "billing:read customers:read", "more: -cursor c2"}, ""},
		{"get", []string{"get", "key_01234567890123456789"}, `GET /v1/keys/key_01234567890123456789`, []string{"tier", "gold"}, ""},
		{"update sends only the flags given; an empty -allowed-ips clears the list",
			[]string{"update", "key_01234567890123456789", "-name", "renamed", "-allowed-ips", ""},
			`PATCH /v1/keys/key_01234567890123456789 {"name":"renamed","allowed_ips":[]}`, []string{"key_01234567890123456789"}, ""},
		{"rotate with a grace", []string{"rotate", "key_01234567890123456789", "-grace", "1h"},
			`POST /v1/keys/key_01234567890123456789/rotate {"grace_period_seconds":3600}`, []string{"kg_test_SECRET"}, ""},
		{"revoke", []string{"revoke", "key_01234567890123456789"}, `DELETE /v1/keys/key_01234567890123456789`, []string{"status"}, ""},
		{"events", []string{"events", "key_01234567890123456789"}, `GET /v1/keys/key_01234567890123456789/events`,
			[]string{"key.created", "key_admin0000000000000", "127.0.0.1"}, ""},
		{"-json prints the API's answer unchanged", []string{"get", "key_01234567890123456789", "-json"},
			`GET /v1/keys/key_01234567890123456789`, []string{`{` + adminView + `}`}, ""},
		{"an API error names its code", []string{"get", "key_missing"}, `GET /v1/keys/key_missing`, nil, "not_found"},
		{"a command without its KEY_ID", []string{"get"}, "", nil, "needs a KEY_ID"},
		{"a bad -expires-at is refused before any request", []string{"create", "-name", "x", "-scopes", "billing:read", "-expires-at", "tomorrow"}, "", nil, "RFC 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			f.calls, f.auth = nil, nil
			f.mu.Unlock()
			var out, errOut bytes.Buffer
			err := run(context.Background(), append([]string{"keys"}, tt.args...), &out, &errOut)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("err = %v\nstderr: %s", err, errOut.String())
			}
			f.mu.Lock()
			calls, auth := f.calls, f.auth
			f.mu.Unlock()
			if tt.wantCall == "" {
				if len(calls) != 0 {
					t.Fatalf("sent %q, want no request", calls)
				}
				return
			}
			if len(calls) != 1 || calls[0] != tt.wantCall {
				t.Fatalf("sent %q, want exactly %q", calls, tt.wantCall)
			}
			// The admin credential is presented as is: no token exchange per command.
			if auth[0] != "Bearer kg_test_ADMINADMINADMINADMINADMINADMINADMI_abcdef" {
				t.Fatalf("Authorization = %q", auth[0])
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Fatalf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// A plain API key where a KEY_ID belongs would travel in the URL path (DELETE /v1/keys/<key>)
// into every access log on the way: each command that puts its KEY_ID in a path refuses it
// before sending anything, and says how to find the key id, without printing the key.
func TestKeyIDCommandsRefuseAPlainKeyLocally(t *testing.T) {
	f := &fakeAdmin{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv("KEYGATE_ADMIN_KEY", "kg_test_ADMINADMINADMINADMINADMINADMINADMI_abcdef")
	t.Setenv("KEYGATE_URL", srv.URL)
	plain := map[string]string{}
	for _, prefix := range []string{"kg_live", "kg_test"} {
		k, err := apikey.Generate(prefix, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		plain["a "+prefix+" key"] = k
	}
	typo := []byte(plain["a kg_live key"])
	typo[len(typo)-1] ^= 'a' ^ 'b' // a wrong checksum: still mostly the secret
	plain["a key with a typo"] = string(typo)
	commands := [][]string{
		{"get"}, {"update", "-name", "renamed"}, {"rotate", "-grace", "0s"}, {"revoke"}, {"events"},
	}
	for name, key := range plain {
		for _, cmd := range commands {
			args := append([]string{"keys", cmd[0], key}, cmd[1:]...)
			t.Run(name+"/"+cmd[0], func(t *testing.T) {
				f.mu.Lock()
				f.calls = nil
				f.mu.Unlock()
				var out, errOut bytes.Buffer
				err := run(context.Background(), args, &out, &errOut)
				if err == nil {
					t.Fatal("a plain key was accepted as a KEY_ID")
				}
				if !strings.Contains(err.Error(), "authctl keys list") {
					t.Errorf("the error does not say how to find the key id: %v", err)
				}
				if printed := err.Error() + out.String() + errOut.String(); strings.Contains(printed, key) || strings.Contains(printed, key[8:]) {
					t.Errorf("the key is printed back: %s", printed)
				}
				f.mu.Lock()
				calls := f.calls
				f.mu.Unlock()
				if len(calls) != 0 {
					t.Fatalf("sent %q, want no request", calls)
				}
			})
		}
	}
}
