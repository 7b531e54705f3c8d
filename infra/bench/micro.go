package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// benchstatVersion pins golang.org/x/perf/cmd/benchstat (x/perf has no tagged releases).
const benchstatVersion = "v0.0.0-20260908200009-22c9c6c9d4da"

// goBenchmarks are the in-process benchmarks of the table: package and -bench pattern.
var goBenchmarks = []struct{ pkg, pattern string }{
	{"./shared/authorizer", "^BenchmarkAuthorizer$"},
	{"./shared/authapi", "^BenchmarkTokenWarm$/^RS256$"},
}

// runGoBenchmarks runs goBenchmarks -count times and appends go test's output to raw. The
// authorizer benchmark exports its token to exportPath for the Node harness.
func runGoBenchmarks(ctx context.Context, c *config, exportPath string, raw io.Writer) error {
	for _, b := range goBenchmarks {
		cmd := exec.CommandContext(ctx, c.goCmd, "test", "-run", "^$", "-bench", b.pattern, "-benchmem",
			"-count", strconv.Itoa(c.count), "-benchtime", c.benchtime.String(), b.pkg)
		cmd.Dir = c.root
		cmd.Env = append(os.Environ(), "KEYGATE_BENCH_EXPORT="+exportPath)
		var out bytes.Buffer
		cmd.Stdout = io.MultiWriter(raw, &out)
		cmd.Stderr = os.Stderr
		c.logf("go test -bench %s -count %d %s", b.pattern, c.count, b.pkg)
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go test -bench %s %s: %w\n%s", b.pattern, b.pkg, err, tail(out.String(), 2000))
		}
	}
	return nil
}

// runNodeHarness has aws-jwt-verify verify the exported token (rounds × about benchtime each)
// and appends its Go-format benchmark lines to raw, under a pkg line of its own.
func runNodeHarness(ctx context.Context, c *config, exportPath string, raw io.Writer) (version string, err error) {
	if c.nodeModules == "" {
		return "", errors.New("KEYGATE_NODE_MODULES is not set (infra/local/stack/install.sh --print-env sets it when node >= 20 and npm are installed)")
	}
	fixture, err := os.ReadFile(exportPath)
	if err != nil {
		return "", fmt.Errorf("read the token BenchmarkAuthorizer exported: %w", err)
	}
	var in map[string]any
	if err := json.Unmarshal(fixture, &in); err != nil {
		return "", err
	}
	in["rounds"] = c.count
	in["benchtime_ms"] = c.benchtime.Milliseconds()
	stdin, err := json.Marshal(in)
	if err != nil {
		return "", err
	}
	libVersion, err := packageVersion(filepath.Join(c.nodeModules, "aws-jwt-verify", "package.json"))
	if err != nil {
		return "", err
	}
	nodeVersion, err := exec.CommandContext(ctx, "node", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("node --version: %w", err)
	}
	cmd := exec.CommandContext(ctx, "node", filepath.Join(c.root, "infra", "bench", "aws-jwt-verify-bench.cjs"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+c.nodeModules)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stderr = os.Stderr
	c.logf("node aws-jwt-verify-bench.cjs (aws-jwt-verify %s), %d rounds", libVersion, c.count)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("aws-jwt-verify harness: %w", err)
	}
	fmt.Fprintf(raw, "pkg: aws-jwt-verify@%s (node %s)\n", libVersion, strings.TrimSpace(string(nodeVersion)))
	if _, err := raw.Write(out); err != nil {
		return "", err
	}
	return fmt.Sprintf("node %s, aws-jwt-verify %s", strings.TrimSpace(string(nodeVersion)), libVersion), nil
}

func packageVersion(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("aws-jwt-verify is not installed: %w", err)
	}
	var p struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return p.Version, nil
}

// benchstatPath installs the pinned benchstat into the keygate cache once and returns it.
func benchstatPath(ctx context.Context, c *config) (string, error) {
	dir := filepath.Join(c.cache, "benchstat-"+benchstatVersion)
	bin := filepath.Join(dir, "benchstat")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	c.logf("installing benchstat %s into %s", benchstatVersion, dir)
	cmd := exec.CommandContext(ctx, c.goCmd, "install", "golang.org/x/perf/cmd/benchstat@"+benchstatVersion)
	cmd.Dir = c.root
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go install benchstat: %w", err)
	}
	return bin, nil
}

// runBenchstat summarises the raw results: the text report (kept as benchstat.txt) and the
// parsed CSV.
func runBenchstat(ctx context.Context, bin, rawPath string) (text string, stats map[string]Stat, err error) {
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, append(args, rawPath)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("benchstat %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out), nil
	}
	if text, err = run(); err != nil {
		return "", nil, err
	}
	csvOut, err := run("-format", "csv")
	if err != nil {
		return "", nil, err
	}
	stats, err = parseBenchstatCSV(csvOut)
	return text, stats, err
}

// procSuffix is the -GOMAXPROCS suffix go test appends to benchmark names.
var procSuffix = regexp.MustCompile(`-\d+$`)

// parseBenchstatCSV reads benchstat -format csv output for a single input file: per unit a
// header row (",sec/op,CI") followed by one row per benchmark; config lines (pkg: …) and
// geomean rows are skipped.
func parseBenchstatCSV(s string) (map[string]Stat, error) {
	stats := map[string]Stat{}
	unit := ""
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || !strings.Contains(line, ",") {
			unit = "" // a blank line ends a table
			continue
		}
		rec, err := csv.NewReader(strings.NewReader(line)).Read()
		if err != nil || len(rec) < 2 {
			continue
		}
		if rec[0] == "" {
			if len(rec) >= 3 && rec[2] == "CI" {
				unit = rec[1]
			}
			continue
		}
		if unit == "" || rec[0] == "geomean" {
			continue
		}
		name := procSuffix.ReplaceAllString(rec[0], "")
		v, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return nil, fmt.Errorf("benchstat csv: %s %s: %q is not a number", name, unit, rec[1])
		}
		st := stats[name]
		switch unit {
		case "sec/op":
			st.NsOp = v * 1e9
			if len(rec) >= 3 {
				st.CI = ciText(rec[2])
			}
		case "allocs/op":
			st.AllocsOp, st.HasAlloc = v, true
		case "B/op":
			st.BytesOp, st.HasAlloc = v, true
		default:
			continue
		}
		stats[name] = st
	}
	if len(stats) == 0 {
		return nil, errors.New("benchstat csv: no benchmarks found")
	}
	return stats, sc.Err()
}

// ciText renders benchstat's CI column ("2%", "∞", "") like its text report.
func ciText(ci string) string {
	if ci == "" {
		return ""
	}
	return "± " + ci
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
