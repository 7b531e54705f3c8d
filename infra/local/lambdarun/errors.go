package lambdarun

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrUnknownFunction is returned by Invoke for a function id the runner does not have.
	ErrUnknownFunction = errors.New("lambdarun: unknown function")
	// ErrClosed is returned by Invoke after Close.
	ErrClosed = errors.New("lambdarun: runner closed")
	// errNotDelivered means a warm instance died before taking the invocation; Invoke
	// retries on another instance, as Lambda would never have handed it out.
	errNotDelivered = errors.New("lambdarun: instance exited before taking the invocation")
)

// FunctionError is an error the function reported through the Runtime API's /error
// endpoint (a handler returned an error or panicked). An authorizer signals 401 by
// returning exactly the message "Unauthorized".
type FunctionError struct {
	FunctionID string
	RequestID  string
	Type       string // errorType, e.g. "errorString" or "Runtime.ExitError"
	Message    string // errorMessage
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("lambdarun: %s: function error %s: %s", e.FunctionID, e.Type, e.Message)
}

// TimeoutError means the invocation ran past the function's timeout (or the process did
// not finish initialising within the init timeout); the instance was killed.
type TimeoutError struct {
	FunctionID string
	RequestID  string
	Timeout    time.Duration
	// Init is true when the process never asked for its first invocation in time.
	Init bool
}

func (e *TimeoutError) Error() string {
	if e.Init {
		return fmt.Sprintf("lambdarun: %s: init timed out after %s", e.FunctionID, e.Timeout)
	}
	return fmt.Sprintf("lambdarun: %s: task timed out after %.2f seconds", e.FunctionID, e.Timeout.Seconds())
}

// CrashError means the process exited while it held an invocation; the instance is gone.
type CrashError struct {
	FunctionID string
	RequestID  string
	// ExitStatus describes how the process ended, e.g. "exit status 2" or "signal: killed".
	ExitStatus string
}

func (e *CrashError) Error() string {
	return fmt.Sprintf("lambdarun: %s: runtime exited during invocation %s: %s", e.FunctionID, e.RequestID, e.ExitStatus)
}

// InitError means the process could not be started, reported an init error through
// /runtime/init/error, or exited before asking for its first invocation.
type InitError struct {
	FunctionID string
	Type       string
	Message    string
	Err        error // the underlying error, e.g. from starting the process
}

func (e *InitError) Error() string {
	return fmt.Sprintf("lambdarun: %s: init failed: %s: %s", e.FunctionID, e.Type, e.Message)
}

func (e *InitError) Unwrap() error { return e.Err }
