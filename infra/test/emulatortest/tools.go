// Tool lets tests find the tools infra/local/stack/install.sh installs (the Python venv,
// the Node modules for the interop verifiers): from the environment, or else from what
// install.sh --print-env prints (run once per test binary; fast once installed).
//
// A missing tool fails the test under KEYGATE_REQUIRE_EMULATORS=1 (make test, CI) and skips it
// otherwise, so a bare `go test ./...` still runs everything else.

package emulatortest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	toolsOnce sync.Once
	toolVars  map[string]string
	toolsErr  error
)

// Get returns the install variable name (e.g. KEYGATE_VENV, KEYGATE_NODE_MODULES).
func Tool(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	toolsOnce.Do(func() { toolVars, toolsErr = printEnv() })
	if toolsErr != nil {
		MissingTool(t, toolsErr.Error())
	}
	v := toolVars[name]
	if v == "" {
		MissingTool(t, "infra/local/stack/install.sh --print-env gives no "+name)
	}
	return v
}

// Missing fails t under KEYGATE_REQUIRE_EMULATORS=1 and skips it otherwise.
func MissingTool(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("KEYGATE_REQUIRE_EMULATORS") == "1" {
		t.Fatal(why)
	}
	t.Skip(why + " (set KEYGATE_REQUIRE_EMULATORS=1 to make this a failure; make test does)")
}

func printEnv() (map[string]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, fmt.Errorf("emulatortest: cannot locate the repository: %w", err)
	}
	script := filepath.Join(root, "infra", "local", "stack", "install.sh")
	cmd := exec.Command("bash", script, "--print-env")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("infra/local/stack/install.sh --print-env failed: %v\n%s", err, stderr.String())
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[strings.TrimPrefix(k, "export ")] = strings.Trim(v, `'"`) // %q quoting; our cache paths need none
		}
	}
	return m, nil
}
