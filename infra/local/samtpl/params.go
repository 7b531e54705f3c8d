package samtpl

import (
	"fmt"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// parseParameters reads the Parameters section and resolves each parameter's value from
// the overrides or its Default, checking the same constraints CloudFormation checks so
// that a value refused at deploy time is refused locally too.
func parseParameters(n *yaml.Node, overrides map[string]string) (map[string]Parameter, error) {
	params := map[string]Parameter{}
	if n != nil {
		o, err := asObject(n, "Parameters")
		if err != nil {
			return nil, err
		}
		for _, name := range o.keys {
			p, err := parseParameter(name, o.vals[name], overrides)
			if err != nil {
				return nil, err
			}
			params[name] = p
		}
	}
	for _, name := range sortedKeys(overrides) {
		if _, ok := params[name]; !ok {
			return nil, fmt.Errorf("parameter override %q: the template has no such parameter", name)
		}
	}
	return params, nil
}

func parseParameter(name string, n *yaml.Node, overrides map[string]string) (Parameter, error) {
	where := "Parameters." + name
	o, err := asObject(n, where)
	if err != nil {
		return Parameter{}, err
	}
	if err := o.allow("Type", "Default", "AllowedValues", "AllowedPattern", "Description",
		"ConstraintDescription", "MinLength", "MaxLength", "MinValue", "MaxValue", "NoEcho"); err != nil {
		return Parameter{}, err
	}
	p := Parameter{Name: name}
	if p.Type, err = literal(o.get("Type"), o.path("Type")); err != nil {
		return Parameter{}, err
	}
	if p.Type != "String" && p.Type != "Number" {
		return Parameter{}, fmt.Errorf("%s: unsupported parameter type %q (String or Number)", where, p.Type)
	}
	if d := o.get("Default"); d != nil {
		if p.Default, err = literal(d, o.path("Default")); err != nil {
			return Parameter{}, err
		}
		p.HasDefault = true
	}
	if av := o.get("AllowedValues"); av != nil {
		items, err := asList(av, o.path("AllowedValues"))
		if err != nil {
			return Parameter{}, err
		}
		for i, it := range items {
			v, err := literal(it, fmt.Sprintf("%s[%d]", o.path("AllowedValues"), i))
			if err != nil {
				return Parameter{}, err
			}
			p.AllowedValues = append(p.AllowedValues, v)
		}
	}

	v, overridden := overrides[name]
	switch {
	case overridden:
		p.Value = v
	case p.HasDefault:
		p.Value = p.Default
	default:
		return Parameter{}, fmt.Errorf("%s: no Default and no override", where)
	}
	if err := checkConstraints(p, o); err != nil {
		return Parameter{}, fmt.Errorf("%s: value %q: %w", where, p.Value, err)
	}
	return p, nil
}

func checkConstraints(p Parameter, o object) error {
	if len(p.AllowedValues) > 0 {
		ok := false
		for _, a := range p.AllowedValues {
			if a == p.Value {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("not one of AllowedValues %v", p.AllowedValues)
		}
	}
	if ap := o.get("AllowedPattern"); ap != nil {
		pat, err := literal(ap, o.path("AllowedPattern"))
		if err != nil {
			return err
		}
		// CloudFormation matches the whole value (Java regular expressions; Go's RE2 covers
		// the patterns templates use in practice).
		re, err := regexp.Compile("^(?:" + pat + ")$")
		if err != nil {
			return fmt.Errorf("AllowedPattern: %w", err)
		}
		if !re.MatchString(p.Value) {
			return fmt.Errorf("does not match AllowedPattern %q", pat)
		}
	}
	if p.Type == "Number" {
		num, err := strconv.ParseFloat(p.Value, 64)
		if err != nil {
			return fmt.Errorf("not a Number")
		}
		for _, c := range []struct {
			key   string
			check func(limit float64) bool
		}{
			{"MinValue", func(l float64) bool { return num >= l }},
			{"MaxValue", func(l float64) bool { return num <= l }},
		} {
			if ln := o.get(c.key); ln != nil {
				s, err := literal(ln, o.path(c.key))
				if err != nil {
					return err
				}
				limit, err := strconv.ParseFloat(s, 64)
				if err != nil {
					return fmt.Errorf("%s %q is not a number", c.key, s)
				}
				if !c.check(limit) {
					return fmt.Errorf("violates %s %s", c.key, s)
				}
			}
		}
		return nil
	}
	for _, c := range []struct {
		key   string
		check func(limit int) bool
	}{
		{"MinLength", func(l int) bool { return len(p.Value) >= l }},
		{"MaxLength", func(l int) bool { return len(p.Value) <= l }},
	} {
		if ln := o.get(c.key); ln != nil {
			s, err := literal(ln, o.path(c.key))
			if err != nil {
				return err
			}
			limit, err := parseInt(s, o.path(c.key))
			if err != nil {
				return err
			}
			if !c.check(limit) {
				return fmt.Errorf("violates %s %d", c.key, limit)
			}
		}
	}
	return nil
}
