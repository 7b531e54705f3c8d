package sdk_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/infra/local"
	"github.com/keygate/keygate/infra/local/awsproxy"
	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/apikey"
)

// The stack's revocation bounds and refresh grace (seconds), as infra/test/e2e's: short enough
// to watch a revocation and a refresh-token reuse take effect.
const (
	authorizerCacheTTL = 2
	revocationMaxAge   = 1
	refreshGrace       = 2
)

// stackPrefix is what the functions call their tables and secrets in stage "local";
// ownPrefix is what they are called on the emulators (see renamer).
const (
	stackPrefix = "keygate-local-"
	ownPrefix   = "keygate-sdk-"
)

// demoScopes are make run's demo key's (infra/local/run-local.sh): the READMEs' quick starts
// run with such a key.
var demoScopes = []string{"customers:read", "customers:write", "inference:read", "inference:write", "billing:read"}

var (
	root      string // the repository
	apiURL    string // the local API Gateway
	adminKey  string
	demoKey   string
	logs      emulatortest.Buffer // everything the functions printed
	setupErr  error
	skipCause string
)

func TestMain(m *testing.M) {
	var err error
	if root, err = emulatortest.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, "sdk:", err)
		os.Exit(1)
	}
	env, skip, err := emulatortest.StackFromEnv()
	ddb, sm, bin := env.DynamoDB, env.Secrets, env.Bin
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdk:", err)
		os.Exit(1)
	}
	if skip != "" {
		skipCause = skip
		os.Exit(m.Run())
	}
	os.Exit(func() int {
		ddbProxy, smProxy := renamer(ddb), renamer(sm)
		defer ddbProxy.Close()
		defer smProxy.Close()
		ctx := context.Background()
		stack, err := local.Start(ctx, local.Options{
			Template: filepath.Join(root, "template.yaml"),
			Params: map[string]string{"Stage": "local", "RefreshGrace": strconv.Itoa(refreshGrace),
				"AuthorizerCacheTTL": strconv.Itoa(authorizerCacheTTL), "RevocationMaxAge": strconv.Itoa(revocationMaxAge)},
			BinDir:    bin,
			DynamoDB:  ddbProxy.URL,
			Secrets:   smProxy.URL,
			Provision: true,
			Logs:      &logs,
			Quiet:     true,
		})
		if err != nil {
			setupErr = err
			return m.Run()
		}
		defer stack.Close()
		api := httptest.NewServer(stack.Gateway)
		defer api.Close()
		apiURL = api.URL
		adminKey, setupErr = stack.MintKey(ctx, apikey.Spec{Name: "sdk admin", Scopes: []string{"admin:full"}, RateLimit: 100000, Tier: "enterprise"}, "sdk bootstrap")
		if setupErr == nil {
			demoKey, setupErr = stack.MintKey(ctx, apikey.Spec{Name: "sdk demo", Scopes: demoScopes, RateLimit: 100000, Tier: "enterprise"}, "sdk bootstrap")
		}
		code := m.Run()
		// The keys this package made never reach the functions' logs, whatever the SDKs did
		// with them (the suites check their own logs for the keys and tokens they handle).
		for name, key := range map[string]string{"the admin key": adminKey, "the demo key": demoKey} {
			if key != "" && strings.Contains(logs.String(), key) {
				fmt.Fprintf(os.Stderr, "sdk: the function logs contain %s\n", name)
				code = 1
			}
		}
		return code
	}())
}

// need skips or fails the test when the stack is not there.
func need(t *testing.T) {
	t.Helper()
	if skipCause != "" {
		emulatortest.MissingTool(t, skipCause)
	}
	if setupErr != nil {
		t.Fatalf("local stack setup failed: %v\nfunction logs:\n%s", setupErr, logs.String())
	}
}

// renamer is a proxy before an emulator that renames the stack's tables, secrets, API keys and
// usage plans (stackPrefix → ownPrefix in requests, back in answers), so this stack shares the
// emulators but none of them with infra/test/e2e.
func renamer(target string) *httptest.Server {
	return httptest.NewServer(awsproxy.Renaming(target,
		strings.NewReplacer(stackPrefix, ownPrefix), strings.NewReplacer(ownPrefix, stackPrefix), nil))
}

// sdkTools are what install.sh --sdk prints: the SDK venv and (with node) node_modules.
var (
	sdkToolsOnce sync.Once
	sdkToolVars  map[string]string
	sdkToolsErr  error
)

// sdkTool returns one of install.sh --sdk --print-env's variables (installing on first use);
// a missing one skips the test, or fails it under KEYGATE_REQUIRE_EMULATORS=1.
func sdkTool(t *testing.T, name string) string {
	t.Helper()
	sdkToolsOnce.Do(func() {
		start := time.Now()
		cmd := exec.Command("bash", filepath.Join(root, "infra", "local", "stack", "install.sh"), "--sdk", "--print-env")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			sdkToolsErr = fmt.Errorf("infra/local/stack/install.sh --sdk --print-env: %v\n%s", err, stderr.String())
			return
		}
		sdkToolVars = map[string]string{}
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				sdkToolVars[k] = strings.Trim(v, `'"`)
			}
		}
		if d := time.Since(start); d > time.Second {
			fmt.Fprintf(os.Stderr, "sdk: install.sh --sdk took %v\n", d.Round(time.Millisecond))
		}
	})
	if sdkToolsErr != nil {
		emulatortest.MissingTool(t, sdkToolsErr.Error())
	}
	v := sdkToolVars[name]
	if v == "" {
		emulatortest.MissingTool(t, "infra/local/stack/install.sh --sdk --print-env gives no "+name+" (node >= 20 and npm missing?)")
	}
	return v
}

// suiteEnv is the environment of an end-to-end suite: the stack, its bounds, the webhook
// vectors to verify and where to write the deliveries the SDK signs.
func suiteEnv(vectors, out string) []string {
	return []string{
		"KEYGATE_SDK_BASE_URL=" + apiURL,
		"KEYGATE_SDK_ADMIN_KEY=" + adminKey,
		"KEYGATE_SDK_REVOCATION_BOUND=" + strconv.Itoa(authorizerCacheTTL+revocationMaxAge),
		"KEYGATE_SDK_REFRESH_GRACE=" + strconv.Itoa(refreshGrace),
		"KEYGATE_SDK_WEBHOOK_VECTORS=" + vectors,
		"KEYGATE_SDK_WEBHOOK_OUT=" + out,
	}
}

// run runs a command in dir with extra environment, bounded by timeout; it fails the test with
// the command's output when the command fails, and logs how long it took.
func run(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		t.Fatalf("%s %s (in %s, %v): %v\n%s", filepath.Base(name), strings.Join(args, " "), dir, took, err, out.String())
	}
	t.Logf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), took)
	return out.String()
}

// TestServeForManualRuns keeps the stack up for running an SDK's e2e suite by hand:
//
//	KEYGATE_SDK_SERVE=1 make test PKGS=./infra/test/sdk TEST_FLAGS='-run TestServeForManualRuns -v'
//
// prints the environment to export, and serves until the test binary is interrupted.
func TestServeForManualRuns(t *testing.T) {
	if os.Getenv("KEYGATE_SDK_SERVE") != "1" {
		t.Skip("set KEYGATE_SDK_SERVE=1 to keep the stack up for manual runs of the SDK e2e suites")
	}
	need(t)
	dir := t.TempDir()
	vectors, out := filepath.Join(dir, "vectors.json"), filepath.Join(dir, "signed.json")
	writeVectors(t, vectors)
	for _, kv := range suiteEnv(vectors, out) {
		fmt.Printf("export %s\n", kv)
	}
	fmt.Println("# serving until interrupted (Ctrl-C)")
	select {}
}
