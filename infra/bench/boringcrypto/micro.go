package main

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The three contenders of the micro step, as they appear in micro.json and the report.
const (
	variantStandard = "standard"
	variantBoring   = "boringcrypto"
	variantNode     = "aws-jwt-verify"
)

// Benchmark names (go test's, without "Benchmark" and the -GOMAXPROCS suffix).
const (
	benchBare      = "Authorizer/rsa-verify-bare"
	benchFirstSeen = "Authorizer/handler-first-seen"
	benchNode      = "AwsJwtVerify/verify-sync"
)

// MicroResult is micro.json: every benchmark's value in every round, per variant, so that
// ratios can be taken within a round (the same minute of the same machine).
type MicroResult struct {
	Rounds    int    `json:"rounds"`
	Benchtime string `json:"benchtime"`
	Node      string `json:"node"`
	CPU       string `json:"cpu"`
	LoadStart string `json:"load_start"`
	LoadEnd   string `json:"load_end"`
	// Samples[variant][benchmark] has one entry per round, in round order: the first-seen
	// token, the bare verify and aws-jwt-verify (the -bench pattern), in short rounds so that
	// the three measurements of a round are seconds apart.
	Samples map[string]map[string][]Sample `json:"samples"`
	// Paths is the same for every BenchmarkAuthorizer path (-paths-bench), over -paths-rounds
	// rounds of the two Go builds: what boringcrypto does to the rest of the authorizer.
	PathRounds int                            `json:"path_rounds"`
	Paths      map[string]map[string][]Sample `json:"paths"`
}

// Sample is one go test benchmark line.
type Sample struct {
	NsOp     float64 `json:"ns_op"`
	BytesOp  float64 `json:"bytes_op,omitempty"`
	AllocsOp float64 `json:"allocs_op,omitempty"`
}

// series returns one field of variant's benchmark over the rounds.
func (m *MicroResult) series(variant, bench string, field func(Sample) float64) []float64 {
	var out []float64
	for _, s := range m.Samples[variant][bench] {
		out = append(out, field(s))
	}
	return out
}

func nsOp(s Sample) float64 { return s.NsOp }

func runMicro(args []string) error {
	fs := flag.NewFlagSet("micro", flag.ExitOnError)
	std := fs.String("standard", "", "test binary of ./shared/authorizer, built as today (CGO_ENABLED=0)")
	boring := fs.String("boring", "", "test binary of ./shared/authorizer built with GOEXPERIMENT=boringcrypto")
	pkgDir := fs.String("pkgdir", "shared/authorizer", "the package's directory (the tests read testdata/ from there)")
	harness := fs.String("harness", "infra/bench/aws-jwt-verify-bench.cjs", "make bench's aws-jwt-verify harness")
	nodeModules := fs.String("node-modules", os.Getenv("KEYGATE_NODE_MODULES"), "node_modules with aws-jwt-verify (install.sh --print-env)")
	nRounds := fs.Int("rounds", 15, "rounds with aws-jwt-verify; each runs every variant once, in a rotating order")
	benchtime := fs.Duration("benchtime", time.Second, "go test -benchtime per benchmark, and the harness's time per round")
	bench := fs.String("bench", "^BenchmarkAuthorizer$/^(rsa-verify-bare|handler-first-seen)$", "go test -bench pattern of the rounds with aws-jwt-verify")
	pathRounds := fs.Int("paths-rounds", 3, "rounds of every authorizer path, both builds (0: none)")
	pathsBench := fs.String("paths-bench", "^BenchmarkAuthorizer$", "go test -bench pattern of those rounds")
	dir := fs.String("dir", ".", "where to write micro.json and the raw results")
	fs.Parse(args)
	if *std == "" || *boring == "" || *nodeModules == "" {
		return errors.New("micro: -standard, -boring and -node-modules (or KEYGATE_NODE_MODULES) are required")
	}
	if err := requireExperiment(*boring, "boringcrypto"); err != nil {
		return err
	}
	if err := requireExperiment(*std, ""); err != nil {
		return err
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	*std, *boring, *harness = abs(*std), abs(*boring), abs(*harness)

	res := &MicroResult{Rounds: *nRounds, Benchtime: benchtime.String(), LoadStart: loadAvg(),
		Samples: map[string]map[string][]Sample{}, PathRounds: *pathRounds, Paths: map[string]map[string][]Sample{}}
	raw := map[string]*os.File{}
	for _, v := range []string{variantStandard, variantBoring, variantNode} {
		f, err := os.Create(filepath.Join(*dir, v+".txt"))
		if err != nil {
			return err
		}
		defer f.Close()
		raw[v] = f
	}

	// The token aws-jwt-verify verifies: the one BenchmarkAuthorizer signs (any RSA-2048 key
	// costs the same to verify; each Go run signs with a fresh one).
	tokenPath := filepath.Join(*dir, "token.json")
	if _, err := goBench(*std, *pkgDir, "^BenchmarkAuthorizer$/^rsa-verify-bare$", "1x", tokenPath, io.Discard); err != nil {
		return fmt.Errorf("export the token: %w", err)
	}
	fixture, err := os.ReadFile(tokenPath)
	if err != nil {
		return err
	}
	node, err := nodeVersion(*nodeModules)
	if err != nil {
		return err
	}
	res.Node = node
	fmt.Fprintf(raw[variantNode], "pkg: %s\n", node)

	run := func(v, pattern string) ([]byte, error) {
		switch v {
		case variantNode:
			return nodeBench(*harness, *nodeModules, fixture, *benchtime)
		case variantStandard:
			return goBench(*std, *pkgDir, pattern, benchtime.String(), "", os.Stderr)
		default:
			return goBench(*boring, *pkgDir, pattern, benchtime.String(), "", os.Stderr)
		}
	}
	// rounds runs every variant once per round, each taking each position in turn, and
	// appends the samples to into (and the output, one header per file, to raw).
	rounds := func(n int, pattern string, variants []string, into map[string]map[string][]Sample, w map[string]io.Writer) error {
		for r := range n {
			for i := range variants {
				v := variants[(i+r)%len(variants)]
				out, err := run(v, pattern)
				if err != nil {
					return fmt.Errorf("round %d, %s: %w", r+1, v, err)
				}
				lines, cpu := parseBench(out)
				if len(lines) == 0 {
					return fmt.Errorf("round %d, %s: no benchmark lines in\n%s", r+1, v, out)
				}
				if cpu != "" {
					res.CPU = cpu
				}
				if r > 0 && v != variantNode {
					out = benchLinesOnly(out) // one header per file is enough for benchstat
				}
				if _, err := w[v].Write(out); err != nil {
					return err
				}
				if into[v] == nil {
					into[v] = map[string][]Sample{}
				}
				for name, s := range lines {
					into[v][name] = append(into[v][name], s)
				}
				fmt.Fprintf(os.Stderr, "round %d/%d %-14s %s\n", r+1, n, v, summary(lines))
			}
		}
		return nil
	}
	w := map[string]io.Writer{}
	for v, f := range raw {
		w[v] = f
	}
	if err := rounds(*nRounds, *bench, []string{variantStandard, variantBoring, variantNode}, res.Samples, w); err != nil {
		return err
	}
	if *pathRounds > 0 {
		for _, v := range []string{variantStandard, variantBoring} {
			f, err := os.Create(filepath.Join(*dir, "paths-"+v+".txt"))
			if err != nil {
				return err
			}
			defer f.Close()
			w[v] = f
		}
		if err := rounds(*pathRounds, *pathsBench, []string{variantStandard, variantBoring}, res.Paths, w); err != nil {
			return err
		}
	}
	res.LoadEnd = loadAvg()
	return writeJSON(*dir, microFile, res)
}

// summary is the progress line of one run: its benchmarks' ns/op.
func summary(lines map[string]Sample) string {
	var parts []string
	for name, s := range lines {
		parts = append(parts, fmt.Sprintf("%s %.0f ns/op", name, s.NsOp))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// requireExperiment checks a binary's build settings: GOEXPERIMENT must contain want, or be
// free of boringcrypto when want is empty (so the two binaries cannot be swapped by mistake).
func requireExperiment(path, want string) error {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	exp := ""
	for _, s := range bi.Settings {
		if s.Key == "GOEXPERIMENT" {
			exp = s.Value
		}
	}
	has := strings.Contains(exp, "boringcrypto")
	switch {
	case want != "" && !has:
		return fmt.Errorf("%s was not built with GOEXPERIMENT=%s (GOEXPERIMENT=%q)", path, want, exp)
	case want == "" && has:
		return fmt.Errorf("%s is a boringcrypto build; want the standard one", path)
	}
	return nil
}

// goBench runs a test binary's benchmarks once (-test.count 1) in pkgDir and returns its
// output. exportPath, when set, is handed to BenchmarkAuthorizer as KEYGATE_BENCH_EXPORT.
func goBench(bin, pkgDir, pattern, benchtime, exportPath string, stderr io.Writer) ([]byte, error) {
	cmd := exec.Command(bin, "-test.run", "^$", "-test.bench", pattern, "-test.benchmem",
		"-test.count", "1", "-test.benchtime", benchtime)
	cmd.Dir = pkgDir
	cmd.Env = os.Environ()
	if exportPath != "" {
		cmd.Env = append(cmd.Env, "KEYGATE_BENCH_EXPORT="+exportPath)
	}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", filepath.Base(bin), err, out)
	}
	return out, nil
}

// nodeBench runs make bench's aws-jwt-verify harness for one round.
func nodeBench(harness, nodeModules string, fixture []byte, benchtime time.Duration) ([]byte, error) {
	var in map[string]any
	if err := json.Unmarshal(fixture, &in); err != nil {
		return nil, err
	}
	in["rounds"], in["benchtime_ms"] = 1, benchtime.Milliseconds()
	stdin, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("node", harness)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stderr = os.Stderr
	return cmd.Output()
}

func nodeVersion(nodeModules string) (string, error) {
	b, err := os.ReadFile(filepath.Join(nodeModules, "aws-jwt-verify", "package.json"))
	if err != nil {
		return "", fmt.Errorf("aws-jwt-verify is not installed (install.sh): %w", err)
	}
	var p struct{ Version string }
	if err := json.Unmarshal(b, &p); err != nil {
		return "", err
	}
	v, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("node --version: %w", err)
	}
	return fmt.Sprintf("aws-jwt-verify@%s (node %s)", p.Version, strings.TrimSpace(string(v))), nil
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// parseBench reads go test benchmark lines ("BenchmarkX/y-2  N  123 ns/op  4 B/op ...") into
// samples by name, and the cpu: header.
func parseBench(out []byte) (map[string]Sample, string) {
	lines := map[string]Sample{}
	cpu := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if c, ok := strings.CutPrefix(line, "cpu: "); ok {
			cpu = c
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := procSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		var s Sample
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				s.NsOp = v
			case "B/op":
				s.BytesOp = v
			case "allocs/op":
				s.AllocsOp = v
			}
		}
		if s.NsOp > 0 {
			lines[name] = s
		}
	}
	return lines, cpu
}

// benchLinesOnly drops go test's header and PASS/ok lines.
func benchLinesOnly(out []byte) []byte {
	var b bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Benchmark") {
			b.WriteString(sc.Text())
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
