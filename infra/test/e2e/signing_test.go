package e2e_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/keygate/keygate/infra/local"
	"github.com/keygate/keygate/shared/rotation"
	"github.com/keygate/keygate/shared/signing"
)

// Signing-key rotation end to end, against moto, on a stack of its own (rotating the main e2e
// stack's key would pull it from under the other tests): rotate → new tokens carry the new kid
// → tokens signed before still verify at the authorizer and /v1/auth/validate → after a second
// rotation the oldest are refused. The JWKS lists the expected kids at every step, including
// the next key once testSecret has passed. The first rotation runs the way `make rotate` does
// (the authctl binary driving RotateFunction through the local Lambda Invoke API), the second
// one step by step through the AWS SDK's lambda client against the same API.

// rotationStage is a stage no other e2e stack uses, on the same emulators.
const rotationStage = "dev"

// keyringRefresh is the stack's KeyringRefresh: how long a warm function may keep signing with,
// and trusting, the keys it loaded.
const keyringRefresh = time.Second

// rotationStack is a stack with short key and revocation caches, its API and Lambda API.
type rotationStack struct {
	st        *local.Stack
	api       *httptest.Server
	lambdaAPI *httptest.Server
	secretID  string
}

func startRotationStack(t *testing.T) *rotationStack {
	t.Helper()
	st, err := sideStack(map[string]string{"Stage": rotationStage, "KeyringRefresh": fmt.Sprint(int(keyringRefresh.Seconds())),
		"AuthorizerCacheTTL": "30", "RevocationMaxAge": "1"})
	if err != nil {
		t.Fatalf("start the rotation stack: %v", err)
	}
	rs := &rotationStack{st: st, api: httptest.NewServer(st.Gateway), lambdaAPI: httptest.NewServer(st.LambdaAPI()),
		secretID: st.Env("RotateFunction")["KEYGATE_SIGNING_SECRET"]}
	t.Cleanup(func() {
		rs.api.Close()
		rs.lambdaAPI.Close()
		_ = st.Close()
	})
	return rs
}

func (rs *rotationStack) do(t *testing.T, method, path, bearer string) (int, []byte) {
	t.Helper()
	status, _, b, err := local.Request(t.Context(), rs.api.URL, method, path, bearer, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, b
}

func (rs *rotationStack) token(t *testing.T, key string) string {
	t.Helper()
	return issueVia(t, rs.api, key, map[string]any{"scopes": []string{"customers:read"}})
}

// jwks returns the kids the JWKS lists, in order, checking the response's caching and that
// no private member is present.
func (rs *rotationStack) jwks(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get(rs.api.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("JWKS: %d %v", resp.StatusCode, err)
	}
	if cc, want := resp.Header.Get("Cache-Control"), fmt.Sprintf("public, max-age=%d", int(signing.PublishedMaxAge(keyringRefresh).Seconds())); cc != want {
		t.Errorf("JWKS Cache-Control = %q, want %q (the stack's KeyringRefresh)", cc, want)
	}
	var kids []string
	for _, k := range body.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Fatalf("the JWKS carries the private member %q", private)
			}
		}
		kids = append(kids, fmt.Sprint(k["kid"]))
	}
	return kids
}

// converge waits for cond up to the signers' activation delay plus KeyringRefresh (plus
// slack): warm functions must pick up a rotation by then, without a restart.
func (rs *rotationStack) converge(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	bound := signing.DefaultActivationDelay(keyringRefresh) + keyringRefresh
	deadline := time.Now().Add(bound + 3*time.Second)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within the activation delay + KeyringRefresh (%s) + 3 s; last: %s", what, bound, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// kidOfToken reads the kid from a compact JWS header.
func kidOfToken(t *testing.T, raw string) string {
	t.Helper()
	hdr, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// authctlRotate runs `authctl signing-keys rotate` against the stack, as `make rotate` does,
// and returns the kid it prints.
func (rs *rotationStack) authctlRotate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "authctl")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/authctl").CombinedOutput(); err != nil {
		t.Fatalf("build authctl: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "signing-keys", "rotate", "-lambda-endpoint", rs.lambdaAPI.URL, "-secret-id", rs.secretID)
	cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL_SECRETS_MANAGER="+os.Getenv("KEYGATE_SECRETS_ENDPOINT"),
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_SESSION_TOKEN=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("authctl signing-keys rotate: %v\n%s", err, stderr.String())
	}
	for _, step := range []string{"createSecret ok", "setSecret ok", "testSecret ok", "finishSecret ok"} {
		if !strings.Contains(stderr.String(), step) {
			t.Errorf("authctl did not report %q:\n%s", step, stderr.String())
		}
	}
	return strings.TrimSpace(string(out))
}

// step invokes one rotation step through the AWS SDK's lambda client.
func (rs *rotationStack) step(t *testing.T, lc *lambda.Client, token, step string) {
	t.Helper()
	payload, _ := json.Marshal(rotation.Event{SecretID: rs.secretID, ClientRequestToken: token, Step: step})
	out, err := lc.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("RotateFunction"), Payload: payload})
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if out.FunctionError != nil {
		t.Fatalf("%s failed: %s", step, out.Payload)
	}
}

func TestSigningKeyRotationEndToEnd(t *testing.T) {
	need(t)
	rs := startRotationStack(t)
	key := mintKey(t, rs.st, []string{"customers:read"})
	status := func(method, path, bearer string) int { s, _ := rs.do(t, method, path, bearer); return s }

	// Before: one key, K1.
	k1 := rs.jwks(t)
	if len(k1) != 1 {
		t.Fatalf("JWKS of a fresh stack = %v, want one key", k1)
	}
	// Tokens signed with K1; each is shown to the authorizer once at most, so API Gateway's
	// cache (per Authorization header) never answers in its place.
	t1 := []string{rs.token(t, key), rs.token(t, key), rs.token(t, key)}
	for _, tok := range t1 {
		if kidOfToken(t, tok) != k1[0] {
			t.Fatalf("token kid %s, want K1 %s", kidOfToken(t, tok), k1[0])
		}
	}
	if s := status(http.MethodGet, "/v1/customers/c1", t1[0]); s != 200 {
		t.Fatalf("K1 token at the authorizer before any rotation: %d", s)
	}

	// Rotation 1, as `make rotate` runs it.
	k2 := rs.authctlRotate(t)
	if k2 == "" || k2 == k1[0] {
		t.Fatalf("authctl printed kid %q after rotating from %s", k2, k1[0])
	}
	rs.converge(t, "new tokens carry K2", func() (bool, string) {
		got := kidOfToken(t, rs.token(t, key))
		return got == k2, "kid " + got
	})
	rs.converge(t, "the JWKS lists [K2, K1]", func() (bool, string) {
		got := rs.jwks(t)
		return slices.Equal(got, []string{k2, k1[0]}), fmt.Sprint(got)
	})
	if s := status(http.MethodGet, "/v1/customers/c1", t1[1]); s != 200 {
		t.Errorf("a K1 token at the authorizer after one rotation: %d, want 200", s)
	}
	if s := status(http.MethodGet, "/v1/auth/validate", t1[0]); s != 200 {
		t.Errorf("a K1 token at /v1/auth/validate after one rotation: %d, want 200", s)
	}
	t2 := []string{rs.token(t, key), rs.token(t, key)}
	if s := status(http.MethodGet, "/v1/customers/c1", t2[0]); s != 200 {
		t.Errorf("a K2 token at the authorizer: %d", s)
	}

	// Rotation 2, step by step through the SDK's lambda client: after testSecret the JWKS
	// already publishes K3, which neither signs nor verifies before finishSecret.
	lc := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(rs.lambdaAPI.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	tok3 := fmt.Sprintf("e2e-rotation-%d", time.Now().UnixNano())
	for _, s := range []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest} {
		rs.step(t, lc, tok3, s)
	}
	var k3 string
	rs.converge(t, "the JWKS lists [K2, K1, tested K3]", func() (bool, string) {
		got := rs.jwks(t)
		if len(got) == 3 && got[0] == k2 && got[1] == k1[0] && got[2] != k1[0] && got[2] != k2 {
			k3 = got[2]
			return true, ""
		}
		return false, fmt.Sprint(got)
	})
	if got := kidOfToken(t, rs.token(t, key)); got != k2 {
		t.Errorf("a token issued while K3 is only tested has kid %s, want K2 %s", got, k2)
	}
	rs.step(t, lc, tok3, rotation.StepFinish)

	rs.converge(t, "new tokens carry K3", func() (bool, string) {
		got := kidOfToken(t, rs.token(t, key))
		return got == k3, "kid " + got
	})
	rs.converge(t, "the JWKS lists [K3, K2]", func() (bool, string) {
		got := rs.jwks(t)
		return slices.Equal(got, []string{k3, k2}), fmt.Sprint(got)
	})
	// K1 left AWSPREVIOUS: its tokens are refused everywhere, K2's still verify.
	rs.converge(t, "K1 tokens are refused by /v1/auth/validate", func() (bool, string) {
		s := status(http.MethodGet, "/v1/auth/validate", t1[0])
		return s == 401, fmt.Sprint("status ", s)
	})
	if s := status(http.MethodGet, "/v1/customers/c1", t1[2]); s != 401 {
		t.Errorf("a K1 token at the authorizer after two rotations: %d, want 401", s)
	}
	if s := status(http.MethodGet, "/v1/customers/c1", t2[1]); s != 200 {
		t.Errorf("a K2 token at the authorizer after two rotations: %d, want 200", s)
	}
	if s := status(http.MethodGet, "/v1/auth/validate", t2[0]); s != 200 {
		t.Errorf("a K2 token at /v1/auth/validate after two rotations: %d, want 200", s)
	}

	// A redeployment (every function cold-starts) reads the same keys.
	if err := rs.st.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := kidOfToken(t, rs.token(t, key)); got != k3 {
		t.Errorf("after cold starts a new token has kid %s, want K3 %s", got, k3)
	}
	if got := rs.st.Runner().Stats()["TokenFunction"]; got.ColdStarts != 1 || got.Invocations != 1 {
		t.Errorf("after Restart the token function ran %+v, want one cold start and one invocation", got)
	}
}
