package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/infra/test/emulatortest"
)

// The test lives in package main because the command is run() with its arguments; there
// is no other API to test from outside.

func buildFunctions(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	first := filepath.Join(bin, "AuthorizerFunction", "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", first, "./testdata/fn")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(bin, "EchoFunction", "bootstrap")
	if err := os.MkdirAll(filepath.Dir(second), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(second, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestServesTheTemplateEndToEnd(t *testing.T) {
	bin := buildFunctions(t)
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	stderr := &emulatortest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-template", "testdata/template.yaml", "-addr", "127.0.0.1:0", "-bin", bin,
			"-provision=false", "-dynamodb-endpoint", "http://127.0.0.1:1", "-secrets-endpoint", "http://127.0.0.1:2",
			"-param", "Stage=e2e", "-lambda-addr", "127.0.0.1:0", "-apigateway-addr", "127.0.0.1:0"}, outW, stderr)
		outW.Close()
	}()

	ready := bufio.NewReader(outR)
	line, err := ready.ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v; stderr:\n%s", err, stderr)
	}
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "keygate local API listening on ")
	if !ok {
		t.Fatalf("ready line = %q", line)
	}
	line, err = ready.ReadString('\n')
	if err != nil {
		t.Fatalf("no Lambda API ready line: %v; stderr:\n%s", err, stderr)
	}
	lambdaBase, ok := strings.CutPrefix(strings.TrimSpace(line), "keygate local Lambda API listening on ")
	if !ok {
		t.Fatalf("second ready line = %q", line)
	}
	line, err = ready.ReadString('\n')
	if err != nil {
		t.Fatalf("no control plane ready line: %v; stderr:\n%s", err, stderr)
	}
	controlPlane, ok := strings.CutPrefix(strings.TrimSpace(line), "keygate local API Gateway control plane listening on ")
	if !ok {
		t.Fatalf("third ready line = %q", line)
	}
	go io.Copy(io.Discard, ready)

	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if status, body := get("/items/42", ""); status != 401 || !strings.Contains(body, `"error":"unauthorized"`) {
		t.Errorf("no token: %d %s", status, body)
	}
	if status, body := get("/items/42", "bad"); status != 401 {
		t.Errorf("bad token: %d %s", status, body)
	}
	status, body := get("/items/42", "good")
	if status != 200 {
		t.Fatalf("good token: %d %s\nstderr:\n%s", status, body, stderr)
	}
	var got struct {
		ID         string            `json:"id"`
		Authorizer map[string]string `json:"authorizer"`
		Greeting   string            `json:"greeting"`
		DynamoDB   string            `json:"dynamodb"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"principalId": "user-1", "tier": "gold", "n": "3"}
	if got.ID != "42" || fmt.Sprint(got.Authorizer) != fmt.Sprint(want) || got.Greeting != "hello-e2e" || got.DynamoDB != "http://127.0.0.1:1" {
		t.Errorf("backend saw %+v", got)
	}
	if status, _ := get("/public", ""); status != 200 {
		t.Errorf("public route: %d", status)
	}
	if status, _ := get("/nope", ""); status != 403 {
		t.Errorf("unknown route: %d, want API Gateway's default 403", status)
	}
	// The Lambda Invoke API runs the same function processes.
	resp, err := client.Post(lambdaBase+"/2015-03-31/functions/EchoFunction/invocations", "application/json",
		strings.NewReader(`{"resource":"/items/{id}","path":"/items/7","httpMethod":"GET","pathParameters":{"id":"7"}}`))
	if err != nil {
		t.Fatal(err)
	}
	invoked, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Function-Error") != "" || !strings.Contains(string(invoked), `\"id\":\"7\"`) {
		t.Errorf("Lambda Invoke EchoFunction = %d %q %s", resp.StatusCode, resp.Header.Get("X-Amz-Function-Error"), invoked)
	}
	if resp, err := client.Post(lambdaBase+"/2015-03-31/functions/Nope/invocations", "application/json", strings.NewReader(`{}`)); err != nil || resp.StatusCode != 404 {
		t.Errorf("Lambda Invoke of an unknown function = %v, %v; want 404", resp, err)
	} else {
		resp.Body.Close()
	}
	// The control plane forwards to the emulator, here an address nothing listens on.
	if resp, err := client.Get(controlPlane + "/apikeys"); err != nil || resp.StatusCode != http.StatusBadGateway {
		t.Errorf("GET /apikeys through the control plane = %v, %v; want 502 from an unreachable emulator", resp, err)
	} else {
		resp.Body.Close()
	}
	client.CloseIdleConnections()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	logs := stderr.String()
	for _, want := range []string{`"status":401`, `"status":200`, "[EchoFunction] REPORT RequestId:"} {
		if !strings.Contains(logs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "Bearer good") {
		t.Error("stderr contains the Authorization header")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left, %d before", n, before)
	}
}

func TestFlagErrors(t *testing.T) {
	endpoints := []string{"-dynamodb-endpoint", "http://127.0.0.1:1", "-secrets-endpoint", "http://127.0.0.1:2"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a parameter without a value", []string{"-param", "Stage"}, "Key=Value"},
		{"no endpoints", []string{"-dynamodb-endpoint", "", "-secrets-endpoint", ""}, "are required"},
		{"a stray argument", append(endpoints, "extra"), "unexpected arguments"},
		{"an unknown template parameter", append(endpoints, "-provision=false", "-template", "testdata/template.yaml", "-param", "Nope=1"), "no such parameter"},
		{"a missing binary", append(endpoints, "-provision=false", "-template", "testdata/template.yaml", "-bin", "testdata/nowhere"), "no binary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
