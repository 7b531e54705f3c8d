// Package local assembles the local stand-in for a deployed keygate stack: the template,
// the function processes (lambdarun), the tables and secrets on the emulators (provision) and
// the API Gateway in front (gateway). The localapi command and the end-to-end tests both use
// it, so what the tests exercise is what `make run` serves.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/infra/local/gateway"
	"github.com/keygate/keygate/infra/local/lambdarun"
	"github.com/keygate/keygate/infra/local/provision"
	"github.com/keygate/keygate/infra/local/samtpl"
)

// Options configure a Stack.
type Options struct {
	Template   string            // path to template.yaml
	Params     map[string]string // template parameter overrides
	BinDir     string            // <BinDir>/<LogicalId>/bootstrap
	DynamoDB   string            // emulator endpoint
	Secrets    string            // emulator endpoint
	Provision  bool              // create tables and secrets (idempotent)
	Logs       io.Writer         // function output; default stderr
	AccessLog  io.Writer         // one JSON line per request; nil for none
	Quiet      bool              // no START/END/REPORT lines
	GoCoverDir string
	Now        func() time.Time // gateway clock (authorizer cache); default time.Now
}

// Stack is a running local stack.
type Stack struct {
	Template *samtpl.Template
	Gateway  *gateway.Gateway
	DynamoDB *dynamodb.Client
	Secrets  *secretsmanager.Client

	fns     []lambdarun.Function
	runOpts lambdarun.Options
	mu      sync.Mutex
	runner  *lambdarun.Runner // swapped by Restart
}

// Runner is the runner of the function processes now serving.
func (s *Stack) Runner() *lambdarun.Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runner
}

// Invoke runs one invocation on the current runner (the gateway and LambdaAPI call this, so a
// Restart takes effect for them at once).
func (s *Stack) Invoke(ctx context.Context, functionID string, payload []byte) ([]byte, error) {
	return s.Runner().Invoke(ctx, functionID, payload)
}

// Functions lists the function ids.
func (s *Stack) Functions() []string { return s.Runner().Functions() }

// Restart replaces every function process by a fresh runner, as a new deployment does in
// Lambda: the next invocation of each function is a cold start. Invocations in flight on the
// old processes finish or fail; emulator state is untouched.
func (s *Stack) Restart() error {
	r, err := lambdarun.New(s.fns, s.runOpts)
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.runner
	s.runner = r
	s.mu.Unlock()
	return old.Close()
}

// Start builds and provisions a stack. Close it to stop the function processes.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.DynamoDB == "" || o.Secrets == "" {
		return nil, errors.New("localstack: DynamoDB and Secrets Manager endpoints are required")
	}
	if o.Logs == nil {
		o.Logs = os.Stderr
	}
	tpl, err := samtpl.Load(o.Template, samtpl.Options{Parameters: o.Params})
	if err != nil {
		return nil, err
	}
	fns := lambdarun.FromTemplate(tpl, o.BinDir)
	for _, fn := range fns {
		if _, err := os.Stat(fn.Path); err != nil {
			return nil, fmt.Errorf("localstack: %s has no binary at %s: run make build-local", fn.ID, fn.Path)
		}
	}
	runOpts := lambdarun.Options{
		Region:    tpl.Region,
		AccountID: tpl.AccountID,
		// The standard SDK settings: the function code is exactly what deploys.
		ExtraEnv: map[string]string{
			"AWS_ENDPOINT_URL_DYNAMODB":        o.DynamoDB,
			"AWS_ENDPOINT_URL_SECRETS_MANAGER": o.Secrets,
		},
		GoCoverDir: o.GoCoverDir,
		Logs:       o.Logs,
		Quiet:      o.Quiet,
	}
	runner, err := lambdarun.New(fns, runOpts)
	if err != nil {
		return nil, err
	}
	st := &Stack{Template: tpl, fns: fns, runOpts: runOpts, runner: runner}
	ddb, sm := provision.NewClients(provision.Endpoints{DynamoDB: o.DynamoDB, SecretsManager: o.Secrets}, tpl.Region)
	if o.Provision {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := provision.Apply(pctx, tpl, ddb, sm, runner)
		cancel()
		if err != nil {
			runner.Close()
			return nil, err
		}
	}
	gw, err := gateway.New(gateway.Config{
		Template:  tpl,
		Invoker:   st,
		AccessLog: o.AccessLog,
		Now:       o.Now,
		Logger:    slog.New(slog.NewTextHandler(o.Logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		runner.Close()
		return nil, err
	}
	st.Gateway, st.DynamoDB, st.Secrets = gw, ddb, sm
	return st, nil
}

// Env returns the template's environment of functionID as the functions see it (table and
// secret names), for tools and tests that talk to the same resources.
func (s *Stack) Env(functionID string) map[string]string {
	for _, f := range s.Template.Functions {
		if f.LogicalID == functionID {
			return f.Env
		}
	}
	return nil
}

// Close stops every function process.
func (s *Stack) Close() error {
	if r := s.Runner(); r != nil {
		return r.Close()
	}
	return nil
}

// Attach returns a Stack for an API that something else serves from the same template on the
// same emulators (sam local start-api): the template resolved with o.Params and clients for the
// emulators, so tests can mint keys and read tables, but no function processes, no gateway and
// no provisioning. Runner, Invoke, Restart and Gateway are not available on it.
func Attach(o Options) (*Stack, error) {
	if o.DynamoDB == "" || o.Secrets == "" {
		return nil, errors.New("localstack: DynamoDB and Secrets Manager endpoints are required")
	}
	tpl, err := samtpl.Load(o.Template, samtpl.Options{Parameters: o.Params})
	if err != nil {
		return nil, err
	}
	ddb, sm := provision.NewClients(provision.Endpoints{DynamoDB: o.DynamoDB, SecretsManager: o.Secrets}, tpl.Region)
	return &Stack{Template: tpl, DynamoDB: ddb, Secrets: sm}, nil
}
