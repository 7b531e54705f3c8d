package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keygate/keygate/infra/local/lambdarun"
)

// maxInvokePayload is Lambda's limit for a synchronous request payload.
const maxInvokePayload = 6 << 20

// Invoker runs one invocation of a function and lists the functions it knows;
// *lambdarun.Runner is one.
type Invoker interface {
	Invoke(ctx context.Context, functionID string, payload []byte) ([]byte, error)
	Functions() []string
}

var (
	_ Invoker = (*lambdarun.Runner)(nil)
	_ Invoker = (*Stack)(nil)
)

// LambdaAPI serves the Lambda Invoke API (POST /2015-03-31/functions/{FunctionName}/invocations)
// for the stack's functions, as `sam local start-lambda` does, so the AWS SDK's lambda client,
// pointed here with a base-endpoint override, invokes the real bootstraps. FunctionName is the
// template's logical id, alone or as the last part of a function ARN (a qualifier is ignored:
// everything is $LATEST).
func (s *Stack) LambdaAPI() http.Handler { return NewLambdaAPI(s) }

// NewLambdaAPI serves the Lambda Invoke API in front of inv.
//
// As in Lambda: RequestResponse (the default) answers 200 with the function's payload, or 200
// with X-Amz-Function-Error: Unhandled and an {"errorMessage","errorType"} body when the function
// failed, timed out or crashed; Event answers 202 and runs the invocation in the background;
// DryRun answers 204. An unknown function is a 404 ResourceNotFoundException.
func NewLambdaAPI(inv Invoker) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", func(w http.ResponseWriter, r *http.Request) {
		invoke(inv, w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		lambdaError(w, http.StatusNotFound, "UnknownOperationException", fmt.Sprintf("%s %s is not an operation this local Lambda API serves (only Invoke)", r.Method, r.URL.Path))
	})
	return mux
}

func invoke(inv Invoker, w http.ResponseWriter, r *http.Request) {
	fn := functionID(r.PathValue("name"))
	if !slices.Contains(inv.Functions(), fn) {
		notFound(w, fn)
		return
	}
	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInvokePayload))
	if err != nil {
		lambdaError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request must be smaller than 6291456 bytes for the InvokeFunction operation")
		return
	}
	if len(payload) == 0 {
		payload = []byte("{}") // the SDK sends no body for a nil Payload; Lambda passes {}
	}
	if !json.Valid(payload) {
		lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json")
		return
	}
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	switch typ := r.Header.Get("X-Amz-Invocation-Type"); typ {
	case "", "RequestResponse":
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
		return
	case "Event":
		// Lambda queues the event and answers at once; the invocation outlives this request.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			defer cancel()
			_, _ = inv.Invoke(ctx, fn, payload)
		}()
		w.WriteHeader(http.StatusAccepted)
		return
	default:
		lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", fmt.Sprintf("X-Amz-Invocation-Type %q is not RequestResponse, Event or DryRun", typ))
		return
	}

	out, err := inv.Invoke(r.Context(), fn, payload)
	var (
		fe *lambdarun.FunctionError
		te *lambdarun.TimeoutError
		ce *lambdarun.CrashError
		ie *lambdarun.InitError
	)
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		return
	case errors.Is(err, lambdarun.ErrUnknownFunction):
		notFound(w, fn)
		return
	case errors.As(err, &fe):
		functionFailed(w, fe.Type, fe.Message)
	case errors.As(err, &te):
		functionFailed(w, "Sandbox.Timedout", fmt.Sprintf("Task timed out after %.2f seconds", te.Timeout.Seconds()))
	case errors.As(err, &ce):
		functionFailed(w, "Runtime.ExitError", "RequestId: "+ce.RequestID+" Error: Runtime exited with error: "+ce.ExitStatus)
	case errors.As(err, &ie):
		functionFailed(w, ie.Type, ie.Message)
	default:
		lambdaError(w, http.StatusInternalServerError, "ServiceException", err.Error())
	}
}

// functionID maps an Invoke FunctionName (name, partial or full ARN, maybe qualified) to the
// logical id the runner knows.
func functionID(name string) string {
	if i := strings.Index(name, ":function:"); i >= 0 {
		name = name[i+len(":function:"):]
	}
	name, _, _ = strings.Cut(name, ":") // drop a version or alias qualifier
	return name
}

func functionFailed(w http.ResponseWriter, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amz-Function-Error", "Unhandled")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorMessage": msg, "errorType": typ})
}

func notFound(w http.ResponseWriter, fn string) {
	lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+fn)
}

// lambdaError writes an error of the Lambda API's REST-JSON protocol: the type in
// X-Amzn-ErrorType (which the SDK maps to its typed errors) and a message body.
func lambdaError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": msg})
}
