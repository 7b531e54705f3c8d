package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/keygate/keygate/infra/local"
	"github.com/keygate/keygate/infra/local/lambdarun"
)

// fakeRunner answers like lambdarun.Runner: an echo function, a failing one, a slow one.
type fakeRunner struct {
	mu    sync.Mutex
	calls []string
	done  chan struct{}
}

func (f *fakeRunner) Functions() []string { return []string{"Echo", "Fails", "Slow"} }

func (f *fakeRunner) Invoke(_ context.Context, fn string, payload []byte) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fn+" "+string(payload))
	f.mu.Unlock()
	if f.done != nil {
		defer func() { f.done <- struct{}{} }()
	}
	switch fn {
	case "Echo":
		return payload, nil
	case "Fails":
		return nil, &lambdarun.FunctionError{FunctionID: fn, RequestID: "r1", Type: "errorString", Message: "rotation: version x is not AWSPENDING"}
	case "Slow":
		return nil, &lambdarun.TimeoutError{FunctionID: fn, RequestID: "r2", Timeout: 3 * time.Second}
	}
	return nil, lambdarun.ErrUnknownFunction
}

func client(t *testing.T, f *fakeRunner) *lambda.Client {
	t.Helper()
	srv := httptest.NewServer(local.NewLambdaAPI(f))
	t.Cleanup(srv.Close)
	return lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

func TestTheSDKInvokesAFunctionByNameOrARN(t *testing.T) {
	f := &fakeRunner{}
	c := client(t, f)
	for _, name := range []string{"Echo", "arn:aws:lambda:us-east-1:000000000000:function:Echo", "arn:aws:lambda:us-east-1:000000000000:function:Echo:$LATEST"} {
		out, err := c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{"Step":"createSecret"}`)})
		if err != nil {
			t.Fatalf("Invoke(%s): %v", name, err)
		}
		if out.StatusCode != 200 || out.FunctionError != nil || string(out.Payload) != `{"Step":"createSecret"}` || aws.ToString(out.ExecutedVersion) != "$LATEST" {
			t.Errorf("Invoke(%s) = %d %v %s", name, out.StatusCode, out.FunctionError, out.Payload)
		}
	}
}

func TestAFailedFunctionIsA200WithFunctionError(t *testing.T) {
	c := client(t, &fakeRunner{})
	for fn, wantType := range map[string]string{"Fails": "errorString", "Slow": "Sandbox.Timedout"} {
		out, err := c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{}`)})
		if err != nil {
			t.Fatalf("Invoke(%s): %v", fn, err)
		}
		var body struct{ ErrorMessage, ErrorType string }
		if aws.ToString(out.FunctionError) != "Unhandled" || json.Unmarshal(out.Payload, &body) != nil || body.ErrorType != wantType || body.ErrorMessage == "" {
			t.Errorf("Invoke(%s) = %v %s, want Unhandled %s", fn, out.FunctionError, out.Payload, wantType)
		}
	}
}

func TestAnUnknownFunctionIsResourceNotFound(t *testing.T) {
	f := &fakeRunner{}
	_, err := client(t, f).Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("Nope"), Payload: []byte(`{}`)})
	var nf *lambdatypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("Invoke(Nope) = %v, want ResourceNotFoundException", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("an unknown function reached the runner: %v", f.calls)
	}
}

func TestEventAndDryRunInvocations(t *testing.T) {
	f := &fakeRunner{done: make(chan struct{}, 1)}
	c := client(t, f)
	out, err := c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("Echo"), Payload: []byte(`{"a":1}`), InvocationType: lambdatypes.InvocationTypeEvent})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("Event invoke = %v, %v; want 202", out, err)
	}
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the Event invocation never ran")
	}
	f.done = nil
	out, err = c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("Echo"), InvocationType: lambdatypes.InvocationTypeDryRun})
	if err != nil || out.StatusCode != 204 {
		t.Fatalf("DryRun invoke = %v, %v; want 204", out, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) != 1 {
		t.Errorf("runner calls = %v, want only the Event one", f.calls)
	}
}

func TestAnInvalidPayloadIsRefused(t *testing.T) {
	_, err := client(t, &fakeRunner{}).Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("Echo"), Payload: []byte(`not json`)})
	var bad *lambdatypes.InvalidRequestContentException
	if !errors.As(err, &bad) {
		t.Errorf("Invoke(not json) = %v, want InvalidRequestContentException", err)
	}
}
