package openapi_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/keygate/keygate/infra/local/samtpl"
	"github.com/keygate/keygate/shared/httpapi"
	"github.com/keygate/keygate/shared/policy"
)

// doc is openapi.yaml as plain maps.
type doc map[string]any

func load(t *testing.T) doc {
	t.Helper()
	raw, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any // not doc: yaml.v3 would decode nested objects as doc too
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return doc(m)
}

func template(t *testing.T) *samtpl.Template {
	t.Helper()
	tpl, err := samtpl.Load("../../template.yaml", samtpl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operation is one method of one path of the document.
type operation struct {
	method, path string
	spec         map[string]any
}

func (d doc) operations(t *testing.T) []operation {
	t.Helper()
	var out []operation
	for path, item := range mapAt(t, d, "paths") {
		for key, op := range item.(map[string]any) {
			switch {
			case slices.Contains(httpMethods, key):
				out = append(out, operation{strings.ToUpper(key), path, op.(map[string]any)})
			case key == "parameters" || key == "summary" || key == "description" || strings.HasPrefix(key, "x-"):
			default:
				t.Errorf("paths.%s: unexpected member %q", path, key)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path+out[i].method < out[j].path+out[j].method })
	return out
}

// resolve follows a local $ref ("#/components/...") until it reaches a value that is not one.
func (d doc) resolve(t *testing.T, v any) map[string]any {
	t.Helper()
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("not an object: %v", v)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		v = any(map[string]any(d))
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			v = v.(map[string]any)[part]
			if v == nil {
				t.Fatalf("unresolvable $ref %s", ref)
			}
		}
	}
	t.Fatal("$ref chain too long")
	return nil
}

func mapAt(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("%q is missing or not an object", key)
	}
	return v
}

func TestTheDocumentListsExactlyTheTemplatesRoutes(t *testing.T) {
	d, tpl := load(t), template(t)
	want := map[string]bool{}
	paths := map[string]bool{}
	for _, r := range tpl.Routes {
		paths[r.Path] = true
		if r.Method != "ANY" { // ANY routes answer 405 for the methods a path lacks
			want[r.Method+" "+r.Path] = true
		}
	}
	got := map[string]bool{}
	for _, op := range d.operations(t) {
		got[op.method+" "+op.path] = true
	}
	for k := range want {
		if !got[k] {
			t.Errorf("template.yaml has %s; openapi.yaml does not document it", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("openapi.yaml documents %s; template.yaml has no such route", k)
		}
	}
	for p := range paths {
		if _, ok := mapAt(t, d, "paths")[p]; !ok {
			t.Errorf("template.yaml serves path %s; openapi.yaml has no such path", p)
		}
	}
}

// Protected routes need exactly the scope shared/policy requires; public ones take no
// authorizer and say so.
func TestSecurityMatchesTheAuthorizerAndTheRoutePolicy(t *testing.T) {
	d, tpl := load(t), template(t)
	authorized := map[string]bool{}
	for _, r := range tpl.Routes {
		if r.Method != "ANY" {
			authorized[r.Method+" "+r.Path] = r.AuthorizerName != ""
		}
	}
	for _, op := range d.operations(t) {
		name := op.method + " " + op.path
		security, ok := op.spec["security"].([]any)
		if !ok {
			t.Errorf("%s: no security list (write security: [] for a public route)", name)
			continue
		}
		responses := mapAt(t, op.spec, "responses")
		if !authorized[name] {
			continue // the auth endpoints authenticate keys themselves; their 401s are documented per operation
		}
		want := policy.Required(op.method, op.path)
		if len(security) == 0 {
			t.Errorf("%s is behind the authorizer but declares no security", name)
		}
		for _, req := range security {
			for scheme, scopes := range req.(map[string]any) {
				got := fmt.Sprint(scopes)
				if got != "["+want+"]" {
					t.Errorf("%s: %s scopes %s, want [%s] (shared/policy)", name, scheme, got, want)
				}
			}
		}
		for _, code := range []string{"401", "403", "429", "503"} {
			if _, ok := responses[code]; !ok {
				t.Errorf("%s is behind the authorizer but does not document %s", name, code)
			}
		}
	}
}

// Every non-2xx answer is the one error shape, and every request body the service decodes is a
// closed object (the handlers refuse unknown fields).
func TestEveryErrorIsTheErrorShapeAndEveryBodyIsClosed(t *testing.T) {
	d := load(t)
	errorRef := "#/components/schemas/Error"
	var isError func(schema map[string]any) bool
	isError = func(schema map[string]any) bool {
		if schema["$ref"] == errorRef {
			return true
		}
		r := d.resolve(t, schema)
		// oneOf: each alternative is the error shape (403: ACCESS_DENIED or INVALID_API_KEY).
		if alts, _ := r["oneOf"].([]any); len(alts) > 0 {
			for _, alt := range alts {
				if a, _ := alt.(map[string]any); a == nil || !isError(a) {
					return false
				}
			}
			return true
		}
		parts, _ := r["allOf"].([]any)
		for _, part := range parts {
			if p, _ := part.(map[string]any); p["$ref"] == errorRef {
				return true
			}
		}
		return false
	}
	for _, op := range d.operations(t) {
		name := op.method + " " + op.path
		for code, resp := range mapAt(t, op.spec, "responses") {
			if strings.HasPrefix(code, "2") {
				continue
			}
			r := d.resolve(t, resp)
			content, _ := r["content"].(map[string]any)
			media, _ := content["application/json"].(map[string]any)
			schema, _ := media["schema"].(map[string]any)
			if schema == nil || !isError(schema) {
				t.Errorf("%s %s: not application/json in the error shape", name, code)
			}
		}
		body, ok := op.spec["requestBody"].(map[string]any)
		if !ok {
			continue
		}
		if ref, _ := body["$ref"].(string); ref == "#/components/requestBodies/Ignored" {
			continue // the sample backend ignores its body
		}
		content := mapAt(t, d.resolve(t, body), "content")
		if len(content) != 1 || content["application/json"] == nil {
			t.Errorf("%s: the body must be application/json only", name)
			continue
		}
		schema := d.resolve(t, content["application/json"].(map[string]any)["schema"])
		if schema["additionalProperties"] != false {
			t.Errorf("%s: the body schema must have additionalProperties: false", name)
		}
	}
}

// The Error schema's code enum is httpapi's list of codes: every code the service answers is
// documented and every documented code is answered. template.yaml's gateway responses answer
// only listed codes, with their status and type, and the API's packages name codes only
// through httpapi's constants, so the list is every code they can answer with.
func TestTheErrorShapeListsExactlyTheServicesCodes(t *testing.T) {
	d, tpl := load(t), template(t)
	errSchema := mapAt(t, mapAt(t, mapAt(t, d, "components"), "schemas"), "Error")
	codeSchema := mapAt(t, mapAt(t, mapAt(t, errSchema, "properties"), "error"), "properties")["code"].(map[string]any)
	documented := map[string]bool{}
	for _, c := range codeSchema["enum"].([]any) {
		documented[c.(string)] = true
	}
	// Codes a document may still list although nothing answers them any more: none today.
	retired := map[string]bool{}

	specs := map[string]httpapi.CodeSpec{}
	for _, c := range httpapi.Codes() {
		specs[c.Code] = c
		if !documented[c.Code] {
			t.Errorf("the service answers with code %q; the Error schema's code enum does not list it", c.Code)
		}
	}
	for c := range documented {
		switch _, answered := specs[c]; {
		case retired[c] && answered:
			t.Errorf("%q is answered again; it is no longer retired", c)
		case !retired[c] && !answered:
			t.Errorf("the Error schema lists %q; httpapi's list of codes does not (nothing answers it)", c)
		}
	}
	for c := range retired {
		if !documented[c] {
			t.Errorf("retired code %q is no longer documented; drop it from the retired set", c)
		}
	}

	gwCode := regexp.MustCompile(`"code":"([a-z_]+)"`)
	gwType := regexp.MustCompile(`"type":"([a-z_]+)"`)
	gateway := 0
	for typ, r := range tpl.API.GatewayResponses {
		where := "template.yaml GatewayResponses." + typ
		m := gwCode.FindStringSubmatch(r.Template)
		if m == nil {
			continue // the authorizer's deny_code: always one of httpapi's constructors
		}
		gateway++
		spec, ok := specs[m[1]]
		if !ok {
			t.Errorf("%s answers with code %q; httpapi's list of codes does not have it", where, m[1])
			continue
		}
		if r.StatusCode != 0 && r.StatusCode != spec.Status {
			t.Errorf("%s answers %s with status %d; httpapi's list says %d", where, spec.Code, r.StatusCode, spec.Status)
		}
		if ty := gwType.FindStringSubmatch(r.Template); ty == nil || ty[1] != spec.Type {
			t.Errorf("%s answers %s with type %v; httpapi's list says %s", where, spec.Code, ty, spec.Type)
		}
	}
	if gateway < 5 {
		t.Fatalf("found only %d gateway responses with a code; is the pattern still right?", gateway)
	}

	// A code spelled as a literal would bypass the list.
	literal := regexp.MustCompile(`Code:\s*"[a-z_]+"|\bNew\(\s*"[a-z_]+"`)
	for _, dir := range []string{"httpapi", "authapi", "keysapi", "authorizer", "echo"} {
		files, err := filepath.Glob(filepath.Join("..", "..", "shared", dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("shared/%s: %v", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range literal.FindAllString(string(src), -1) {
				t.Errorf("%s builds an error with the literal code %s; name it with an httpapi.Code… constant", f, m)
			}
		}
	}
}

// Where a documented response narrows the Error shape to some codes, each is answered with
// that response's status (invalid_request also with 415) and, where the document says, type.
func TestEveryDocumentedErrorResponseHasItsCodesStatusAndType(t *testing.T) {
	d := load(t)
	specs := map[string]httpapi.CodeSpec{}
	for _, c := range httpapi.Codes() {
		specs[c.Code] = c
	}
	checked := 0
	for _, op := range d.operations(t) {
		for status, resp := range mapAt(t, op.spec, "responses") {
			if strings.HasPrefix(status, "2") {
				continue
			}
			where := op.method + " " + op.path + " " + status
			codes, types := narrowed(t, d, resp)
			for _, c := range codes {
				spec, ok := specs[c]
				if !ok {
					t.Errorf("%s documents code %q; httpapi's list of codes does not have it", where, c)
					continue
				}
				checked++
				if got := strconv.Itoa(spec.Status); got != status && !(c == httpapi.CodeInvalidRequest && status == "415") {
					t.Errorf("%s documents %s; httpapi's list answers it with %s", where, c, got)
				}
				if len(types) > 0 && !slices.Contains(types, spec.Type) {
					t.Errorf("%s documents %s with type %v; httpapi's list says %s", where, c, types, spec.Type)
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d documented codes; is the walk still right?", checked)
	}
}

// narrowed is the codes and types a response's schema narrows the Error shape to: the const or
// enum of the "code" and "type" members of its inline parts and of the schemas it refers to,
// except the Error schema itself, which lists them all.
func narrowed(t *testing.T, d doc, resp any) (codes, types []string) {
	t.Helper()
	r := d.resolve(t, resp)
	content, _ := r["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if depth > 20 {
			t.Fatal("schema nests too deeply")
		}
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				walk(x, depth+1)
			}
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if ref != "#/components/schemas/Error" {
					walk(d.resolve(t, v), depth+1)
				}
				return
			}
			for k, x := range v {
				m, isMap := x.(map[string]any)
				if isMap && (k == "code" || k == "type") {
					var vals []string
					if c, ok := m["const"].(string); ok {
						vals = append(vals, c)
					}
					for _, e := range anyList(m["enum"]) {
						vals = append(vals, e.(string))
					}
					if k == "code" {
						codes = append(codes, vals...)
					} else {
						types = append(types, vals...)
					}
					continue
				}
				walk(x, depth+1)
			}
		}
	}
	walk(media["schema"], 0)
	return codes, types
}

func anyList(v any) []any {
	l, _ := v.([]any)
	return l
}
