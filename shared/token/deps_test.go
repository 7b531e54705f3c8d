package token_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// go-jose is a test-only dependency (FuzzVerifyAgainstGoJose's second opinion): it must never
// reach a bootstrap. The check lists what the functions import, built as the Makefile builds
// them (linux/arm64, lambda.norpc), and, so that it cannot pass by not seeing go-jose at all,
// that this package's tests do import it.
func TestGoJoseNeverReachesABootstrap(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	const goJose = "github.com/go-jose/go-jose/"
	list := func(args ...string) []string {
		cmd := exec.Command(goCmd, append([]string{"list", "-deps"}, args...)...)
		cmd.Dir = "../.." // the module root
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("go list -deps %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return strings.Fields(string(out))
	}
	imports := func(pkgs []string, prefix string) bool {
		return slices.ContainsFunc(pkgs, func(p string) bool { return strings.HasPrefix(p, prefix) })
	}

	functions := list("-tags", "lambda.norpc", "./functions/...")
	if !slices.Contains(functions, "github.com/keygate/keygate/shared/token") {
		t.Fatalf("the functions' dependencies do not include shared/token; is the list right? %d packages", len(functions))
	}
	for _, p := range functions {
		if strings.HasPrefix(p, goJose) {
			t.Errorf("a bootstrap imports %s: go-jose is for tests only", p)
		}
	}
	if tests := list("-test", "./shared/token/"); !imports(tests, goJose) {
		t.Errorf("shared/token's tests do not import go-jose, so this check cannot see it")
	}
}
