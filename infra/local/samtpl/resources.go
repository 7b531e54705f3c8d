package samtpl

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Function properties (in Globals.Function or on a function) that only matter to AWS:
// permissions, packaging, architecture (locally the host's), tracing, log destination, tags and
// the account-level concurrency reservation (the local runner starts a process per concurrent
// invocation, without an account pool to reserve from).
var ignoredFunctionProps = []string{
	"Architectures", "CodeUri", "Description", "Policies", "Role", "Tracing", "Tags",
	"PermissionsBoundary", "KmsKeyArn", "AutoPublishAlias", "DeploymentPreference", "VpcConfig",
	"ReservedConcurrentExecutions",
}

// Function properties this package interprets.
var usedFunctionProps = []string{"Runtime", "Handler", "MemorySize", "Timeout", "Environment", "LoggingConfig"}

type builder struct {
	r       *resolver
	t       *Template
	globals object // Globals.Function; empty when absent
}

// parseGlobals returns Globals.Function. Other Globals sections are not supported.
func parseGlobals(n *yaml.Node) (object, error) {
	empty := object{where: "Globals.Function", vals: map[string]*yaml.Node{}}
	if n == nil {
		return empty, nil
	}
	g, err := asObject(n, "Globals")
	if err != nil {
		return object{}, err
	}
	if err := g.allow("Function"); err != nil {
		return object{}, err
	}
	fn := g.get("Function")
	if fn == nil {
		return empty, nil
	}
	o, err := asObject(fn, "Globals.Function")
	if err != nil {
		return object{}, err
	}
	if err := o.allow(append(append([]string{}, usedFunctionProps...), ignoredFunctionProps...)...); err != nil {
		return object{}, err
	}
	return o, nil
}

func (b *builder) build(all []string) error {
	// A resource whose Condition is false does not exist.
	var order []string
	for _, id := range all {
		ok, err := b.r.exists(b.r.resources[id].condition, "Resources."+id+".Condition")
		if err != nil {
			return err
		}
		if ok {
			order = append(order, id)
		}
	}
	var apis []*resource
	for _, id := range order {
		if res := b.r.resources[id]; res.typ == typeAPI {
			apis = append(apis, res)
		}
	}
	switch len(apis) {
	case 0:
	case 1:
		if err := b.api(apis[0]); err != nil {
			return err
		}
	default:
		return fmt.Errorf("Resources: %d AWS::Serverless::Api resources; the local gateway serves exactly one", len(apis))
	}

	for _, id := range order {
		res := b.r.resources[id]
		var err error
		switch res.typ {
		case typeFunction:
			err = b.function(res)
		case typeTable:
			err = b.table(res)
		case typeSecret:
			err = b.secret(res)
		case typeUsagePlan:
			err = b.usagePlan(res)
		}
		if err != nil {
			return err
		}
	}
	for _, id := range order {
		if res := b.r.resources[id]; res.typ == typeRotationSchedule {
			if err := b.rotation(res); err != nil {
				return err
			}
		}
	}
	for _, name := range sortedKeys(b.t.API.Authorizers) {
		a := b.t.API.Authorizers[name]
		if _, ok := b.t.Function(a.FunctionID); !ok {
			return fmt.Errorf("Resources.%s: authorizer %s: FunctionArn names %s, which is not an AWS::Serverless::Function",
				b.t.API.LogicalID, name, a.FunctionID)
		}
	}
	return nil
}

// value, bool and integer helpers resolve intrinsics on the way.

func (b *builder) str(o object, key string) (string, bool, error) {
	n := o.get(key)
	if n == nil {
		return "", false, nil
	}
	v, err := b.r.value(n, o.path(key))
	return v, true, err
}

func (b *builder) boolean(o object, key string, def bool) (bool, error) {
	v, ok, err := b.str(o, key)
	if err != nil || !ok {
		return def, err
	}
	return parseBool(v, o.path(key))
}

func (b *builder) integer(o object, key string, def int) (int, error) {
	v, ok, err := b.str(o, key)
	if err != nil || !ok {
		return def, err
	}
	return parseInt(v, o.path(key))
}

func (b *builder) strList(o object, key string) ([]string, error) {
	n := o.get(key)
	if n == nil {
		return nil, nil
	}
	items, err := asList(n, o.path(key))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		v, err := b.r.value(it, fmt.Sprintf("%s[%d]", o.path(key), i))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// prop returns the function's property, falling back to Globals.Function (SAM's rule for
// scalar properties).
func (b *builder) prop(fn object, key string) (object, bool) {
	if fn.get(key) != nil {
		return fn, true
	}
	if b.globals.get(key) != nil {
		return b.globals, true
	}
	return object{}, false
}

// functionDir maps a logical id to its folder: TokenFunction ↔ functions/token.
func functionDir(id string) (string, error) {
	base, ok := strings.CutSuffix(id, "Function")
	if !ok || base == "" {
		return "", fmt.Errorf("Resources.%s: a function's logical id must be <Dir>Function (e.g. TokenFunction for functions/token)", id)
	}
	r, size := utf8.DecodeRuneInString(base)
	return string(unicode.ToLower(r)) + base[size:], nil
}

func (b *builder) function(res *resource) error {
	o := res.props
	if err := o.allow(append(append([]string{"FunctionName", "Events"}, usedFunctionProps...), ignoredFunctionProps...)...); err != nil {
		return err
	}
	dir, err := functionDir(res.id)
	if err != nil {
		return err
	}
	name, err := b.r.resourceName(res, o.where)
	if err != nil {
		return err
	}
	f := Function{LogicalID: res.id, Name: name, Dir: dir, Env: map[string]string{},
		Timeout: defaultTimeout, MemorySize: defaultMemorySize, Handler: "bootstrap"}

	if src, ok := b.prop(o, "Runtime"); ok {
		rt, _, err := b.str(src, "Runtime")
		if err != nil {
			return err
		}
		if !strings.HasPrefix(rt, "provided") {
			return fmt.Errorf("%s: unsupported runtime %q (the local runner runs provided.* bootstrap binaries)", src.path("Runtime"), rt)
		}
	}
	if src, ok := b.prop(o, "Handler"); ok {
		if f.Handler, _, err = b.str(src, "Handler"); err != nil {
			return err
		}
	}
	if src, ok := b.prop(o, "Timeout"); ok {
		secs, err := b.integer(src, "Timeout", 0)
		if err != nil {
			return err
		}
		if secs < 1 || secs > 900 {
			return fmt.Errorf("%s: %d is outside Lambda's 1..900 seconds", src.path("Timeout"), secs)
		}
		f.Timeout = time.Duration(secs) * time.Second
	}
	if src, ok := b.prop(o, "MemorySize"); ok {
		if f.MemorySize, err = b.integer(src, "MemorySize", 0); err != nil {
			return err
		}
		if f.MemorySize < 128 || f.MemorySize > 10240 {
			return fmt.Errorf("%s: %d is outside Lambda's 128..10240 MB", src.path("MemorySize"), f.MemorySize)
		}
	}
	if src, ok := b.prop(o, "LoggingConfig"); ok {
		if err := b.logging(src, &f); err != nil {
			return err
		}
	}
	// Environment variables merge: Globals first, the function's own win.
	for _, src := range []object{b.globals, o} {
		if err := b.env(src, f.Env); err != nil {
			return err
		}
	}
	b.t.Functions = append(b.t.Functions, f)

	if ev := o.get("Events"); ev != nil {
		if err := b.events(res.id, ev, o.path("Events")); err != nil {
			return err
		}
	}
	return nil
}

// logging reads LoggingConfig's format and application log level (what Lambda hands the
// runtime as AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL); its log group and system log
// level are CloudWatch's business, not the function's.
func (b *builder) logging(src object, f *Function) error {
	lo, err := asObject(src.get("LoggingConfig"), src.path("LoggingConfig"))
	if err != nil {
		return err
	}
	if err := lo.allow("LogFormat", "ApplicationLogLevel", "SystemLogLevel", "LogGroup"); err != nil {
		return err
	}
	if f.LogFormat, _, err = b.str(lo, "LogFormat"); err != nil {
		return err
	}
	if f.LogFormat != "" && f.LogFormat != "JSON" && f.LogFormat != "Text" {
		return fmt.Errorf("%s: LogFormat %q is neither JSON nor Text", lo.path("LogFormat"), f.LogFormat)
	}
	if f.LogLevel, _, err = b.str(lo, "ApplicationLogLevel"); err != nil {
		return err
	}
	return nil
}

func (b *builder) env(src object, into map[string]string) error {
	n := src.get("Environment")
	if n == nil {
		return nil
	}
	eo, err := asObject(n, src.path("Environment"))
	if err != nil {
		return err
	}
	if err := eo.allow("Variables"); err != nil {
		return err
	}
	vn := eo.get("Variables")
	if vn == nil {
		return nil
	}
	vo, err := asObject(vn, eo.path("Variables"))
	if err != nil {
		return err
	}
	for _, k := range vo.keys {
		v, err := b.r.value(vo.vals[k], vo.path(k))
		if err != nil {
			return err
		}
		into[k] = v
	}
	return nil
}

func (b *builder) events(fnID string, n *yaml.Node, where string) error {
	o, err := asObject(n, where)
	if err != nil {
		return err
	}
	for _, name := range o.keys {
		eo, err := asObject(o.vals[name], o.path(name))
		if err != nil {
			return err
		}
		if err := eo.allow("Type", "Properties"); err != nil {
			return err
		}
		typ, err := literal(eo.get("Type"), eo.path("Type"))
		if err != nil {
			return err
		}
		po, err := asObject(eo.get("Properties"), eo.path("Properties"))
		if err != nil {
			return err
		}
		switch typ {
		case "Api":
		case "Schedule":
			if err := b.schedule(fnID, name, po); err != nil {
				return err
			}
			continue
		default:
			return fmt.Errorf("%s: unsupported event type %q (Api or Schedule)", eo.path("Type"), typ)
		}
		rt, err := b.route(fnID, name, po)
		if err != nil {
			return err
		}
		for _, other := range b.t.Routes {
			if other.Method == rt.Method && other.Path == rt.Path {
				return fmt.Errorf("%s: %s %s is already served by %s (event %s)", po.where, rt.Method, rt.Path, other.FunctionID, other.EventName)
			}
		}
		b.t.Routes = append(b.t.Routes, rt)
	}
	return nil
}

// schedule reads a Schedule event: EventBridge invokes the function on its expression. No
// local path runs schedules; the stack's tools invoke such a function when they need it.
func (b *builder) schedule(fnID, event string, po object) error {
	if err := po.allow("Schedule", "Description", "Enabled", "Name", "Input"); err != nil {
		return err
	}
	expr, ok, err := b.str(po, "Schedule")
	if err != nil {
		return err
	}
	if !ok || !(strings.HasPrefix(expr, "rate(") || strings.HasPrefix(expr, "cron(")) || !strings.HasSuffix(expr, ")") {
		return fmt.Errorf("%s: Schedule %q: want rate(…) or cron(…)", po.path("Schedule"), expr)
	}
	b.t.Schedules = append(b.t.Schedules, Schedule{EventName: event, FunctionID: fnID, Expression: expr})
	return nil
}

var routeMethods = map[string]bool{
	"ANY": true, http.MethodGet: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodHead: true, http.MethodOptions: true,
}

func (b *builder) route(fnID, event string, po object) (Route, error) {
	if err := po.allow("RestApiId", "Path", "Method", "Auth"); err != nil {
		return Route{}, err
	}
	api := refTarget(po.get("RestApiId"))
	if api == "" {
		return Route{}, fmt.Errorf("%s: RestApiId must be !Ref to the AWS::Serverless::Api (the implicit API is not supported)", po.where)
	}
	if api != b.t.API.LogicalID {
		return Route{}, fmt.Errorf("%s: RestApiId refers to %q, not to the AWS::Serverless::Api %q", po.path("RestApiId"), api, b.t.API.LogicalID)
	}
	path, _, err := b.str(po, "Path")
	if err != nil {
		return Route{}, err
	}
	if err := checkResourcePath(path); err != nil {
		return Route{}, fmt.Errorf("%s: %w", po.path("Path"), err)
	}
	method, _, err := b.str(po, "Method")
	if err != nil {
		return Route{}, err
	}
	method = strings.ToUpper(method)
	if !routeMethods[method] {
		return Route{}, fmt.Errorf("%s: unsupported method %q", po.path("Method"), method)
	}
	rt := Route{EventName: event, Method: method, Path: path, FunctionID: fnID, AuthorizerName: b.t.API.DefaultAuthorizer,
		APIKeyRequired: b.t.API.APIKeyRequired}
	if an := po.get("Auth"); an != nil {
		ao, err := asObject(an, po.path("Auth"))
		if err != nil {
			return Route{}, err
		}
		if err := ao.allow("Authorizer", "ApiKeyRequired"); err != nil {
			return Route{}, err
		}
		if rt.APIKeyRequired, err = b.boolean(ao, "ApiKeyRequired", rt.APIKeyRequired); err != nil {
			return Route{}, err
		}
		if name, ok, err := b.str(ao, "Authorizer"); err != nil {
			return Route{}, err
		} else if ok {
			switch {
			case name == "NONE":
				rt.AuthorizerName = ""
			case name == "AWS_IAM":
				return Route{}, fmt.Errorf("%s: AWS_IAM authorization is not supported locally", ao.path("Authorizer"))
			default:
				if _, known := b.t.API.Authorizers[name]; !known {
					return Route{}, fmt.Errorf("%s: unknown authorizer %q", ao.path("Authorizer"), name)
				}
				rt.AuthorizerName = name
			}
		}
	}
	return rt, nil
}

// checkResourcePath validates an API Gateway resource path: /-separated segments that are
// literals, {name} or a final greedy {name+}.
func checkResourcePath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q must start with /", p)
	}
	if p == "/" {
		return nil
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		switch {
		case s == "":
			return fmt.Errorf("path %q has an empty segment", p)
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			name := strings.TrimSuffix(s[1:len(s)-1], "+")
			if name == "" || strings.ContainsAny(name, "{}/+") {
				return fmt.Errorf("path %q: bad parameter segment %q", p, s)
			}
			if strings.HasSuffix(s, "+}") && i != len(segs)-1 {
				return fmt.Errorf("path %q: greedy %q must be the last segment", p, s)
			}
		case strings.ContainsAny(s, "{}"):
			return fmt.Errorf("path %q: a segment is either a literal or a whole {parameter}: %q", p, s)
		}
	}
	return nil
}

// Gateway response types API Gateway knows.
var gatewayResponseTypes = map[string]bool{
	"ACCESS_DENIED": true, "API_CONFIGURATION_ERROR": true, "AUTHORIZER_CONFIGURATION_ERROR": true,
	"AUTHORIZER_FAILURE": true, "BAD_REQUEST_PARAMETERS": true, "BAD_REQUEST_BODY": true,
	"DEFAULT_4XX": true, "DEFAULT_5XX": true, "EXPIRED_TOKEN": true, "INTEGRATION_FAILURE": true,
	"INTEGRATION_TIMEOUT": true, "INVALID_API_KEY": true, "INVALID_SIGNATURE": true,
	"MISSING_AUTHENTICATION_TOKEN": true, "QUOTA_EXCEEDED": true, "REQUEST_TOO_LARGE": true,
	"RESOURCE_NOT_FOUND": true, "THROTTLED": true, "UNAUTHORIZED": true, "UNSUPPORTED_MEDIA_TYPE": true,
	"WAF_FILTERED": true,
}

func (b *builder) api(res *resource) error {
	o := res.props
	if err := o.allow("StageName", "Auth", "GatewayResponses", "BinaryMediaTypes", "Variables", "Cors",
		// Only meaningful to AWS: naming, endpoint type, logging, tracing, throttling.
		"Name", "Description", "EndpointConfiguration", "TracingEnabled", "Tags", "OpenApiVersion",
		"MethodSettings", "AccessLogSetting", "ApiKeySourceType"); err != nil {
		return err
	}
	a := API{LogicalID: res.id, Authorizers: map[string]Authorizer{}, GatewayResponses: map[string]GatewayResponse{}}
	var ok bool
	var err error
	if a.StageName, ok, err = b.str(o, "StageName"); err != nil {
		return err
	} else if !ok || a.StageName == "" {
		return fmt.Errorf("%s: StageName is required", o.where)
	}
	a.Name = res.id
	if v, ok, err := b.str(o, "Name"); err != nil {
		return err
	} else if ok && v != "" {
		a.Name = v
	}
	a.APIKeySourceType = "HEADER"
	if v, ok, err := b.str(o, "ApiKeySourceType"); err != nil {
		return err
	} else if ok {
		if v != "HEADER" && v != "AUTHORIZER" {
			return fmt.Errorf("%s: ApiKeySourceType %q: want HEADER or AUTHORIZER", o.path("ApiKeySourceType"), v)
		}
		a.APIKeySourceType = v
	}
	if a.BinaryMediaTypes, err = b.strList(o, "BinaryMediaTypes"); err != nil {
		return err
	}
	for i, t := range a.BinaryMediaTypes {
		// SAM writes "/" as "~1" (JSON pointer escaping) in BinaryMediaTypes.
		a.BinaryMediaTypes[i] = strings.ReplaceAll(t, "~1", "/")
	}
	if vn := o.get("Variables"); vn != nil {
		vo, err := asObject(vn, o.path("Variables"))
		if err != nil {
			return err
		}
		a.StageVariables = map[string]string{}
		for _, k := range vo.keys {
			if a.StageVariables[k], err = b.r.value(vo.vals[k], vo.path(k)); err != nil {
				return err
			}
		}
	}
	if cn := o.get("Cors"); cn != nil {
		if a.Cors, err = b.cors(cn, o.path("Cors")); err != nil {
			return err
		}
	}
	if an := o.get("Auth"); an != nil {
		if err := b.auth(&a, an, o.path("Auth")); err != nil {
			return err
		}
	}
	if gn := o.get("GatewayResponses"); gn != nil {
		gro, err := asObject(gn, o.path("GatewayResponses"))
		if err != nil {
			return err
		}
		for _, typ := range gro.keys {
			if !gatewayResponseTypes[typ] {
				return fmt.Errorf("%s: unknown gateway response type %q", gro.path(typ), typ)
			}
			gr, err := b.gatewayResponse(gro.vals[typ], gro.path(typ))
			if err != nil {
				return err
			}
			a.GatewayResponses[typ] = gr
		}
	}
	b.t.API = a
	return nil
}

func (b *builder) auth(a *API, n *yaml.Node, where string) error {
	o, err := asObject(n, where)
	if err != nil {
		return err
	}
	if err := o.allow("DefaultAuthorizer", "Authorizers", "AddDefaultAuthorizerToCorsPreflight",
		"ApiKeyRequired", "AddApiKeyRequiredToCorsPreflight"); err != nil {
		return err
	}
	if a.APIKeyRequired, err = b.boolean(o, "ApiKeyRequired", false); err != nil {
		return err
	}
	if a.Cors != nil && a.APIKeyRequired {
		if a.Cors.PreflightAPIKeyRequired, err = b.boolean(o, "AddApiKeyRequiredToCorsPreflight", true); err != nil {
			return err
		}
	}
	// SAM's default puts the default authorizer on the preflight OPTIONS methods it generates.
	if a.Cors != nil {
		if a.Cors.PreflightAuthorized, err = b.boolean(o, "AddDefaultAuthorizerToCorsPreflight", true); err != nil {
			return err
		}
		if a.Cors.PreflightAuthorized && o.get("DefaultAuthorizer") == nil {
			a.Cors.PreflightAuthorized = false
		}
	}
	if an := o.get("Authorizers"); an != nil {
		ao, err := asObject(an, o.path("Authorizers"))
		if err != nil {
			return err
		}
		for _, name := range ao.keys {
			az, err := b.authorizer(name, ao.vals[name], ao.path(name))
			if err != nil {
				return err
			}
			a.Authorizers[name] = az
		}
	}
	if def, ok, err := b.str(o, "DefaultAuthorizer"); err != nil {
		return err
	} else if ok {
		if def == "AWS_IAM" {
			return fmt.Errorf("%s: AWS_IAM authorization is not supported locally", o.path("DefaultAuthorizer"))
		}
		if _, known := a.Authorizers[def]; !known {
			return fmt.Errorf("%s: unknown authorizer %q", o.path("DefaultAuthorizer"), def)
		}
		a.DefaultAuthorizer = def
	}
	return nil
}

// cors reads the Api's Cors property: a bare origin or the CorsConfiguration object. Values
// are API Gateway string expressions ('...'); the quotes are stripped.
func (b *builder) cors(n *yaml.Node, where string) (*CORS, error) {
	c := &CORS{}
	if nn := deref(n); nn != nil && nn.Kind != yaml.MappingNode || isIntrinsicMapping(n) {
		v, err := b.r.value(n, where)
		if err != nil {
			return nil, err
		}
		if c.AllowOrigin, err = unquote(v, where); err != nil {
			return nil, err
		}
		return c, nil
	}
	o, err := asObject(n, where)
	if err != nil {
		return nil, err
	}
	if err := o.allow("AllowOrigin", "AllowHeaders", "AllowMethods", "MaxAge", "AllowCredentials"); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key  string
		into *string
	}{{"AllowOrigin", &c.AllowOrigin}, {"AllowHeaders", &c.AllowHeaders}, {"AllowMethods", &c.AllowMethods}, {"MaxAge", &c.MaxAge}} {
		v, ok, err := b.str(o, f.key)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if *f.into, err = unquote(v, o.path(f.key)); err != nil {
			return nil, err
		}
	}
	if c.AllowOrigin == "" {
		return nil, fmt.Errorf("%s: AllowOrigin is required", where)
	}
	if c.AllowCredentials, err = b.boolean(o, "AllowCredentials", false); err != nil {
		return nil, err
	}
	if c.AllowCredentials && c.AllowOrigin == "*" {
		return nil, fmt.Errorf("%s: AllowCredentials cannot be true with AllowOrigin '*' (SAM refuses it)", where)
	}
	return c, nil
}

// isIntrinsicMapping reports whether n is a long-form intrinsic such as {"Fn::Sub": ...}.
func isIntrinsicMapping(n *yaml.Node) bool {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return false
	}
	k := scalarText(n.Content[0])
	return k == "Ref" || strings.HasPrefix(k, "Fn::")
}

// unquote strips the single quotes of an API Gateway static string expression.
func unquote(v, where string) (string, error) {
	if len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
		return "", fmt.Errorf("%s: %q is not a static '...' value", where, v)
	}
	return v[1 : len(v)-1], nil
}

func (b *builder) authorizer(name string, n *yaml.Node, where string) (Authorizer, error) {
	o, err := asObject(n, where)
	if err != nil {
		return Authorizer{}, err
	}
	if err := o.allow("FunctionPayloadType", "FunctionArn", "FunctionInvokeRole", "Identity"); err != nil {
		return Authorizer{}, err
	}
	az := Authorizer{Name: name, TTL: defaultAuthorizerTTL}
	pt, ok, err := b.str(o, "FunctionPayloadType")
	if err != nil {
		return Authorizer{}, err
	}
	if !ok {
		pt = "TOKEN" // SAM's default
	}
	if pt != "REQUEST" {
		return Authorizer{}, fmt.Errorf("%s: FunctionPayloadType %s is not supported locally (REQUEST only)", where, pt)
	}
	az.PayloadType = pt
	id, attr := getAttTarget(o.get("FunctionArn"))
	if id == "" || attr != "Arn" {
		return Authorizer{}, fmt.Errorf("%s: FunctionArn must be !GetAtt <Function>.Arn", o.path("FunctionArn"))
	}
	az.FunctionID = id

	if in := o.get("Identity"); in != nil {
		io, err := asObject(in, o.path("Identity"))
		if err != nil {
			return Authorizer{}, err
		}
		if err := io.allow("Headers", "QueryStrings", "Context", "ReauthorizeEvery"); err != nil {
			return Authorizer{}, err
		}
		if az.IdentityHeaders, err = b.strList(io, "Headers"); err != nil {
			return Authorizer{}, err
		}
		if az.IdentityQueryStrings, err = b.strList(io, "QueryStrings"); err != nil {
			return Authorizer{}, err
		}
		if az.IdentityContext, err = b.strList(io, "Context"); err != nil {
			return Authorizer{}, err
		}
		secs, err := b.integer(io, "ReauthorizeEvery", int(defaultAuthorizerTTL/time.Second))
		if err != nil {
			return Authorizer{}, err
		}
		if secs < 0 || secs > 3600 {
			return Authorizer{}, fmt.Errorf("%s: %d is outside API Gateway's 0..3600 seconds", io.path("ReauthorizeEvery"), secs)
		}
		az.TTL = time.Duration(secs) * time.Second
	}
	if az.TTL > 0 && len(az.IdentityHeaders)+len(az.IdentityQueryStrings)+len(az.IdentityContext) == 0 {
		return Authorizer{}, fmt.Errorf("%s: a cached REQUEST authorizer needs at least one identity source", where)
	}
	return az, nil
}

func (b *builder) gatewayResponse(n *yaml.Node, where string) (GatewayResponse, error) {
	o, err := asObject(n, where)
	if err != nil {
		return GatewayResponse{}, err
	}
	if err := o.allow("StatusCode", "ResponseParameters", "ResponseTemplates"); err != nil {
		return GatewayResponse{}, err
	}
	var gr GatewayResponse
	if gr.StatusCode, err = b.integer(o, "StatusCode", 0); err != nil {
		return GatewayResponse{}, err
	}
	if gr.StatusCode != 0 && (gr.StatusCode < 100 || gr.StatusCode > 599) {
		return GatewayResponse{}, fmt.Errorf("%s: status %d is not an HTTP status", o.path("StatusCode"), gr.StatusCode)
	}
	if pn := o.get("ResponseParameters"); pn != nil {
		po, err := asObject(pn, o.path("ResponseParameters"))
		if err != nil {
			return GatewayResponse{}, err
		}
		if err := po.allow("Headers"); err != nil {
			return GatewayResponse{}, err
		}
		if hn := po.get("Headers"); hn != nil {
			ho, err := asObject(hn, po.path("Headers"))
			if err != nil {
				return GatewayResponse{}, err
			}
			gr.Headers = map[string]string{}
			for _, k := range ho.keys {
				v, err := b.r.value(ho.vals[k], ho.path(k))
				if err != nil {
					return GatewayResponse{}, err
				}
				// Static values are single-quoted; anything else is a mapping expression
				// (method.request.header.X, ...), which is not supported locally.
				if len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
					return GatewayResponse{}, fmt.Errorf("%s: %q is not a static '...' value (mapping expressions are not supported)", ho.path(k), v)
				}
				gr.Headers[k] = v[1 : len(v)-1]
			}
		}
	}
	if tn := o.get("ResponseTemplates"); tn != nil {
		to, err := asObject(tn, o.path("ResponseTemplates"))
		if err != nil {
			return GatewayResponse{}, err
		}
		if err := to.allow("application/json"); err != nil {
			return GatewayResponse{}, err
		}
		if gr.Template, _, err = b.str(to, "application/json"); err != nil {
			return GatewayResponse{}, err
		}
	}
	return gr, nil
}

func (b *builder) table(res *resource) error {
	o := res.props
	if err := o.allow("TableName", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
		"LocalSecondaryIndexes", "TimeToLiveSpecification", "BillingMode", "ProvisionedThroughput",
		// Only meaningful to AWS: backups, encryption, tags, protection, streams, class.
		"PointInTimeRecoverySpecification", "SSESpecification", "Tags", "DeletionProtectionEnabled",
		"ContributorInsightsSpecification", "TableClass", "StreamSpecification"); err != nil {
		return err
	}
	name, err := b.r.resourceName(res, o.where)
	if err != nil {
		return err
	}
	t := Table{LogicalID: res.id, Name: name}
	adn := o.get("AttributeDefinitions")
	items, err := asList(adn, o.path("AttributeDefinitions"))
	if err != nil {
		return err
	}
	for i, it := range items {
		where := fmt.Sprintf("%s[%d]", o.path("AttributeDefinitions"), i)
		ao, err := asObject(it, where)
		if err != nil {
			return err
		}
		if err := ao.allow("AttributeName", "AttributeType"); err != nil {
			return err
		}
		var ad AttributeDefinition
		if ad.AttributeName, _, err = b.str(ao, "AttributeName"); err != nil {
			return err
		}
		if ad.AttributeType, _, err = b.str(ao, "AttributeType"); err != nil {
			return err
		}
		if ad.AttributeName == "" || (ad.AttributeType != "S" && ad.AttributeType != "N" && ad.AttributeType != "B") {
			return fmt.Errorf("%s: want AttributeName and AttributeType S, N or B", where)
		}
		t.AttributeDefinitions = append(t.AttributeDefinitions, ad)
	}
	if t.KeySchema, err = b.keySchema(o.get("KeySchema"), o.path("KeySchema")); err != nil {
		return err
	}
	for _, idx := range []struct {
		key  string
		into *[]SecondaryIndex
	}{{"GlobalSecondaryIndexes", &t.GlobalSecondaryIndexes}, {"LocalSecondaryIndexes", &t.LocalSecondaryIndexes}} {
		n := o.get(idx.key)
		if n == nil {
			continue
		}
		items, err := asList(n, o.path(idx.key))
		if err != nil {
			return err
		}
		for i, it := range items {
			si, err := b.index(it, fmt.Sprintf("%s[%d]", o.path(idx.key), i))
			if err != nil {
				return err
			}
			*idx.into = append(*idx.into, si)
		}
	}
	if tn := o.get("TimeToLiveSpecification"); tn != nil {
		to, err := asObject(tn, o.path("TimeToLiveSpecification"))
		if err != nil {
			return err
		}
		if err := to.allow("AttributeName", "Enabled"); err != nil {
			return err
		}
		enabled, err := b.boolean(to, "Enabled", false)
		if err != nil {
			return err
		}
		if enabled {
			if t.TTLAttribute, _, err = b.str(to, "AttributeName"); err != nil {
				return err
			}
			if t.TTLAttribute == "" {
				return fmt.Errorf("%s: AttributeName is required when Enabled", to.where)
			}
		}
	}
	b.t.Tables = append(b.t.Tables, t)
	return nil
}

func (b *builder) keySchema(n *yaml.Node, where string) ([]KeyElement, error) {
	items, err := asList(n, where)
	if err != nil {
		return nil, err
	}
	var ks []KeyElement
	for i, it := range items {
		w := fmt.Sprintf("%s[%d]", where, i)
		ko, err := asObject(it, w)
		if err != nil {
			return nil, err
		}
		if err := ko.allow("AttributeName", "KeyType"); err != nil {
			return nil, err
		}
		var k KeyElement
		if k.AttributeName, _, err = b.str(ko, "AttributeName"); err != nil {
			return nil, err
		}
		if k.KeyType, _, err = b.str(ko, "KeyType"); err != nil {
			return nil, err
		}
		if k.AttributeName == "" || (k.KeyType != "HASH" && k.KeyType != "RANGE") {
			return nil, fmt.Errorf("%s: want AttributeName and KeyType HASH or RANGE", w)
		}
		ks = append(ks, k)
	}
	if len(ks) == 0 || len(ks) > 2 || ks[0].KeyType != "HASH" || (len(ks) == 2 && ks[1].KeyType != "RANGE") {
		return nil, fmt.Errorf("%s: want a HASH key optionally followed by a RANGE key", where)
	}
	return ks, nil
}

func (b *builder) index(n *yaml.Node, where string) (SecondaryIndex, error) {
	o, err := asObject(n, where)
	if err != nil {
		return SecondaryIndex{}, err
	}
	if err := o.allow("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "ContributorInsightsSpecification"); err != nil {
		return SecondaryIndex{}, err
	}
	var si SecondaryIndex
	if si.IndexName, _, err = b.str(o, "IndexName"); err != nil {
		return SecondaryIndex{}, err
	}
	if si.IndexName == "" {
		return SecondaryIndex{}, fmt.Errorf("%s: IndexName is required", where)
	}
	if si.KeySchema, err = b.keySchema(o.get("KeySchema"), o.path("KeySchema")); err != nil {
		return SecondaryIndex{}, err
	}
	po, err := asObject(o.get("Projection"), o.path("Projection"))
	if err != nil {
		return SecondaryIndex{}, err
	}
	if err := po.allow("ProjectionType", "NonKeyAttributes"); err != nil {
		return SecondaryIndex{}, err
	}
	if si.ProjectionType, _, err = b.str(po, "ProjectionType"); err != nil {
		return SecondaryIndex{}, err
	}
	switch si.ProjectionType {
	case "":
		si.ProjectionType = "KEYS_ONLY" // DynamoDB's default
	case "ALL", "KEYS_ONLY", "INCLUDE":
	default:
		return SecondaryIndex{}, fmt.Errorf("%s: unknown ProjectionType %q", po.path("ProjectionType"), si.ProjectionType)
	}
	if si.NonKeyAttributes, err = b.strList(po, "NonKeyAttributes"); err != nil {
		return SecondaryIndex{}, err
	}
	return si, nil
}

func (b *builder) secret(res *resource) error {
	o := res.props
	if err := o.allow("Name", "Description", "SecretString", "GenerateSecretString",
		// Only meaningful to AWS: encryption key, tags, replication.
		"KmsKeyId", "Tags", "ReplicaRegions"); err != nil {
		return err
	}
	name, err := b.r.resourceName(res, o.where)
	if err != nil {
		return err
	}
	s := Secret{LogicalID: res.id, Name: name}
	if s.Description, _, err = b.str(o, "Description"); err != nil {
		return err
	}
	if s.SecretString, s.HasSecretString, err = b.str(o, "SecretString"); err != nil {
		return err
	}
	if gn := o.get("GenerateSecretString"); gn != nil {
		if s.HasSecretString {
			return fmt.Errorf("%s: SecretString and GenerateSecretString are mutually exclusive", o.where)
		}
		g, err := b.generate(gn, o.path("GenerateSecretString"))
		if err != nil {
			return err
		}
		s.GenerateSecretString = &g
	}
	b.t.Secrets = append(b.t.Secrets, s)
	return nil
}

func (b *builder) generate(n *yaml.Node, where string) (GenerateSecretString, error) {
	o, err := asObject(n, where)
	if err != nil {
		return GenerateSecretString{}, err
	}
	if err := o.allow("PasswordLength", "ExcludeCharacters", "ExcludeLowercase", "ExcludeNumbers",
		"ExcludePunctuation", "ExcludeUppercase", "IncludeSpace", "RequireEachIncludedType",
		"SecretStringTemplate", "GenerateStringKey"); err != nil {
		return GenerateSecretString{}, err
	}
	var g GenerateSecretString
	if g.PasswordLength, err = b.integer(o, "PasswordLength", 32); err != nil {
		return g, err
	}
	if g.PasswordLength < 1 || g.PasswordLength > 4096 {
		return g, fmt.Errorf("%s: %d is outside Secrets Manager's 1..4096", o.path("PasswordLength"), g.PasswordLength)
	}
	if g.ExcludeCharacters, _, err = b.str(o, "ExcludeCharacters"); err != nil {
		return g, err
	}
	for _, f := range []struct {
		key  string
		into *bool
		def  bool
	}{
		{"ExcludeLowercase", &g.ExcludeLowercase, false},
		{"ExcludeNumbers", &g.ExcludeNumbers, false},
		{"ExcludePunctuation", &g.ExcludePunctuation, false},
		{"ExcludeUppercase", &g.ExcludeUppercase, false},
		{"IncludeSpace", &g.IncludeSpace, false},
		{"RequireEachIncludedType", &g.RequireEachIncludedType, true},
	} {
		if *f.into, err = b.boolean(o, f.key, f.def); err != nil {
			return g, err
		}
	}
	if g.SecretStringTemplate, _, err = b.str(o, "SecretStringTemplate"); err != nil {
		return g, err
	}
	if g.GenerateStringKey, _, err = b.str(o, "GenerateStringKey"); err != nil {
		return g, err
	}
	if (g.SecretStringTemplate == "") != (g.GenerateStringKey == "") {
		return g, fmt.Errorf("%s: SecretStringTemplate and GenerateStringKey go together", where)
	}
	return g, nil
}

func (b *builder) rotation(res *resource) error {
	o := res.props
	// RotationRules only schedule later rotations, which nothing runs locally.
	if err := o.allow("SecretId", "RotationLambdaARN", "RotateImmediatelyOnUpdate", "RotationRules"); err != nil {
		return err
	}
	secretID := refTarget(o.get("SecretId"))
	idx := -1
	for i, s := range b.t.Secrets {
		if s.LogicalID == secretID {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("%s: SecretId must be !Ref to an AWS::SecretsManager::Secret of this template", o.path("SecretId"))
	}
	fnID, attr := getAttTarget(o.get("RotationLambdaARN"))
	if _, ok := b.t.Function(fnID); !ok || attr != "Arn" {
		return fmt.Errorf("%s: RotationLambdaARN must be !GetAtt <Function>.Arn of this template", o.path("RotationLambdaARN"))
	}
	s := &b.t.Secrets[idx]
	if s.RotationFunctionID != "" {
		return fmt.Errorf("%s: secret %s already has a rotation schedule", o.where, secretID)
	}
	var err error
	if s.RotateImmediately, err = b.boolean(o, "RotateImmediatelyOnUpdate", true); err != nil {
		return err
	}
	s.RotationFunctionID = fnID
	return nil
}

// usagePlan reads an AWS::ApiGateway::UsagePlan. Its ApiStages must name the template's API
// and stage: the local gateway serves that one stage.
func (b *builder) usagePlan(res *resource) error {
	o := res.props
	if err := o.allow("UsagePlanName", "Description", "ApiStages", "Throttle", "Quota", "Tags"); err != nil {
		return err
	}
	p := UsagePlan{LogicalID: res.id}
	name, ok, err := b.str(o, "UsagePlanName")
	if err != nil {
		return err
	}
	if !ok || name == "" {
		return fmt.Errorf("%s: UsagePlanName is required for local use (the keys function finds plans by name)", o.where)
	}
	p.Name = name
	sn := deref(o.get("ApiStages"))
	if sn == nil || sn.Kind != yaml.SequenceNode || len(sn.Content) == 0 {
		return fmt.Errorf("%s: ApiStages must list the API's stage", o.where)
	}
	for i, st := range sn.Content {
		where := fmt.Sprintf("%s[%d]", o.path("ApiStages"), i)
		so, err := asObject(st, where)
		if err != nil {
			return err
		}
		if err := so.allow("ApiId", "Stage", "Throttle"); err != nil {
			return err
		}
		if id := refTarget(so.get("ApiId")); id != b.t.API.LogicalID {
			return fmt.Errorf("%s.ApiId: must be !Ref %s (the local gateway serves one API)", where, b.t.API.LogicalID)
		}
		stage, _, err := b.str(so, "Stage")
		if err != nil {
			return err
		}
		if stage != b.t.API.StageName {
			return fmt.Errorf("%s.Stage: %q is not the API's stage %q", where, stage, b.t.API.StageName)
		}
	}
	if tn := o.get("Throttle"); tn != nil {
		to, err := asObject(tn, o.path("Throttle"))
		if err != nil {
			return err
		}
		if err := to.allow("RateLimit", "BurstLimit"); err != nil {
			return err
		}
		rate, _, err := b.str(to, "RateLimit")
		if err != nil {
			return err
		}
		if p.RateLimit, err = strconv.ParseFloat(rate, 64); err != nil || p.RateLimit <= 0 {
			return fmt.Errorf("%s: RateLimit %q is not a positive number", to.path("RateLimit"), rate)
		}
		if p.BurstLimit, err = b.integer(to, "BurstLimit", 0); err != nil {
			return err
		}
		if p.BurstLimit < 1 {
			return fmt.Errorf("%s: BurstLimit must be at least 1", to.path("BurstLimit"))
		}
	}
	if qn := o.get("Quota"); qn != nil {
		qo, err := asObject(qn, o.path("Quota"))
		if err != nil {
			return err
		}
		if err := qo.allow("Limit", "Period", "Offset"); err != nil {
			return err
		}
		if p.QuotaLimit, err = b.integer(qo, "Limit", 0); err != nil {
			return err
		}
		period, _, err := b.str(qo, "Period")
		if err != nil {
			return err
		}
		switch period {
		case "DAY", "WEEK", "MONTH":
			p.QuotaPeriod = period
		default:
			return fmt.Errorf("%s: Period %q: want DAY, WEEK or MONTH", qo.path("Period"), period)
		}
		if p.QuotaLimit < 1 {
			return fmt.Errorf("%s: Limit must be at least 1", qo.path("Limit"))
		}
	}
	b.t.UsagePlans = append(b.t.UsagePlans, p)
	return nil
}
