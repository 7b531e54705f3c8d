package lambdarun

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Runtime API paths (version 2018-06-01) and the extensions API used by aws-lambda-go's
// WithEnableSIGTERM.
const (
	pathNext      = "GET /2018-06-01/runtime/invocation/next"
	pathResponse  = "POST /2018-06-01/runtime/invocation/{id}/response"
	pathError     = "POST /2018-06-01/runtime/invocation/{id}/error"
	pathInitError = "POST /2018-06-01/runtime/init/error"
	pathExtReg    = "POST /2020-01-01/extension/register"
	pathExtNext   = "GET /2020-01-01/extension/event/next"

	headerRequestID   = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline    = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID     = "Lambda-Runtime-Trace-Id"
	headerErrorType   = "Lambda-Runtime-Function-Error-Type"
	headerErrorBody   = "Lambda-Runtime-Function-Error-Body"
)

// invocation is one request on its way through an instance.
type invocation struct {
	id       string
	payload  []byte
	timer    *time.Timer
	started  time.Time // when the process took it
	done     chan result
	complete sync.Once
}

type result struct {
	payload []byte
	err     error
}

func (inv *invocation) finish(res result) {
	inv.complete.Do(func() { inv.done <- res })
}

// instance is one function process and the Runtime API endpoint it talks to.
type instance struct {
	p   *pool
	n   int
	cmd *exec.Cmd
	srv *http.Server

	pending chan *invocation // the invocation assigned to this instance, not yet taken
	exited  chan struct{}    // closed when the process has exited and been cleaned up
	start   time.Time

	stdout, stderr *lineWriter
	initTimer      *time.Timer

	mu           sync.Mutex
	proc         *os.Process // set once the process has started
	current      *invocation // taken by the process, not yet answered
	ready        bool        // the process has asked for work at least once
	dead         bool        // exiting or exited: never hand it work again
	initErr      *InitError  // reported through /runtime/init/error
	initTimedOut bool
	initDuration time.Duration
}

// startInstance starts a process with its own Runtime API listener.
func startInstance(p *pool, n int) (*instance, error) {
	fn := p.fn
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, &InitError{FunctionID: fn.ID, Type: "Runtime.ListenError", Message: err.Error(), Err: err}
	}
	in := &instance{
		p:       p,
		n:       n,
		pending: make(chan *invocation, 1),
		exited:  make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc(pathNext, in.handleNext)
	mux.HandleFunc(pathResponse, in.handleResponse)
	mux.HandleFunc(pathError, in.handleError)
	mux.HandleFunc(pathInitError, in.handleInitError)
	mux.HandleFunc(pathExtReg, in.handleExtensionRegister)
	mux.HandleFunc(pathExtNext, in.handleExtensionNext)
	in.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	prefix := []byte("[" + fn.ID + "] ")
	in.stdout = &lineWriter{mu: &p.r.logMu, out: p.r.opts.Logs, prefix: prefix}
	in.stderr = &lineWriter{mu: &p.r.logMu, out: p.r.opts.Logs, prefix: prefix}

	cmd := exec.Command(fn.Path)
	cmd.Dir = filepath.Dir(fn.Path)
	cmd.Env = p.r.environment(fn, ln.Addr().String(), n)
	cmd.Stdout, cmd.Stderr = in.stdout, in.stderr
	cmd.WaitDelay = time.Second // do not hang on pipes a grandchild keeps open
	isolate(cmd)
	in.cmd = cmd

	in.start = time.Now()
	in.initTimer = time.AfterFunc(p.r.opts.InitTimeout, in.onInitTimeout)
	if err := cmd.Start(); err != nil {
		in.initTimer.Stop()
		_ = ln.Close()
		return nil, &InitError{FunctionID: fn.ID, Type: "Runtime.StartError",
			Message: fmt.Sprintf("start %s: %v (build the function binaries first)", fn.Path, err), Err: err}
	}
	in.mu.Lock()
	in.proc = cmd.Process
	timedOut := in.initTimedOut
	in.mu.Unlock()
	if timedOut {
		in.kill() // the init timer fired before the process handle existed
	}
	go func() { _ = in.srv.Serve(ln) }()
	go in.watch()
	if !p.register(in) {
		in.kill()
		<-in.exited
		return nil, ErrClosed
	}
	return in, nil
}

// environment is the process environment: minimal, never the host's (see the package doc).
func (r *Runner) environment(fn Function, runtimeAPI string, n int) []string {
	now := time.Now().UTC()
	env := map[string]string{
		"PATH":                            "/usr/local/bin:/usr/bin:/bin:/opt/bin",
		"LANG":                            "en_US.UTF-8",
		"TZ":                              ":UTC",
		"LAMBDA_TASK_ROOT":                filepath.Dir(fn.Path),
		"_HANDLER":                        fn.Handler,
		"AWS_REGION":                      r.opts.Region,
		"AWS_DEFAULT_REGION":              r.opts.Region,
		"AWS_ACCESS_KEY_ID":               r.opts.Credentials.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":           r.opts.Credentials.SecretAccessKey,
		"AWS_SESSION_TOKEN":               r.opts.Credentials.SessionToken,
		"AWS_LAMBDA_FUNCTION_NAME":        fn.ID,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(fn.MemorySize),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + fn.ID,
		"AWS_LAMBDA_LOG_STREAM_NAME":      fmt.Sprintf("%s/[$LATEST]local%04d", now.Format("2006/01/02"), n),
	}
	if r.opts.Credentials.SessionToken == "" {
		delete(env, "AWS_SESSION_TOKEN")
	}
	if fn.LogFormat == "JSON" {
		env["AWS_LAMBDA_LOG_FORMAT"], env["AWS_LAMBDA_LOG_LEVEL"] = "JSON", "INFO"
		if fn.LogLevel != "" {
			env["AWS_LAMBDA_LOG_LEVEL"] = fn.LogLevel
		}
	}
	for k, v := range fn.Env {
		env[k] = v
	}
	for k, v := range r.opts.ExtraEnv {
		env[k] = v
	}
	if r.opts.GoCoverDir != "" {
		env["GOCOVERDIR"] = r.opts.GoCoverDir
	}
	env["AWS_LAMBDA_RUNTIME_API"] = runtimeAPI

	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func (in *instance) fnID() string { return in.p.fn.ID }

func (in *instance) process() *os.Process {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.proc
}

func (in *instance) kill()      { kill(in.process()) }
func (in *instance) terminate() { terminate(in.process()) }

func (in *instance) isDead() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.dead
}

// invoke hands payload to this (exclusively acquired) instance and waits for the outcome.
func (in *instance) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	inv := &invocation{id: in.p.r.newID(), payload: payload, done: make(chan result, 1)}
	select {
	case in.pending <- inv:
	case <-in.exited:
		return nil, in.undeliveredErr()
	}
	select {
	case res := <-inv.done:
		return res.payload, res.err
	case <-in.exited:
		// The process died. If the invocation is still queued here, nobody else will
		// finish it; otherwise the exit watcher (or the handler) has or will.
		select {
		case <-in.pending:
			return nil, in.undeliveredErr()
		default:
		}
		res := <-inv.done
		return res.payload, res.err
	case <-ctx.Done():
		// As in Lambda, the invocation runs on; the instance returns to the pool when the
		// process answers (or is killed at its timeout).
		return nil, ctx.Err()
	}
}

// undeliveredErr says why an invocation never reached the process: an init failure when
// the process never became ready, else errNotDelivered so that Invoke retries.
func (in *instance) undeliveredErr() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case in.initErr != nil:
		return in.initErr
	case in.initTimedOut:
		return &TimeoutError{FunctionID: in.fnID(), Timeout: in.p.r.opts.InitTimeout, Init: true}
	case !in.ready:
		return &InitError{FunctionID: in.fnID(), Type: "Runtime.ExitError",
			Message: "process exited before asking for an invocation: " + exitStatus(in.cmd)}
	}
	return errNotDelivered
}

func exitStatus(cmd *exec.Cmd) string {
	if cmd.ProcessState == nil {
		return "unknown"
	}
	return cmd.ProcessState.String()
}

// watch waits for the process to exit and fails whatever it held.
func (in *instance) watch() {
	err := in.cmd.Wait()
	in.stdout.flush()
	in.stderr.flush()

	in.mu.Lock()
	in.dead = true
	cur := in.current
	in.current = nil
	in.mu.Unlock()

	in.initTimer.Stop()
	close(in.exited)
	_ = in.srv.Close()

	if cur != nil {
		cur.timer.Stop()
		status := exitStatus(in.cmd)
		if err != nil && in.cmd.ProcessState == nil {
			status = err.Error()
		}
		in.p.crashes.Add(1)
		in.p.r.logf(in.fnID(), "RequestId: %s Error: Runtime exited with error: %s", cur.id, status)
		cur.finish(result{err: &CrashError{FunctionID: in.fnID(), RequestID: cur.id, ExitStatus: status}})
	}
	select {
	case inv := <-in.pending:
		uerr := in.undeliveredErr()
		if !errors.Is(uerr, errNotDelivered) {
			in.p.crashes.Add(1)
		}
		inv.finish(result{err: uerr})
	default:
	}
	in.p.remove(in)
}

// stop ends the process: SIGTERM, then SIGKILL after grace.
func (in *instance) stop(grace time.Duration) {
	in.mu.Lock()
	in.dead = true
	in.mu.Unlock()
	in.terminate()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-in.exited:
	case <-t.C:
		in.kill()
		<-in.exited
	}
}

func (in *instance) onInitTimeout() {
	in.mu.Lock()
	if in.ready || in.dead {
		in.mu.Unlock()
		return
	}
	in.initTimedOut = true
	in.dead = true
	in.mu.Unlock()
	in.p.r.logf(in.fnID(), "Init timed out after %s", in.p.r.opts.InitTimeout)
	in.kill()
}

func (in *instance) onTimeout(inv *invocation) {
	in.mu.Lock()
	if in.current != inv {
		in.mu.Unlock()
		return
	}
	in.current = nil
	in.dead = true
	in.mu.Unlock()
	fn := in.p.fn
	in.p.timeouts.Add(1)
	in.p.r.logf(fn.ID, "%s RequestId: %s Task timed out after %.2f seconds",
		time.Now().UTC().Format(time.RFC3339Nano), inv.id, fn.Timeout.Seconds())
	inv.finish(result{err: &TimeoutError{FunctionID: fn.ID, RequestID: inv.id, Timeout: fn.Timeout}})
	in.kill()
}

func (in *instance) handleNext(w http.ResponseWriter, r *http.Request) {
	in.mu.Lock()
	if !in.ready {
		in.ready = true
		in.initDuration = time.Since(in.start)
		in.initTimer.Stop()
	}
	stale := in.current
	in.current = nil
	in.mu.Unlock()
	if stale != nil {
		// Asking for the next event completes the previous one; without a response that is
		// an error, as in Lambda.
		stale.timer.Stop()
		in.p.errors.Add(1)
		stale.finish(result{err: &FunctionError{FunctionID: in.fnID(), RequestID: stale.id,
			Type: "Runtime.NoResponse", Message: "the runtime asked for the next invocation without answering this one"}})
	}

	var inv *invocation
	select {
	case inv = <-in.pending:
	case <-in.exited:
		http.Error(w, "instance shutting down", http.StatusGone)
		return
	case <-r.Context().Done():
		return
	}

	fn := in.p.fn
	in.mu.Lock()
	if in.dead {
		in.mu.Unlock()
		inv.finish(result{err: in.undeliveredErr()})
		http.Error(w, "instance shutting down", http.StatusGone)
		return
	}
	in.current = inv
	inv.started = time.Now()
	inv.timer = time.AfterFunc(fn.Timeout, func() { in.onTimeout(inv) })
	in.mu.Unlock()
	in.p.invocations.Add(1)

	deadline := inv.started.Add(fn.Timeout)
	h := w.Header()
	h.Set(headerRequestID, inv.id)
	h.Set(headerDeadline, strconv.FormatInt(deadline.UnixMilli(), 10))
	h.Set(headerFunctionARN, fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", in.p.r.opts.Region, in.p.r.opts.AccountID, fn.ID))
	h.Set(headerTraceID, traceID(inv.started))
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.payload) // a broken connection shows up as the process exiting
	if !in.p.r.opts.Quiet {
		in.p.r.logf(fn.ID, "START RequestId: %s Version: $LATEST", inv.id)
	}
}

// take claims the current invocation if id names it.
func (in *instance) take(id string) (*invocation, time.Duration, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	inv := in.current
	if inv == nil || inv.id != id {
		return nil, 0, false
	}
	in.current = nil
	inv.timer.Stop()
	initDur := in.initDuration
	in.initDuration = 0 // reported once, with the first invocation
	return inv, initDur, true
}

func (in *instance) handleResponse(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxResponseBytes+1))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	inv, initDur, ok := in.take(r.PathValue("id"))
	if !ok {
		writeRuntimeError(w, http.StatusBadRequest, "InvalidRequestID", "no such invocation in progress")
		return
	}
	var res result
	switch {
	case len(body) > maxResponseBytes:
		res.err = &FunctionError{FunctionID: in.fnID(), RequestID: inv.id, Type: "Function.ResponseSizeTooLarge",
			Message: fmt.Sprintf("response payload size exceeded maximum allowed payload size (%d bytes)", maxResponseBytes)}
	case r.Trailer.Get(headerErrorType) != "":
		// aws-lambda-go reports an error while streaming the body in trailers.
		res.err = trailerError(in.fnID(), inv.id, r.Trailer)
	default:
		res.payload = body
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
	in.finish(inv, initDur, res)
}

func (in *instance) handleError(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxResponseBytes))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	inv, initDur, ok := in.take(r.PathValue("id"))
	if !ok {
		writeRuntimeError(w, http.StatusBadRequest, "InvalidRequestID", "no such invocation in progress")
		return
	}
	fe := parseErrorBody(body, r.Header.Get(headerErrorType))
	fe.FunctionID, fe.RequestID = in.fnID(), inv.id
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
	in.finish(inv, initDur, result{err: fe})
}

// finish completes an answered invocation and returns the instance to the pool: a function
// error does not end an instance in Lambda either.
func (in *instance) finish(inv *invocation, initDur time.Duration, res result) {
	if res.err != nil {
		in.p.errors.Add(1)
	}
	if !in.p.r.opts.Quiet {
		d := time.Since(inv.started)
		report := fmt.Sprintf("REPORT RequestId: %s Duration: %.2f ms Billed Duration: %d ms Memory Size: %d MB",
			inv.id, float64(d.Microseconds())/1000, d.Milliseconds()+1, in.p.fn.MemorySize)
		if initDur > 0 {
			report += fmt.Sprintf(" Init Duration: %.2f ms", float64(initDur.Microseconds())/1000)
		}
		in.p.r.logf(in.fnID(), "END RequestId: %s", inv.id)
		in.p.r.logf(in.fnID(), "%s", report)
	}
	// The instance is free as soon as it has answered: release it before the caller learns
	// the result, so that a caller's next invocation finds it warm.
	in.p.release(in)
	inv.finish(res)
}

func (in *instance) handleInitError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	fe := parseErrorBody(body, r.Header.Get(headerErrorType))
	in.mu.Lock()
	in.initErr = &InitError{FunctionID: in.fnID(), Type: fe.Type, Message: fe.Message}
	in.dead = true
	in.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
	in.p.r.logf(in.fnID(), "INIT_REPORT Status: error Error Type: %s", fe.Type)
	// Lambda shuts the runtime down after an init error.
	go in.kill()
}

// handleExtensionRegister accepts aws-lambda-go's internal extension (lambda.WithEnableSIGTERM),
// which only exists to make Lambda send SIGTERM before SIGKILL; Close always does.
func (in *instance) handleExtensionRegister(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	w.Header().Set("Lambda-Extension-Identifier", in.p.r.newID())
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"functionName":%q,"functionVersion":"$LATEST","handler":%q}`, in.fnID(), in.p.fn.Handler)
}

// handleExtensionNext blocks until the instance shuts down, then reports SHUTDOWN.
func (in *instance) handleExtensionNext(w http.ResponseWriter, r *http.Request) {
	select {
	case <-in.exited:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"eventType":"SHUTDOWN","shutdownReason":"spindown"}`)
	case <-r.Context().Done():
	}
}

// parseErrorBody reads {"errorMessage","errorType"}; a body that is not that JSON is
// still an error, with the raw text as its message.
func parseErrorBody(body []byte, headerType string) *FunctionError {
	var e struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	fe := &FunctionError{}
	if err := json.Unmarshal(body, &e); err == nil {
		fe.Type, fe.Message = e.Type, e.Message
	} else {
		fe.Message = string(body)
	}
	if fe.Type == "" {
		fe.Type = headerType
	}
	if fe.Type == "" {
		fe.Type = "Runtime.Unknown"
	}
	return fe
}

func trailerError(fnID, reqID string, tr http.Header) *FunctionError {
	fe := &FunctionError{Type: tr.Get(headerErrorType), Message: "error while streaming the response"}
	if raw, err := base64.StdEncoding.DecodeString(tr.Get(headerErrorBody)); err == nil {
		parsed := parseErrorBody(raw, fe.Type)
		fe.Type, fe.Message = parsed.Type, parsed.Message
	}
	fe.FunctionID, fe.RequestID = fnID, reqID
	return fe
}

func writeRuntimeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorType": typ, "errorMessage": msg})
}

// traceID returns an X-Ray style trace header, unsampled.
func traceID(t time.Time) string {
	var b [20]byte
	_, _ = crand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", t.Unix(), hex.EncodeToString(b[:12]), hex.EncodeToString(b[12:]))
}
