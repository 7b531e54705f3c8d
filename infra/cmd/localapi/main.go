// Command localapi serves the project's API locally: it reads template.yaml, runs the real
// function binaries through the Lambda Runtime API (infra/local/lambdarun), creates the tables
// and secrets on the emulators (infra/local/provision) and answers HTTP like API Gateway
// (infra/local/gateway), all assembled by infra/local exactly as the end-to-end tests
// assemble them. It exists because `sam local` needs Docker.
//
//	localapi -template template.yaml -addr 127.0.0.1:3000 -bin .build/local \
//	  -dynamodb-endpoint http://127.0.0.1:8000 -secrets-endpoint http://127.0.0.1:5000
//
// On a second address (-lambda-addr, default 127.0.0.1:3001, "" to disable) it serves the
// Lambda Invoke API for the same function processes, as `sam local start-lambda` does: the AWS
// SDK's lambda client with that base endpoint invokes any function of the template by its
// logical id (authctl signing-keys rotate drives RotateFunction through it).
//
// On a third address (-apigateway-addr, default 127.0.0.1:3002) it serves API Gateway's control
// plane as the functions reach it (their AWS_ENDPOINT_URL_API_GATEWAY): the emulator's API keys
// and usage plans, plus GetUsage answered from the local gateway's own counters; point the SDK
// (authctl) at it with AWS_ENDPOINT_URL_API_GATEWAY so its changes take effect at the gateway at
// once.
//
// It prints one line when ready ("keygate local API listening on http://ADDR"), then
// "keygate local Lambda API listening on http://ADDR" when that is on, then "keygate local API
// Gateway control plane listening on http://ADDR", and stops every function process on SIGINT or
// SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keygate/keygate/infra/local"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "localapi:", err)
		os.Exit(1)
	}
}

type config struct {
	template  string
	addr      string
	lambda    string
	bin       string
	params    map[string]string
	provision bool
	ddb       string
	secrets   string
	apigw     string
	apigwAddr string
	quiet     bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	c := config{params: map[string]string{}}
	fs := flag.NewFlagSet("localapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.template, "template", "template.yaml", "SAM template")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:3000", "listen address")
	fs.StringVar(&c.lambda, "lambda-addr", "127.0.0.1:3001", `listen address of the Lambda Invoke API ("" disables it)`)
	fs.StringVar(&c.bin, "bin", ".build/local", "directory holding <LogicalId>/bootstrap binaries")
	fs.Func("param", "template parameter override Key=Value (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want Key=Value, got %q", s)
		}
		c.params[k] = v
		return nil
	})
	fs.BoolVar(&c.provision, "provision", true, "create the template's tables and secrets on the emulators")
	fs.StringVar(&c.ddb, "dynamodb-endpoint", os.Getenv("KEYGATE_DYNAMODB_ENDPOINT"), "DynamoDB endpoint (default $KEYGATE_DYNAMODB_ENDPOINT)")
	fs.StringVar(&c.secrets, "secrets-endpoint", os.Getenv("KEYGATE_SECRETS_ENDPOINT"), "Secrets Manager endpoint (default $KEYGATE_SECRETS_ENDPOINT)")
	fs.StringVar(&c.apigw, "apigateway-endpoint", "", "API Gateway control-plane emulator (default: the Secrets Manager endpoint; one moto serves both)")
	fs.StringVar(&c.apigwAddr, "apigateway-addr", "127.0.0.1:3002", "listen address of API Gateway's control plane for the functions and tools")
	fs.BoolVar(&c.quiet, "quiet", false, "no access log and no START/END/REPORT lines")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.ddb == "" || c.secrets == "" {
		// The functions need the emulators even when provisioning is off.
		return config{}, errors.New("-dynamodb-endpoint and -secrets-endpoint (or KEYGATE_DYNAMODB_ENDPOINT and KEYGATE_SECRETS_ENDPOINT) are required")
	}
	return c, nil
}

// run serves until ctx is done, then shuts down and stops every function process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	o := local.Options{
		Template:   c.template,
		Params:     c.params,
		BinDir:     c.bin,
		DynamoDB:   c.ddb,
		Secrets:    c.secrets,
		APIGateway: c.apigw,
		Provision:  c.provision,
		Logs:       stderr,
		Quiet:      c.quiet,
		GoCoverDir: os.Getenv("GOCOVERDIR"),
	}
	if !c.quiet {
		o.AccessLog = stderr
	}
	o.APIGatewayAddr = c.apigwAddr
	stack, err := local.Start(ctx, o)
	if err != nil {
		return err
	}
	defer stack.Close()

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: stack.Gateway, ReadHeaderTimeout: 10 * time.Second}
	servers := []*http.Server{srv}
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "keygate local API listening on http://%s\n", ln.Addr())

	if c.lambda != "" {
		lln, err := net.Listen("tcp", c.lambda)
		if err != nil {
			_ = srv.Close()
			return fmt.Errorf("listen (Lambda API): %w", err)
		}
		// No write timeout: a synchronous invocation lasts as long as the function's timeout.
		lsrv := &http.Server{Handler: stack.LambdaAPI(), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, lsrv)
		go func() { serveErr <- lsrv.Serve(lln) }()
		fmt.Fprintf(stdout, "keygate local Lambda API listening on http://%s\n", lln.Addr())
	}
	fmt.Fprintf(stdout, "keygate local API Gateway control plane listening on %s\n", stack.APIGateway)

	err = nil
	select {
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		if serr := s.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
	}
	if cerr := stack.Close(); err == nil {
		err = cerr
	}
	return err
}
