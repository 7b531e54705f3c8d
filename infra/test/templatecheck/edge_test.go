package templatecheck_test

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/local/samtpl"
	"github.com/keygate/keygate/shared/httpapi"
)

// The edge (EnableWaf): AWS WAF in front of the stage. The local gateway does not emulate WAF,
// so what it does is pinned here, from the template.

// wafResources are the resources that exist only with the web ACL.
var wafResources = []string{"WebAcl", "WebAclAssociation", "WafLogGroup", "WafLogging", "WafBlocksAlarm"}

func TestWebACLIsOnInProdAndOffElsewhereByDefault(t *testing.T) {
	c := loadTemplate(t)
	for _, id := range wafResources {
		if r := c.resource(id); r == nil || r["Condition"] != "WafOn" {
			t.Errorf("%s: want a resource with Condition WafOn", id)
		}
	}
	tests := []struct {
		params map[string]string
		on     bool
	}{
		{map[string]string{"Stage": "prod"}, true},
		{map[string]string{"Stage": "dev"}, false},
		{map[string]string{"Stage": "staging", "EnableWaf": "true"}, true},
		{map[string]string{"Stage": "prod", "EnableWaf": "false"}, false},
		{map[string]string{"Stage": "local"}, false},
	}
	for _, tc := range tests {
		tpl, err := samtpl.Load(templatePath, samtpl.Options{Parameters: tc.params})
		if err != nil {
			t.Fatal(err)
		}
		if got := tpl.Conditions["WafOn"]; got != tc.on {
			t.Errorf("%v: WafOn = %v, want %v", tc.params, got, tc.on)
		}
	}
}

// Each rate-based rule counts per source IP over 5 minutes, up to its parameter, on /v1/auth/*
// or on everything else, and answers 429 in keygate's error shape.
func TestWebACLRateLimitsTheAuthEndpointsApartFromTheRest(t *testing.T) {
	c := loadTemplate(t)
	acl := props(c.resource("WebAcl"))
	if acl["Scope"] != "REGIONAL" || str(path(acl, "DefaultAction")) != `{"Allow":{}}` {
		t.Errorf("WebAcl: want a REGIONAL web ACL (API Gateway) that allows by default, got %v %v", acl["Scope"], acl["DefaultAction"])
	}
	assoc := props(c.resource("WebAclAssociation"))
	if str(assoc["ResourceArn"]) != `{"Fn::Sub":"arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${Api}/stages/${Api.Stage}"}` ||
		str(assoc["WebACLArn"]) != `{"Fn::GetAtt":["WebAcl","Arn"]}` {
		t.Errorf("WebAclAssociation must attach WebAcl to the Api's stage: %v", assoc)
	}

	authPath := `{"ByteMatchStatement":{"FieldToMatch":{"UriPath":{}},"PositionalConstraint":"CONTAINS","SearchString":"/v1/auth/","TextTransformations":[{"Priority":0,"Type":"URL_DECODE"},{"Priority":1,"Type":"NORMALIZE_PATH"}]}}`
	want := map[string]struct{ limit, scope string }{
		"auth-rate-limit": {"WafAuthRateLimit", authPath},
		"api-rate-limit":  {"WafApiRateLimit", `{"NotStatement":{"Statement":` + authPath + `}}`},
	}
	names := map[string]bool{}
	priorities := map[string]bool{}
	for _, r := range list(acl["Rules"]) {
		name := str(path(r, "Name"))
		names[name] = true
		if priorities[str(path(r, "Priority"))] {
			t.Errorf("rule %s: priority %v is taken", name, path(r, "Priority"))
		}
		priorities[str(path(r, "Priority"))] = true
		if str(path(r, "VisibilityConfig", "CloudWatchMetricsEnabled")) != "true" {
			t.Errorf("rule %s: no CloudWatch metrics", name)
		}
		w, ok := want[name]
		if !ok {
			continue
		}
		rb := path(r, "Statement", "RateBasedStatement")
		if str(path(rb, "Limit")) != `{"Ref":"`+w.limit+`"}` || str(path(rb, "AggregateKeyType")) != "IP" || str(path(rb, "EvaluationWindowSec")) != "300" {
			t.Errorf("rule %s: want a per-IP limit of %s requests in 300 s, got %s", name, w.limit, str(rb))
		}
		if got := str(path(rb, "ScopeDownStatement")); got != w.scope {
			t.Errorf("rule %s: scope\n  %s\nwant\n  %s", name, got, w.scope)
		}
		checkBlockedResponse(t, c, "rule "+name, path(r, "Action", "Block", "CustomResponse"), httpapi.CodeRateLimitExceeded)
	}
	for name := range want {
		if !names[name] {
			t.Errorf("no rule %s", name)
		}
	}

	// The auth endpoints get the lower limit; WAF refuses limits below 10.
	params, _ := c["Parameters"].(map[string]any)
	auth, api := str(path(params, "WafAuthRateLimit", "Default")), str(path(params, "WafApiRateLimit", "Default"))
	a, _ := strconv.Atoi(auth)
	b, _ := strconv.Atoi(api)
	if a < 10 || b <= a {
		t.Errorf("defaults WafAuthRateLimit=%s, WafApiRateLimit=%s: want 10 <= auth < the rest", auth, api)
	}
}

// checkBlockedResponse holds a Block action's custom response to keygate's error contract: the
// body (as WAF sends it, byte for byte) is the one error shape with a code from httpapi's list,
// its status and type; retry_after and Retry-After agree; the CORS origin is the stage's.
func checkBlockedResponse(t *testing.T, c cfn, where string, resp any, code string) {
	t.Helper()
	var spec httpapi.CodeSpec
	for _, s := range httpapi.Codes() {
		if s.Code == code {
			spec = s
		}
	}
	if str(path(resp, "ResponseCode")) != strconv.Itoa(spec.Status) {
		t.Errorf("%s: status %v, want %d for %s", where, path(resp, "ResponseCode"), spec.Status, code)
	}
	key := str(path(resp, "CustomResponseBodyKey"))
	body := path(props(c.resource("WebAcl")), "CustomResponseBodies", key)
	if path(body, "ContentType") != "APPLICATION_JSON" {
		t.Errorf("%s: body %q is not APPLICATION_JSON", where, key)
	}
	content, ok := path(body, "Content").(string)
	if !ok {
		t.Fatalf("%s: body %q has no literal Content (WAF sends it as written; an intrinsic would need rendering)", where, key)
	}
	var got struct {
		Error map[string]any `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(content))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil || got.Error == nil {
		t.Fatalf("%s: body %q is not the error shape: %v\n%s", where, key, err, content)
	}
	if got.Error["code"] != spec.Code || got.Error["type"] != spec.Type || str(got.Error["message"]) == "" {
		t.Errorf("%s: body says code %v type %v; httpapi's list says %s is %s", where, got.Error["code"], got.Error["type"], spec.Code, spec.Type)
	}
	// The same fields the service itself renders for this code.
	var own struct {
		Error map[string]any `json:"error"`
	}
	retry, _ := got.Error["retry_after"].(float64)
	if err := json.Unmarshal(httpapi.RateLimited(int(retry)).Body(), &own); err != nil {
		t.Fatal(err)
	}
	if code == httpapi.CodeRateLimitExceeded && !reflect.DeepEqual(keysOf(got.Error), keysOf(own.Error)) {
		t.Errorf("%s: body fields %v, the service's own 429 has %v", where, keysOf(got.Error), keysOf(own.Error))
	}
	headers := map[string]string{}
	for _, h := range list(path(resp, "ResponseHeaders")) {
		headers[str(path(h, "Name"))] = str(path(h, "Value"))
	}
	if retry > 0 && headers["Retry-After"] != strconv.Itoa(int(retry)) {
		t.Errorf("%s: Retry-After %q, body says retry_after %v", where, headers["Retry-After"], retry)
	}
	if headers["Access-Control-Allow-Origin"] != `{"Ref":"CorsAllowOrigin"}` {
		t.Errorf("%s: no Access-Control-Allow-Origin from CorsAllowOrigin (a browser could not read the 429)", where)
	}
}

func keysOf(m map[string]any) []string { return sortedKeys(m) }

// TestWebACLUsesTheManagedRuleGroupsThatFit: the rule groups that suit an API called by
// backends, in AWS's own actions (their blocks render as WAF_FILTERED in the error shape), and
// none of those that would refuse its callers (docs/security.md, "Edge protection").
func TestWebACLUsesTheManagedRuleGroupsThatFit(t *testing.T) {
	c := loadTemplate(t)
	groups := map[string]bool{}
	for _, r := range list(props(c.resource("WebAcl"))["Rules"]) {
		g := path(r, "Statement", "ManagedRuleGroupStatement")
		if g == nil {
			continue
		}
		name := str(path(g, "Name"))
		groups[name] = true
		if path(g, "VendorName") != "AWS" || str(path(r, "OverrideAction")) != `{"None":{}}` {
			t.Errorf("%s: want AWS's group with its own actions (OverrideAction None), got %v", name, r)
		}
	}
	for _, want := range []string{"AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesKnownBadInputsRuleSet"} {
		if !groups[want] {
			t.Errorf("no %s", want)
		}
	}
	for _, unfit := range []string{"AWSManagedRulesAnonymousIpList", "AWSManagedRulesBotControlRuleSet"} {
		if groups[unfit] {
			t.Errorf("%s refuses callers that run in clouds or are not browsers: keygate's callers are backends", unfit)
		}
	}
	api := props(c.resource("Api"))
	tmpl := str(path(api, "GatewayResponses", "WAF_FILTERED", "ResponseTemplates", "application/json"))
	var body struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal([]byte(tmpl), &body); err != nil || body.Error["code"] != httpapi.CodeInvalidRequest {
		t.Errorf("WAF_FILTERED must render the error shape (invalid_request), got %q (%v)", tmpl, err)
	}
}

// TestWafLogsKeepBlocksWithoutCredentials: WAF logs request headers, and keygate's carry API
// keys and tokens: the Authorization header is redacted. Only blocked requests are kept (the
// access log has the rest), in a log group of the stage (name prefix WAF requires).
func TestWafLogsKeepBlocksWithoutCredentials(t *testing.T) {
	c := loadTemplate(t)
	lg := props(c.resource("WafLogGroup"))
	if str(lg["LogGroupName"]) != `{"Fn::Sub":"aws-waf-logs-keygate-${Stage}"}` {
		t.Errorf("WafLogGroup: name %v must start aws-waf-logs- and name the stage", lg["LogGroupName"])
	}
	l := props(c.resource("WafLogging"))
	if str(l["ResourceArn"]) != `{"Fn::GetAtt":["WebAcl","Arn"]}` ||
		str(l["LogDestinationConfigs"]) != `[{"Fn::Sub":"arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${WafLogGroup}"}]` {
		t.Errorf("WafLogging must send WebAcl's logs to WafLogGroup: %v", l)
	}
	redacted := false
	for _, f := range list(l["RedactedFields"]) {
		redacted = redacted || strings.EqualFold(str(path(f, "SingleHeader", "Name")), "authorization")
	}
	if !redacted {
		t.Error("WafLogging does not redact the Authorization header: API keys and tokens would be logged")
	}
	if str(l["LoggingFilter"]) != `{"DefaultBehavior":"DROP","Filters":[{"Behavior":"KEEP","Conditions":[{"ActionCondition":{"Action":"BLOCK"}}],"Requirement":"MEETS_ANY"}]}` {
		t.Errorf("WafLogging should keep blocked requests only: %s", str(l["LoggingFilter"]))
	}
	al := props(c.resource("WafBlocksAlarm"))
	dims := map[string]string{}
	for _, d := range list(al["Dimensions"]) {
		dims[str(path(d, "Name"))] = str(path(d, "Value"))
	}
	if al["Namespace"] != "AWS/WAFV2" || al["MetricName"] != "BlockedRequests" || dims["Rule"] != "ALL" ||
		dims["WebACL"] != str(path(props(c.resource("WebAcl")), "Name")) || dims["Region"] != `{"Ref":"AWS::Region"}` {
		t.Errorf("WafBlocksAlarm must watch the web ACL's BlockedRequests (all rules): %v %v %v", al["Namespace"], al["MetricName"], dims)
	}
}
