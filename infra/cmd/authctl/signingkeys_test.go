package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/keygate/keygate/shared/rotation"
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
