package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/keygate/keygate/shared/rotation"
	"github.com/keygate/keygate/shared/signing"
)

// fakeLambda records invocations; failAt makes that step's function fail like Lambda reports it.
type fakeLambda struct {
	events []rotation.Event
	names  []string
	failAt string
}

func (f *fakeLambda) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	var ev rotation.Event
	if err := json.Unmarshal(in.Payload, &ev); err != nil {
		return nil, err
	}
	f.events = append(f.events, ev)
	f.names = append(f.names, aws.ToString(in.FunctionName))
	if ev.Step == f.failAt {
		return &lambda.InvokeOutput{StatusCode: 200, FunctionError: aws.String("Unhandled"),
			Payload: []byte(`{"errorMessage":"rotation: test: RSA sign/verify failed","errorType":"errorString"}`)}, nil
	}
	return &lambda.InvokeOutput{StatusCode: 200, Payload: []byte("null")}, nil
}

func TestLocalRotationInvokesTheFourStepsWithOneToken(t *testing.T) {
	f := &fakeLambda{}
	if err := rotateViaLambda(context.Background(), f, "RotateFunction", "keygate-dev-signing-key", "tok-1", io.Discard); err != nil {
		t.Fatal(err)
	}
	want := []string{rotation.StepCreate, rotation.StepSet, rotation.StepTest, rotation.StepFinish}
	if len(f.events) != len(want) {
		t.Fatalf("%d invocations, want 4", len(f.events))
	}
	for i, ev := range f.events {
		if ev.Step != want[i] || ev.ClientRequestToken != "tok-1" || ev.SecretID != "keygate-dev-signing-key" || f.names[i] != "RotateFunction" {
			t.Errorf("invocation %d = %+v to %s", i, ev, f.names[i])
		}
	}
}

func TestLocalRotationStopsAtAFailedStep(t *testing.T) {
	f := &fakeLambda{failAt: rotation.StepTest}
	err := rotateViaLambda(context.Background(), f, "RotateFunction", "s", "tok", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "testSecret") || !strings.Contains(err.Error(), "sign/verify failed") {
		t.Fatalf("err = %v, want the testSecret failure", err)
	}
	if len(f.events) != 3 {
		t.Errorf("%d invocations, want 3 (no finishSecret after a failed test)", len(f.events))
	}
}

func TestSigningSecretComesFromTheTemplateStage(t *testing.T) {
	for stage, want := range map[string]string{"": "keygate-dev-signing-key", "prod": "keygate-prod-signing-key"} {
		var params multiFlag
		if stage != "" {
			params = multiFlag{"Stage=" + stage}
		}
		got, err := signingSecret("../../../template.yaml", params)
		if err != nil || got != want {
			t.Errorf("stage %q: %q, %v; want %q", stage, got, err, want)
		}
	}
}

func TestSigningKeysUsage(t *testing.T) {
	for _, args := range [][]string{{"signing-keys"}, {"signing-keys", "list"}} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "plays Secrets Manager's part") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// fakeSecretsManager answers the three calls deployed-mode rotation makes, over the real
// JSON protocol, and plays a rotation that finishes on the second DescribeSecret.
type fakeSecretsManager struct {
	t        *testing.T
	value    string
	token    string
	rotateIn map[string]any
	describe int
}

func (f *fakeSecretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	_ = json.NewDecoder(r.Body).Decode(&in)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager."); op {
	case "RotateSecret":
		f.rotateIn = in
		f.token, _ = in["ClientRequestToken"].(string)
		_ = json.NewEncoder(w).Encode(map[string]any{"Name": in["SecretId"], "VersionId": f.token})
	case "DescribeSecret":
		f.describe++
		stages := map[string][]string{"old": {"AWSCURRENT"}, f.token: {"AWSPENDING"}}
		if f.describe > 1 {
			stages = map[string][]string{"old": {"AWSPREVIOUS"}, f.token: {"AWSCURRENT"}}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Name": in["SecretId"], "VersionIdsToStages": stages})
	case "GetSecretValue":
		if in["VersionId"] != f.token || in["VersionStage"] != "AWSCURRENT" {
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			w.WriteHeader(400)
			_ = json.NewEncoder(w).Encode(map[string]any{"__type": "ResourceNotFoundException", "message": "no such version"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Name": in["SecretId"], "VersionId": f.token, "SecretString": f.value})
	default:
		f.t.Errorf("unexpected Secrets Manager call %s", op)
		w.WriteHeader(400)
	}
}

func TestDeployedRotationAsksSecretsManagerAndWaitsForTheNewKey(t *testing.T) {
	value, err := signing.Generate(signing.ES256, rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k, _ := signing.Parse(value)
	f := &fakeSecretsManager{t: t, value: string(value)}
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("KEYGATE_LAMBDA_ENDPOINT", "")

	var stdout, stderr strings.Builder
	if err := run(context.Background(), []string{"signing-keys", "rotate", "-secret-id", "keygate-prod-signing-key", "-wait", "10s"}, &stdout, &stderr); err != nil {
		t.Fatalf("rotate: %v\n%s", err, stderr.String())
	}
	if f.rotateIn["SecretId"] != "keygate-prod-signing-key" || f.rotateIn["RotateImmediately"] != true || f.token == "" {
		t.Errorf("RotateSecret input = %v", f.rotateIn)
	}
	if got := strings.TrimSpace(stdout.String()); got != k.Kid {
		t.Errorf("printed kid %q, want %q", got, k.Kid)
	}
	if strings.Contains(stdout.String()+stderr.String(), "PRIVATE KEY") {
		t.Error("authctl printed private key material")
	}
}
