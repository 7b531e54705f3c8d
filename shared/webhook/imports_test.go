package webhook_test

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/test/emulatortest"
)

// Receivers build this package into their own services: it must bring none of keygate's
// packages along, and above all not aws-lambda-go, which the service's HTTP adapter needs.
func TestTheLibraryImportsNoKeygatePackageAndNotAWSLambda(t *testing.T) {
	const self = "github.com/keygate/keygate/shared/webhook"
	deps := emulatortest.Deps(t, nil, self)
	if !deps[self] || !deps["net/http"] {
		t.Fatalf("go list -deps did not list %s and net/http; is it still listing this package?", self)
	}
	for p := range deps {
		switch {
		case strings.HasPrefix(p, "github.com/keygate/keygate/") && p != self:
			t.Errorf("%s depends on %s; a public library imports no keygate package", self, p)
		case p == "github.com/aws/aws-lambda-go" || strings.HasPrefix(p, "github.com/aws/aws-lambda-go/"):
			t.Errorf("%s depends on %s; a webhook receiver must not inherit aws-lambda-go", self, p)
		}
	}
}
