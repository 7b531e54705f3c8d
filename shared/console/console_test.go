package console_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/shared/console"
	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/policy"
)

func newHandler(t *testing.T) *console.Handler {
	t.Helper()
	h, err := console.New(console.Options{KeyPrefix: "kg_test", Tiers: console.SuggestedTiers})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h *console.Handler, resource, proxy, v string) (*httpapi.Response, error) {
	t.Helper()
	ev := events.APIGatewayProxyRequest{HTTPMethod: "GET", Resource: resource}
	if proxy != "" {
		ev.PathParameters = map[string]string{"proxy": proxy}
		ev.Path = "/console/" + proxy
	}
	if v != "" {
		ev.QueryStringParameters = map[string]string{"v": v}
	}
	return h.Router().Serve(context.Background(), &ev)
}

// The page names every asset by its content hash, and every asset it names is served with the
// security headers, its own content type and an immutable cache for that hash only.
func TestThePageNamesItsAssetsByHashAndEveryAnswerIsLockedDown(t *testing.T) {
	h := newHandler(t)
	page, err := get(t, h, "/console", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if page.Headers["Content-Type"] != "text/html; charset=utf-8" || page.Headers["Cache-Control"] != "no-cache" {
		t.Errorf("page headers %v", page.Headers)
	}
	if strings.Contains(string(page.Body), "{{") {
		t.Fatalf("page has an unrendered placeholder:\n%s", page.Body)
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).Match(page.Body) || strings.Contains(string(page.Body), " on") && regexp.MustCompile(`\son[a-z]+=`).Match(page.Body) {
		t.Errorf("the page carries inline script or handlers (the CSP would block them)")
	}
	refs := regexp.MustCompile(`(?:src|href)="console/([a-z.]+)\?v=([0-9a-f]{16})"`).FindAllStringSubmatch(string(page.Body), -1)
	if len(refs) < 3 {
		t.Fatalf("page names %d assets, want the script, the style and the icon", len(refs))
	}
	for _, r := range refs {
		resp, err := get(t, h, "/console/{proxy+}", r[1], r[2])
		if err != nil {
			t.Fatalf("%s: %v", r[1], err)
		}
		if resp.Headers["Cache-Control"] != "public, max-age=31536000, immutable" {
			t.Errorf("%s at its hash: Cache-Control %q", r[1], resp.Headers["Cache-Control"])
		}
		stale, _ := get(t, h, "/console/{proxy+}", r[1], "0000000000000000")
		if strings.Contains(stale.Headers["Cache-Control"], "immutable") {
			t.Errorf("%s at another hash is cached for good", r[1])
		}
	}
	for _, resp := range []*httpapi.Response{page} {
		for k, v := range console.SecurityHeaders {
			if resp.Headers[k] != v {
				t.Errorf("header %s = %q, want %q", k, resp.Headers[k], v)
			}
		}
	}
	csp := console.SecurityHeaders["Content-Security-Policy"]
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP lacks %q: %s", want, csp)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline script or eval: %s", csp)
	}
}

// The page's scope choices come from the product's scope list, not a copy.
func TestTheConfigCarriesTheProductsScopeList(t *testing.T) {
	resp, err := get(t, newHandler(t), "/console/{proxy+}", "config.json", "")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Scopes []string `json:"scopes"`
		Admin  string   `json:"admin_scope"`
		Prefix string   `json:"key_prefix"`
	}
	if err := json.Unmarshal(resp.Body, &cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Scopes, policy.All) || cfg.Admin != policy.Admin || cfg.Prefix != "kg_test" {
		t.Errorf("config = %+v", cfg)
	}
}

func TestUnknownFilesAre404(t *testing.T) {
	h := newHandler(t)
	for _, name := range []string{"index.html", "../console.go", "nope.js", "", "app.js/x"} {
		if _, err := get(t, h, "/console/{proxy+}", name, ""); httpapi.From(err).Status != 404 {
			t.Errorf("%q: %v, want 404", name, err)
		}
	}
}

// The whole front end stays small: under 150 KB gzipped.
func TestTheFrontEndFitsItsBudget(t *testing.T) {
	h := newHandler(t)
	page, _ := get(t, h, "/console", "", "")
	total := gz(t, page.Body)
	for _, name := range []string{"app.js", "app.css", "favicon.svg", "config.json"} {
		resp, err := get(t, h, "/console/{proxy+}", name, "")
		if err != nil {
			t.Fatal(err)
		}
		total += gz(t, resp.Body)
	}
	if total > 150<<10 || total < 1<<10 {
		t.Fatalf("front end is %d bytes gzipped; the budget is 150 KB", total)
	}
	t.Logf("front end: %d bytes gzipped", total)
}

func gz(t *testing.T, b []byte) int {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}
