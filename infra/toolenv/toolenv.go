// Package toolenv lets tests find the tools infra/stack/install.sh installs (the Python venv,
// the Node modules for the interop verifiers): from the environment, or else from what
// install.sh --print-env prints (run once per test binary; fast once installed).
//
// A missing tool fails the test under KEYGATE_REQUIRE_EMULATORS=1 (make test, CI) and skips it
// otherwise, so a bare `go test ./...` still runs everything else.
package toolenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	once   sync.Once
	vars   map[string]string
	runErr error
)

// Get returns the install variable name (e.g. KEYGATE_VENV, KEYGATE_NODE_MODULES).
func Get(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	once.Do(func() { vars, runErr = printEnv() })
	if runErr != nil {
		Missing(t, runErr.Error())
	}
	v := vars[name]
	if v == "" {
		Missing(t, "infra/stack/install.sh --print-env gives no "+name)
	}
	return v
}

// Missing fails t under KEYGATE_REQUIRE_EMULATORS=1 and skips it otherwise.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("KEYGATE_REQUIRE_EMULATORS") == "1" {
		t.Fatal(why)
	}
	t.Skip(why + " (set KEYGATE_REQUIRE_EMULATORS=1 to make this a failure; make test does)")
}

func printEnv() (map[string]string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return nil, fmt.Errorf("toolenv: cannot locate the repository")
	}
	script := filepath.Join(filepath.Dir(file), "..", "stack", "install.sh")
	cmd := exec.Command("bash", script, "--print-env")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("infra/stack/install.sh --print-env failed: %v\n%s", err, stderr.String())
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[strings.TrimPrefix(k, "export ")] = strings.Trim(v, `'"`) // %q quoting; our cache paths need none
		}
	}
	return m, nil
}
