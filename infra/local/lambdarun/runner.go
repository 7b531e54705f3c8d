package lambdarun

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	smithyrand "github.com/aws/smithy-go/rand"
)

// Defaults, Lambda's where Lambda has one.
const (
	DefaultMaxInstances  = 10
	DefaultTimeout       = 3 * time.Second
	DefaultMemorySize    = 128
	DefaultInitTimeout   = 10 * time.Second // Lambda's on-demand init limit
	DefaultShutdownGrace = 2 * time.Second
	DefaultRegion        = "us-east-1"
	DefaultAccountID     = "000000000000"
	// maxResponseBytes is Lambda's limit for a synchronous response payload.
	maxResponseBytes = 6 << 20
)

// Function is one function the runner can invoke.
type Function struct {
	// ID is the function's name as callers and the function itself see it
	// (AWS_LAMBDA_FUNCTION_NAME); the local stack uses the template's logical id.
	ID string
	// Path is the bootstrap executable.
	Path string
	// Env is the function's own environment (the template's Environment.Variables).
	Env map[string]string
	// Timeout is the function's timeout; default 3 s.
	Timeout time.Duration
	// MemorySize in MB, reported to the function; default 128.
	MemorySize int
	// Handler is _HANDLER; default bootstrap.
	Handler string
	// MaxInstances caps concurrent instances; 0 uses Options.MaxInstances.
	MaxInstances int
	// LogFormat and LogLevel are the function's LoggingConfig LogFormat (JSON or Text) and
	// ApplicationLogLevel. As Lambda does, a JSON function gets AWS_LAMBDA_LOG_FORMAT=JSON and
	// AWS_LAMBDA_LOG_LEVEL (LogLevel, default INFO), which aws-lambda-go's log handler follows.
	LogFormat string
	LogLevel  string
}

// Credentials are the (dummy) credentials handed to functions, as Lambda hands them the
// execution role's. The emulators accept any non-empty values.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// DefaultCredentials returns the obviously-local dummy values used when Options has none.
func DefaultCredentials() Credentials {
	return Credentials{
		AccessKeyID:     "AKIAKEYGATELOCAL0000",
		SecretAccessKey: "keygate-local-secret-access-key",
		SessionToken:    "keygate-local-session-token",
	}
}

// Options configure a Runner. The zero value is usable.
type Options struct {
	// Region sets AWS_REGION and AWS_DEFAULT_REGION; default us-east-1.
	Region string
	// AccountID goes into the invoked-function ARN; default 000000000000.
	AccountID string
	// Credentials default to DefaultCredentials().
	Credentials Credentials
	// ExtraEnv is added to every function's environment last, so it wins over the template's
	// (the local stack sets AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SECRETS_MANAGER).
	ExtraEnv map[string]string
	// GoCoverDir, when set, is passed as GOCOVERDIR so that binaries built with -cover
	// write coverage data.
	GoCoverDir string
	// Logs receives every process's stdout and stderr, each line prefixed with
	// "[<function id>] "; default os.Stderr.
	Logs io.Writer
	// Quiet suppresses the runner's own START/END/REPORT lines (function output and
	// timeout notices are still written).
	Quiet bool
	// MaxInstances per function; default 10.
	MaxInstances int
	// InitTimeout bounds the time from process start to its first request for work;
	// default 10 s.
	InitTimeout time.Duration
	// ShutdownGrace is how long Close waits after SIGTERM before SIGKILL; default 2 s.
	ShutdownGrace time.Duration
}

// Runner invokes functions. It is safe for concurrent use.
type Runner struct {
	opts  Options
	logMu sync.Mutex
	pools map[string]*pool
	uuid  *smithyrand.UUID

	closeOnce sync.Once
	closed    chan struct{}
}

// FunctionStats counts what happened to one function.
type FunctionStats struct {
	ColdStarts  int64 // processes started
	Invocations int64 // invocations handed to a process
	Errors      int64 // *FunctionError results
	Timeouts    int64 // *TimeoutError results
	Crashes     int64 // *CrashError and *InitError results
	Instances   int   // processes alive now
	Idle        int   // of which idle
}

// Stats is a snapshot of every function's counters, by function id.
type Stats map[string]FunctionStats

// Lambda rejects these keys in a function's configuration; accepting them locally would
// let a template work here and fail to deploy.
var reservedEnv = map[string]bool{
	"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
	"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
	"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true,
	"AWS_LAMBDA_LOG_GROUP_NAME": true, "AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true,
	"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	"AWS_LAMBDA_RUNTIME_API": true, "LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
}

// New returns a runner for fns. No process starts until the first invocation.
func New(fns []Function, opts Options) (*Runner, error) {
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.AccountID == "" {
		opts.AccountID = DefaultAccountID
	}
	if opts.Credentials == (Credentials{}) {
		opts.Credentials = DefaultCredentials()
	}
	if opts.Logs == nil {
		opts.Logs = os.Stderr
	}
	if opts.MaxInstances <= 0 {
		opts.MaxInstances = DefaultMaxInstances
	}
	if opts.InitTimeout <= 0 {
		opts.InitTimeout = DefaultInitTimeout
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = DefaultShutdownGrace
	}
	for k := range opts.ExtraEnv {
		if k == "AWS_LAMBDA_RUNTIME_API" || k == "" {
			return nil, fmt.Errorf("lambdarun: ExtraEnv may not set %q", k)
		}
	}
	r := &Runner{
		opts:   opts,
		pools:  make(map[string]*pool, len(fns)),
		uuid:   smithyrand.NewUUID(crand.Reader),
		closed: make(chan struct{}),
	}
	for _, fn := range fns {
		if fn.ID == "" || fn.Path == "" {
			return nil, fmt.Errorf("lambdarun: function %q: ID and Path are required", fn.ID)
		}
		if _, dup := r.pools[fn.ID]; dup {
			return nil, fmt.Errorf("lambdarun: function %q listed twice", fn.ID)
		}
		for k := range fn.Env {
			if reservedEnv[k] {
				return nil, fmt.Errorf("lambdarun: function %s: environment variable %s is reserved by Lambda", fn.ID, k)
			}
		}
		if fn.Timeout <= 0 {
			fn.Timeout = DefaultTimeout
		}
		if fn.MemorySize <= 0 {
			fn.MemorySize = DefaultMemorySize
		}
		if fn.Handler == "" {
			fn.Handler = "bootstrap"
		}
		if fn.MaxInstances <= 0 {
			fn.MaxInstances = opts.MaxInstances
		}
		abs, err := filepath.Abs(fn.Path)
		if err != nil {
			return nil, fmt.Errorf("lambdarun: function %s: %w", fn.ID, err)
		}
		fn.Path = abs
		r.pools[fn.ID] = newPool(r, fn)
	}
	return r, nil
}

// Functions returns the ids the runner knows, sorted.
func (r *Runner) Functions() []string {
	ids := make([]string, 0, len(r.pools))
	for id := range r.pools {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Invoke runs one invocation of functionID with payload and returns the function's
// response payload. ctx bounds how long the caller waits; as in Lambda, an invocation the
// caller stops waiting for still runs to completion (or to its timeout) in its instance.
func (r *Runner) Invoke(ctx context.Context, functionID string, payload []byte) ([]byte, error) {
	p, ok := r.pools[functionID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownFunction, functionID)
	}
	// A warm instance can die between being picked and taking the invocation (a runtime
	// that exits after responding); Lambda would have used a fresh one, so retry.
	const attempts = 3
	for i := 0; ; i++ {
		select {
		case <-r.closed:
			return nil, ErrClosed
		default:
		}
		in, err := p.acquire(ctx)
		if err != nil {
			return nil, err
		}
		out, err := in.invoke(ctx, payload)
		if errors.Is(err, errNotDelivered) && i+1 < attempts {
			continue
		}
		return out, err
	}
}

// Stats returns a snapshot of the counters of every function.
func (r *Runner) Stats() Stats {
	s := make(Stats, len(r.pools))
	for id, p := range r.pools {
		s[id] = p.stats()
	}
	return s
}

// Close stops every process (SIGTERM, then SIGKILL after the grace period) and listener,
// and waits for them. Invocations in flight fail. Close is idempotent.
func (r *Runner) Close() error {
	r.closeOnce.Do(func() {
		close(r.closed)
		var wg sync.WaitGroup
		for _, p := range r.pools {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.close(r.opts.ShutdownGrace)
			}()
		}
		wg.Wait()
	})
	return nil
}

func (r *Runner) newID() string {
	id, err := r.uuid.GetUUID()
	if err != nil {
		// crypto/rand does not fail on supported platforms; a time-based id keeps going.
		return fmt.Sprintf("local-%d", time.Now().UnixNano())
	}
	return id
}

// logf writes one runner line for fn, prefixed like the function's own output.
func (r *Runner) logf(fnID, format string, args ...any) {
	line := fmt.Sprintf("[%s] "+format+"\n", append([]any{fnID}, args...)...)
	r.logMu.Lock()
	defer r.logMu.Unlock()
	_, _ = io.WriteString(r.opts.Logs, line)
}
