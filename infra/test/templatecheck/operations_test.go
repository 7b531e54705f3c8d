package templatecheck_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestTablesAreProductionReady(t *testing.T) {
	c := loadTemplate(t)
	tables := c.resources("AWS::DynamoDB::Table")
	if len(tables) != 2 {
		t.Fatalf("tables: %v", sortedKeys(tables))
	}
	for _, id := range sortedKeys(tables) {
		r := tables[id]
		p := props(r)
		checks := []struct {
			what string
			ok   bool
		}{
			{"on-demand billing", p["BillingMode"] == "PAY_PER_REQUEST"},
			{"TTL on the ttl attribute", path(p, "TimeToLiveSpecification", "Enabled") == true && path(p, "TimeToLiveSpecification", "AttributeName") == "ttl"},
			{"point-in-time recovery", path(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") == true},
			{"encryption at rest with a KMS key", path(p, "SSESpecification", "SSEEnabled") == true},
			{"deletion protection in prod", str(p["DeletionProtectionEnabled"]) == `{"Fn::If":["IsProd",true,false]}`},
			{"kept when the stack is deleted or the table replaced", r["DeletionPolicy"] == "Retain" && r["UpdateReplacePolicy"] == "Retain"},
		}
		for _, ch := range checks {
			if !ch.ok {
				t.Errorf("%s: no %s", id, ch.what)
			}
		}
	}
	if str(path(c, "Conditions", "IsProd")) != `{"Fn::Equals":[{"Ref":"Stage"},"prod"]}` {
		t.Errorf("IsProd = %v", path(c, "Conditions", "IsProd"))
	}
	// Only the GSI the code queries (shared/store/dynamo ListIndex) exists.
	var indexes []string
	for _, id := range sortedKeys(tables) {
		for _, gsi := range list(props(tables[id])["GlobalSecondaryIndexes"]) {
			indexes = append(indexes, id+"/"+str(path(gsi, "IndexName")))
		}
	}
	if strings.Join(indexes, ",") != "KeysTable/list-index" {
		t.Errorf("indexes = %v, want only KeysTable/list-index", indexes)
	}
}

func TestEveryLogGroupHasARetention(t *testing.T) {
	c := loadTemplate(t)
	groups := c.resources("AWS::Logs::LogGroup")
	for _, id := range sortedKeys(groups) {
		if str(props(groups[id])["RetentionInDays"]) != `{"Ref":"LogRetentionInDays"}` {
			t.Errorf("%s: RetentionInDays is not the LogRetentionInDays parameter", id)
		}
	}
	used := map[string]bool{}
	for _, fn := range sortedKeys(c.resources("AWS::Serverless::Function")) {
		lc := path(props(c.resource(fn)), "LoggingConfig")
		lg, _ := refTarget(path(lc, "LogGroup"))
		if groups[lg] == nil || path(lc, "LogFormat") != "JSON" {
			t.Errorf("%s: LoggingConfig must be LogFormat JSON and LogGroup !Ref to its own AWS::Logs::LogGroup, got %v", fn, lc)
		}
		if used[lg] {
			t.Errorf("%s shares log group %s", fn, lg)
		}
		used[lg] = true
	}
	dest, _ := refTarget(path(c.resource("Api"), "Properties", "AccessLogSetting", "DestinationArn"))
	if groups[dest] == nil {
		t.Errorf("API access logs go to %v, not to a log group of this template", dest)
	}
}

// TestAlarmsCoverTheFailureModes pins one alarm per failure mode of the runbooks, each
// notifying AlarmTopicArn when it is set.
func TestAlarmsCoverTheFailureModes(t *testing.T) {
	c := loadTemplate(t)
	alarms := c.resources("AWS::CloudWatch::Alarm")
	watched := map[string]bool{}
	for _, id := range sortedKeys(alarms) {
		p := props(alarms[id])
		for _, key := range []string{"AlarmActions", "OKActions"} {
			if str(p[key]) != `{"Fn::If":["HasAlarmTopic",[{"Ref":"AlarmTopicArn"}],{"Ref":"AWS::NoValue"}]}` {
				t.Errorf("%s: %s = %v, want the AlarmTopicArn when HasAlarmTopic", id, key, str(p[key]))
			}
		}
		metrics := []any{map[string]any{"Namespace": p["Namespace"], "MetricName": p["MetricName"], "Dimensions": p["Dimensions"]}}
		for _, m := range list(p["Metrics"]) {
			if ms := path(m, "MetricStat", "Metric"); ms != nil {
				metrics = append(metrics, ms)
			}
		}
		for _, m := range metrics {
			key := str(path(m, "Namespace")) + " " + str(path(m, "MetricName"))
			for _, d := range list(path(m, "Dimensions")) {
				if name, _ := refTarget(path(d, "Value")); name != "" {
					key += " " + name
				}
			}
			watched[key] = true
		}
	}
	for _, want := range []string{
		"AWS/ApiGateway 5XXError Stage",
		`{"Fn::Sub":"keygate/${Stage}"} AuthorizerFailures`,
		`{"Fn::Sub":"keygate/${Stage}"} Throttled`,
		"AWS/DynamoDB ReadThrottleEvents KeysTable", "AWS/DynamoDB WriteThrottleEvents KeysTable",
		"AWS/DynamoDB ReadThrottleEvents TokensTable", "AWS/DynamoDB WriteThrottleEvents TokensTable",
		"AWS/Lambda Errors RotateFunction",
		`{"Fn::Sub":"keygate/${Stage}"} TokenAuthFailures`, `{"Fn::Sub":"keygate/${Stage}"} RefreshInvalidGrants`,
		"AWS/Lambda Throttles AuthorizerFunction", "AWS/Lambda Throttles TokenFunction", "AWS/Lambda Throttles RefreshFunction",
	} {
		if !watched[want] {
			t.Errorf("no alarm on %s (alarms watch %v)", want, sortedKeys(watched))
		}
	}
	// The custom metrics come from the access log: the filters must exist and the format must
	// carry the field they match.
	format := str(path(c.resource("Api"), "Properties", "AccessLogSetting", "Format"))
	if !strings.Contains(format, `"errorType":"$context.error.responseType"`) || !strings.Contains(format, "$context.requestId") {
		t.Errorf("access log format lacks errorType or requestId: %s", format)
	}
	filters := map[string]bool{}
	for _, f := range c.resources("AWS::Logs::MetricFilter") {
		for _, mt := range list(props(f)["MetricTransformations"]) {
			filters[str(path(mt, "MetricName"))] = strings.Contains(str(props(f)["FilterPattern"]), "$.errorType")
		}
	}
	if !filters["AuthorizerFailures"] || !filters["Throttled"] {
		t.Errorf("metric filters on errorType for AuthorizerFailures and Throttled: %v", filters)
	}
}

// TestGatewayResponsesKeepTheErrorShapeAndCORS checks every gateway response renders the one
// error shape with the CORS origin, and that ACCESS_DENIED is exactly the authorizer-driven
// template the authorizer's context was designed for.
func TestGatewayResponsesKeepTheErrorShapeAndCORS(t *testing.T) {
	c := loadTemplate(t)
	api := props(c.resource("Api"))
	responses, _ := api["GatewayResponses"].(map[string]any)
	for _, typ := range []string{"UNAUTHORIZED", "ACCESS_DENIED", "AUTHORIZER_FAILURE", "AUTHORIZER_CONFIGURATION_ERROR", "THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX"} {
		if responses[typ] == nil {
			t.Errorf("no %s gateway response", typ)
		}
	}
	for _, typ := range sortedKeys(responses) {
		gr := responses[typ]
		if !strings.HasPrefix(str(path(gr, "ResponseTemplates", "application/json")), `{"error":{"code":`) {
			t.Errorf("%s: body is not the error shape", typ)
		}
		if str(path(gr, "ResponseParameters", "Headers", "Access-Control-Allow-Origin")) != `{"Fn::Sub":"'${CorsAllowOrigin}'"}` {
			t.Errorf("%s: no Access-Control-Allow-Origin from CorsAllowOrigin", typ)
		}
	}
	const accessDenied = `{"error":{"code":"$context.authorizer.deny_code","message":"$context.authorizer.deny_message","type":"$context.authorizer.deny_type","required_scope":"$context.authorizer.required_scope"}}`
	if got := str(path(responses["ACCESS_DENIED"], "ResponseTemplates", "application/json")); got != accessDenied {
		t.Errorf("ACCESS_DENIED template changed:\n%s", got)
	}
	if str(path(api, "Cors", "AllowOrigin")) != `{"Fn::Sub":"'${CorsAllowOrigin}'"}` || path(api, "Auth", "AddDefaultAuthorizerToCorsPreflight") != false {
		t.Error("Cors must allow CorsAllowOrigin with unauthenticated preflights")
	}
	ms := list(api["MethodSettings"])
	if len(ms) != 1 || str(path(ms[0], "ThrottlingRateLimit")) != `{"Ref":"ThrottlingRateLimit"}` || str(path(ms[0], "ThrottlingBurstLimit")) != `{"Ref":"ThrottlingBurstLimit"}` ||
		path(ms[0], "ResourcePath") != "/*" || path(ms[0], "HttpMethod") != "*" {
		t.Errorf("stage throttling must apply the parameters to every method: %v", ms)
	}
	if str(api["TracingEnabled"]) != `{"Fn::If":["TracingOn",true,false]}` || str(path(c, "Globals", "Function", "Tracing")) != `{"Fn::If":["TracingOn","Active","PassThrough"]}` {
		t.Error("EnableTracing must switch X-Ray for the stage and every function")
	}
}

// TestSigningKeyIsGeneratedOnFirstDeploy: the signing secret is created empty and rotated at
// once by the template's rotation function, so no key material is ever in the template.
func TestSigningKeyIsGeneratedOnFirstDeploy(t *testing.T) {
	c := loadTemplate(t)
	secret := props(c.resource("SigningKeySecret"))
	if secret["SecretString"] != nil || secret["GenerateSecretString"] != nil {
		t.Error("the signing secret must be created empty; RotateFunction generates the key")
	}
	rot := props(c.resource("SigningKeyRotation"))
	fn, _ := refTarget(rot["RotationLambdaARN"])
	sec, _ := refTarget(rot["SecretId"])
	if fn != "RotateFunction" || sec != "SigningKeySecret" || rot["RotateImmediatelyOnUpdate"] != true ||
		!strings.HasPrefix(str(path(rot, "RotationRules", "ScheduleExpression")), "rate(") {
		t.Errorf("rotation schedule = %v", rot)
	}
	pepper := props(c.resource("PepperSecret"))
	if pepper["SecretString"] != nil || pepper["GenerateSecretString"] == nil {
		t.Error("the pepper must be generated by Secrets Manager, never written in the template")
	}
}

// TestDashboardBodyIsJSON: CloudFormation only finds out at deploy time that a dashboard body
// is malformed. Every ${…} must name a parameter, a resource or a pseudo parameter.
func TestDashboardBodyIsJSON(t *testing.T) {
	c := loadTemplate(t)
	for id, d := range c.resources("AWS::CloudWatch::Dashboard") {
		body, ok := path(props(d), "DashboardBody", "Fn::Sub").(string)
		if !ok {
			t.Fatalf("%s: DashboardBody is not a !Sub string", id)
		}
		params, _ := c["Parameters"].(map[string]any)
		body = subVar.ReplaceAllStringFunc(body, func(ref string) string {
			name := subVar.FindStringSubmatch(ref)[1]
			if !strings.HasPrefix(name, "AWS::") && params[name] == nil && c.resource(name) == nil {
				t.Errorf("%s: ${%s} names nothing in the template", id, name)
			}
			return "x"
		})
		var v struct {
			Widgets []map[string]any `json:"widgets"`
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil || len(v.Widgets) == 0 {
			t.Errorf("%s: body is not a dashboard: %v", id, err)
		}
	}
}

// TestEveryAlarmHasARunbookEntry: whoever an alarm wakes finds it in docs/operations.md's alarm
// table, by the name after keygate-<stage>-.
func TestEveryAlarmHasARunbookEntry(t *testing.T) {
	c := loadTemplate(t)
	doc, err := os.ReadFile("../../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range sortedKeys(c.resources("AWS::CloudWatch::Alarm")) {
		name, _ := path(props(c.resource(id)), "AlarmName", "Fn::Sub").(string)
		short, ok := strings.CutPrefix(name, "keygate-${Stage}-")
		if !ok {
			t.Errorf("%s: AlarmName %v is not keygate-${Stage}-<name>", id, props(c.resource(id))["AlarmName"])
			continue
		}
		row := false
		for _, l := range strings.Split(string(doc), "\n") {
			row = row || strings.HasPrefix(l, "|") && strings.Contains(l, "`"+short+"`")
		}
		if !row {
			t.Errorf("%s: docs/operations.md's alarm table has no row for `%s`", id, short)
		}
	}
}
