package fuzzsh_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stubGo stands in for the go command: go list names one package, go test -list names one
// fuzz target, and each fuzz run prints what the scenario says for its budget (a duration such
// as 5s, or an execution count such as 4242x) and logs the budget it was given.
const stubGo = `#!/usr/bin/env bash
case "$1 $2" in
"list -f") echo example.com/pkg; exit 0 ;;
"test -list") echo FuzzA; echo ok; exit 0 ;;
esac
budget=""
while [ $# -gt 0 ]; do
	if [ "$1" = -fuzztime ]; then budget=$2; fi
	shift
done
echo "$budget" >>"$STUB_LOG"
case "$budget" in *x) kind=count ;; *) kind=duration ;; esac
var="STUB_$(echo "$kind" | tr a-z A-Z)"
printf '%b' "${!var%%|*}"
exit "${!var##*|}"
`

const (
	pass   = `fuzz: elapsed: 5s, execs: 4242 (848/sec), new interesting: 3 (total: 50)\nPASS\nok  \texample.com/pkg\t5.1s\n|0`
	race   = `fuzz: elapsed: 3s, execs: 4242 (1414/sec), new interesting: 3 (total: 50)\nfuzz: elapsed: 6s, execs: 4242 (0/sec), new interesting: 3 (total: 50)\n--- FAIL: FuzzA (6.02s)\n    context deadline exceeded\nFAIL\nexit status 1\nFAIL\texample.com/pkg\t6.0s\n|1`
	crash  = `fuzz: elapsed: 1s, execs: 100 (100/sec), new interesting: 0 (total: 50)\n--- FAIL: FuzzA (1.02s)\n    --- FAIL: FuzzA (0.00s)\n        panic: boom\n    Failing input written to testdata/fuzz/FuzzA/0123abcd\n    To re-run:\n    go test -run=FuzzA/0123abcd\nFAIL\n|1`
	raceIn = `--- FAIL: FuzzA (6.02s)\n    context deadline exceeded\n    Failing input written to testdata/fuzz/FuzzA/0123abcd\nFAIL\n|1`
	seed   = `--- FAIL: FuzzA (0.00s)\n    --- FAIL: FuzzA/seed#0 (0.00s)\n        context deadline exceeded\nFAIL\n|1`
)

func TestFuzzScriptVerdicts(t *testing.T) {
	script, err := filepath.Abs("../fuzz.sh")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		duration     string // the stub's answer to a duration budget
		count        string // and to a count budget
		wantOK       bool
		wantBudgets  []string
		wantInOutput string
	}{
		{"a passing target passes on its one run", pass, crash, true, []string{"5s"}, "1 targets, 5s each, all passed (0 re-run"},
		{"a real finding fails at once, with its reproducer", crash, pass, false, []string{"5s"}, "FuzzA FAILED (reproducer above"},
		{"Go's fuzztime race is re-run by the executions it reached, and that run counts", race, pass, true, []string{"5s", "4242x"}, "(1 re-run by count"},
		{"a finding on the count re-run fails", race, crash, false, []string{"5s", "4242x"}, "FAILED on its count-budget re-run"},
		{"a deadline that wrote a failing input is a finding, not the race", raceIn, pass, false, []string{"5s"}, "FuzzA FAILED (reproducer above"},
		{"a failing seed entry is a finding, not the race", seed, pass, false, []string{"5s"}, "FuzzA FAILED (reproducer above"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			goStub := filepath.Join(dir, "go")
			if err := os.WriteFile(goStub, []byte(stubGo), 0o755); err != nil {
				t.Fatal(err)
			}
			logFile := filepath.Join(dir, "budgets")
			cmd := exec.Command("bash", script, "5s")
			cmd.Env = append(os.Environ(), "GO="+goStub, "STUB_LOG="+logFile,
				"STUB_DURATION="+tt.duration, "STUB_COUNT="+tt.count)
			out, err := cmd.CombinedOutput()
			if gotOK := err == nil; gotOK != tt.wantOK {
				t.Fatalf("script succeeded = %v, want %v; output:\n%s", gotOK, tt.wantOK, out)
			}
			if !strings.Contains(string(out), tt.wantInOutput) {
				t.Errorf("output lacks %q:\n%s", tt.wantInOutput, out)
			}
			logged, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Fields(string(logged)); strings.Join(got, " ") != strings.Join(tt.wantBudgets, " ") {
				t.Errorf("fuzz budgets = %v, want %v", got, tt.wantBudgets)
			}
		})
	}
}
