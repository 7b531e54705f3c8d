package samtpl

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Resource types the package understands. Anything else in Resources is an error.
const (
	typeFunction         = "AWS::Serverless::Function"
	typeAPI              = "AWS::Serverless::Api"
	typeTable            = "AWS::DynamoDB::Table"
	typeSecret           = "AWS::SecretsManager::Secret"
	typeRotationSchedule = "AWS::SecretsManager::RotationSchedule"
	typeUsagePlan        = "AWS::ApiGateway::UsagePlan"
)

// awsOnlyTypes are resource types that change nothing a local run can observe: permissions
// (locally every caller may invoke every function and every function may call every
// emulator; infra/test/templatecheck checks the IAM instead), logging, metrics and alarms, API
// Gateway's account-wide settings, the customer-managed encryption key (the emulators do not
// encrypt) and the WAF web ACL. WAF does change what a caller sees (per-IP 429s, blocked
// requests), but only at AWS's edge, which the local gateway does not emulate; the template
// keeps it off for Stage=local and infra/test/templatecheck checks it instead. They are
// accepted and ignored; any other type is an error.
var awsOnlyTypes = map[string]bool{
	"AWS::KMS::Key":                            true,
	"AWS::KMS::Alias":                          true,
	"AWS::WAFv2::WebACL":                       true,
	"AWS::WAFv2::WebACLAssociation":            true,
	"AWS::WAFv2::LoggingConfiguration":         true,
	"AWS::Lambda::Permission":                  true,
	"AWS::IAM::Role":                           true,
	"AWS::IAM::Policy":                         true,
	"AWS::Logs::LogGroup":                      true,
	"AWS::Logs::MetricFilter":                  true,
	"AWS::CloudWatch::Alarm":                   true,
	"AWS::CloudWatch::Dashboard":               true,
	"AWS::ApiGateway::Account":                 true,
	"AWS::CloudFormation::WaitConditionHandle": true,
}

// resource is one entry of the template's Resources section, not yet interpreted.
type resource struct {
	id    string
	typ   string
	props object
	// condition is the resource's Condition attribute ("" when it has none).
	condition string
}

// resolver turns intrinsic-function nodes into the strings they resolve to locally.
// One resolver serves one Load call; it caches resolved resource names and detects
// reference cycles.
type resolver struct {
	region    string
	account   string
	partition string
	urlSuffix string
	stackName string

	params    map[string]Parameter
	resources map[string]*resource

	names      map[string]string // resolved Ref value of a resource
	inProgress map[string]bool   // resources whose name is being resolved (cycle check)

	condNodes map[string]*yaml.Node // the Conditions section
	conds     map[string]bool       // evaluated conditions
	condBusy  map[string]bool       // conditions being evaluated (cycle check)
}

// value resolves n to a single string: a plain scalar, or Ref / Fn::Sub / Fn::GetAtt / Fn::If
// in short (!Ref) or long (Ref:) form. Every other intrinsic is an error, and so is an Fn::If
// whose chosen branch is AWS::NoValue (the property would be absent, which the callers of
// value cannot express).
func (r *resolver) value(n *yaml.Node, where string) (string, error) {
	n = deref(n)
	if n == nil {
		return "", fmt.Errorf("%s: value is missing", where)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!Ref":
			return r.ref(n.Value, where)
		case "!Sub":
			return r.sub(n.Value, nil, where)
		case "!GetAtt":
			id, attr, ok := strings.Cut(n.Value, ".")
			if !ok {
				return "", fmt.Errorf("%s: !GetAtt %q: want LogicalId.Attribute", where, n.Value)
			}
			return r.getAtt(id, attr, where)
		case "!!null":
			return "", fmt.Errorf("%s: value is null", where)
		}
		if isIntrinsicTag(n.Tag) {
			return "", fmt.Errorf("%s: unsupported intrinsic %s", where, n.Tag)
		}
		return n.Value, nil
	case yaml.SequenceNode:
		switch n.Tag {
		case "!Sub":
			return r.subList(n, where)
		case "!GetAtt":
			return r.getAttList(n, where)
		case "!If":
			branch, err := r.ifBranch(n, where)
			if err != nil {
				return "", err
			}
			return r.value(branch, where)
		case "!Select":
			return r.selectValue(n, where)
		}
		if isIntrinsicTag(n.Tag) {
			return "", fmt.Errorf("%s: unsupported intrinsic %s", where, n.Tag)
		}
		return "", fmt.Errorf("%s: want a single value, got a list", where)
	case yaml.MappingNode:
		if isIntrinsicTag(n.Tag) {
			return "", fmt.Errorf("%s: unsupported intrinsic %s", where, n.Tag)
		}
		return r.longForm(n, where)
	}
	return "", fmt.Errorf("%s: want a single value, got %s", where, kindName(n))
}

// isIntrinsicTag reports whether tag is a CloudFormation short-form tag (!Join, !If, ...)
// rather than a YAML core tag (!!str, !!int, ...).
func isIntrinsicTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

// longForm resolves {"Ref": X}, {"Fn::Sub": ...} and {"Fn::GetAtt": ...}.
func (r *resolver) longForm(n *yaml.Node, where string) (string, error) {
	o, err := asObject(n, where)
	if err != nil {
		return "", err
	}
	if len(o.keys) != 1 {
		return "", fmt.Errorf("%s: want a single value, got a mapping", where)
	}
	key := o.keys[0]
	arg := o.vals[key]
	switch key {
	case "Ref":
		name, err := literal(arg, where+".Ref")
		if err != nil {
			return "", err
		}
		return r.ref(name, where)
	case "Fn::Sub":
		a := deref(arg)
		if a != nil && a.Kind == yaml.SequenceNode {
			return r.subList(a, where)
		}
		tpl, err := literal(arg, where+".Fn::Sub")
		if err != nil {
			return "", err
		}
		return r.sub(tpl, nil, where)
	case "Fn::If":
		branch, err := r.ifBranch(arg, where)
		if err != nil {
			return "", err
		}
		return r.value(branch, where)
	case "Fn::Select":
		a := deref(arg)
		if a == nil || a.Kind != yaml.SequenceNode {
			return "", fmt.Errorf("%s: Fn::Select wants [index, list]", where)
		}
		return r.selectValue(a, where)
	case "Fn::GetAtt":
		a := deref(arg)
		if a != nil && a.Kind == yaml.SequenceNode {
			return r.getAttList(a, where)
		}
		s, err := literal(arg, where+".Fn::GetAtt")
		if err != nil {
			return "", err
		}
		id, attr, ok := strings.Cut(s, ".")
		if !ok {
			return "", fmt.Errorf("%s: Fn::GetAtt %q: want LogicalId.Attribute", where, s)
		}
		return r.getAtt(id, attr, where)
	}
	if strings.HasPrefix(key, "Fn::") || key == "Condition" {
		return "", fmt.Errorf("%s: unsupported intrinsic %s", where, key)
	}
	return "", fmt.Errorf("%s: want a single value, got a mapping", where)
}

// selectValue resolves Fn::Select [index, list], where list is a literal list or Fn::Split
// [delimiter, value] (the form the template uses to read one field of a list parameter).
func (r *resolver) selectValue(n *yaml.Node, where string) (string, error) {
	if len(n.Content) != 2 {
		return "", fmt.Errorf("%s: Fn::Select wants [index, list], got %d items", where, len(n.Content))
	}
	idx, err := r.value(n.Content[0], where+".Fn::Select[0]")
	if err != nil {
		return "", err
	}
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 {
		return "", fmt.Errorf("%s: Fn::Select index %q is not a non-negative whole number", where, idx)
	}
	items, err := r.list(n.Content[1], where+".Fn::Select[1]")
	if err != nil {
		return "", err
	}
	if i >= len(items) {
		return "", fmt.Errorf("%s: Fn::Select index %d is past the list's %d items", where, i, len(items))
	}
	return items[i], nil
}

// list resolves a list: a literal sequence of values or Fn::Split [delimiter, value].
func (r *resolver) list(n *yaml.Node, where string) ([]string, error) {
	n = deref(n)
	if n == nil {
		return nil, fmt.Errorf("%s: list is missing", where)
	}
	var split *yaml.Node
	switch {
	case n.Kind == yaml.SequenceNode && n.Tag == "!Split":
		split = n
	case n.Kind == yaml.MappingNode && len(n.Content) == 2 && scalarText(n.Content[0]) == "Fn::Split":
		split = deref(n.Content[1])
		if split == nil || split.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("%s: Fn::Split wants [delimiter, value]", where)
		}
	case n.Kind == yaml.SequenceNode && !isIntrinsicTag(n.Tag):
		out := make([]string, 0, len(n.Content))
		for i, c := range n.Content {
			v, err := r.value(c, fmt.Sprintf("%s[%d]", where, i))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%s: want a list or Fn::Split", where)
	}
	if len(split.Content) != 2 {
		return nil, fmt.Errorf("%s: Fn::Split wants [delimiter, value], got %d items", where, len(split.Content))
	}
	delim, err := literal(split.Content[0], where+".Fn::Split[0]")
	if err != nil {
		return nil, err
	}
	if delim == "" {
		return nil, fmt.Errorf("%s: Fn::Split delimiter is empty", where)
	}
	v, err := r.value(split.Content[1], where+".Fn::Split[1]")
	if err != nil {
		return nil, err
	}
	return strings.Split(v, delim), nil
}

// subList resolves the two-argument form [template, {Var: value}].
func (r *resolver) subList(n *yaml.Node, where string) (string, error) {
	if len(n.Content) != 2 {
		return "", fmt.Errorf("%s: Fn::Sub list form wants [template, variables], got %d items", where, len(n.Content))
	}
	tpl, err := literal(n.Content[0], where+".Fn::Sub[0]")
	if err != nil {
		return "", err
	}
	o, err := asObject(n.Content[1], where+".Fn::Sub[1]")
	if err != nil {
		return "", err
	}
	vars := make(map[string]string, len(o.keys))
	for _, k := range o.keys {
		v, err := r.value(o.vals[k], o.path(k))
		if err != nil {
			return "", err
		}
		vars[k] = v
	}
	return r.sub(tpl, vars, where)
}

func (r *resolver) getAttList(n *yaml.Node, where string) (string, error) {
	if len(n.Content) != 2 {
		return "", fmt.Errorf("%s: Fn::GetAtt list form wants [LogicalId, Attribute], got %d items", where, len(n.Content))
	}
	id, err := literal(n.Content[0], where+".Fn::GetAtt[0]")
	if err != nil {
		return "", err
	}
	attr, err := literal(n.Content[1], where+".Fn::GetAtt[1]")
	if err != nil {
		return "", err
	}
	return r.getAtt(id, attr, where)
}

// sub expands ${Name}, ${Resource.Attr} and ${AWS::Pseudo} in tpl; ${!Text} is the literal
// ${Text}, as in CloudFormation.
func (r *resolver) sub(tpl string, vars map[string]string, where string) (string, error) {
	var b strings.Builder
	rest := tpl
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		b.WriteString(rest[:i])
		rest = rest[i+2:]
		if strings.HasPrefix(rest, "!") {
			b.WriteString("${")
			rest = rest[1:]
			continue
		}
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return "", fmt.Errorf("%s: Fn::Sub %q: unterminated ${", where, tpl)
		}
		name := strings.TrimSpace(rest[:j])
		rest = rest[j+1:]
		if name == "" {
			return "", fmt.Errorf("%s: Fn::Sub %q: empty ${}", where, tpl)
		}
		v, err := r.subVar(name, vars, where)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
}

func (r *resolver) subVar(name string, vars map[string]string, where string) (string, error) {
	if v, ok := vars[name]; ok {
		return v, nil
	}
	if strings.HasPrefix(name, "AWS::") {
		return r.pseudo(name, where)
	}
	if id, attr, ok := strings.Cut(name, "."); ok {
		return r.getAtt(id, attr, where)
	}
	return r.ref(name, where)
}

func (r *resolver) pseudo(name, where string) (string, error) {
	switch name {
	case "AWS::Region":
		return r.region, nil
	case "AWS::AccountId":
		return r.account, nil
	case "AWS::Partition":
		return r.partition, nil
	case "AWS::URLSuffix":
		return r.urlSuffix, nil
	case "AWS::StackName":
		return r.stackName, nil
	case "AWS::NoValue":
		return "", fmt.Errorf("%s: AWS::NoValue where a value is needed (an absent property is not supported here)", where)
	case "AWS::StackId":
		return fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/00000000-0000-0000-0000-000000000000",
			r.partition, r.region, r.account, r.stackName), nil
	}
	return "", fmt.Errorf("%s: unsupported pseudo parameter %s", where, name)
}

// ref resolves Ref to a pseudo parameter, a parameter or a resource.
func (r *resolver) ref(name, where string) (string, error) {
	if strings.HasPrefix(name, "AWS::") {
		return r.pseudo(name, where)
	}
	// SAM's <Api>.Stage: the stage resource it generates, whose Ref is the stage name.
	if id, ok := strings.CutSuffix(name, ".Stage"); ok {
		if res, ok := r.resources[id]; ok && res.typ == typeAPI {
			return r.value(res.props.get("StageName"), res.props.path("StageName"))
		}
	}
	if p, ok := r.params[name]; ok {
		return p.Value, nil
	}
	res, ok := r.resources[name]
	if !ok {
		return "", fmt.Errorf("%s: Ref to unknown parameter or resource %q", where, name)
	}
	return r.resourceName(res, where)
}

// resourceName is what Ref returns for a resource locally (see the package doc).
func (r *resolver) resourceName(res *resource, where string) (string, error) {
	if v, ok := r.names[res.id]; ok {
		return v, nil
	}
	if r.inProgress[res.id] {
		return "", fmt.Errorf("%s: reference cycle through %s", where, res.id)
	}
	r.inProgress[res.id] = true
	defer delete(r.inProgress, res.id)

	var (
		v   string
		err error
	)
	switch res.typ {
	case typeTable:
		v, err = r.requiredName(res, "TableName")
	case typeSecret:
		v, err = r.requiredName(res, "Name")
	case typeFunction:
		v = res.id
		if n := res.props.get("FunctionName"); n != nil {
			v, err = r.value(n, res.props.path("FunctionName"))
		}
	default:
		v = res.id
	}
	if err != nil {
		return "", err
	}
	r.names[res.id] = v
	return v, nil
}

// requiredName resolves a resource's name property. CloudFormation would invent a name when
// it is absent; locally that would be a guess, so it is an error.
func (r *resolver) requiredName(res *resource, prop string) (string, error) {
	n := res.props.get(prop)
	if n == nil {
		return "", fmt.Errorf("%s: %s is required for local use (CloudFormation would generate one)", res.props.where, prop)
	}
	v, err := r.value(n, res.props.path(prop))
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", res.props.where, prop)
	}
	return v, nil
}

// getAtt returns a plausible local value for the attributes the template may use.
func (r *resolver) getAtt(id, attr, where string) (string, error) {
	res, ok := r.resources[id]
	if !ok {
		return "", fmt.Errorf("%s: GetAtt of unknown resource %q", where, id)
	}
	name, err := r.resourceName(res, where)
	if err != nil {
		return "", err
	}
	switch {
	case res.typ == typeFunction && attr == "Arn":
		return r.arn("lambda", "function:"+name), nil
	case res.typ == typeTable && attr == "Arn":
		return r.arn("dynamodb", "table/"+name), nil
	case res.typ == typeSecret && attr == "Id":
		return r.arn("secretsmanager", "secret:"+name), nil
	}
	return "", fmt.Errorf("%s: unsupported GetAtt %s.%s (%s)", where, id, attr, res.typ)
}

func (r *resolver) arn(service, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", r.partition, service, r.region, r.account, resource)
}

// refTarget returns the logical id that n references with Ref (short or long form), or ""
// when n is not a Ref.
func refTarget(n *yaml.Node) string {
	n = deref(n)
	if n == nil {
		return ""
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!Ref" {
		return n.Value
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 && scalarText(n.Content[0]) == "Ref" {
		return scalarText(n.Content[1])
	}
	return ""
}

// getAttTarget returns the logical id and attribute of a GetAtt node (short or long form,
// string or list), or empty strings when n is not a GetAtt.
func getAttTarget(n *yaml.Node) (id, attr string) {
	n = deref(n)
	if n == nil {
		return "", ""
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 && scalarText(n.Content[0]) == "Fn::GetAtt" {
		n = deref(n.Content[1])
	} else if n.Tag != "!GetAtt" {
		return "", ""
	}
	if n == nil {
		return "", ""
	}
	switch n.Kind {
	case yaml.ScalarNode:
		id, attr, _ = strings.Cut(n.Value, ".")
		return id, attr
	case yaml.SequenceNode:
		if len(n.Content) == 2 {
			return scalarText(n.Content[0]), scalarText(n.Content[1])
		}
	}
	return "", ""
}

// scalarText is the text of a scalar node, or "" for anything else.
func scalarText(n *yaml.Node) string {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}
