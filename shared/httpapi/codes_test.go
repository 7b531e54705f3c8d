package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/client"
	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/webhook"
)

// codesOf is the codes of specs, in order.
func codesOf(specs []httpapi.CodeSpec) []string {
	out := make([]string, len(specs))
	for i, c := range specs {
		out[i] = c.Code
	}
	return out
}

// specOf is code's entry in the list.
func specOf(t *testing.T, code string) httpapi.CodeSpec {
	t.Helper()
	for _, c := range httpapi.Codes() {
		if c.Code == code {
			return c
		}
	}
	t.Fatalf("%q is not in httpapi.Codes()", code)
	return httpapi.CodeSpec{}
}

// parsePackage parses the non-test Go files of the package in dir.
func parsePackage(t *testing.T, dir string) []*ast.File {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("%s: no Go files (%v)", dir, err)
	}
	var files []*ast.File
	fset := token.NewFileSet()
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// stringLit is the value of a string literal expression.
func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

func TestTheListHasEveryCodeConstantOnceWithAStatusAndAType(t *testing.T) {
	types := []string{httpapi.TypeAuthentication, httpapi.TypeAuthorization, httpapi.TypeInvalidRequest, httpapi.TypeRateLimit, httpapi.TypeAPI}
	listed := map[string]bool{}
	for _, c := range httpapi.Codes() {
		if listed[c.Code] {
			t.Errorf("%s is listed twice", c.Code)
		}
		listed[c.Code] = true
		if c.Status < 400 || c.Status > 599 || http.StatusText(c.Status) == "" {
			t.Errorf("%s: status %d is not an HTTP error status", c.Code, c.Status)
		}
		if !slices.Contains(types, c.Type) {
			t.Errorf("%s: type %q is not one of the contract's types %v", c.Code, c.Type, types)
		}
	}
	// Every exported Code… constant of the package is in the list: a code cannot be added
	// beside it.
	constants := 0
	for _, f := range parsePackage(t, ".") {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Code") || !name.IsExported() || i >= len(vs.Values) {
						continue
					}
					constants++
					if v, ok := stringLit(vs.Values[i]); !ok || !listed[v] {
						t.Errorf("httpapi.%s (%s) is not in the list of codes", name.Name, v)
					}
				}
			}
		}
	}
	if constants != len(listed) {
		t.Errorf("%d Code… constants for %d listed codes; every listed code has one constant", constants, len(listed))
	}
}

// A constructor answers its code's status and type from the list, so the two cannot disagree.
func TestEveryConstructorAnswersItsCodesStatusAndType(t *testing.T) {
	tests := []struct {
		name   string
		err    *httpapi.Error
		status int // 0: the status of the code in the list
	}{
		{"invalid request", httpapi.InvalidRequest("x"), 0},
		{"invalid API key", httpapi.InvalidAPIKey(), 0},
		{"missing credentials", httpapi.MissingCredentials(), 0},
		{"invalid token", httpapi.InvalidToken(), 0},
		{"token expired", httpapi.TokenExpired(), 0},
		{"invalid scope", httpapi.InvalidScope("x"), 0},
		{"invalid grant", httpapi.InvalidGrant("x"), 0},
		{"insufficient permissions", httpapi.InsufficientPermissions("x"), 0},
		{"IP not allowed", httpapi.IPNotAllowed(), 0},
		{"rate limited", httpapi.RateLimited(1), 0},
		{"not found", httpapi.NotFound("x"), 0},
		{"method not allowed", httpapi.MethodNotAllowed(nil), 0},
		{"too large", httpapi.TooLarge(1), 0},
		{"unsupported media type is invalid_request with the status that names the problem", httpapi.UnsupportedMediaType(), http.StatusUnsupportedMediaType},
		{"unavailable", httpapi.Unavailable(nil), 0},
		{"internal", httpapi.Internal(nil), 0},
		{"New of a listed code", httpapi.New(httpapi.CodeTooManyRevokedTokens, "x"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := specOf(t, tt.err.Code)
			want := spec.Status
			if tt.status != 0 {
				want = tt.status
			}
			if tt.err.Status != want || tt.err.Type != spec.Type {
				t.Errorf("%s answers %d %s, want %d %s", tt.err.Code, tt.err.Status, tt.err.Type, want, spec.Type)
			}
		})
	}
}

func TestNewOfACodeOutsideTheListIsAnInternalErrorThatSaysSo(t *testing.T) {
	e := httpapi.New("no_such_code", "x")
	if e.Status != http.StatusInternalServerError || e.Code != httpapi.CodeInternal || !strings.Contains(e.Error(), "no_such_code") {
		t.Fatalf("New(unknown) = %d %s %q, want a 500 internal_error whose cause names the code", e.Status, e.Code, e.Error())
	}
	if strings.Contains(string(e.Body()), "no_such_code") {
		t.Fatalf("the cause reached the body: %s", e.Body())
	}
}

// clientSentinels is every package-level Err… = &Error{Code: "…"} of shared/client, by code,
// split into current and deprecated sentinels (a deprecated one stays for compatibility).
func clientSentinels(t *testing.T) (current, deprecated map[string]string) {
	t.Helper()
	current, deprecated = map[string]string{}, map[string]string{}
	for _, f := range parsePackage(t, filepath.Join("..", "client")) {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				doc := vs.Doc.Text()
				if len(gd.Specs) == 1 {
					doc += gd.Doc.Text()
				}
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Err") || !name.IsExported() || i >= len(vs.Values) {
						continue
					}
					code, ok := sentinelCode(vs.Values[i])
					if !ok {
						continue // not a code sentinel
					}
					into := current
					if strings.Contains(doc, "Deprecated:") {
						into = deprecated
					}
					if prev, dup := into[code]; dup {
						t.Errorf("client.%s and client.%s both stand for %s", prev, name.Name, code)
					}
					into[code] = name.Name
				}
			}
		}
	}
	return current, deprecated
}

// sentinelCode is the code of an &Error{Code: "…"} expression.
func sentinelCode(e ast.Expr) (string, bool) {
	u, ok := e.(*ast.UnaryExpr)
	if !ok || u.Op != token.AND {
		return "", false
	}
	cl, ok := u.X.(*ast.CompositeLit)
	if !ok {
		return "", false
	}
	if typ, ok := cl.Type.(*ast.Ident); !ok || typ.Name != "Error" {
		return "", false
	}
	for _, el := range cl.Elts {
		if kv, ok := el.(*ast.KeyValueExpr); ok {
			if key, ok := kv.Key.(*ast.Ident); ok && key.Name == "Code" {
				return stringLit(kv.Value)
			}
		}
	}
	return "", false
}

// The Go client keeps its own copy of the codes (it imports nothing of keygate): it must have
// a sentinel for exactly the codes the service answers, so a new code cannot be forgotten.
func TestTheClientHasASentinelForExactlyTheServicesCodes(t *testing.T) {
	current, deprecated := clientSentinels(t)
	if len(current) < 10 {
		t.Fatalf("found only %d sentinels in shared/client; is the pattern still right?", len(current))
	}
	service := codesOf(httpapi.Codes())
	for _, code := range service {
		if _, ok := current[code]; !ok {
			t.Errorf("the service answers %s; shared/client has no sentinel for it (add Err… = &Error{Code: %q})", code, code)
		}
	}
	for code, name := range current {
		if !slices.Contains(service, code) {
			t.Errorf("client.%s stands for %s, which the service never answers (remove it, or mark it Deprecated:)", name, code)
		}
	}
	for code, name := range deprecated {
		if slices.Contains(service, code) {
			t.Errorf("client.%s is deprecated, but the service answers %s", name, code)
		}
	}
}

// The client reads every code the service renders back with its status and type.
func TestTheClientReadsEveryCodeTheServiceRenders(t *testing.T) {
	for _, c := range httpapi.Codes() {
		t.Run(c.Code, func(t *testing.T) {
			e := httpapi.New(c.Code, "What to do.")
			resp := &http.Response{StatusCode: e.Status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(e.Body()))}
			for k, v := range e.Headers() {
				resp.Header.Set(k, v)
			}
			var got *client.Error
			if err := client.CheckResponse(resp); !errors.As(err, &got) {
				t.Fatalf("CheckResponse = %v, want a *client.Error", err)
			}
			if got.StatusCode != c.Status || got.Code != c.Code || got.Type != c.Type || got.Message != e.Message {
				t.Errorf("the client read %d %s %s %q, want %d %s %s %q", got.StatusCode, got.Code, got.Type, got.Message, c.Status, c.Code, c.Type, e.Message)
			}
			if !errors.Is(got, &client.Error{Code: c.Code}) {
				t.Errorf("errors.Is does not match %s by code", c.Code)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// shared/webhook writes keygate's error shape itself (it imports nothing of keygate): where it
// answers with one of the service's codes, it answers exactly what the service would.
func TestWebhookRefusalsAreTheServicesErrors(t *testing.T) {
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	guarded, err := webhook.NewVerifier([]string{secret}, webhook.WithClock(func() time.Time { return now }),
		webhook.WithReplayGuard(webhook.NewMemoryGuard(1)))
	if err != nil {
		t.Fatal(err)
	}
	const maxBody = 64
	h := webhook.Middleware(guarded, maxBody)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	delivery := func(id, body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(body))
		hdr, err := webhook.Headers(secret, id, now, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header = hdr
		return r
	}
	serve := func(r *http.Request) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	if rec := serve(delivery("msg_1", "{}")); rec.Code != http.StatusNoContent { // fills the guard
		t.Fatalf("a good delivery got %d %s", rec.Code, rec.Body)
	}

	tests := []struct {
		name string
		req  *http.Request
		want *httpapi.Error
	}{
		{"a body over the limit", delivery("msg_2", strings.Repeat("a", maxBody+1)), httpapi.TooLarge(maxBody)},
		{"a body that cannot be read", httptest.NewRequest(http.MethodPost, "/hooks", failingReader{}), httpapi.InvalidRequest("The request body could not be read.")},
		{"a replay guard that cannot answer", delivery("msg_3", "{}"), httpapi.Unavailable(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(tt.req)
			if rec.Code != tt.want.Status || rec.Body.String() != string(tt.want.Body()) {
				t.Errorf("webhook answered %d %s\nthe service answers %d %s", rec.Code, rec.Body, tt.want.Status, tt.want.Body())
			}
			for k, v := range tt.want.Headers() {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("header %s = %q, the service sends %q", k, got, v)
				}
			}
		})
	}

	t.Run("a signature that does not verify is an authentication error", func(t *testing.T) {
		r := delivery("msg_4", "{}")
		r.Header.Set(webhook.HeaderSignature, "v1,"+strings.Repeat("A", 44))
		rec := serve(r)
		var e struct {
			Error struct{ Code, Type string } `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != http.StatusUnauthorized || e.Error.Type != httpapi.TypeAuthentication {
			t.Errorf("webhook answered %d %s, want 401 with type %s", rec.Code, rec.Body, httpapi.TypeAuthentication)
		}
		if slices.Contains(codesOf(httpapi.Codes()), e.Error.Code) {
			t.Errorf("webhook's %s is one of the service's codes; a receiver's refusal must not read as the service's", e.Error.Code)
		}
	})
}
