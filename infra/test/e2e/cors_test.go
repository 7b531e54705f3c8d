package e2e_test

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestCORSPreflight sends, through the running local gateway, the preflight a browser on
// another origin sends before a POST with a bearer token and a JSON body, and judges the
// answer as the browser does (the Fetch standard's CORS check): an ok status, the origin
// allowed, the method and every requested header listed. A failed preflight blocks the real
// request before it leaves the browser, so this is what browser callers of the API depend on.
func TestCORSPreflight(t *testing.T) {
	need(t)
	const (
		origin         = "https://app.example.com"
		requestMethod  = http.MethodPost
		requestHeaders = "authorization,content-type"
	)
	allowedOrigin := stack.Template.Parameters["CorsAllowOrigin"].Value
	tests := []struct{ name, path string }{
		{"the token endpoint", "/v1/auth/token"},
		{"a protected route, without the credentials browsers leave out of preflights", "/v1/keys"},
		{"a protected route with a path parameter", "/v1/keys/key_cors_preflight/rotate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, apiURL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", requestMethod)
			req.Header.Set("Access-Control-Request-Headers", requestHeaders)
			resp, err := api.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				t.Fatalf("status %d (the browser wants an ok status); body %s", resp.StatusCode, body)
			}
			h := resp.Header
			if got := h.Get("Access-Control-Allow-Origin"); got != allowedOrigin || (got != "*" && got != origin) {
				t.Errorf("Access-Control-Allow-Origin = %q; want CorsAllowOrigin %q, which must admit %s", got, allowedOrigin, origin)
			}
			// Methods compare exactly, header names without regard to case.
			if methods := headerList(h, "Access-Control-Allow-Methods"); !slices.Contains(methods, requestMethod) {
				t.Errorf("Access-Control-Allow-Methods %v lacks %s", methods, requestMethod)
			}
			allowed := headerList(h, "Access-Control-Allow-Headers")
			for _, name := range strings.Split(requestHeaders, ",") {
				if !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, name) }) {
					t.Errorf("Access-Control-Allow-Headers %v lacks %s", allowed, name)
				}
			}
			if age, err := strconv.Atoi(h.Get("Access-Control-Max-Age")); err != nil || age <= 0 {
				t.Errorf("Access-Control-Max-Age = %q; browsers would preflight every request", h.Get("Access-Control-Max-Age"))
			}
		})
	}
}

// headerList splits a comma-separated header value into its trimmed items.
func headerList(h http.Header, name string) []string {
	var out []string
	for _, item := range strings.Split(h.Get(name), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
