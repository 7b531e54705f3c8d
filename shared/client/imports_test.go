package client_test

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/test/emulatortest"
)

// Callers build this package into their own programs: it must bring none of keygate's
// packages along (so none of the service's dependencies either).
func TestTheLibraryImportsNoKeygatePackage(t *testing.T) {
	const self = "github.com/keygate/keygate/shared/client"
	deps := emulatortest.Deps(t, nil, self)
	if !deps[self] || !deps["net/http"] {
		t.Fatalf("go list -deps did not list %s and net/http; is it still listing this package?", self)
	}
	for p := range deps {
		if strings.HasPrefix(p, "github.com/keygate/keygate/") && p != self {
			t.Errorf("%s depends on %s; a public library imports no keygate package", self, p)
		}
	}
}
