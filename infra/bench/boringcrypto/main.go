// Command boringcrypto is the experiment of issue 22 part 4: would building the authorizer
// with GOEXPERIMENT=boringcrypto (BoringSSL's RSA, through cgo) make its first-seen RS256
// path at least 1.3× faster than aws-jwt-verify, without adding more than 5 ms of cold start
// or growing the arm64 bootstrap past 12 MB?
//
// run.sh (next to this file) builds both variants and runs, in order:
//
//	micro      BenchmarkAuthorizer of the standard and the boringcrypto build and aws-jwt-verify's
//	           harness, interleaved round by round so that all three see the same machine
//	coldstart  the AuthorizerFunction bootstrap of each build started from nothing on a local
//	           stack (lambdarun's Init Duration and the first response), again interleaved
//	elf        size, linking, required glibc symbol versions and build settings of each bootstrap
//	report     the numbers above and the decision rule applied to them, as Markdown
//	pool       the first-seen ratio over the rounds of several runs (their -dir), by hand
//
// Each step writes one JSON file into -dir; report reads them. It is an experiment: never
// part of CI or make bench, never imported. It must build without cgo (go vet ./... and
// go build ./... compile it): the boringcrypto binaries are built by run.sh and only run here.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: boringcrypto micro|coldstart|elf|report|pool [flags] (run.sh runs them)")
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "micro":
		err = runMicro(args)
	case "coldstart":
		err = runColdStart(args)
	case "elf":
		err = runELF(args)
	case "report":
		err = runReport(args)
	case "pool":
		err = runPool(args)
	default:
		err = fmt.Errorf("unknown step %q: want micro, coldstart, elf, report or pool", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "boringcrypto:", err)
		os.Exit(1)
	}
}

// The JSON files the steps leave in -dir.
const (
	microFile = "micro.json"
	coldFile  = "coldstart.json"
	elfFile   = "elf.json"
)

func writeJSON(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644)
}

// readJSON reads dir/name into v; a missing file is reported as os.ErrNotExist.
func readJSON(dir, name string, v any) error {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// namedPaths is a repeatable name=path flag that keeps its order.
type namedPaths []namedPath

type namedPath struct{ Name, Path string }

func (n *namedPaths) String() string { return fmt.Sprint(*n) }

func (n *namedPaths) Set(s string) error {
	for i := range len(s) {
		if s[i] == '=' && i > 0 && i < len(s)-1 {
			*n = append(*n, namedPath{s[:i], s[i+1:]})
			return nil
		}
	}
	return errors.New("want name=path")
}

// median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is min and max of xs.
func spread(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	return slices.Min(xs), slices.Max(xs)
}

// loadAvg is /proc/loadavg's first three fields ("" where there is none).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	var a, b5, c string
	if _, err := fmt.Sscan(string(b), &a, &b5, &c); err != nil {
		return ""
	}
	return a + " " + b5 + " " + c
}
