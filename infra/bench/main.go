// Command bench is `make bench`: in one run on one machine it measures keygate next to what
// users would pick instead, and prints one table whose headline is ratios: what a user gains is
// relative, and ratios carry across machines where absolute times do not.
//
//   - In process, with go test -bench -count N summarised by benchstat: the authorizer handler
//     (API Gateway event in, policy out) for a first-seen RS256 token, a repeated token, an API
//     key with its lookup cached and missed, and a forged token; the bare RSA-2048 verify and
//     golang-jwt as baselines; the token endpoint's warm path. AWS's aws-jwt-verify verifies
//     the very token the Go benchmark used in a Node harness (aws-jwt-verify-bench.cjs; process
//     start and JWKS loading excluded), its rounds fed to benchstat next to the Go results.
//   - Against the moto emulators (DynamoDB, Secrets Manager): the token and refresh functions
//     (their own bootstraps under infra/local/lambdarun, one request at a time like one
//     container) with their DynamoDB and Secrets Manager round trips and sequential depth per
//     request, logged by proxies in front of the emulators; each function's cold start (its
//     bootstrap under infra/local/lambdarun: Init Duration and time to first response) and
//     size, host and linux/arm64; authorized requests per second through the local API Gateway.
//   - Every function profiled (profile.go): one request at a time on a container of its own,
//     the CPU its process spends per request, and every DynamoDB and Secrets Manager call,
//     logged with its timing by proxies in front of the emulators (observe.go), whence the
//     round trips, the sequential depth and the request units billed (capacity.go). From them
//     (model.go) each function's duration and cost at 128 to 1024 MB on Lambda arm64 at
//     AWS-like latencies, the memory size to pick, and the cost per million token requests,
//     refreshes and protected calls at AWS list prices, beside Cognito M2M's.
//
// Every time target is a ratio of two measurements of the same run (report.go): machines
// here differ 2–3× in speed from run to run.
//
// It needs the emulators (KEYGATE_DYNAMODB_ENDPOINT, KEYGATE_SECRETS_ENDPOINT, as
// infra/local/stack/with-stack.sh exports them), the host bootstraps (-bin, make build-local) and,
// for the Node harness, KEYGATE_NODE_MODULES (infra/local/stack/install.sh --print-env). benchstat
// is installed into the keygate cache at a pinned version. Output goes to -out: results.md
// (the table, also printed on stdout), bench.svg, results.json, the raw benchmark output,
// benchstat's report and the functions' logs. Progress goes to stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type config struct {
	root, out, bin, cache string
	goCmd                 string
	ddb, sm, nodeModules  string

	count            int
	benchtime        time.Duration
	handlerDuration  time.Duration
	coldStarts       int
	conns            int
	loadWarmup       time.Duration
	loadDuration     time.Duration
	profileRequests  int // measured requests per function profile
	profileRotations int // whole rotations of the rotation function's profile
	arm64            bool
	skipMicro        bool
	loadProfile      string // CPU profile of this process during the first gateway run
	from             string // results.json to render instead of measuring

	functionLogs io.Writer // function output (everything the bootstraps print)
	start        time.Time
	progress     io.Writer
}

func (c *config) logf(format string, args ...any) {
	fmt.Fprintf(c.progress, "bench %5.1fs: %s\n", time.Since(c.start).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{start: time.Now(), progress: stderr}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.out, "out", ".bench", "output directory (git-ignored)")
	fs.StringVar(&c.bin, "bin", os.Getenv("KEYGATE_LOCAL_BIN"), "host bootstraps, <bin>/<LogicalId>/bootstrap (default $KEYGATE_LOCAL_BIN, else .build/local)")
	fs.IntVar(&c.count, "count", 6, "runs of each Go benchmark (and rounds of the Node harness) for benchstat")
	fs.DurationVar(&c.benchtime, "benchtime", time.Second, "go test -benchtime (and the Node harness's time per round)")
	fs.DurationVar(&c.handlerDuration, "handler-duration", 3*time.Second, "timed run of each token endpoint handler")
	fs.IntVar(&c.coldStarts, "cold-starts", 5, "cold starts per function (the median is reported)")
	fs.IntVar(&c.conns, "conns", 4, "concurrent keep-alive connections of the gateway load runs")
	fs.DurationVar(&c.loadWarmup, "load-warmup", time.Second, "unmeasured load before each gateway run")
	fs.DurationVar(&c.loadDuration, "load-duration", 5*time.Second, "measured duration of each gateway run")
	fs.IntVar(&c.profileRequests, "profile-requests", 200, "measured requests per function for the memory and cost model")
	fs.IntVar(&c.profileRotations, "profile-rotations", 3, "signing-key rotations (4 steps each) the rotation function's profile runs")
	fs.BoolVar(&c.arm64, "arm64", true, "build the linux/arm64 bootstraps (make build-<LogicalId>) to report their sizes")
	fs.BoolVar(&c.skipMicro, "skip-micro", false, "skip the in-process benchmarks (go test -bench, Node, benchstat)")
	fs.StringVar(&c.from, "from", "", "render the table and chart of an earlier run's results.json instead of measuring")
	fs.StringVar(&c.loadProfile, "load-cpuprofile", "", "write a CPU profile of the gateway, Runtime API and load clients during the first gateway run")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if c.root, err = moduleRoot(); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(c.out) {
		c.out = filepath.Join(c.root, c.out)
	}
	if c.from != "" {
		return c, nil
	}
	if c.count < 1 || c.coldStarts < 1 || c.conns < 1 || c.profileRequests < 1 || c.profileRotations < 1 {
		return nil, errors.New("-count, -cold-starts, -conns, -profile-requests and -profile-rotations must be at least 1")
	}
	c.ddb, c.sm = os.Getenv("KEYGATE_DYNAMODB_ENDPOINT"), os.Getenv("KEYGATE_SECRETS_ENDPOINT")
	if c.ddb == "" || c.sm == "" {
		return nil, errors.New("KEYGATE_DYNAMODB_ENDPOINT and KEYGATE_SECRETS_ENDPOINT are not set: run through make bench (infra/local/stack/with-stack.sh)")
	}
	c.nodeModules = os.Getenv("KEYGATE_NODE_MODULES")
	c.goCmd = os.Getenv("GO")
	if c.goCmd == "" {
		c.goCmd = "go"
	}
	if c.bin == "" {
		c.bin = filepath.Join(c.root, ".build", "local")
	}
	c.cache = os.Getenv("KEYGATE_CACHE")
	if c.cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, err
		}
		c.cache = filepath.Join(base, "keygate")
	}
	return c, nil
}

// moduleRoot is the directory of the go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the repository")
		}
		dir = parent
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	if c.from != "" {
		b, err := os.ReadFile(c.from)
		if err != nil {
			return err
		}
		var res Results
		if err := json.Unmarshal(b, &res); err != nil {
			return fmt.Errorf("%s: %w", c.from, err)
		}
		return writeOutputs(c, &res, stdout)
	}
	logs, err := os.Create(filepath.Join(c.out, "functions.log"))
	if err != nil {
		return err
	}
	defer logs.Close()
	c.functionLogs = logs

	res, err := measure(ctx, c)
	if err != nil {
		return err
	}
	return writeOutputs(c, res, stdout)
}

// measure runs every part. The in-process benchmarks go first, while nothing else runs.
func measure(ctx context.Context, c *config) (*Results, error) {
	res := &Results{Date: time.Now(), Machine: machine(), Cores: runtime.NumCPU(), Go: runtime.Version(), Node: "node not run", Count: c.count}
	res.Load[0] = loadAverage()
	defer func() { res.Load[1] = loadAverage() }()
	if !c.skipMicro {
		if err := micro(ctx, c, res); err != nil {
			return nil, err
		}
	} else {
		res.Skipped = append(res.Skipped, "in-process benchmarks (-skip-micro)")
	}

	c.logf("starting the local stack on %s and %s", c.ddb, c.sm)
	b, err := startBenchStack(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("local stack: %w (function logs: %s)", err, filepath.Join(c.out, "functions.log"))
	}
	defer b.Close()
	if res.Gateway, err = gatewayLoad(ctx, c, b); err != nil {
		return nil, err
	}
	if res.Handlers, err = handlerThroughput(ctx, c, b); err != nil {
		return nil, err
	}
	if res.Functions, err = coldStarts(ctx, c, b); err != nil {
		return nil, err
	}
	// Last on the stack: the rotation function's profile rotates the signing key.
	if res.Profiles, err = profileFunctions(ctx, c, b); err != nil {
		return nil, err
	}
	if c.arm64 {
		if err := arm64Sizes(ctx, c, res.Functions, filepath.Join(c.out, "arm64")); err != nil {
			return nil, err
		}
	} else {
		res.Skipped = append(res.Skipped, "linux/arm64 bootstrap sizes (-arm64=false)")
	}
	return res, nil
}

// micro runs the Go benchmarks and the Node harness into raw.txt and summarises them.
func micro(ctx context.Context, c *config, res *Results) error {
	bs, err := benchstatPath(ctx, c)
	if err != nil {
		return err
	}
	rawPath := filepath.Join(c.out, "raw.txt")
	raw, err := os.Create(rawPath)
	if err != nil {
		return err
	}
	defer raw.Close()
	export := filepath.Join(c.out, "token.json")
	if err := runGoBenchmarks(ctx, c, export, raw); err != nil {
		return err
	}
	if c.nodeModules == "" {
		// install.sh installs aws-jwt-verify only where node >= 20 and npm exist (it says so).
		res.Skipped = append(res.Skipped, "aws-jwt-verify (no KEYGATE_NODE_MODULES: install.sh needs node >= 20 and npm)")
	} else if res.Node, err = runNodeHarness(ctx, c, export, raw); err != nil {
		return err
	}
	if err := raw.Close(); err != nil {
		return err
	}
	c.logf("benchstat")
	text, stats, err := runBenchstat(ctx, bs, rawPath)
	if err != nil {
		return err
	}
	res.Micro = stats
	return os.WriteFile(filepath.Join(c.out, "benchstat.txt"), []byte(text), 0o644)
}

func writeOutputs(c *config, res *Results, stdout io.Writer) error {
	var md strings.Builder
	if err := res.WriteMarkdown(&md); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.out, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	svg, err := os.Create(filepath.Join(c.out, "bench.svg"))
	if err != nil {
		return err
	}
	if err := res.WriteSVG(svg); err != nil {
		svg.Close()
		return err
	}
	if err := svg.Close(); err != nil {
		return err
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if _, err := io.WriteString(stdout, md.String()); err != nil {
		return err
	}
	rel, _ := filepath.Rel(c.root, c.out)
	c.logf("done: %s/results.md, %s/bench.svg (raw output, benchstat.txt, results.json alongside)", rel, rel)
	return nil
}

// loadAverage is the 1-minute load average ("?" where /proc/loadavg does not exist).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// machine names the CPU and its core count (Linux; runtime facts elsewhere).
func machine() string {
	model := runtime.GOARCH
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores", model, runtime.NumCPU())
}
