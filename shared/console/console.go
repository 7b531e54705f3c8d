// Package console serves the admin console: a static page (HTML, CSS, one ES module) embedded
// in the function's binary. It holds no authority of its own: the page signs in at
// POST /v1/auth/token with an admin key it drops at once, and every data call goes to the
// existing admin and auth endpoints with the short-lived access token. What this package owns
// is how the page is delivered: a strict Content-Security-Policy (no inline script, nothing
// from another origin), no framing, no referrer, and caching that never serves a stale page
// after a deploy (the page itself is no-cache; the assets it names carry their content hash and
// are immutable).
package console

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/policy"
)

//go:embed assets
var assets embed.FS

// SecurityHeaders go on every answer of the console. The CSP is the one place an XSS would be
// stopped if escaping ever failed: scripts only from this origin, no inline script or eval, API
// calls only to this origin, no framing, no <base> tricks, no form posts elsewhere.
var SecurityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
	"X-Frame-Options":            "DENY",
	"Referrer-Policy":            "no-referrer",
	"X-Content-Type-Options":     "nosniff",
	"Cross-Origin-Opener-Policy": "same-origin",
}

// SuggestedTiers are the tiers the create form offers: template.yaml's default usage plans,
// startup (the admin API's default) first. The admin API refuses a tier without a plan and
// says which there are.
var SuggestedTiers = []string{"startup", "free", "growth", "enterprise"}

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	hash        string // first 16 hex digits of its SHA-256
}

// Handler serves GET /console (the page) and GET /console/{proxy+} (its assets and config).
type Handler struct {
	page   []byte
	assets map[string]asset // by file name
}

var types = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
}

// Options are what the page shows of the stage: the API-key prefix (kg_test or kg_live) and
// the tier labels the create form offers.
type Options struct {
	KeyPrefix string
	Tiers     []string
}

// New loads the embedded assets and renders the page with their hashed names.
func New(o Options) (*Handler, error) {
	h := &Handler{assets: map[string]asset{}}
	entries, err := assets.ReadDir("assets")
	if err != nil {
		return nil, fmt.Errorf("console: read assets: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if name == "index.html" {
			continue
		}
		ct, ok := types[path.Ext(name)]
		if !ok {
			return nil, fmt.Errorf("console: asset %s has no known content type", name)
		}
		b, err := assets.ReadFile("assets/" + name)
		if err != nil {
			return nil, fmt.Errorf("console: read %s: %w", name, err)
		}
		h.assets[name] = newAsset(b, ct)
	}
	// The page reads the product's own scope list from here rather than keeping a second copy.
	cfg, err := json.Marshal(struct {
		Scopes []string `json:"scopes"`
		Admin  string   `json:"admin_scope"`
		Tiers  []string `json:"tiers"`
		Prefix string   `json:"key_prefix"`
	}{policy.All, policy.Admin, o.Tiers, o.KeyPrefix})
	if err != nil {
		return nil, fmt.Errorf("console: config: %w", err)
	}
	h.assets["config.json"] = newAsset(cfg, types[".json"])

	page, err := assets.ReadFile("assets/index.html")
	if err != nil {
		return nil, fmt.Errorf("console: read index.html: %w", err)
	}
	s := string(page)
	for name, a := range h.assets {
		s = strings.ReplaceAll(s, "{{"+name+"}}", "console/"+name+"?v="+a.hash)
	}
	if strings.Contains(s, "{{") {
		return nil, fmt.Errorf("console: index.html names an asset that does not exist")
	}
	h.page = []byte(s)
	return h, nil
}

func newAsset(b []byte, ct string) asset {
	sum := sha256.Sum256(b)
	return asset{body: b, contentType: ct, hash: hex.EncodeToString(sum[:8])}
}

// Router returns the console's routes.
func (h *Handler) Router() *httpapi.Router {
	var rt httpapi.Router
	rt.Handle(http.MethodGet, "/console", h.Page)
	rt.Handle(http.MethodGet, "/console/{proxy+}", h.Asset)
	return &rt
}

// Page serves the console's single page. no-cache: a browser revalidates it, so a deploy is
// seen at once; everything it names is versioned by content.
func (h *Handler) Page(context.Context, *httpapi.Request) (*httpapi.Response, error) {
	return respond(h.page, "text/html; charset=utf-8", "no-cache"), nil
}

// Asset serves one embedded file by name. A request naming the file's current hash may be
// cached for good; any other (an old page after a deploy, or no version) only briefly.
func (h *Handler) Asset(_ context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	name := r.PathParameters["proxy"]
	a, ok := h.assets[name]
	if !ok {
		return nil, httpapi.NotFound("No such console file.")
	}
	cache := "public, max-age=60"
	if r.QueryStringParameters["v"] == a.hash {
		cache = "public, max-age=31536000, immutable"
	}
	if name == "config.json" {
		cache = "no-cache"
	}
	return respond(a.body, a.contentType, cache), nil
}

func respond(body []byte, contentType, cache string) *httpapi.Response {
	headers := map[string]string{"Content-Type": contentType, "Cache-Control": cache}
	for k, v := range SecurityHeaders {
		headers[k] = v
	}
	return &httpapi.Response{Status: http.StatusOK, Headers: headers, Body: body}
}
