package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/shared/apikey"
	"github.com/keygate/keygate/shared/signing"
)

// Every credential the suite handles is remembered; TestMain and the scenario below scan the
// functions' captured output for them (SECURITY-CASES 29).
var secrets struct {
	mu   sync.Mutex
	list []string
}

func remember(ss ...string) {
	secrets.mu.Lock()
	defer secrets.mu.Unlock()
	for _, s := range ss {
		if s != "" {
			secrets.list = append(secrets.list, s)
		}
	}
}

// leakedSecret returns a description of the first secret found in the function logs, or "".
// Besides the remembered credentials it looks for their hashes, the pepper, the private signing
// key's members and the secret part of each API key on its own.
func leakedSecret(ctx context.Context) string { return leakedIn(ctx, logs.String()) }

// leakedIn is leakedSecret for any text.
func leakedIn(ctx context.Context, out string) string {
	secrets.mu.Lock()
	list := append([]string{}, secrets.list...)
	secrets.mu.Unlock()
	env := stack.Env("TokenFunction")
	get := func(id string) string {
		v, err := stack.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			return ""
		}
		return aws.ToString(v.SecretString)
	}
	pepper := get(env["KEYGATE_PEPPER_SECRET"])
	var named []struct{ what, value string }
	add := func(what, value string) {
		if len(value) >= 8 {
			named = append(named, struct{ what, value string }{what, value})
		}
	}
	add("the pepper", pepper)
	h, herr := apikey.NewHasher([]byte(pepper))
	for _, s := range list {
		add(fmt.Sprintf("a credential (%.10s…)", s), s)
		if parts := strings.Split(s, "_"); len(parts) == 4 && herr == nil {
			add(fmt.Sprintf("an API key's secret (%.10s…)", s), parts[2])
			add(fmt.Sprintf("an API key's hash (%.10s…)", s), h.Hash(s))
		}
	}
	if raw := get(env["KEYGATE_SIGNING_SECRET"]); raw != "" {
		var m map[string]any
		if json.Unmarshal([]byte(raw), &m) == nil {
			for k, v := range m {
				if s, ok := v.(string); ok && (strings.Contains(k, "private") || strings.Contains(k, "pem") || k == "d") {
					add("the private signing key ("+k+")", s)
				}
			}
		}
		if k, err := signing.Parse([]byte(raw)); err == nil {
			_ = k // parsed to be sure this is the signing secret; members above are its text
		}
	}
	for _, n := range named {
		if strings.Contains(out, n.value) {
			return n.what
		}
	}
	return ""
}

// SECURITY-CASES 29 as one scenario: create a key, get tokens, refresh, rotate, revoke, and
// fail in several ways; nothing secret reaches the logs.
func TestSecurityCase29NoSecretsInLogs(t *testing.T) {
	need(t)
	key, id := createKey(t, map[string]any{"scopes": []string{"customers:read"}})
	access, rt := tokenFor(t, key, map[string]any{"customer_id": "cus_logs"})
	call(t, http.MethodGet, "/v1/customers/c1", access, nil)
	call(t, http.MethodGet, "/v1/auth/validate", access, nil)
	r := call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt})
	expect(t, r, http.StatusOK, "")
	m := r.json(t)
	remember(m["access_token"].(string), m["refresh_token"].(string))
	call(t, http.MethodPost, "/v1/auth/refresh", "", map[string]any{"refresh_token": rt}) // reuse: family revoked
	r = call(t, http.MethodPost, "/v1/keys/"+id+"/rotate", adminKey, map[string]any{"grace_period_seconds": 60})
	expect(t, r, http.StatusOK, "")
	rotated := r.json(t)["key"].(string)
	remember(rotated)
	call(t, http.MethodPost, "/v1/auth/revoke", rotated, map[string]any{"token": access})
	call(t, http.MethodPost, "/v1/auth/token", "", map[string]any{"api_key": key + "x"})
	call(t, http.MethodPost, "/v1/auth/token", "", map[string]any{"api_key": key, "scopes": []string{"admin:full"}})
	call(t, http.MethodGet, "/v1/customers/c1", access+"x", nil)
	call(t, http.MethodGet, "/v1/keys", rotated, nil)
	expect(t, call(t, http.MethodDelete, "/v1/keys/"+id, adminKey, nil), http.StatusOK, "")
	call(t, http.MethodPost, "/v1/auth/token", "", map[string]any{"api_key": rotated})
	if leak := leakedSecret(t.Context()); leak != "" {
		t.Fatalf("the function logs contain %s", leak)
	}
	// The scan can fail: each kind of secret is found when it is there.
	pepper := ""
	if v, err := stack.Secrets.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(stack.Env("TokenFunction")["KEYGATE_PEPPER_SECRET"])}); err == nil {
		pepper = aws.ToString(v.SecretString)
	}
	for _, planted := range []string{key, strings.Split(key, "_")[2], access, m["refresh_token"].(string), pepper} {
		if leakedIn(t.Context(), "msg=x detail="+planted+" end") == "" {
			t.Fatalf("the scan misses a planted secret (%.10s…)", planted)
		}
	}
	if l := logs.String(); !strings.Contains(l, "request_id") {
		t.Fatalf("no function log line was captured (%d bytes): the scan proves nothing", len(l))
	}
}
