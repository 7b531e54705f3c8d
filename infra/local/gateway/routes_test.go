package gateway_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/local/gateway"
	"github.com/keygate/keygate/infra/local/samtpl"
)

func router(t testing.TB, routes ...string) *gateway.Router {
	t.Helper()
	var rs []samtpl.Route
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		rs = append(rs, samtpl.Route{Method: method, Path: path, FunctionID: r})
	}
	rt, err := gateway.NewRouter(rs)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestRouterPrecedence(t *testing.T) {
	rt := router(t,
		"GET /",
		"GET /a/b",
		"GET /a/{id}",
		"GET /a/{id}/c",
		"GET /a/b/d",
		"ANY /a/{id}/x",
		"GET /p/{proxy+}",
		"POST /p/exact",
	)
	tests := []struct {
		method, path string
		want         string // FunctionID, "" for no match
		params       map[string]string
	}{
		{"GET", "/", "GET /", nil},
		{"GET", "/a/b", "GET /a/b", nil},
		{"GET", "/a/z", "GET /a/{id}", map[string]string{"id": "z"}},
		{"GET", "/a/b/c", "GET /a/{id}/c", map[string]string{"id": "b"}}, // backtracks from the literal b
		{"GET", "/a/b/d", "GET /a/b/d", nil},
		{"DELETE", "/a/q/x", "ANY /a/{id}/x", map[string]string{"id": "q"}},
		{"GET", "/a/q/x", "ANY /a/{id}/x", map[string]string{"id": "q"}},
		{"POST", "/a/b", "", nil}, // method not defined, no ANY; /a/{id} is not tried
		{"GET", "/a", "", nil},
		{"GET", "/a//c", "", nil}, // an empty segment is no parameter value
		{"GET", "/p/one", "GET /p/{proxy+}", map[string]string{"proxy": "one"}},
		{"GET", "/p/one/two/three", "GET /p/{proxy+}", map[string]string{"proxy": "one/two/three"}},
		{"GET", "/p/exact", "", nil}, // the resource /p/exact matches first; it has no GET, and that is final
		{"POST", "/p/exact", "POST /p/exact", nil},
		{"GET", "/p", "", nil}, // greedy needs at least one segment
		{"GET", "/a/%7Bid%7D", "GET /a/{id}", map[string]string{"id": "{id}"}},
		{"GET", "no-slash", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			m, ok := rt.Match(tc.method, tc.path)
			if ok != (tc.want != "") || m.Route.FunctionID != tc.want {
				t.Fatalf("Match = %q (%v), want %q", m.Route.FunctionID, ok, tc.want)
			}
			if !equalMaps(m.PathParameters, tc.params) {
				t.Errorf("params = %v, want %v", m.PathParameters, tc.params)
			}
		})
	}
}

func TestRouterRefusesConflicts(t *testing.T) {
	for _, routes := range [][]samtpl.Route{
		{{Method: "GET", Path: "/a/{id}"}, {Method: "GET", Path: "/a/{name}"}},
		{{Method: "GET", Path: "/a"}, {Method: "GET", Path: "/a"}},
	} {
		if _, err := gateway.NewRouter(routes); err == nil {
			t.Errorf("NewRouter(%v) accepted a conflict", routes)
		}
	}
}

// FuzzRouterMatch: any path either misses or matches a route whose template, filled with
// the returned parameters, reproduces the (decoded) path.
func FuzzRouterMatch(f *testing.F) {
	tpl, err := samtpl.Load(realTemplate, samtpl.Options{})
	if err != nil {
		f.Fatal(err)
	}
	routes := append(tpl.Routes, samtpl.Route{Method: "GET", Path: "/files/{proxy+}", FunctionID: "F"})
	rt, err := gateway.NewRouter(routes)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("GET", "/v1/keys/abc/rotate")
	f.Add("PUT", "/v1/keys/a%2Fb")
	f.Add("GET", "/files/a/b/c")
	f.Add("GET", "//")
	f.Fuzz(func(t *testing.T, method, path string) {
		m, ok := rt.Match(method, path)
		if !ok {
			return
		}
		filled := m.Route.Path
		for k, v := range m.PathParameters {
			filled = strings.Replace(filled, "{"+k+"+}", v, 1)
			filled = strings.Replace(filled, "{"+k+"}", v, 1)
		}
		decoded, err := url.PathUnescape(path)
		if err != nil {
			t.Fatalf("matched an undecodable path %q", path)
		}
		if filled != decoded {
			t.Errorf("path %q matched %s with %v, which gives %q", path, m.Route.Path, m.PathParameters, filled)
		}
	})
}
