// Command samlocal is make sam-local's Go side, in two subcommands.
//
// samlocal prepare readies the local stack for `sam local`: it creates template.yaml's tables
// and secrets on the emulators (the same provisioning `make run` does, including the signing
// key's first rotation, driven through the host-built RotateFunction), then writes next to the
// template `sam build` produced:
//
//	local.yaml  that template with the changes SAM CLI needs (printed, see infra/local/samlocal)
//	env.json    the --env-vars document: each function's environment, resolved from template.yaml
//
//	samlocal prepare -built .aws-sam/sam-local/template.yaml -arch x86_64 \
//	  -dynamodb-endpoint http://172.17.0.1:8400 -secrets-endpoint http://172.17.0.1:8401
//
// -container-dynamodb and -container-secrets name the endpoints as containers reach them when
// that differs from the host (Docker Desktop: http://host.docker.internal:PORT).
//
// samlocal invoke runs one function of a running make sam-local stack with `sam local invoke`,
// on an event fixture whose {{DEMO_KEY}}, {{ADMIN_KEY}}, {{SIGNING_SECRET}} and
// {{ROTATION_TOKEN}} placeholders it fills in (the keys make sam-local printed, the stack's
// signing secret, $ROTATION_TOKEN or a new one, printed so the next rotation step can reuse it):
//
//	samlocal invoke -build-dir .aws-sam/sam-sam -state .stack/sam AuthorizerFunction infra/local/sam/events/authorizer-deny.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/keygate/keygate/infra/local"
	"github.com/keygate/keygate/infra/local/samlocal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "prepare":
		err = run(ctx, os.Args[2:], os.Stderr)
	case len(os.Args) > 1 && os.Args[1] == "invoke":
		err = invoke(ctx, os.Args[2:], os.Stdout, os.Stderr)
	default:
		err = errors.New("usage: samlocal prepare|invoke [flags]")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "samlocal:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("samlocal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tplPath := fs.String("template", "template.yaml", "the SAM template (source of truth)")
	built := fs.String("built", ".aws-sam/sam-local/template.yaml", "the template sam build wrote")
	bin := fs.String("bin", ".build/local", "host bootstraps (<LogicalId>/bootstrap) for provisioning")
	params := map[string]string{}
	fs.Func("param", "template parameter override Key=Value (repeatable), as sam local gets them", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("want Key=Value, got %q", v)
		}
		params[k] = val
		return nil
	})
	var o samlocal.Options
	fs.StringVar(&o.Architecture, "arch", "", "x86_64 or arm64: the engine's architecture")
	ddb := fs.String("dynamodb-endpoint", os.Getenv("KEYGATE_DYNAMODB_ENDPOINT"), "DynamoDB emulator, from the host")
	sm := fs.String("secrets-endpoint", os.Getenv("KEYGATE_SECRETS_ENDPOINT"), "Secrets Manager emulator, from the host")
	fs.StringVar(&o.DynamoDB, "container-dynamodb", "", "DynamoDB emulator, from a container (default: -dynamodb-endpoint)")
	fs.StringVar(&o.SecretsManager, "container-secrets", "", "Secrets Manager emulator, from a container (default: -secrets-endpoint)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ddb == "" || *sm == "" {
		return errors.New("-dynamodb-endpoint and -secrets-endpoint (or KEYGATE_DYNAMODB_ENDPOINT and KEYGATE_SECRETS_ENDPOINT) are required")
	}
	if o.DynamoDB == "" {
		o.DynamoDB = *ddb
	}
	if o.SecretsManager == "" {
		o.SecretsManager = *sm
	}
	b, err := os.ReadFile(*built)
	if err != nil {
		return fmt.Errorf("read the built template (run sam build first): %w", err)
	}
	localTpl, changes, err := samlocal.Template(b, o)
	if err != nil {
		return err
	}

	stack, err := local.Start(ctx, local.Options{Template: *tplPath, Params: params, BinDir: *bin, DynamoDB: *ddb, Secrets: *sm,
		Provision: true, Logs: stderr, Quiet: true})
	if err != nil {
		return fmt.Errorf("provision the emulators: %w", err)
	}
	tpl := stack.Template
	if err := stack.Close(); err != nil {
		return fmt.Errorf("stop the provisioning functions: %w", err)
	}
	env, err := samlocal.EnvVars(tpl, o)
	if err != nil {
		return err
	}
	dir := filepath.Dir(*built)
	if err := os.WriteFile(filepath.Join(dir, "local.yaml"), localTpl, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "env.json"), env, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "[keygate-sam] %s/local.yaml differs from what deploys in:\n", dir)
	for _, c := range changes {
		fmt.Fprintf(stderr, "[keygate-sam]   - %s\n", c)
	}
	return nil
}

func invoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("samlocal invoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	buildDir := fs.String("build-dir", ".aws-sam/sam-sam", "where make sam-local built (local.yaml, env.json)")
	state := fs.String("state", ".stack/sam", "make sam-local's state directory (demo-key, admin-key)")
	sam := fs.String("sam", "sam", "the sam executable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: samlocal invoke [flags] FUNCTION_ID EVENT_FILE")
	}
	fn, eventFile := fs.Arg(0), fs.Arg(1)
	vars, err := invokeVars(*buildDir, *state)
	if err != nil {
		return err
	}
	if vars["ROTATION_TOKEN"] == "" {
		vars["ROTATION_TOKEN"] = samlocal.RotationToken()
	}
	fixture, err := os.ReadFile(eventFile)
	if err != nil {
		return err
	}
	event, err := samlocal.Event(fixture, vars)
	if err != nil {
		return fmt.Errorf("%s: %w", eventFile, err)
	}
	if strings.Contains(string(fixture), "{{ROTATION_TOKEN}}") {
		fmt.Fprintf(stderr, "[keygate-sam] ROTATION_TOKEN=%s (export it to run the next rotation step on the same version)\n", vars["ROTATION_TOKEN"])
	}
	cmd := exec.CommandContext(ctx, *sam, samlocal.InvokeArgs(*buildDir, fn)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(string(event)), stdout, stderr
	return cmd.Run()
}

// invokeVars reads what the fixtures' placeholders name from a running make sam-local stack.
func invokeVars(buildDir, state string) (map[string]string, error) {
	vars := map[string]string{"ROTATION_TOKEN": os.Getenv("ROTATION_TOKEN")}
	for name, file := range map[string]string{"DEMO_KEY": "demo-key", "ADMIN_KEY": "admin-key"} {
		b, err := os.ReadFile(filepath.Join(state, file))
		if err != nil {
			return nil, fmt.Errorf("%s (is make sam-local running?): %w", name, err)
		}
		vars[name] = strings.TrimSpace(string(b))
	}
	b, err := os.ReadFile(filepath.Join(buildDir, "env.json"))
	if err != nil {
		return nil, fmt.Errorf("env.json (is make sam-local running?): %w", err)
	}
	var env map[string]map[string]string
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("env.json: %w", err)
	}
	if vars["SIGNING_SECRET"] = env["RotateFunction"]["KEYGATE_SIGNING_SECRET"]; vars["SIGNING_SECRET"] == "" {
		return nil, errors.New("env.json names no KEYGATE_SIGNING_SECRET for RotateFunction")
	}
	return vars, nil
}
