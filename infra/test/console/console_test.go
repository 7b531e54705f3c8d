// Package console_test drives the admin console in a real browser (Debian's Chromium, headless,
// through the DevTools protocol) against the real local stack: the console's own function, the
// auth and admin functions, the emulators. It asserts what the page shows at each step, writes a
// screenshot of each main view at desktop and phone width under .stack/screenshots/console/, and checks the
// page's defences (escaping, no secret left behind, CSP).
package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keygate/keygate/infra/local"
	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/apikey"
)

var (
	stack     *local.Stack
	apiDown   atomic.Bool // when set, every /v1 call fails at the connection, as an outage would
	baseURL   string
	browser   context.Context
	logs      emulatortest.Buffer
	setupErr  error
	skipCause string
	shotsDir  string
)

func TestMain(m *testing.M) {
	env, skip, err := emulatortest.StackFromEnv()
	ddb, sm, bin := env.DynamoDB, env.Secrets, env.Bin
	if err != nil {
		fmt.Fprintln(os.Stderr, "console:", err)
		os.Exit(1)
	}
	if skip != "" {
		skipCause = skip
		os.Exit(m.Run())
	}
	os.Exit(func() int {
		ctx := context.Background()
		stack, setupErr = local.Start(ctx, local.Options{
			Template: filepath.Join("..", "..", "..", "template.yaml"), Params: map[string]string{"Stage": "local"},
			BinDir: bin, DynamoDB: ddb, Secrets: sm, Provision: true, Logs: &logs, Quiet: true,
		})
		if setupErr != nil {
			return m.Run()
		}
		defer stack.Close()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if apiDown.Load() && (strings.HasPrefix(r.URL.Path, "/v1/") || strings.HasPrefix(r.URL.Path, "/.well-known/")) {
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, err := hj.Hijack(); err == nil {
						c.Close()
						return
					}
				}
			}
			stack.Gateway.ServeHTTP(w, r)
		}))
		defer srv.Close()
		baseURL = srv.URL

		root, err := emulatortest.RepoRoot()
		if err != nil {
			setupErr = err
			return m.Run()
		}
		out, err := exec.Command("bash", filepath.Join(root, "infra", "test", "console", "chromium.sh")).Output()
		if err != nil {
			setupErr = fmt.Errorf("no Chromium (infra/test/console/chromium.sh): %w", err)
			return m.Run()
		}
		shotsDir = filepath.Join(root, ".stack", "screenshots", "console")
		if err := os.MkdirAll(shotsDir, 0o755); err != nil {
			setupErr = err
			return m.Run()
		}
		userData, err := os.MkdirTemp("", "keygate-chromium-")
		if err != nil {
			setupErr = err
			return m.Run()
		}
		defer os.RemoveAll(userData)
		// The flags keep a headless Chromium from calling Google's hosts, which this network
		// refuses (each refusal slows the start), and let it run as root.
		actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
			chromedp.ExecPath(strings.TrimSpace(string(out))), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
			chromedp.UserDataDir(userData), chromedp.WindowSize(1280, 900),
			chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
			chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true))
		defer cancelAlloc()
		var cancelBrowser context.CancelFunc
		browser, cancelBrowser = chromedp.NewContext(actx)
		defer cancelBrowser()
		if err := chromedp.Do(browser); err != nil {
			setupErr = fmt.Errorf("start Chromium: %w", err)
		}
		return m.Run()
	}())
}

func need(t *testing.T) {
	t.Helper()
	if skipCause != "" {
		t.Skip(skipCause)
	}
	if setupErr != nil {
		t.Fatalf("setup: %v\nfunction logs:\n%s", setupErr, logs.String())
	}
}

// tab opens a new tab (its own JavaScript state: a fresh console with no session) for t.
func tab(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v\nfunction logs:\n%s", err, tail(logs.String()))
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS(sel)))
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitText waits until sel's text contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		got, _ = chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||""`, sel)))
		if strings.Contains(got, want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never showed %q; it shows %q", sel, want, got)
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	for _, vp := range []struct {
		suffix string
		w, h   int64
		mobile bool
	}{{"desktop", 1280, 900, false}, {"phone", 375, 812, true}} {
		opts := []chromedp.EmulateViewportOption{}
		if vp.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateScale(2))
		}
		do(t, ctx, chromedp.EmulateViewport(vp.w, vp.h, opts...), chromedp.Sleep(150*time.Millisecond))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shotsDir, name+"-"+vp.suffix+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do(t, ctx, chromedp.EmulateViewport(1280, 900))
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

func mint(t *testing.T, scopes ...string) string {
	t.Helper()
	k, err := stack.MintKey(context.Background(), apikey.Spec{Name: t.Name(), Scopes: scopes, RateLimit: 100000, Tier: "enterprise"}, "console test")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func signIn(t *testing.T, ctx context.Context, key string) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(baseURL+"/console"), chromedp.WaitVisible(chromedp.CSS("#admin-key")),
		chromedp.SendKeys(chromedp.CSS("#admin-key"), key), chromedp.Click(chromedp.CSS(`#signin button[type="submit"]`)))
}

// exchange proves a secret the page showed is a real key: POST /v1/auth/token with it.
func exchange(t *testing.T, key string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, baseURL+"/v1/auth/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// An operator's whole round: sign in, create a key (its secret is real), find it in the list,
// rotate it, read its events, revoke it, look at the signing keys, sign out. A name that is
// HTML stays text, and no secret survives its view.
func TestAnOperatorManagesAKeyFromSignInToSignOut(t *testing.T) {
	need(t)
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(baseURL+"/console"), chromedp.WaitVisible(chromedp.CSS("#admin-key")))
	screenshot(t, ctx, "sign-in")
	signIn(t, ctx, mint(t, "admin:full"))
	waitText(t, ctx, "main h1", "API keys")
	if v := eval[string](t, ctx, `document.querySelector("#admin-key") ? "still there" : ""`); v != "" {
		t.Fatalf("the sign-in field is still on the page")
	}

	// Create, with an allowlist that is wrong as typed, then right.
	const evil = `<img src=x onerror="window.__xss=1">`
	do(t, ctx, chromedp.Click(chromedp.CSS("#new-key")), chromedp.WaitVisible(chromedp.CSS("#key-form")),
		chromedp.SendKeys(chromedp.CSS("#f-name"), evil),
		chromedp.Click(chromedp.CSS(`#f-scopes input[value="customers:read"]`)),
		chromedp.SendKeys(chromedp.CSS("#f-ips"), "10.0.0.300"))
	waitText(t, ctx, "#f-ips-error", "Not an IP address or CIDR block: 10.0.0.300")
	screenshot(t, ctx, "create")
	eval[bool](t, ctx, `(document.querySelector("#f-ips").value = "") === ""`)
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#f-ips"), "127.0.0.1/32"))
	waitText(t, ctx, "#f-ips-error", "")
	do(t, ctx, chromedp.Click(chromedp.CSS(`#key-form button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#secret")))
	secret := text(t, ctx, "#secret")
	if !strings.HasPrefix(secret, "kg_test_") {
		t.Fatalf("the shown secret %q is not a key", secret)
	}
	if code := exchange(t, secret); code != http.StatusOK {
		t.Fatalf("the secret the page showed gets %d at POST /v1/auth/token, want 200", code)
	}
	waitText(t, ctx, "#secret-view", "shown only once")
	screenshot(t, ctx, "secret")
	do(t, ctx, chromedp.Click(chromedp.CSS("#close-secret")), chromedp.WaitVisible(chromedp.CSS("#key-title")))
	assertNoSecret(t, ctx, secret)

	if got := text(t, ctx, "#key-title"); got != evil {
		t.Fatalf("the key's name renders as %q, want the literal text %q", got, evil)
	}
	if eval[bool](t, ctx, `window.__xss === 1 || document.querySelector("main img") !== null`) {
		t.Fatalf("the key's name was rendered as HTML")
	}
	waitText(t, ctx, "#events", "key.created")
	waitText(t, ctx, "#usage-plan-name", "keygate-local-startup") // the default tier, at its rate
	screenshot(t, ctx, "detail")

	// The list shows it.
	do(t, ctx, chromedp.Navigate(baseURL+"/console#/keys"))
	waitText(t, ctx, "table.keys tbody", evil)
	screenshot(t, ctx, "keys")

	// Rotate with a grace period: a new secret, once, and the old one's end.
	do(t, ctx, chromedp.Click(chromedp.CSS("a.key-name")), chromedp.WaitVisible(chromedp.CSS("#rotate")),
		chromedp.Click(chromedp.CSS("#rotate")), chromedp.WaitVisible(chromedp.CSS("#secret")))
	rotated := text(t, ctx, "#secret")
	if rotated == secret || exchange(t, rotated) != http.StatusOK {
		t.Fatalf("the rotated secret is not a new working key")
	}
	waitText(t, ctx, "#secret-view", "previous secret keeps working until")
	do(t, ctx, chromedp.Click(chromedp.CSS("#close-secret")), chromedp.WaitVisible(chromedp.CSS("#key-title")))
	assertNoSecret(t, ctx, rotated)
	waitText(t, ctx, "#events", "key.rotated")

	// Revoke: the button stays disabled until the name is typed.
	if !eval[bool](t, ctx, `document.querySelector("#revoke").disabled`) {
		t.Fatalf("revoke is enabled before the name is confirmed")
	}
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#confirm-name"), evil), chromedp.Click(chromedp.CSS("#revoke")))
	waitText(t, ctx, "#key-detail", "revoked")
	waitText(t, ctx, "#usage-status", "no usage plan")
	if exchange(t, rotated) == http.StatusOK {
		t.Fatalf("a revoked key still gets tokens")
	}

	// Signing keys: the JWKS, with the current key marked.
	do(t, ctx, chromedp.Navigate(baseURL+"/console#/signing-keys"))
	waitText(t, ctx, "#jwks", "current")
	screenshot(t, ctx, "signing-keys")

	do(t, ctx, chromedp.Click(chromedp.CSS("#signout")))
	waitText(t, ctx, "#signin-message", "Signed out.")
}

// assertNoSecret fails when secret is anywhere the page keeps things: the DOM, storage,
// cookies or the URL.
func assertNoSecret(t *testing.T, ctx context.Context, secret string) {
	t.Helper()
	where := eval[string](t, ctx, fmt.Sprintf(`(() => { const s = %q; const found = [];
		if (document.documentElement.outerHTML.includes(s)) found.push("DOM");
		for (const st of [localStorage, sessionStorage]) for (let i = 0; i < st.length; i++) { const k = st.key(i); if (k.includes(s) || (st.getItem(k)||"").includes(s)) found.push("storage"); }
		if (document.cookie.includes(s)) found.push("cookie");
		if (location.href.includes(s)) found.push("URL");
		return found.join(","); })()`, secret))
	if where != "" {
		t.Fatalf("the secret is still in: %s", where)
	}
}

// Sign-in refuses what it must, in words an operator understands.
func TestSignInExplainsWhatIsWrong(t *testing.T) {
	need(t)
	for _, tt := range []struct {
		name, key, want string
	}{
		{"a wrong key", "kg_test_notarealkey", "That key is not valid"},
		{"a key that is not an admin key", "", "This key cannot administer keys"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tab(t)
			key := tt.key
			if key == "" {
				key = mint(t, "customers:read")
			}
			signIn(t, ctx, key)
			waitText(t, ctx, "#signin-message", tt.want)
			if v := eval[string](t, ctx, `document.querySelector("#admin-key").value`); v != "" {
				t.Errorf("the refused key is still in the field")
			}
		})
	}
}

// With the API unreachable the page says so and offers a retry; it does not go blank.
func TestAnUnreachableAPIShowsARetry(t *testing.T) {
	need(t)
	ctx := tab(t)
	signIn(t, ctx, mint(t, "admin:full"))
	waitText(t, ctx, "main h1", "API keys")
	apiDown.Store(true)
	defer apiDown.Store(false)
	do(t, ctx, chromedp.Navigate(baseURL+"/console#/signing-keys"))
	waitText(t, ctx, "#banner", "Cannot reach the API")
	screenshot(t, ctx, "api-down")
	if n := eval[int](t, ctx, `document.querySelectorAll("#banner button").length`); n != 1 {
		t.Fatalf("no retry button on the outage banner")
	}
	apiDown.Store(false)
	do(t, ctx, chromedp.Click(chromedp.CSS("#banner button")))
	waitText(t, ctx, "main h1", "Signing keys")
}

// The page is served with its CSP, and the CSP blocks inline script (the defence behind the
// escaping).
func TestTheCSPIsSentAndBlocksInlineScript(t *testing.T) {
	need(t)
	resp, err := http.Get(baseURL + "/console")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("console headers: CSP %q, X-Frame-Options %q, Referrer-Policy %q", csp, resp.Header.Get("X-Frame-Options"), resp.Header.Get("Referrer-Policy"))
	}
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(baseURL+"/console"), chromedp.WaitVisible(chromedp.CSS("#admin-key")))
	ran := eval[bool](t, ctx, `(() => { const s = document.createElement("script"); s.textContent = "window.__inline = true"; document.body.append(s); return window.__inline === true; })()`)
	if ran {
		t.Fatalf("an inline script ran: the CSP does not block it")
	}
	if !eval[bool](t, ctx, `typeof fetch === "function" && document.querySelector("#admin-key") !== null`) {
		t.Fatalf("the page itself did not run")
	}
}

// A syntax error in the one script leaves the page at "Loading…" for every user; node finds it
// in well under a second, before any browser starts.
func TestTheScriptParses(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		emulatortest.MissingTool(t, "node is needed to check the console's script: "+err.Error())
		return
	}
	root, err := emulatortest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "shared", "console", "assets", "app.js"))
	if err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(t.TempDir(), "app.mjs") // .mjs: node parses it as the module it is
	if err := os.WriteFile(mod, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, "--check", mod).CombinedOutput(); err != nil {
		t.Fatalf("app.js does not parse: %v\n%s", err, out)
	}
}
