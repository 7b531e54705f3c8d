package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/keygate/keygate/infra/local/samtpl"
)

// Router matches request paths against the template's resource paths.
type Router struct {
	root *node
}

// node is one path segment of the resource tree.
type node struct {
	literal    map[string]*node
	param      *node
	paramName  string
	greedy     *node
	greedyName string

	resource string                  // the resource path when methods are defined here
	methods  map[string]samtpl.Route // by upper-case method, including ANY
	// mock is the response of methods["OPTIONS"] when that method is the CORS preflight SAM
	// generated (a MOCK integration) rather than a function's event.
	mock *RenderedResponse
}

// Match is a matched route with its path parameters (nil when the resource has none, as in
// API Gateway's event).
type Match struct {
	Route          samtpl.Route
	PathParameters map[string]string
	// Mock is the answer of the route's MOCK integration, which API Gateway returns without
	// calling a function (Route.FunctionID is then ""); nil when a function serves the route.
	// It is the router's own value, shared by every match: read it, never modify it.
	Mock *RenderedResponse
}

// RouterOption configures NewRouter.
type RouterOption func(*routerConfig)

type routerConfig struct {
	cors               *samtpl.CORS
	corsAuthorizer     string
	corsAPIKeyRequired bool
}

// NewRouter builds the resource tree. Sibling parameters with different names are refused,
// as API Gateway refuses them.
func NewRouter(routes []samtpl.Route, opts ...RouterOption) (*Router, error) {
	var cfg routerConfig
	for _, o := range opts {
		o(&cfg)
	}
	rt := &Router{root: &node{}}
	for _, r := range routes {
		if err := rt.add(r); err != nil {
			return nil, err
		}
	}
	if cfg.cors != nil {
		rt.root.addPreflights(cfg.cors, cfg.corsAuthorizer, cfg.corsAPIKeyRequired)
	}
	return rt, nil
}

func (rt *Router) add(r samtpl.Route) error {
	n := rt.root
	for _, seg := range splitPath(r.Path) {
		switch {
		case strings.HasSuffix(seg, "+}") && strings.HasPrefix(seg, "{"):
			name := seg[1 : len(seg)-2]
			if n.greedy == nil {
				n.greedy, n.greedyName = &node{}, name
			} else if n.greedyName != name {
				return fmt.Errorf("gateway: %s: {%s+} conflicts with {%s+} at the same level", r.Path, name, n.greedyName)
			}
			n = n.greedy
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			name := seg[1 : len(seg)-1]
			if n.param == nil {
				n.param, n.paramName = &node{}, name
			} else if n.paramName != name {
				return fmt.Errorf("gateway: %s: {%s} conflicts with {%s} at the same level", r.Path, name, n.paramName)
			}
			n = n.param
		default:
			if n.literal == nil {
				n.literal = map[string]*node{}
			}
			child, ok := n.literal[seg]
			if !ok {
				child = &node{}
				n.literal[seg] = child
			}
			n = child
		}
	}
	if n.methods == nil {
		n.methods = map[string]samtpl.Route{}
	}
	if _, dup := n.methods[r.Method]; dup {
		return fmt.Errorf("gateway: %s %s is defined twice", r.Method, r.Path)
	}
	n.resource = r.Path
	n.methods[r.Method] = r
	return nil
}

// splitPath returns the segments of a resource path ("/" has none).
func splitPath(p string) []string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// Match finds the route for method and an escaped request path. Like API Gateway it
// resolves the resource first (the most specific path) and then the method on that
// resource, exact method before ANY; a resource without the method is no match (API
// Gateway answers MISSING_AUTHENTICATION_TOKEN) even if a less specific resource, such as a
// greedy {proxy+} parent, has it.
func (rt *Router) Match(method, escapedPath string) (m Match, ok bool) {
	if !strings.HasPrefix(escapedPath, "/") {
		return Match{}, false
	}
	segs := splitPath(escapedPath)
	params := map[string]string{}
	n := rt.root.match(segs, params)
	if n == nil {
		return Match{}, false
	}
	r, ok := n.methods[strings.ToUpper(method)]
	if !ok {
		if r, ok = n.methods["ANY"]; !ok {
			return Match{}, false
		}
	}
	m.Route = r
	if r.Method == http.MethodOptions {
		m.Mock = n.mock
	}
	if len(params) > 0 {
		m.PathParameters = params
	}
	return m, true
}

// match walks the tree preferring literal segments, then {param}, then {greedy+},
// backtracking when a branch fails deeper down.
func (n *node) match(segs []string, params map[string]string) *node {
	if len(segs) == 0 {
		if n.methods != nil {
			return n
		}
		return nil
	}
	seg, err := url.PathUnescape(segs[0])
	if err != nil {
		return nil
	}
	if child, ok := n.literal[seg]; ok {
		if found := child.match(segs[1:], params); found != nil {
			return found
		}
	}
	if n.param != nil && seg != "" {
		if found := n.param.match(segs[1:], params); found != nil {
			params[n.paramName] = seg
			return found
		}
	}
	if n.greedy != nil && n.greedy.methods != nil {
		rest, err := url.PathUnescape(strings.Join(segs, "/"))
		if err == nil && rest != "" {
			params[n.greedyName] = rest
			return n.greedy
		}
	}
	return nil
}
