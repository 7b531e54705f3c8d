package console_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keygate/keygate/shared/console"
)

// A key's usage (issue 19's GET /v1/keys/{id}/usage) on its page: the plan of its tier, the
// quota left and the calls it made per day, 7 or 30 days back; an outage of the usage call
// says so in the section and retries there; a revoked key has no plan and the page says what
// to run. Nothing in the section trips the CSP, and a name that is HTML stays text.
func TestAKeysPageShowsItsPlanAndTheCallsItMade(t *testing.T) {
	need(t)
	ctx := tab(t)
	signIn(t, ctx, mint(t, "admin:full"))
	waitText(t, ctx, "main h1", "API keys")
	// The page is one document from here on (hash routes): a listener now sees every violation.
	eval[bool](t, ctx, `(window.__csp = [], document.addEventListener("securitypolicyviolation",
		(e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI)), true)`)

	const name = `<b id="pwn">metered</b>`
	do(t, ctx, chromedp.Click(chromedp.CSS("#new-key")), chromedp.WaitVisible(chromedp.CSS("#key-form")),
		chromedp.SendKeys(chromedp.CSS("#f-name"), name),
		chromedp.Click(chromedp.CSS(`#f-scopes input[value="customers:read"]`)),
		chromedp.SetValue(chromedp.CSS("#f-tier"), "free"),
		chromedp.Click(chromedp.CSS(`#key-form button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#secret")))
	secret := text(t, ctx, "#secret")
	const made = 3
	for i := 0; i < made; i++ {
		if code := protectedCall(t, secret); code != http.StatusOK {
			t.Fatalf("protected call %d with the new key: %d, want 200", i+1, code)
		}
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("#close-secret")), chromedp.WaitVisible(chromedp.CSS("#key-title")))
	if got := text(t, ctx, "#key-title"); got != name || eval[bool](t, ctx, `document.querySelector("#pwn") !== null`) {
		t.Fatalf("the key's name renders as %q (or as HTML), want the literal text %q", got, name)
	}

	// The plan of the free tier, with the rate the key got from it (the form sent none).
	waitText(t, ctx, "#usage-plan-name", "keygate-local-free")
	plan := eval[[]string](t, ctx, `[...document.querySelectorAll("#usage-plan dt, #usage-plan dd")].map((n) => n.textContent)`)
	for _, want := range []string{"Rate limit", "60 requests/min", "Burst", "60 requests", "Quota", "10,000 a day", "Left today"} {
		if !slices.Contains(plan, want) {
			t.Errorf("the plan shows %q, want %q among them", plan, want)
		}
	}
	if !strings.Contains(text(t, ctx, "#key-detail"), "60 requests/min") {
		t.Errorf("the key's rate_limit is not its tier's: %s", text(t, ctx, "#key-detail"))
	}
	waitText(t, ctx, "#usage-remaining", "9,997 of 10,000") // 10,000 - made
	today := time.Now().UTC().Format("2006-01-02")
	usedToday := fmt.Sprintf(`(document.querySelector('#usage-days tr[data-date=%q] .used') || {}).textContent`, today)
	if got := eval[string](t, ctx, usedToday); got != fmt.Sprint(made) {
		t.Errorf("today's calls show as %q, want %d", got, made)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#usage-days tbody tr").length`); n != 7 {
		t.Errorf("the table has %d days, want 7", n)
	}
	waitText(t, ctx, "#usage-summary", fmt.Sprintf("%d calls in the last 7 days", made))
	// Today's bar is the tallest; a day without calls is a sliver, not nothing.
	bars := eval[[]int](t, ctx, `[...document.querySelectorAll("#usage-chart .fill")].map((b) => b.offsetHeight)`)
	if len(bars) != 7 || bars[6] < 60 || bars[0] < 1 || bars[0] > 3 {
		t.Errorf("bar heights %v: want 7 bars, the last (today's) the full height, the others 2px", bars)
	}
	screenshot(t, ctx, "usage")

	// 30 days back, and back to 7.
	do(t, ctx, chromedp.Click(chromedp.CSS("#usage-30")))
	waitText(t, ctx, "#usage-summary", "in the last 30 days")
	if n := eval[int](t, ctx, `document.querySelectorAll("#usage-days tbody tr").length`); n != 30 {
		t.Errorf("the 30-day table has %d days", n)
	}
	if got := eval[string](t, ctx, usedToday); got != fmt.Sprint(made) {
		t.Errorf("today's calls over 30 days show as %q, want %d", got, made)
	}
	if p := eval[string](t, ctx, `["7", "30"].map((n) => document.querySelector("#usage-" + n).getAttribute("aria-pressed")).join()`); p != "false,true" {
		t.Errorf("the switch's pressed states (7, 30) are %s, want false,true", p)
	}
	screenshot(t, ctx, "usage-30days")

	// The usage call fails (the API is unreachable): the section says so and retries itself.
	apiDown.Store(true)
	do(t, ctx, chromedp.Click(chromedp.CSS("#usage-7")))
	waitText(t, ctx, "#usage-status", "Cannot reach the API")
	screenshot(t, ctx, "usage-error")
	apiDown.Store(false)
	if !strings.Contains(text(t, ctx, "#key-title"), "metered") {
		t.Fatalf("the key's page went away with the usage call")
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("#usage-retry")))
	waitText(t, ctx, "#usage-summary", fmt.Sprintf("%d calls in the last 7 days", made))

	if v := eval[[]string](t, ctx, `window.__csp`); len(v) != 0 {
		t.Errorf("the CSP refused something on the key's page: %v", v)
	}

	// Revoked: no plan any more, and the page says what repairs an active key.
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#confirm-name"), name), chromedp.Click(chromedp.CSS("#revoke")))
	waitText(t, ctx, "#key-detail", "revoked")
	waitText(t, ctx, "#usage-status", "This key has no usage plan")
	waitText(t, ctx, "#usage-status", "authctl keys sync")
	screenshot(t, ctx, "usage-no-plan")
	if eval[bool](t, ctx, `document.querySelector("#usage-plan") !== null || !document.querySelector("#usage .switch").hidden`) {
		t.Errorf("a revoked key's page still shows a plan or a period to choose")
	}
	// The parts a revoked key's page leaves out (edit, rotate, revoke) leave nothing behind.
	if got := text(t, ctx, "main"); strings.Contains(got, "null") || strings.Contains(got, "undefined") {
		t.Errorf("the revoked key's page shows a stray null or undefined:\n%s", got)
	}
}

// The create form offers the stage's tiers (startup first, the default) and no rate, so a key
// gets its tier's; a tier the server refuses shows the server's reason; the edit form moves a
// key to another tier with that tier's rate.
func TestTheKeyFormOffersTheTiersAndShowsARefusal(t *testing.T) {
	need(t)
	ctx := tab(t)
	signIn(t, ctx, mint(t, "admin:full"))
	waitText(t, ctx, "main h1", "API keys")
	do(t, ctx, chromedp.Navigate(baseURL+"/console#/keys/new"), chromedp.WaitVisible(chromedp.CSS("#key-form")))
	if got := eval[[]string](t, ctx, `[...document.querySelectorAll("#f-tier option")].map((o) => o.value)`); !slices.Equal(got, console.SuggestedTiers) {
		t.Errorf("the tier choices are %v, want %v", got, console.SuggestedTiers)
	}
	if v := eval[string](t, ctx, `document.querySelector("#f-tier").value + "|" + document.querySelector("#f-rate").value`); v != "startup|" {
		t.Errorf("tier|rate start as %q, want startup and an empty rate", v)
	}

	// A tier the stage does not have (an option added as a stale page might have it).
	eval[bool](t, ctx, `(() => { const s = document.querySelector("#f-tier"); s.append(new Option("platinum", "platinum")); s.value = "platinum"; return true; })()`)
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#f-name"), "tiered"), chromedp.Click(chromedp.CSS(`#f-scopes input[value="customers:read"]`)),
		chromedp.Click(chromedp.CSS(`#key-form button[type="submit"]`)))
	waitText(t, ctx, "#form-error", "tier must be one of")
	for _, tier := range console.SuggestedTiers {
		waitText(t, ctx, "#form-error", tier)
	}

	// The same form, a real tier: the key gets the tier's rate.
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#f-tier"), "free"), chromedp.Click(chromedp.CSS(`#key-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#close-secret")), chromedp.Click(chromedp.CSS("#close-secret")))
	waitText(t, ctx, "#key-detail", "60 requests/min")

	// Edit: another tier, the rate untouched, so the new tier's rate.
	do(t, ctx, chromedp.Click(chromedp.CSS("#edit")), chromedp.WaitVisible(chromedp.CSS("#key-form")))
	if v := eval[string](t, ctx, `document.querySelector("#f-tier").value + "|" + document.querySelector("#f-rate").value`); v != "free|60" {
		t.Errorf("the edit form starts at %q, want free|60", v)
	}
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#f-tier"), "growth"), chromedp.Click(chromedp.CSS(`#key-form button[type="submit"]`)))
	waitText(t, ctx, "#key-detail", "10000 requests/min")
	waitText(t, ctx, "#usage-plan-name", "keygate-local-growth")
}

// protectedCall is one GET of a protected route (metered by the key's usage plan) with key.
func protectedCall(t *testing.T, key string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/v1/customers", nil)
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
