// Command localapi serves the project's API locally: it reads template.yaml, runs the real
// function binaries through the Lambda Runtime API (infra/lambdarun), creates the tables
// and secrets on the emulators (infra/provision) and answers HTTP like API Gateway
// (infra/gateway). It exists because `sam local` needs Docker.
//
//	localapi -template template.yaml -addr 127.0.0.1:3000 -bin .build/local \
//	  -dynamodb-endpoint http://127.0.0.1:8000 -secrets-endpoint http://127.0.0.1:5000
//
// It prints one line when ready ("keygate local API listening on http://ADDR") and stops
// every function process on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keygate/keygate/infra/gateway"
	"github.com/keygate/keygate/infra/lambdarun"
	"github.com/keygate/keygate/infra/provision"
	"github.com/keygate/keygate/infra/samtpl"
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
	bin       string
	params    map[string]string
	provision bool
	ddb       string
	secrets   string
	quiet     bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	c := config{params: map[string]string{}}
	fs := flag.NewFlagSet("localapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.template, "template", "template.yaml", "SAM template")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:3000", "listen address")
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
	fs.BoolVar(&c.quiet, "quiet", false, "no access log and no START/END/REPORT lines")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.provision && (c.ddb == "" || c.secrets == "") {
		return config{}, errors.New("provisioning needs -dynamodb-endpoint and -secrets-endpoint (or their KEYGATE_* variables), or -provision=false")
	}
	return c, nil
}

// run serves until ctx is done, then shuts down and stops every function process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	tpl, err := samtpl.Load(c.template, samtpl.Options{Parameters: c.params})
	if err != nil {
		return err
	}

	fns := lambdarun.FromTemplate(tpl, c.bin)
	for _, fn := range fns {
		if _, err := os.Stat(fn.Path); err != nil {
			fmt.Fprintf(stderr, "localapi: warning: %s has no binary at %s yet; its invocations will fail until it is built\n", fn.ID, fn.Path)
		}
	}
	extra := map[string]string{}
	if c.ddb != "" {
		extra["AWS_ENDPOINT_URL_DYNAMODB"] = c.ddb
	}
	if c.secrets != "" {
		extra["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = c.secrets
	}
	runner, err := lambdarun.New(fns, lambdarun.Options{
		Region:     tpl.Region,
		AccountID:  tpl.AccountID,
		ExtraEnv:   extra,
		GoCoverDir: os.Getenv("GOCOVERDIR"),
		Logs:       stderr,
		Quiet:      c.quiet,
	})
	if err != nil {
		return err
	}
	defer runner.Close()

	if c.provision {
		ddb, sm := provision.NewClients(provision.Endpoints{DynamoDB: c.ddb, SecretsManager: c.secrets}, tpl.Region)
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := provision.Apply(pctx, tpl, ddb, sm, runner)
		cancel()
		if err != nil {
			return err
		}
	}

	cfg := gateway.Config{
		Template: tpl,
		Invoker:  runner,
		Logger:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if !c.quiet {
		cfg.AccessLog = stderr
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "keygate local API listening on http://%s\n", ln.Addr())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return runner.Close()
}
