// Command fn is a test function for lambdarun: the payload says what to do, so one binary
// covers echo, errors, timeouts and crashes. TESTFN_INIT makes it fail during init.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Action  string `json:"action"`
	Message string `json:"message"`
	SleepMs int    `json:"sleepMs"`
	Code    int    `json:"code"`
	Size    int    `json:"size"`
}

type response struct {
	PID         int               `json:"pid"`
	RequestID   string            `json:"requestId"`
	FunctionARN string            `json:"functionArn"`
	DeadlineMs  int64             `json:"deadlineMs"`
	Env         map[string]string `json:"env"`
	Echo        string            `json:"echo,omitempty"`
}

func main() {
	switch os.Getenv("TESTFN_INIT") {
	case "exit":
		fmt.Fprintln(os.Stderr, "init: giving up")
		os.Exit(3)
	case "hang":
		time.Sleep(time.Hour)
	case "initerror":
		api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
		body := []byte(`{"errorMessage":"config missing","errorType":"InitConfigError"}`)
		resp, err := http.Post("http://"+api+"/2018-06-01/runtime/init/error", "application/json", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
		}
		time.Sleep(time.Hour) // Lambda (and the runner) kill the runtime after an init error
	}
	lambda.Start(handle)
}

func handle(ctx context.Context, r request) (any, error) {
	switch r.Action {
	case "error":
		return nil, errors.New(r.Message)
	case "sleep":
		time.Sleep(time.Duration(r.SleepMs) * time.Millisecond)
	case "exit":
		fmt.Println("exiting now")
		os.Exit(r.Code)
	case "panic":
		panic(r.Message)
	case "log":
		fmt.Println(r.Message)
		fmt.Fprint(os.Stderr, "partial line without newline")
	case "big":
		return strings.Repeat("x", r.Size), nil
	}
	lc, _ := lambdacontext.FromContext(ctx)
	dl, _ := ctx.Deadline()
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return response{PID: os.Getpid(), RequestID: lc.AwsRequestID, FunctionARN: lc.InvokedFunctionArn,
		DeadlineMs: dl.UnixMilli(), Env: env, Echo: r.Message}, nil
}
