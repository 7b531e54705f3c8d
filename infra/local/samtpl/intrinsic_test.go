package samtpl_test

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/local/samtpl"
)

// minimal returns a small valid template with extra resources appended under Resources.
func minimal(extra string) string {
	return `AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Globals:
  Function:
    Runtime: provided.al2023
    Handler: bootstrap
    Timeout: 7
    Environment:
      Variables:
        SHARED: from-globals
        OVERRIDDEN: globals
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
      Auth:
        DefaultAuthorizer: Lambda
        Authorizers:
          Lambda:
            FunctionPayloadType: REQUEST
            FunctionArn: !GetAtt AuthorizerFunction.Arn
            Identity:
              Headers: [Authorization]
  AuthorizerFunction:
    Type: AWS::Serverless::Function
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "t-${Stage}"
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: !Sub s-${Stage}
` + indent(extra)
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// envFunction declares a function whose single env var V holds the expression under test.
func envFunction(expr string) string {
	return `ProbeFunction:
  Type: AWS::Serverless::Function
  Properties:
    Environment:
      Variables:
        V: ` + expr + "\n"
}

func TestIntrinsicsResolve(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want string
	}{
		{"short Ref to a parameter", "!Ref Stage", "dev"},
		{"long Ref to a parameter", "{Ref: Stage}", "dev"},
		{"Ref to a table gives its name", "!Ref Table", "t-dev"},
		{"Ref to a secret gives its name", "{Ref: Secret}", "s-dev"},
		{"Ref to a function gives its logical id", "!Ref AuthorizerFunction", "AuthorizerFunction"},
		{"Ref to the API gives its logical id", "!Ref Api", "Api"},
		{"Ref to a pseudo parameter", "!Ref AWS::Region", "us-east-1"},
		{"Sub with parameters and pseudo parameters", `!Sub "${Stage}/${AWS::AccountId}/${AWS::Partition}/${AWS::StackName}/${AWS::URLSuffix}"`,
			"dev/000000000000/aws/keygate-local/amazonaws.com"},
		{"Sub with a GetAtt", `!Sub "${AuthorizerFunction.Arn}"`, "arn:aws:lambda:us-east-1:000000000000:function:AuthorizerFunction"},
		{"Sub with an escaped literal", `!Sub "${!Literal}-${Stage}"`, "${Literal}-dev"},
		{"Sub list form with variables", `!Sub ["${A}-${Stage}", {A: !Ref Table}]`, "t-dev-dev"},
		{"long Sub list form", `{"Fn::Sub": ["x${B}", {B: "y"}]}`, "xy"},
		{"long Sub string form", `{"Fn::Sub": "${Table}"}`, "t-dev"},
		{"short GetAtt of a table", "!GetAtt Table.Arn", "arn:aws:dynamodb:us-east-1:000000000000:table/t-dev"},
		{"long GetAtt list form", `{"Fn::GetAtt": [AuthorizerFunction, Arn]}`, "arn:aws:lambda:us-east-1:000000000000:function:AuthorizerFunction"},
		{"short GetAtt list form", `!GetAtt [Table, Arn]`, "arn:aws:dynamodb:us-east-1:000000000000:table/t-dev"},
		{"GetAtt Id of a secret", `!GetAtt Secret.Id`, "arn:aws:secretsmanager:us-east-1:000000000000:secret:s-dev"},
		{"a number stays as written", "5", "5"},
		{"a boolean stays as written", "true", "true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := samtpl.Parse([]byte(minimal(envFunction(tc.expr))), samtpl.Options{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			f, _ := tpl.Function("ProbeFunction")
			if got := f.Env["V"]; got != tc.want {
				t.Errorf("V = %q, want %q", got, tc.want)
			}
			if f.Env["SHARED"] != "from-globals" || f.Timeout.Seconds() != 7 {
				t.Errorf("globals not applied: env %v timeout %v", f.Env, f.Timeout)
			}
		})
	}
}

func TestFunctionEnvOverridesGlobals(t *testing.T) {
	tpl, err := samtpl.Parse([]byte(minimal(`ProbeFunction:
  Type: AWS::Serverless::Function
  Properties:
    Timeout: 20
    MemorySize: 1024
    Environment:
      Variables:
        OVERRIDDEN: function
`)), samtpl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := tpl.Function("ProbeFunction")
	if f.Env["OVERRIDDEN"] != "function" || f.Env["SHARED"] != "from-globals" || f.Timeout.Seconds() != 20 || f.MemorySize != 1024 {
		t.Errorf("function = %+v", f)
	}
	a, _ := tpl.Function("AuthorizerFunction")
	if a.MemorySize != 128 {
		t.Errorf("default memory = %d, want 128", a.MemorySize)
	}
}

func TestUnsupportedConstructsFail(t *testing.T) {
	tests := []struct {
		name    string
		tpl     string
		wantErr string
	}{
		{"a Join intrinsic", minimal(envFunction(`!Join ["-", [a, b]]`)), "unsupported intrinsic !Join"},
		{"an If on an undeclared condition", minimal(envFunction(`{"Fn::If": [c, a, b]}`)), `unknown condition "c"`},
		{"a Ref to nothing", minimal(envFunction(`!Ref Nope`)), `unknown parameter or resource "Nope"`},
		{"an unterminated Sub", minimal(envFunction(`!Sub "${Stage"`)), "unterminated"},
		{"an unknown pseudo parameter", minimal(envFunction(`!Ref AWS::Nothing`)), "unsupported pseudo parameter"},
		{"AWS::NoValue as a value", minimal(envFunction(`!Ref AWS::NoValue`)), "AWS::NoValue where a value is needed"},
		{"an unsupported GetAtt", minimal(envFunction(`!GetAtt Table.StreamArn`)), "unsupported GetAtt Table.StreamArn"},
		{"a list where a value belongs", minimal(envFunction(`[a, b]`)), "want a single value, got a list"},
		{"an unknown resource type", minimal("Queue:\n  Type: AWS::SQS::Queue\n"), "unsupported resource type AWS::SQS::Queue"},
		{"a resource Condition that is not declared", minimal("Other:\n  Type: AWS::Lambda::Permission\n  Condition: IsProd\n"), `unknown condition "IsProd"`},
		{"an unknown function property", minimal("XFunction:\n  Type: AWS::Serverless::Function\n  Properties:\n    Layers: [a]\n"), `unsupported property "Layers"`},
		{"a function id without the Function suffix", minimal("Worker:\n  Type: AWS::Serverless::Function\n"), "<Dir>Function"},
		{"a non-provided runtime", minimal("XFunction:\n  Type: AWS::Serverless::Function\n  Properties:\n    Runtime: python3.12\n"), "unsupported runtime"},
		{"a table without TableName", minimal("T2:\n  Type: AWS::DynamoDB::Table\n  Properties:\n    AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]\n    KeySchema: [{AttributeName: pk, KeyType: HASH}]\n"), "TableName is required"},
		{"a reference cycle", minimal("T3:\n  Type: AWS::DynamoDB::Table\n  Properties:\n    TableName: !Ref T3\n    AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]\n    KeySchema: [{AttributeName: pk, KeyType: HASH}]\n"), "reference cycle"},
		{"a non-Api event", minimal("XFunction:\n  Type: AWS::Serverless::Function\n  Properties:\n    Events:\n      E:\n        Type: SQS\n        Properties: {}\n"), `unsupported event type "SQS"`},
		{"an unknown authorizer on a route", minimal(route("GET", "/a", "Auth: {Authorizer: Other}")), `unknown authorizer "Other"`},
		{"a duplicate route", minimal(route("GET", "/a", "") + route2("GET", "/a")), "already served"},
		{"a route on the implicit API", minimal("XFunction:\n  Type: AWS::Serverless::Function\n  Properties:\n    Events:\n      E:\n        Type: Api\n        Properties: {Path: /a, Method: GET}\n"), "implicit API"},
		{"a greedy segment in the middle", minimal(route("GET", "/a/{p+}/b", "")), "must be the last segment"},
		{"a mixed literal and parameter segment", minimal(route("GET", "/a/x{id}", "")), "literal or a whole"},
		{"a Conditions section that is not a mapping", "Conditions: []\n" + minimal(""), "Conditions: want a mapping"},
		{"a missing transform", strings.Replace(minimal(""), "Transform: AWS::Serverless-2016-10-31\n", "", 1), "Transform"},
		{"a duplicate key", minimal("Dup:\n  Type: AWS::Lambda::Permission\nDup:\n  Type: AWS::Lambda::Permission\n"), "duplicate key"},
		{"invalid yaml", "a: [", "parse yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := samtpl.Parse([]byte(tc.tpl), samtpl.Options{})
			checkErr(t, err, tc.wantErr)
		})
	}
}

func route(method, path, extra string) string {
	s := "XFunction:\n  Type: AWS::Serverless::Function\n  Properties:\n    Events:\n      E:\n        Type: Api\n        Properties:\n          RestApiId: !Ref Api\n          Path: " + path + "\n          Method: " + method + "\n"
	if extra != "" {
		s += "          " + extra + "\n"
	}
	return s
}

func route2(method, path string) string {
	return "YFunction:\n  Type: AWS::Serverless::Function\n  Properties:\n    Events:\n      E:\n        Type: Api\n        Properties:\n          RestApiId: !Ref Api\n          Path: " + path + "\n          Method: " + method + "\n"
}

func TestGatewayResponseHeaderMustBeStatic(t *testing.T) {
	tpl := strings.Replace(minimal(""), "      StageName: !Ref Stage\n", `      StageName: !Ref Stage
      GatewayResponses:
        UNAUTHORIZED:
          ResponseParameters:
            Headers:
              X-Echo: method.request.header.X
`, 1)
	_, err := samtpl.Parse([]byte(tpl), samtpl.Options{})
	checkErr(t, err, "not a static")
}

func TestTokenAuthorizerIsRefused(t *testing.T) {
	tpl := strings.Replace(minimal(""), "FunctionPayloadType: REQUEST", "FunctionPayloadType: TOKEN", 1)
	_, err := samtpl.Parse([]byte(tpl), samtpl.Options{})
	checkErr(t, err, "REQUEST only")
}

func TestRouteMethodIsUpperCased(t *testing.T) {
	tpl, err := samtpl.Parse([]byte(minimal(route("any", "/a/{proxy+}", ""))), samtpl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tpl.Routes) != 1 || tpl.Routes[0].Method != "ANY" || tpl.Routes[0].AuthorizerName != "Lambda" {
		t.Errorf("routes = %+v", tpl.Routes)
	}
}

// The customer-managed key, the WAF web ACL and a function's concurrency reservation only
// exist in AWS: they are accepted, with or without a Condition and whatever intrinsics they
// hold, and change nothing local.
func TestEncryptionKeyWebACLAndReservedConcurrencyAreAcceptedAndIgnored(t *testing.T) {
	const extra = `Key:
  Type: AWS::KMS::Key
  Properties:
    KeyPolicy: {Statement: [{Effect: Allow, Principal: {AWS: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}, Action: kms:DescribeKey, Resource: "*"}]}
KeyAlias:
  Type: AWS::KMS::Alias
  Properties: {AliasName: alias/k, TargetKeyId: !Ref Key}
Acl:
  Type: AWS::WAFv2::WebACL
  Properties:
    Scope: REGIONAL
    DefaultAction: {Allow: {}}
    Rules: [{Name: r, Statement: {RateBasedStatement: {Limit: !Ref Stage}}}]
AclAssociation:
  Type: AWS::WAFv2::WebACLAssociation
  Properties: {ResourceArn: !Sub "${Api.Stage}", WebACLArn: !GetAtt Acl.Arn}
AclLogging:
  Type: AWS::WAFv2::LoggingConfiguration
  Properties: {ResourceArn: !GetAtt Acl.Arn, LogDestinationConfigs: [x]}
ProbeFunction:
  Type: AWS::Serverless::Function
  Properties:
    ReservedConcurrentExecutions: !If [Never, 5, !Ref AWS::NoValue]
`
	base, err := samtpl.Parse([]byte("Conditions:\n  Never: !Equals [a, b]\n"+minimal(envFunction("x"))), samtpl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := samtpl.Parse([]byte("Conditions:\n  Never: !Equals [a, b]\n"+minimal(extra)), samtpl.Options{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(tpl.Functions) != len(base.Functions) || len(tpl.Tables) != len(base.Tables) || len(tpl.Secrets) != len(base.Secrets) || len(tpl.Routes) != len(base.Routes) {
		t.Errorf("AWS-only resources changed the local view: %d functions, %d tables, %d secrets, %d routes; want %d, %d, %d, %d",
			len(tpl.Functions), len(tpl.Tables), len(tpl.Secrets), len(tpl.Routes), len(base.Functions), len(base.Tables), len(base.Secrets), len(base.Routes))
	}
	if _, ok := tpl.Function("ProbeFunction"); !ok {
		t.Error("the function with a reservation is missing")
	}
}
