package e2e_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/keygate/keygate/infra/test/emulatortest"
)

// The API contract, briefly: schemathesis (from the project venv) generates requests from
// infra/openapi/openapi.yaml and checks every answer of the local gateway against it. `make
// contract` runs the same with many more examples on a stack of its own; this run keeps
// `make test` honest at a few examples per operation and a fixed seed.

// contractChecks are the schemathesis checks of both runs (infra/openapi/contract.sh).
const contractChecks = "not_a_server_error,status_code_conformance,content_type_conformance," +
	"response_schema_conformance,response_headers_conformance,negative_data_rejection," +
	"unsupported_method,ignored_auth,missing_required_header,ensure_resource_availability"

// contractVenv locates the project venv (infra/local/stack/install.sh).
func contractVenv(t *testing.T) string {
	t.Helper()
	return emulatortest.Tool(t, "KEYGATE_VENV")
}

func TestTheAPIHonoursItsOpenAPIContract(t *testing.T) {
	need(t)
	st := filepath.Join(contractVenv(t), "bin", "schemathesis")
	if _, err := os.Stat(st); err != nil {
		emulatortest.MissingTool(t, "schemathesis is not in the venv (infra/local/stack/requirements.txt): "+err.Error())
	}

	// The credentials of schemathesis.toml: an admin:full access token for /v1/keys, and a key
	// with every other scope for the auth and sample routes; limits high enough that 429s do
	// not crowd out what the run is for.
	key, _ := createKey(t, map[string]any{"rate_limit": 1_000_000, "scopes": []string{
		"inference:read", "inference:write", "customers:read", "customers:write", "customers:delete",
		"billing:read", "billing:write", "webhooks:read", "webhooks:write"}})
	adminToken, _ := tokenFor(t, adminKey, nil)
	remember(adminToken)
	// The keys the {id} operations work on (schemathesis.toml): no credential of the run.
	_, targetID := createKey(t, map[string]any{"name": "contract target", "scopes": []string{"customers:read"}})
	_, revokeID := createKey(t, map[string]any{"name": "contract target to revoke", "scopes": []string{"customers:read"}})

	// Every operation at a few examples, then the token chains (token -> refresh -> revoke)
	// on their own, as infra/openapi/contract.sh does.
	for _, pass := range [][]string{
		{"--max-examples", "5"},
		{"--max-examples", "10", "--phases", "stateful", "--include-tag", "auth"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
		args := append([]string{"--config-file", filepath.Join("..", "..", "openapi", "schemathesis.toml"),
			"run", filepath.Join("..", "..", "openapi", "openapi.yaml"),
			"--url", apiURL, "--checks", contractChecks, "--seed", "20261201", "--workers", "1",
			"--request-timeout", "15", "--no-color", "--generation-database", "none",
			"--report", "junit", "--report-dir", t.TempDir()}, pass...)
		cmd := exec.CommandContext(ctx, st, args...)
		cmd.Env = append(os.Environ(), "KEYGATE_CONTRACT_API_KEY="+key, "KEYGATE_CONTRACT_ADMIN_TOKEN="+adminToken,
			"KEYGATE_CONTRACT_KEY_ID="+targetID, "KEYGATE_CONTRACT_REVOKE_KEY_ID="+revokeID)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		cancel()
		t.Logf("schemathesis %v took %s", pass, time.Since(start).Round(time.Second))
		if err != nil {
			t.Fatalf("schemathesis found the API and infra/openapi/openapi.yaml disagreeing (%v); reproduce with make contract:\n%s", err, out.String())
		}
	}

	// The run must not have revoked or rotated its own credentials (it would then have seen
	// little but 401s and passed).
	for _, cred := range []string{key, adminToken} {
		if r := call(t, http.MethodGet, "/v1/auth/validate", cred, nil); r.Status != http.StatusOK {
			t.Errorf("a credential of the contract run no longer validates: %d %s", r.Status, r.Body)
		}
	}
}
