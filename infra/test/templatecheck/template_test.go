package templatecheck_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/keygate/keygate/infra/test/emulatortest"
)

// templatePath is the project's template, the single source of truth.
const templatePath = "../../../template.yaml"

// cfn is template.yaml as plain data, with YAML short-form intrinsics turned into their long
// form (!Ref X → {"Ref": X}, !GetAtt A.B → {"Fn::GetAtt": [A, B]}, !Sub s → {"Fn::Sub": s}, …),
// which is how CloudFormation itself sees them.
type cfn map[string]any

func loadTemplate(t *testing.T) cfn {
	t.Helper()
	data, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	v, err := plain(&doc)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatal("template is not a mapping")
	}
	return m
}

func plain(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		return plain(n.Content[0])
	case yaml.AliasNode:
		return plain(n.Alias)
	}
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := plain(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			val, err := plain(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		if err := n.Decode(&v); err != nil {
			v = n.Value
		}
		if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
			v = n.Value
		}
	}
	tag := n.Tag
	if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") {
		return v, nil
	}
	switch tag {
	case "!Ref":
		return map[string]any{"Ref": v}, nil
	case "!Condition":
		return map[string]any{"Condition": v}, nil
	case "!GetAtt":
		if s, ok := v.(string); ok {
			id, attr, _ := strings.Cut(s, ".")
			return map[string]any{"Fn::GetAtt": []any{id, attr}}, nil
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	default:
		return map[string]any{"Fn::" + tag[1:]: v}, nil
	}
}

// resources returns the Resources of type typ, by logical id.
func (c cfn) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range c["Resources"].(map[string]any) {
		rm := r.(map[string]any)
		if rm["Type"] == typ {
			out[id] = rm
		}
	}
	return out
}

func (c cfn) resource(id string) map[string]any {
	r, _ := c["Resources"].(map[string]any)[id].(map[string]any)
	return r
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	if p == nil {
		p = map[string]any{}
	}
	return p
}

// path walks nested maps by key.
func path(v any, keys ...string) any {
	if c, ok := v.(cfn); ok {
		v = map[string]any(c)
	}
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// list returns v as a list (a scalar becomes a list of one).
func list(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

// branches expands Fn::If into both of its branches (a check must hold whichever way the
// condition goes) and drops AWS::NoValue.
func branches(v any) []any {
	m, ok := v.(map[string]any)
	if ok && len(m) == 1 {
		if args, ok := m["Fn::If"].([]any); ok && len(args) == 3 {
			return append(branches(args[1]), branches(args[2])...)
		}
		if m["Ref"] == "AWS::NoValue" {
			return nil
		}
	}
	return []any{v}
}

// refTarget is X of {"Ref": X} or of {"Fn::GetAtt": [X, attr]}, else "".
func refTarget(v any) (id, attr string) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", ""
	}
	if s, ok := m["Ref"].(string); ok {
		return s, ""
	}
	if l, ok := m["Fn::GetAtt"].([]any); ok && len(l) == 2 {
		id, _ := l[0].(string)
		attr, _ := l[1].(string)
		return id, attr
	}
	return "", ""
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// samTransform returns the CloudFormation template SAM deploys, produced by the SAM translator
// from the project's pinned Python venv (infra/local/stack/install.sh). Without the venv the test is
// skipped, except under KEYGATE_REQUIRE_EMULATORS=1 (make test, CI), where it fails.
func samTransform(t *testing.T) cfn {
	t.Helper()
	venv := emulatortest.Tool(t, "KEYGATE_VENV")
	python := filepath.Join(venv, "bin", "python")
	if _, err := os.Stat(python); venv == "" || err != nil {
		emulatortest.MissingTool(t, "no Python venv with aws-sam-translator (run make tools)")
	}
	cmd := exec.Command(python, filepath.Join("testdata", "sam_transform.py"), templatePath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("SAM transform: %v\n%s", err, stderr.String())
	}
	var c cfn
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatalf("SAM transform output: %v", err)
	}
	return c
}
