// Package local assembles the local stand-in for a deployed keygate stack: the template,
// the function processes (lambdarun), the tables, secrets and usage plans on the emulators
// (provision), the API Gateway in front (gateway) and API Gateway's control plane as the
// functions reach it (gateway.ControlPlane: moto, plus GetUsage from the gateway's counters).
// The localapi command and the end-to-end tests both use it, so what the tests exercise is
// what `make run` serves.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
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
	Provision  bool              // create tables, secrets and usage plans (idempotent)
	Logs       io.Writer         // function output; default stderr
	AccessLog  io.Writer         // one JSON line per request; nil for none
	Quiet      bool              // no START/END/REPORT lines
	GoCoverDir string
	Now        func() time.Time // gateway clock (authorizer cache, usage plans); default time.Now
	// APIGateway is the emulator endpoint of API Gateway's control plane (API keys, usage
	// plans); default Secrets, since one moto server serves every service.
	APIGateway string
	// APIGatewayAddr is where Start serves the control plane the functions use
	// (AWS_ENDPOINT_URL_API_GATEWAY); default 127.0.0.1:0, a free port.
	APIGatewayAddr string
}

// Stack is a running local stack.
type Stack struct {
	Template *samtpl.Template
	Gateway  *gateway.Gateway
	DynamoDB *dynamodb.Client
	Secrets  *secretsmanager.Client
	// APIGateway is the endpoint of API Gateway's control plane as the functions see it
	// (their AWS_ENDPOINT_URL_API_GATEWAY): Start's own server in front of the emulator, which
	// answers GetUsage from the gateway's counters and makes every change to keys and plans
	// take effect at the gateway at once; the emulator itself for an attached stack.
	APIGateway string
	// APIGatewayClient is an SDK client on APIGateway.
	APIGatewayClient *apigateway.Client
	// RestAPIID is the id, on the emulator, of the REST API the template's usage plans name
	// ("" when the template uses none).
	RestAPIID string

	fns          []lambdarun.Function
	runOpts      lambdarun.Options
	controlPlane *http.Server
	mu           sync.Mutex
	runner       *lambdarun.Runner // swapped by Restart
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
	if o.APIGateway == "" {
		o.APIGateway = o.Secrets
	}
	if o.APIGatewayAddr == "" {
		o.APIGatewayAddr = "127.0.0.1:0"
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
	// The control plane's address goes into every function's environment, so it is bound
	// before the functions start; it serves once the gateway exists.
	cpln, err := net.Listen("tcp", o.APIGatewayAddr)
	if err != nil {
		return nil, fmt.Errorf("localstack: API Gateway control plane: %w", err)
	}
	cpURL := "http://" + cpln.Addr().String()
	runOpts := lambdarun.Options{
		Region:    tpl.Region,
		AccountID: tpl.AccountID,
		// The standard SDK settings: the function code is exactly what deploys.
		ExtraEnv: map[string]string{
			"AWS_ENDPOINT_URL_DYNAMODB":        o.DynamoDB,
			"AWS_ENDPOINT_URL_SECRETS_MANAGER": o.Secrets,
			"AWS_ENDPOINT_URL_API_GATEWAY":     cpURL,
		},
		GoCoverDir: o.GoCoverDir,
		Logs:       o.Logs,
		Quiet:      o.Quiet,
	}
	runner, err := lambdarun.New(fns, runOpts)
	if err != nil {
		cpln.Close()
		return nil, err
	}
	fail := func(err error) (*Stack, error) {
		cpln.Close()
		runner.Close()
		return nil, err
	}
	st := &Stack{Template: tpl, fns: fns, runOpts: runOpts, runner: runner}
	ddb, sm := provision.NewClients(provision.Endpoints{DynamoDB: o.DynamoDB, SecretsManager: o.Secrets}, tpl.Region)
	emulatorAPIGW := provision.NewAPIGatewayClient(o.APIGateway, tpl.Region)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if o.Provision {
		if err := provision.Apply(pctx, tpl, ddb, sm, runner); err != nil {
			return fail(err)
		}
		if st.RestAPIID, err = provision.ApplyUsagePlans(pctx, tpl, emulatorAPIGW); err != nil {
			return fail(err)
		}
	} else if provision.NeedsRestAPI(tpl) {
		if st.RestAPIID, err = provision.FindRestAPI(pctx, emulatorAPIGW, provision.RestAPIName(tpl)); err != nil {
			return fail(fmt.Errorf("localstack: %w (start once with provisioning)", err))
		}
	}
	logger := slog.New(slog.NewTextHandler(o.Logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := gateway.Config{
		Template:  tpl,
		Invoker:   st,
		AccessLog: o.AccessLog,
		Now:       o.Now,
		Logger:    logger,
	}
	if st.RestAPIID != "" {
		// Reads are safe to repeat (an answer lost by the emulator under load), but briefly: a
		// reload that fails keeps the state loaded before, and an emulator outage must not hold
		// the request that reloads for the SDK's usual backoff.
		reader := apigateway.New(emulatorAPIGW.Options(), func(o *apigateway.Options) {
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts, so.MaxBackoff = 3, 100*time.Millisecond })
		})
		cfg.UsagePlans = &gateway.UsagePlanSource{Client: reader, RestAPIID: st.RestAPIID}
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		return fail(err)
	}
	cp, err := gw.ControlPlane(o.APIGateway)
	if err != nil {
		return fail(err)
	}
	st.controlPlane = &http.Server{Handler: cp, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() { _ = st.controlPlane.Serve(cpln) }()
	st.Gateway, st.DynamoDB, st.Secrets = gw, ddb, sm
	st.APIGateway, st.APIGatewayClient = cpURL, provision.NewAPIGatewayClient(cpURL, tpl.Region)
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

// Close stops every function process and the control plane.
func (s *Stack) Close() error {
	if s.controlPlane != nil {
		_ = s.controlPlane.Close()
	}
	if r := s.Runner(); r != nil {
		return r.Close()
	}
	return nil
}

// Attach returns a Stack for an API that something else serves from the same template on the
// same emulators (sam local start-api): the template resolved with o.Params and clients for the
// emulators (APIGateway is the emulator itself, as SAM's functions reach it), so tests can mint
// keys and read tables, but no function processes, no gateway, no control plane of its own and
// no provisioning. Runner, Invoke, Restart and Gateway are not available on it.
func Attach(o Options) (*Stack, error) {
	if o.DynamoDB == "" || o.Secrets == "" {
		return nil, errors.New("localstack: DynamoDB and Secrets Manager endpoints are required")
	}
	if o.APIGateway == "" {
		o.APIGateway = o.Secrets
	}
	tpl, err := samtpl.Load(o.Template, samtpl.Options{Parameters: o.Params})
	if err != nil {
		return nil, err
	}
	ddb, sm := provision.NewClients(provision.Endpoints{DynamoDB: o.DynamoDB, SecretsManager: o.Secrets}, tpl.Region)
	return &Stack{Template: tpl, DynamoDB: ddb, Secrets: sm,
		APIGateway: o.APIGateway, APIGatewayClient: provision.NewAPIGatewayClient(o.APIGateway, tpl.Region)}, nil
}
