package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/keygate/keygate/shared/app"
)

// The log handler reads AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL once, at start, as Lambda
// sets them from the template's LoggingConfig; so the logger runs in a child process given them.
const logChild = "KEYGATE_APP_LOG_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(logChild) == "1" {
		ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"})
		log := app.NewLogger()
		log.InfoContext(ctx, "below the level")
		log.LogAttrs(ctx, slog.LevelWarn, "request failed", slog.String("request_id", "apigw-req-1"), slog.String("code", "x"))
		log.Error("init failed", slog.String("error", "boom"))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestLoggerFollowsTheLoggingConfigLambdaPassesOn(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{logChild + "=1", "AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=WARN"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines, want the WARN and the ERROR one (INFO is below AWS_LAMBDA_LOG_LEVEL):\n%s", len(lines), out)
	}
	warn, initLine := lines[0], lines[1]
	for k, want := range map[string]string{"level": "WARN", "message": "request failed", "requestId": "lambda-req-1", "request_id": "apigw-req-1"} {
		if warn[k] != want {
			t.Errorf("%s = %v, want %q (line %v)", k, warn[k], want, warn)
		}
	}
	if _, ok := warn["timestamp"]; !ok {
		t.Errorf("no timestamp: %v", warn)
	}
	if _, ok := initLine["requestId"]; ok || initLine["message"] != "init failed" {
		t.Errorf("a line logged outside an invocation = %v", initLine)
	}
}
