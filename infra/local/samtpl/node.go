package samtpl

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// object is a YAML mapping node with its keys indexed, remembering where it sits in the
// template so that every error can name the exact property.
type object struct {
	where string
	keys  []string
	vals  map[string]*yaml.Node
}

// deref follows YAML aliases and unwraps document nodes.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch n.Kind {
		case yaml.AliasNode:
			n = n.Alias
		case yaml.DocumentNode:
			if len(n.Content) == 0 {
				return nil
			}
			n = n.Content[0]
		default:
			return n
		}
	}
	return nil
}

// isNull reports whether n is absent or an explicit YAML null.
func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// asObject indexes a mapping node; duplicate keys are an error because YAML libraries
// disagree on which one wins and CloudFormation rejects them.
func asObject(n *yaml.Node, where string) (object, error) {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return object{}, fmt.Errorf("%s: want a mapping, got %s", where, kindName(n))
	}
	if n.Tag != "" && n.Tag != "!!map" {
		return object{}, fmt.Errorf("%s: unsupported tag %s on a mapping", where, n.Tag)
	}
	o := object{where: where, vals: make(map[string]*yaml.Node, len(n.Content)/2)}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			return object{}, fmt.Errorf("%s: mapping key is not a scalar", where)
		}
		if _, dup := o.vals[k.Value]; dup {
			return object{}, fmt.Errorf("%s: duplicate key %q", where, k.Value)
		}
		o.keys = append(o.keys, k.Value)
		o.vals[k.Value] = n.Content[i+1]
	}
	return o, nil
}

// get returns the value node of key, or nil when the key is absent or null.
func (o object) get(key string) *yaml.Node {
	n := o.vals[key]
	if isNull(n) {
		return nil
	}
	return n
}

func (o object) path(key string) string { return o.where + "." + key }

// allow fails on any key outside the known set, so that an unknown construct is reported
// instead of silently ignored.
func (o object) allow(known ...string) error {
	for _, k := range o.keys {
		found := false
		for _, a := range known {
			if k == a {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("%s: unsupported property %q (supported: %s)", o.where, k, strings.Join(known, ", "))
		}
	}
	return nil
}

// asList returns the items of a sequence node.
func asList(n *yaml.Node, where string) ([]*yaml.Node, error) {
	n = deref(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: want a list, got %s", where, kindName(n))
	}
	if n.Tag != "" && n.Tag != "!!seq" {
		return nil, fmt.Errorf("%s: unsupported tag %s on a list", where, n.Tag)
	}
	return n.Content, nil
}

// literal returns the text of a plain scalar (no intrinsic allowed).
func literal(n *yaml.Node, where string) (string, error) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("%s: want a plain value, got %s", where, kindName(n))
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return "", fmt.Errorf("%s: intrinsic %s is not allowed here", where, n.Tag)
	}
	if n.Tag == "!!null" {
		return "", fmt.Errorf("%s: value is null", where)
	}
	return n.Value, nil
}

func kindName(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "" && n.Tag != "!!str" {
			return "scalar " + n.Tag
		}
		return "a scalar"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	return "an unknown node"
}

func parseBool(s, where string) (bool, error) {
	switch strings.ToLower(s) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s: want true or false, got %q", where, s)
}

func parseInt(s, where string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%s: want an integer, got %q", where, s)
	}
	return v, nil
}
