package samtpl

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Conditions depend only on parameters, so they have one definite value locally, as they do
// at deploy time: a resource whose Condition is false does not exist, and Fn::If picks its
// branch. Supported: Fn::Equals, Fn::Not, Fn::And, Fn::Or and Condition references, in short
// and long form.

// parseConditions records the Conditions section; each condition is evaluated on first use.
func (r *resolver) parseConditions(n *yaml.Node) error {
	r.condNodes = map[string]*yaml.Node{}
	r.conds = map[string]bool{}
	r.condBusy = map[string]bool{}
	if n == nil {
		return nil
	}
	o, err := asObject(n, "Conditions")
	if err != nil {
		return err
	}
	for _, name := range o.keys {
		r.condNodes[name] = o.vals[name]
	}
	// Evaluate all of them now, so that a broken condition is reported even when nothing
	// uses it (CloudFormation refuses such a template too).
	for _, name := range o.keys {
		if _, err := r.condition(name, "Conditions."+name); err != nil {
			return err
		}
	}
	return nil
}

// condition returns the value of the named condition.
func (r *resolver) condition(name, where string) (bool, error) {
	if v, ok := r.conds[name]; ok {
		return v, nil
	}
	n, ok := r.condNodes[name]
	if !ok {
		return false, fmt.Errorf("%s: unknown condition %q", where, name)
	}
	if r.condBusy[name] {
		return false, fmt.Errorf("%s: condition cycle through %s", where, name)
	}
	r.condBusy[name] = true
	defer delete(r.condBusy, name)
	v, err := r.condExpr(n, "Conditions."+name)
	if err != nil {
		return false, err
	}
	r.conds[name] = v
	return v, nil
}

// condExpr evaluates a condition expression: a condition function or a Condition reference.
func (r *resolver) condExpr(n *yaml.Node, where string) (bool, error) {
	n = deref(n)
	if n == nil {
		return false, fmt.Errorf("%s: condition is missing", where)
	}
	fn, arg := "", (*yaml.Node)(nil)
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!Condition":
		return r.condition(n.Value, where)
	case n.Tag == "!Equals" || n.Tag == "!Not" || n.Tag == "!And" || n.Tag == "!Or":
		fn, arg = "Fn::"+n.Tag[1:], n
	case n.Kind == yaml.MappingNode && len(n.Content) == 2:
		fn, arg = scalarText(n.Content[0]), n.Content[1]
		if fn == "Condition" {
			name, err := literal(arg, where+".Condition")
			if err != nil {
				return false, err
			}
			return r.condition(name, where)
		}
	default:
		return false, fmt.Errorf("%s: want a condition function (Fn::Equals, Fn::Not, Fn::And, Fn::Or) or a Condition reference", where)
	}
	items, err := asListAnyTag(arg, where+"."+fn)
	if err != nil {
		return false, err
	}
	switch fn {
	case "Fn::Equals":
		if len(items) != 2 {
			return false, fmt.Errorf("%s: Fn::Equals wants two values, got %d", where, len(items))
		}
		a, err := r.value(items[0], where+".Fn::Equals[0]")
		if err != nil {
			return false, err
		}
		b, err := r.value(items[1], where+".Fn::Equals[1]")
		if err != nil {
			return false, err
		}
		return a == b, nil
	case "Fn::Not":
		if len(items) != 1 {
			return false, fmt.Errorf("%s: Fn::Not wants one condition, got %d", where, len(items))
		}
		v, err := r.condExpr(items[0], where+".Fn::Not[0]")
		return !v, err
	case "Fn::And", "Fn::Or":
		if len(items) < 2 || len(items) > 10 {
			return false, fmt.Errorf("%s: %s wants 2 to 10 conditions, got %d", where, fn, len(items))
		}
		and := fn == "Fn::And"
		result := and
		for i, it := range items {
			v, err := r.condExpr(it, fmt.Sprintf("%s.%s[%d]", where, fn, i))
			if err != nil {
				return false, err
			}
			if and {
				result = result && v
			} else {
				result = result || v
			}
		}
		return result, nil
	}
	return false, fmt.Errorf("%s: unsupported condition function %s", where, fn)
}

// ifBranch picks the branch of a Fn::If argument list [condition, whenTrue, whenFalse].
func (r *resolver) ifBranch(n *yaml.Node, where string) (*yaml.Node, error) {
	items, err := asListAnyTag(n, where+".Fn::If")
	if err != nil {
		return nil, err
	}
	if len(items) != 3 {
		return nil, fmt.Errorf("%s: Fn::If wants [condition, value if true, value if false], got %d items", where, len(items))
	}
	name, err := literal(items[0], where+".Fn::If[0]")
	if err != nil {
		return nil, err
	}
	v, err := r.condition(name, where)
	if err != nil {
		return nil, err
	}
	if v {
		return items[1], nil
	}
	return items[2], nil
}

// exists reports whether a resource (or output) with the given Condition attribute exists.
func (r *resolver) exists(cond, where string) (bool, error) {
	if cond == "" {
		return true, nil
	}
	return r.condition(cond, where)
}

// asListAnyTag returns the items of a sequence node whatever its tag (a short-form intrinsic
// such as !Equals tags the list itself).
func asListAnyTag(n *yaml.Node, where string) ([]*yaml.Node, error) {
	n = deref(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: want a list, got %s", where, kindName(n))
	}
	return n.Content, nil
}
