package client_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// Callers build this package into their own programs: it must bring none of keygate's
// packages along (so none of the service's dependencies either).
func TestTheLibraryImportsNoKeygatePackage(t *testing.T) {
	const self = "github.com/keygate/keygate/shared/client"
	deps := goListDeps(t)
	if !deps[self] || !deps["net/http"] {
		t.Fatalf("go list -deps did not list %s and net/http; is it still listing this package?", self)
	}
	for p := range deps {
		if strings.HasPrefix(p, "github.com/keygate/keygate/") && p != self {
			t.Errorf("%s depends on %s; a public library imports no keygate package", self, p)
		}
	}
}

// goListDeps is the set of packages this package's non-test build depends on, itself included.
// go test puts its own go first on PATH.
func goListDeps(t *testing.T) map[string]bool {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the dependencies: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		t.Fatalf("go list -deps: %v\n%s", err, exitErr.Stderr)
	case err != nil:
		t.Fatalf("go list -deps: %v", err)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	return deps
}
