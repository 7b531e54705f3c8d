package e2e_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/infra/local"
	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/apikey"

	"github.com/keygate/keygate/shared/signing"

	"github.com/keygate/keygate/shared/token"
)

// Interop: tokens keygate signs verify with two verifiers that share no code with it, AWS's
// aws-jwt-verify (Node) and PyJWT (Python), each fetching keygate's JWKS over HTTPS from the
// local API; and the same verifiers refuse a tampered, an expired and a wrong-audience token.
// The verifiers are installed by infra/local/stack/install.sh (node_modules and the venv).

// verdict is one verifier's answer for one token.
type verdict struct {
	Valid bool   `json:"valid"`
	Sub   string `json:"sub"`
	Scope string `json:"scope"`
	JTI   string `json:"jti"`
	Error string `json:"error"`
}

// verifierTools locates the installed verifiers (infra/local/stack/install.sh).
func verifierTools(t *testing.T) (nodeModules, venv string) {
	t.Helper()
	return emulatortest.Tool(t, "KEYGATE_NODE_MODULES"), emulatortest.Tool(t, "KEYGATE_VENV")
}

// tlsFront serves a stack's gateway over HTTPS (aws-jwt-verify fetches JWKS only over https)
// and counts JWKS fetches, so the test knows the verifiers really went over the network.
type tlsFront struct {
	srv      *httptest.Server
	caFile   string
	jwksHits atomic.Int64
	jwksURI  string
	issuer   string
	audience string
}

func newTLSFront(t *testing.T, st *local.Stack) *tlsFront {
	t.Helper()
	f := &tlsFront{}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/jwks.json" {
			f.jwksHits.Add(1)
		}
		st.Gateway.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	f.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := st.Env("TokenFunction")
	f.jwksURI, f.issuer, f.audience = f.srv.URL+"/.well-known/jwks.json", env["KEYGATE_ISSUER"], env["KEYGATE_AUDIENCE"]
	return f
}

// verifyAll runs both verifiers over tokens with the expected audience and returns their
// verdicts by verifier name.
func (f *tlsFront) verifyAll(t *testing.T, audience string, tokens []string) map[string][]verdict {
	t.Helper()
	nodeModules, venv := verifierTools(t)
	input, err := json.Marshal(map[string]any{"jwks_uri": f.jwksURI, "issuer": f.issuer, "audience": audience, "cafile": f.caFile, "tokens": tokens})
	if err != nil {
		t.Fatal(err)
	}
	interop := filepath.Join("..", "interop")
	run := func(name string, cmd *exec.Cmd) []verdict {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
		c.Env = append(os.Environ(), cmd.Env...)
		c.Stdin = bytes.NewReader(input)
		var stderr bytes.Buffer
		c.Stderr = &stderr
		out, err := c.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr.String())
		}
		var vs []verdict
		if err := json.Unmarshal(out, &vs); err != nil || len(vs) != len(tokens) {
			t.Fatalf("%s printed %q (%v), want %d verdicts", name, out, err, len(tokens))
		}
		return vs
	}
	node, err := exec.LookPath("node")
	if err != nil {
		emulatortest.MissingTool(t, "node not on PATH")
	}
	nodeCmd := exec.Command(node, filepath.Join(interop, "verify-aws-jwt-verify.cjs"))
	nodeCmd.Env = []string{"NODE_PATH=" + nodeModules, "NODE_EXTRA_CA_CERTS=" + f.caFile}
	pyCmd := exec.Command(filepath.Join(venv, "bin", "python"), filepath.Join(interop, "verify_pyjwt.py"))
	return map[string][]verdict{"aws-jwt-verify": run("aws-jwt-verify", nodeCmd), "PyJWT": run("PyJWT", pyCmd)}
}

// tampered re-encodes token's payload with one claim changed, keeping header and signature.
func tampered(t *testing.T, raw, claim string, value any) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	m[claim] = value
	b, _ := json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// expiredToken is signed by keygate's own Issuer with the stack's real AWSCURRENT key, at a
// clock two hours back, so it expired an hour ago.
func expiredToken(t *testing.T, st *local.Stack) string {
	t.Helper()
	env := st.Env("TokenFunction")
	ring := signing.New(st.Secrets, env["KEYGATE_SIGNING_SECRET"], signing.Options{})
	past := func() time.Time { return time.Now().Add(-2 * time.Hour) }
	raw, _, err := token.NewIssuer(ring, env["KEYGATE_ISSUER"], env["KEYGATE_AUDIENCE"], past).Issue(context.Background(),
		token.Grant{KeyID: "key_ABCDEFGHIJKLMNOPQRST", CustomerID: "cus_expired", Scopes: []string{"customers:read"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// mintKey creates an API key directly in st's tables (as authctl bootstrap does).
func mintKey(t *testing.T, st *local.Stack, scopes []string) string {
	t.Helper()
	plain, err := st.MintKey(context.Background(), apikey.Spec{Name: t.Name(), Scopes: scopes, RateLimit: 100000, Tier: "enterprise"}, "e2e interop")
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// issueVia asks the token endpoint of the server srv (in front of a stack) for a token.
func issueVia(t *testing.T, srv *httptest.Server, key string, body map[string]any) string {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	body["api_key"] = key
	b, _ := json.Marshal(body)
	resp, err := srv.Client().Post(srv.URL+"/v1/auth/token", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("token request: status %d, %v %v", resp.StatusCode, out, err)
	}
	return out["access_token"].(string)
}

// algStacks are extra stacks on the same emulators that sign with ES256 and EdDSA (the
// template's SigningAlgorithm), under stages the main e2e stack does not use. Started once,
// on first use, and stopped by the test that started them.
var (
	algStacksMu sync.Mutex
	algStacks   = map[string]*local.Stack{}
)

var algStage = map[string]string{signing.ES256: "staging", signing.EdDSA: "prod"}

func stackFor(t *testing.T, alg string) *local.Stack {
	t.Helper()
	if alg == signing.RS256 {
		return stack
	}
	algStacksMu.Lock()
	defer algStacksMu.Unlock()
	if st := algStacks[alg]; st != nil {
		return st
	}
	st, err := sideStack(map[string]string{"Stage": algStage[alg], "SigningAlgorithm": alg})
	if err != nil {
		t.Fatalf("start the %s stack: %v", alg, err)
	}
	algStacks[alg] = st
	return st
}

func stopAlgStacks() {
	algStacksMu.Lock()
	defer algStacksMu.Unlock()
	for alg, st := range algStacks {
		_ = st.Close()
		delete(algStacks, alg)
	}
}

func TestIndependentVerifiersAcceptKeygateTokensAndRefuseBadOnes(t *testing.T) {
	need(t)
	defer stopAlgStacks()
	for _, alg := range []string{signing.RS256, signing.ES256, signing.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			st := stackFor(t, alg)
			front := newTLSFront(t, st)
			key := mintKey(t, st, []string{"customers:read", "billing:read"})
			good := issueVia(t, front.srv, key, map[string]any{"customer_id": "cus_interop", "scopes": []string{"customers:read"}})
			hdr, _, _ := strings.Cut(good, ".")
			var h map[string]string
			if b, err := base64.RawURLEncoding.DecodeString(hdr); err != nil || json.Unmarshal(b, &h) != nil || h["alg"] != alg || h["typ"] != "at+jwt" {
				t.Fatalf("token header %v, want alg %s typ at+jwt", h, alg)
			}
			tokens := []string{
				good,
				tampered(t, good, "scope", "customers:read admin:full"),
				tampered(t, good, "sub", "cus_someone_else"),
				expiredToken(t, st),
			}
			// sub is the key id qualified by the customer id the caller chose.
			wantSub := fmt.Sprint(claimsOf(t, good)["key_id"]) + ":cus_interop"
			names := []string{"a keygate token", "a token whose scope was widened", "a token whose subject was changed", "an expired token"}
			for verifier, vs := range front.verifyAll(t, front.audience, tokens) {
				for i, v := range vs {
					if want := i == 0; v.Valid != want {
						t.Errorf("%s: %s: valid = %v, want %v (%s)", verifier, names[i], v.Valid, want, v.Error)
					}
				}
				if vs[0].Sub != wantSub || vs[0].Scope != "customers:read" || vs[0].JTI == "" {
					t.Errorf("%s read the claims as %+v", verifier, vs[0])
				}
				t.Logf("%s refused: %s | %s | %s", verifier, vs[1].Error, vs[2].Error, vs[3].Error)
			}
			// The same valid token, for a verifier that expects another audience.
			for verifier, vs := range front.verifyAll(t, "https://api.other.example", []string{good}) {
				if vs[0].Valid {
					t.Errorf("%s accepted a token for another audience", verifier)
				} else {
					t.Logf("%s refused the wrong audience: %s", verifier, vs[0].Error)
				}
			}
			if front.jwksHits.Load() < 2 {
				t.Errorf("the verifiers fetched the JWKS %d times, want at least one each", front.jwksHits.Load())
			}
		})
	}
}
