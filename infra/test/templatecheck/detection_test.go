package templatecheck_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keygate/keygate/shared/httpapi"
)

// The detection alarms read metrics that metric filters make from log lines. A filter that
// matches nothing fails silently in AWS, so each is tried here against the line it is meant for:
// the access log's format, and the line the refresh function writes for invalid_grant.

// filterMatches evaluates the subset of CloudWatch Logs' JSON filter syntax the template uses:
// { ($.a = "x") && ($.b = "y") } or { $.a = "x" }, string equality on top-level fields.
func filterMatches(t *testing.T, pattern string, line map[string]any) bool {
	t.Helper()
	p := strings.TrimSpace(pattern)
	if !strings.HasPrefix(p, "{") || !strings.HasSuffix(p, "}") {
		t.Fatalf("filter %q is not a JSON filter", pattern)
	}
	for _, term := range strings.Split(strings.Trim(p, "{} "), "&&") {
		term = strings.Trim(strings.TrimSpace(term), "()")
		field, value, ok := strings.Cut(term, " = ")
		if !ok || !strings.HasPrefix(field, "$.") || strings.Contains(field[2:], ".") {
			t.Fatalf("filter %q: term %q is not $.field = \"value\"", pattern, term)
		}
		want := strings.Trim(strings.TrimSpace(value), `"`)
		got, _ := line[strings.TrimPrefix(strings.TrimSpace(field), "$.")].(string)
		if got != want {
			return false
		}
	}
	return true
}

// metricFilter returns the filter making metric name: its log group's logical id and pattern.
func metricFilter(t *testing.T, c cfn, name string) (group, pattern string) {
	t.Helper()
	for _, id := range sortedKeys(c.resources("AWS::Logs::MetricFilter")) {
		p := props(c.resource(id))
		for _, mt := range list(p["MetricTransformations"]) {
			if path(mt, "MetricName") == name && str(path(mt, "MetricNamespace")) == `{"Fn::Sub":"keygate/${Stage}"}` {
				group, _ = refTarget(p["LogGroupName"])
				return group, str(p["FilterPattern"])
			}
		}
	}
	t.Fatalf("no metric filter makes keygate/${Stage} %s", name)
	return "", ""
}

// accessLogLine renders the API's access log format for one request, as API Gateway would.
func accessLogLine(t *testing.T, c cfn, vars map[string]string) map[string]any {
	t.Helper()
	format := str(path(props(c.resource("Api")), "AccessLogSetting", "Format"))
	var line map[string]any
	for k, v := range vars {
		format = strings.ReplaceAll(format, k, v)
	}
	if err := json.Unmarshal([]byte(format), &line); err != nil {
		t.Fatalf("access log format is not JSON: %v", err)
	}
	return line
}

func TestTokenAuthFailuresCountRefusedKeysAtTheTokenEndpointOnly(t *testing.T) {
	c := loadTemplate(t)
	group, pattern := metricFilter(t, c, "TokenAuthFailures")
	if group != "ApiAccessLogGroup" {
		t.Errorf("TokenAuthFailures reads %s; the access log is the one every LogLevel keeps", group)
	}
	tests := []struct {
		path, status string
		counted      bool
	}{
		{"/v1/auth/token", "401", true},
		{"/v1/auth/token", "200", false},
		{"/v1/auth/token", "429", false},
		{"/v1/auth/refresh", "401", false},
		{"/v1/customers", "401", false},
	}
	for _, tc := range tests {
		line := accessLogLine(t, c, map[string]string{"$context.resourcePath": tc.path, "$context.status": tc.status})
		if got := filterMatches(t, pattern, line); got != tc.counted {
			t.Errorf("%s %s: counted = %v, want %v (filter %s)", tc.path, tc.status, got, tc.counted, pattern)
		}
	}
}

func TestRefreshInvalidGrantsCountTheRefreshFunctionsOwnLine(t *testing.T) {
	c := loadTemplate(t)
	group, pattern := metricFilter(t, c, "RefreshInvalidGrants")
	fnGroup, _ := refTarget(path(props(c.resource("RefreshFunction")), "LoggingConfig", "LogGroup"))
	if group != fnGroup {
		t.Errorf("RefreshInvalidGrants reads %s, not RefreshFunction's log group %s", group, fnGroup)
	}
	line := func(err error) (map[string]any, slog.Level) {
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		req := &events.APIGatewayProxyRequest{}
		req.RequestContext.RequestID = "r-1"
		httpapi.ErrorResponse(context.Background(), log, req, err)
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", buf.String(), err)
		}
		var lvl slog.Level
		_ = lvl.UnmarshalText([]byte(str(m["level"])))
		return m, lvl
	}
	grant, lvl := line(httpapi.InvalidGrant("spent"))
	if !filterMatches(t, pattern, grant) {
		t.Errorf("filter %s does not match the line an invalid_grant writes: %v", pattern, grant)
	}
	if other, _ := line(httpapi.New(httpapi.CodeInvalidRequest, "bad body")); filterMatches(t, pattern, other) {
		t.Errorf("filter %s also counts %v", pattern, other)
	}
	// The line is written at this level: every environment's LogLevel must keep it
	// (TestEnvironmentsDeployWithValidParameters).
	if lvl != slog.LevelInfo {
		t.Errorf("invalid_grant is logged at %v; the environments' LogLevel check assumes INFO", lvl)
	}
}

func TestDetectionAlarmsWatchTheirMetrics(t *testing.T) {
	c := loadTemplate(t)
	for id, want := range map[string]struct{ metric, threshold string }{
		"TokenAuthFailuresAlarm":    {"TokenAuthFailures", "TokenAuthFailuresAlarmThreshold"},
		"RefreshInvalidGrantsAlarm": {"RefreshInvalidGrants", "RefreshInvalidGrantAlarmThreshold"},
	} {
		p := props(c.resource(id))
		if str(p["Namespace"]) != `{"Fn::Sub":"keygate/${Stage}"}` || p["MetricName"] != want.metric || p["Statistic"] != "Sum" ||
			str(p["Threshold"]) != `{"Ref":"`+want.threshold+`"}` || p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" {
			t.Errorf("%s: want the Sum of %s against %s, got %v", id, want.metric, want.threshold, p)
		}
	}
}
