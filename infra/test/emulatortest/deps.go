package emulatortest

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Deps lists, from the module root, the packages that `go list -deps args...` names (the
// packages args name, and everything they import), with env added to the environment (for
// example GOOS=linux GOARCH=arm64, to see what a Lambda bootstrap links). Tests use it to keep
// an import out of a package: public libraries import nothing of keygate, shared/app no
// handler, the bootstraps no test-only module. It fails t when the go command cannot answer,
// rather than let such a check pass by listing nothing.
func Deps(t testing.TB, env []string, args ...string) map[string]bool {
	t.Helper()
	goTool, err := exec.LookPath("go") // go test puts its own go first on PATH
	if err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goTool, append([]string{"list", "-deps"}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list -deps %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v", strings.Join(args, " "), err)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	if len(deps) == 0 {
		t.Fatalf("go list -deps %s listed nothing: a check on it would prove nothing", strings.Join(args, " "))
	}
	return deps
}
