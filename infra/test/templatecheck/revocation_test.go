package templatecheck_test

import (
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// The revocation promise (≤ 60 s, SECURITY.md) is AuthorizerCacheTTL + RevocationMaxAge at
// most: the parameters' maxima must keep the sum within it, so no deployment can break it.
func TestTheRevocationBoundCannotExceed60Seconds(t *testing.T) {
	b, err := os.ReadFile("../../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Parameters map[string]struct {
			MaxValue *int `yaml:"MaxValue"`
			Default  any  `yaml:"Default"`
		} `yaml:"Parameters"`
	}
	// The template's short-form intrinsics (!Ref …) decode as plain values here.
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, name := range []string{"AuthorizerCacheTTL", "RevocationMaxAge"} {
		p, ok := tpl.Parameters[name]
		if !ok || p.MaxValue == nil {
			t.Fatalf("parameter %s has no MaxValue", name)
		}
		sum += *p.MaxValue
	}
	if sum > 60 {
		t.Fatalf("AuthorizerCacheTTL and RevocationMaxAge may add up to %d s; the promise is 60", sum)
	}
}
