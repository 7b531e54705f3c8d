package token_test

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/test/emulatortest"
)

// go-jose is a test-only dependency (FuzzVerifyAgainstGoJose's second opinion): it must never
// reach a bootstrap. The check lists what the functions import, built as the Makefile builds
// them (linux/arm64, lambda.norpc), and, so that it cannot pass by not seeing go-jose at all,
// that this package's tests do import it.
func TestGoJoseNeverReachesABootstrap(t *testing.T) {
	const goJose = "github.com/go-jose/go-jose/"
	bootstrap := []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"}
	imports := func(pkgs map[string]bool, prefix string) bool {
		for p := range pkgs {
			if strings.HasPrefix(p, prefix) {
				return true
			}
		}
		return false
	}

	functions := emulatortest.Deps(t, bootstrap, "-tags", "lambda.norpc", "./functions/...")
	if !functions["github.com/keygate/keygate/shared/token"] {
		t.Fatalf("the functions' dependencies do not include shared/token; is the list right? %d packages", len(functions))
	}
	for p := range functions {
		if strings.HasPrefix(p, goJose) {
			t.Errorf("a bootstrap imports %s: go-jose is for tests only", p)
		}
	}
	if tests := emulatortest.Deps(t, bootstrap, "-test", "./shared/token/"); !imports(tests, goJose) {
		t.Errorf("shared/token's tests do not import go-jose, so this check cannot see it")
	}
}
