package samtpl

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Local defaults for the pseudo parameters CloudFormation would fill in.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "000000000000"
	// StackName is what AWS::StackName resolves to locally.
	StackName = "keygate-local"
)

// Lambda's defaults for a function that does not set them (and neither do the Globals).
const (
	defaultTimeout    = 3 * time.Second
	defaultMemorySize = 128
	// defaultAuthorizerTTL is API Gateway's authorizerResultTtlInSeconds default.
	defaultAuthorizerTTL = 300 * time.Second
)

// Options says how to resolve the template locally.
type Options struct {
	// Parameters overrides parameter defaults by name. An unknown name is an error, so a
	// typo cannot silently leave the default in place.
	Parameters map[string]string
	// Region is what AWS::Region resolves to; default us-east-1.
	Region string
	// AccountID is what AWS::AccountId resolves to; default 000000000000.
	AccountID string
}

// Template is the resolved, local view of template.yaml.
type Template struct {
	Region    string
	AccountID string
	Partition string
	StackName string

	// Parameters by name, each with its resolved Value.
	Parameters map[string]Parameter
	// Conditions by name, each evaluated with the parameters (so a check can tell which of the
	// resources the local view ignores, such as the web ACL, a deployment would create).
	Conditions map[string]bool
	// Functions in template order.
	Functions []Function
	// Routes in template order.
	Routes []Route
	// API is the template's only AWS::Serverless::Api.
	API API
	// Tables in template order.
	Tables []Table
	// Secrets in template order.
	Secrets []Secret
	// UsagePlans in template order (the tiers).
	UsagePlans []UsagePlan
	// Schedules are the functions' Schedule events, in template order.
	Schedules []Schedule
	// Outputs maps each output name to its resolved Value.
	Outputs map[string]string
}

// Parameter is one template parameter.
type Parameter struct {
	Name          string
	Type          string // String or Number
	Default       string
	HasDefault    bool
	AllowedValues []string
	// Value is the override when one was given, else Default.
	Value string
}

// Function is one AWS::Serverless::Function with Globals.Function applied.
type Function struct {
	// LogicalID is the template key, e.g. TokenFunction.
	LogicalID string
	// Name is what Ref returns: FunctionName when set, else the logical id.
	Name string
	// Dir is the function's folder under functions/: the logical id without its Function
	// suffix and with the first letter lower-cased (TokenFunction ↔ functions/token).
	Dir string
	// Handler is the Handler property (bootstrap for provided runtimes).
	Handler string
	// Env is Globals.Function.Environment.Variables merged with the function's own
	// (the function's win).
	Env map[string]string
	// Timeout is the function's Timeout, else the Globals', else Lambda's 3 s.
	Timeout time.Duration
	// MemorySize in MB: the function's, else the Globals', else Lambda's 128.
	MemorySize int
	// LogFormat and LogLevel are LoggingConfig's LogFormat (JSON or Text; "" = Lambda's Text)
	// and ApplicationLogLevel ("" = Lambda's INFO), the function's, else the Globals'.
	LogFormat, LogLevel string
}

// Schedule is one Schedule event of a function: EventBridge invokes it on Expression.
type Schedule struct {
	EventName  string
	FunctionID string
	Expression string // rate(…) or cron(…)
}

// Route is one Api event of a function.
type Route struct {
	// EventName is the key under the function's Events.
	EventName string
	// APIKeyRequired is the event's Auth.ApiKeyRequired, else the API's: the request must
	// name an API key of a usage plan on the stage (here the authorizer's usageIdentifierKey).
	APIKeyRequired bool
	// Method is upper-case: GET, POST, ..., or ANY.
	Method string
	// Path is the resource path as written in the template, e.g. /v1/keys/{id}.
	Path string
	// FunctionID is the logical id of the function that serves the route.
	FunctionID string
	// AuthorizerName is "" when the event says Auth.Authorizer: NONE (or the API has no
	// default authorizer), else the event's Authorizer or the API's DefaultAuthorizer.
	AuthorizerName string
}

// API is the AWS::Serverless::Api resource.
type API struct {
	LogicalID string
	// Name is the Name property (the REST API's name); the logical id when absent.
	Name              string
	StageName         string
	DefaultAuthorizer string
	// Authorizers by name.
	Authorizers map[string]Authorizer
	// GatewayResponses by response type (UNAUTHORIZED, DEFAULT_4XX, ...).
	GatewayResponses map[string]GatewayResponse
	// BinaryMediaTypes as declared (API Gateway base64-encodes bodies of these types).
	BinaryMediaTypes []string
	// StageVariables is the Api's Variables; nil when it declares none.
	StageVariables map[string]string
	// Cors is the Api's Cors setting; nil when it has none.
	Cors *CORS
	// APIKeySourceType is HEADER (x-api-key, API Gateway's default) or AUTHORIZER (the
	// authorizer's usageIdentifierKey).
	APIKeySourceType string
	// APIKeyRequired is Auth.ApiKeyRequired: the default of every route.
	APIKeyRequired bool
}

// UsagePlan is an AWS::ApiGateway::UsagePlan: a token bucket (RateLimit requests per second
// refilling a bucket of BurstLimit) and a quota (QuotaLimit requests per QuotaPeriod, DAY,
// WEEK or MONTH; 0 when the plan has none) for each API key in it, on the API's stage.
type UsagePlan struct {
	LogicalID   string
	Name        string
	RateLimit   float64
	BurstLimit  int
	QuotaLimit  int
	QuotaPeriod string
}

// CORS is the Api's Cors property. SAM turns it into an OPTIONS method with a mock
// integration on every path, answering preflights with these headers (values as the
// browser sees them, without API Gateway's quotes).
type CORS struct {
	AllowOrigin      string
	AllowHeaders     string // "" when not set
	AllowMethods     string // "" when not set: SAM lists the path's methods
	MaxAge           string // "" when not set
	AllowCredentials bool
	// PreflightAuthorized is true when the preflight OPTIONS methods carry the default
	// authorizer (SAM's AddDefaultAuthorizerToCorsPreflight, true by default).
	PreflightAuthorized bool
	// PreflightAPIKeyRequired is true when the preflights require an API key (SAM's
	// AddApiKeyRequiredToCorsPreflight, true by default when the API requires keys).
	PreflightAPIKeyRequired bool
}

// Authorizer is a Lambda authorizer of the API.
type Authorizer struct {
	Name string
	// FunctionID is the logical id named by FunctionArn: !GetAtt <FunctionID>.Arn.
	FunctionID string
	// PayloadType is REQUEST (the only type supported locally).
	PayloadType string
	// IdentityHeaders, IdentityQueryStrings and IdentityContext ($context variables such
	// as identity.sourceIp) are the identity sources; a request missing any of them is
	// refused with 401 before the authorizer runs, and together they are the cache key.
	IdentityHeaders      []string
	IdentityQueryStrings []string
	IdentityContext      []string
	// TTL is ReauthorizeEvery (default 300 s); 0 disables caching.
	TTL time.Duration
}

// GatewayResponse is one entry of the API's GatewayResponses.
type GatewayResponse struct {
	// StatusCode is 0 when the template does not set one; then API Gateway's default
	// status for the response type applies.
	StatusCode int
	// Headers with the single quotes of the template's static values stripped.
	Headers map[string]string
	// Template is the application/json response template ("" when absent).
	Template string
}

// Table is an AWS::DynamoDB::Table with what is needed to create it.
type Table struct {
	LogicalID              string
	Name                   string
	AttributeDefinitions   []AttributeDefinition
	KeySchema              []KeyElement
	GlobalSecondaryIndexes []SecondaryIndex
	LocalSecondaryIndexes  []SecondaryIndex
	// TTLAttribute is the TimeToLiveSpecification attribute when TTL is enabled, else "".
	TTLAttribute string
}

// AttributeDefinition is one of a table's AttributeDefinitions.
type AttributeDefinition struct {
	AttributeName string
	AttributeType string // S, N or B
}

// KeyElement is one element of a key schema.
type KeyElement struct {
	AttributeName string
	KeyType       string // HASH or RANGE
}

// SecondaryIndex is a global or local secondary index.
type SecondaryIndex struct {
	IndexName        string
	KeySchema        []KeyElement
	ProjectionType   string // ALL, KEYS_ONLY or INCLUDE
	NonKeyAttributes []string
}

// Secret is an AWS::SecretsManager::Secret.
type Secret struct {
	LogicalID   string
	Name        string
	Description string
	// SecretString is the literal value when the template sets one (HasSecretString).
	SecretString    string
	HasSecretString bool
	// GenerateSecretString is set when Secrets Manager generates the value.
	GenerateSecretString *GenerateSecretString
	// RotationFunctionID is the logical id of the function an
	// AWS::SecretsManager::RotationSchedule rotates this secret with, else "".
	RotationFunctionID string
	// RotateImmediately is the schedule's RotateImmediatelyOnUpdate (CloudFormation's
	// default is true).
	RotateImmediately bool
}

// GenerateSecretString mirrors the CloudFormation property of the same name, with
// CloudFormation's defaults applied.
type GenerateSecretString struct {
	PasswordLength          int // default 32
	ExcludeCharacters       string
	ExcludeLowercase        bool
	ExcludeNumbers          bool
	ExcludePunctuation      bool
	ExcludeUppercase        bool
	IncludeSpace            bool
	RequireEachIncludedType bool // default true
	// SecretStringTemplate and GenerateStringKey, when set, make the value a JSON object:
	// the template with the generated password under GenerateStringKey.
	SecretStringTemplate string
	GenerateStringKey    string
}

// Function returns the function with the given logical id.
func (t *Template) Function(id string) (Function, bool) {
	for _, f := range t.Functions {
		if f.LogicalID == id {
			return f, true
		}
	}
	return Function{}, false
}

// Load reads and resolves the template at path.
func Load(path string, opts Options) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("samtpl: read template: %w", err)
	}
	t, err := Parse(data, opts)
	if err != nil {
		return nil, fmt.Errorf("samtpl: %s: %w", path, err)
	}
	return t, nil
}

// Parse resolves a template held in memory.
func Parse(data []byte, opts Options) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	root, err := asObject(&doc, "template")
	if err != nil {
		return nil, err
	}
	if err := root.allow("AWSTemplateFormatVersion", "Transform", "Description", "Metadata",
		"Parameters", "Conditions", "Globals", "Resources", "Outputs"); err != nil {
		return nil, err
	}
	if err := checkTransform(root.get("Transform")); err != nil {
		return nil, err
	}

	r := &resolver{
		region:     nonEmpty(opts.Region, DefaultRegion),
		account:    nonEmpty(opts.AccountID, DefaultAccountID),
		partition:  "aws",
		urlSuffix:  "amazonaws.com",
		stackName:  StackName,
		resources:  map[string]*resource{},
		names:      map[string]string{},
		inProgress: map[string]bool{},
	}
	if strings.HasPrefix(r.region, "cn-") {
		r.partition, r.urlSuffix = "aws-cn", "amazonaws.com.cn"
	}

	t := &Template{Region: r.region, AccountID: r.account, Partition: r.partition, StackName: r.stackName}
	if t.Parameters, err = parseParameters(root.get("Parameters"), opts.Parameters); err != nil {
		return nil, err
	}
	r.params = t.Parameters
	if err := r.parseConditions(root.get("Conditions")); err != nil {
		return nil, err
	}
	t.Conditions = make(map[string]bool, len(r.conds))
	for name, v := range r.conds {
		t.Conditions[name] = v
	}

	resNode := root.get("Resources")
	if resNode == nil {
		return nil, fmt.Errorf("template: Resources is missing")
	}
	order, err := indexResources(resNode, r)
	if err != nil {
		return nil, err
	}
	globals, err := parseGlobals(root.get("Globals"))
	if err != nil {
		return nil, err
	}

	b := &builder{r: r, t: t, globals: globals}
	if err := b.build(order); err != nil {
		return nil, err
	}
	if t.Outputs, err = parseOutputs(root.get("Outputs"), r); err != nil {
		return nil, err
	}
	return t, nil
}

func nonEmpty(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

const samTransform = "AWS::Serverless-2016-10-31"

// checkTransform insists on the SAM transform: without it the Serverless resource types
// mean nothing.
func checkTransform(n *yaml.Node) error {
	if n == nil {
		return fmt.Errorf("template: Transform %s is missing", samTransform)
	}
	if deref(n).Kind == yaml.SequenceNode {
		items, err := asList(n, "template.Transform")
		if err != nil {
			return err
		}
		for i, it := range items {
			v, err := literal(it, fmt.Sprintf("template.Transform[%d]", i))
			if err != nil {
				return err
			}
			if v != samTransform {
				return fmt.Errorf("template.Transform: unsupported transform %q", v)
			}
		}
		return nil
	}
	v, err := literal(n, "template.Transform")
	if err != nil {
		return err
	}
	if v != samTransform {
		return fmt.Errorf("template.Transform: unsupported transform %q", v)
	}
	return nil
}

// indexResources records every resource by logical id (so that Refs can be resolved in any
// order) and returns the ids in template order.
func indexResources(n *yaml.Node, r *resolver) ([]string, error) {
	o, err := asObject(n, "Resources")
	if err != nil {
		return nil, err
	}
	for _, id := range o.keys {
		if _, clash := r.params[id]; clash {
			return nil, fmt.Errorf("Resources.%s: name is also a parameter", id)
		}
		ro, err := asObject(o.vals[id], "Resources."+id)
		if err != nil {
			return nil, err
		}
		if err := ro.allow("Type", "Properties", "Metadata", "DependsOn", "DeletionPolicy", "UpdateReplacePolicy", "Condition"); err != nil {
			return nil, err
		}
		var cond string
		if cn := ro.get("Condition"); cn != nil {
			if cond, err = literal(cn, ro.path("Condition")); err != nil {
				return nil, err
			}
			if _, err := r.condition(cond, ro.path("Condition")); err != nil {
				return nil, err
			}
		}
		typ, err := literal(ro.get("Type"), ro.path("Type"))
		if err != nil {
			return nil, err
		}
		props := object{where: "Resources." + id + ".Properties", vals: map[string]*yaml.Node{}}
		if p := ro.get("Properties"); p != nil {
			if props, err = asObject(p, ro.path("Properties")); err != nil {
				return nil, err
			}
		}
		switch {
		case typ == typeFunction, typ == typeAPI, typ == typeTable, typ == typeSecret, typ == typeRotationSchedule,
			typ == typeUsagePlan:
		case awsOnlyTypes[typ]:
		default:
			return nil, fmt.Errorf("Resources.%s: unsupported resource type %s", id, typ)
		}
		r.resources[id] = &resource{id: id, typ: typ, props: props, condition: cond}
	}
	return o.keys, nil
}

func parseOutputs(n *yaml.Node, r *resolver) (map[string]string, error) {
	out := map[string]string{}
	if n == nil {
		return out, nil
	}
	o, err := asObject(n, "Outputs")
	if err != nil {
		return nil, err
	}
	for _, k := range o.keys {
		oo, err := asObject(o.vals[k], o.path(k))
		if err != nil {
			return nil, err
		}
		if err := oo.allow("Description", "Value", "Export", "Condition"); err != nil {
			return nil, err
		}
		if cn := oo.get("Condition"); cn != nil {
			cond, err := literal(cn, oo.path("Condition"))
			if err != nil {
				return nil, err
			}
			if ok, err := r.exists(cond, oo.path("Condition")); err != nil {
				return nil, err
			} else if !ok {
				continue
			}
		}
		v, err := r.value(oo.get("Value"), oo.path("Value"))
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// sortedKeys returns m's keys in order, for deterministic errors and output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
