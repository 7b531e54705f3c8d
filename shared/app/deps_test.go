package app_test

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/app"
)

// The handlers are wired in functions/<name>/main.go. If app imported one, every function would
// link every handler (and its init work), and a handler change would reach functions that do
// not serve it.
func TestAppImportsNoHandlerPackageAndNothingFromInfra(t *testing.T) {
	const module = "github.com/keygate/keygate/"
	handlers := []string{"shared/authapi", "shared/authorizer", "shared/keysapi", "shared/echo", "shared/rotation"}
	deps := emulatortest.Deps(t, nil, module+"shared/app")
	if !deps[module+"shared/app"] {
		t.Fatalf("go list -deps printed %d packages, not shared/app: the check proves nothing", len(deps))
	}
	for dep := range deps {
		for _, h := range handlers {
			if dep == module+h {
				t.Errorf("shared/app depends on the handler package %s; wire it in the function's main.go", h)
			}
		}
		if strings.HasPrefix(dep, module+"infra/") {
			t.Errorf("shared/app depends on %s: nothing in shared/ may import infra/", dep)
		}
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadRefusesAnInvalidConfigurationAndBuildsNothing(t *testing.T) {
	if d, err := app.Load(t.Context(), env(map[string]string{})); err == nil || d != nil {
		t.Fatalf("Load on an empty environment = %v, %v", d, err)
	}
}

// A main asks Deps for what its handler needs; everything is built once per container, and two
// handler fields that need the same thing get one instance (one cache, one Secrets Manager read).
func TestDepsBuildsEachDependencyOnceAndSharesIt(t *testing.T) {
	d, err := app.Load(t.Context(), env(full()))
	if err != nil {
		t.Fatal(err)
	}
	if d.Log == nil || d.Now == nil || d.Config.Issuer != "https://auth.keygate.dev" {
		t.Fatalf("Load = %+v", d)
	}
	same := []struct {
		name string
		a, b any
	}{
		{"DynamoDB", d.DynamoDB(), d.DynamoDB()},
		{"Secrets", d.Secrets(), d.Secrets()},
		{"Keyring", d.Keyring(), d.Keyring()},
		{"Events", d.Events(), d.Events()},
		{"Keys", d.Keys(), d.Keys()},
		{"Tokens", d.Tokens(), d.Tokens()},
		{"Limiter", d.Limiter(), d.Limiter()},
		{"Pepper", d.Pepper(), d.Pepper()},
		{"KeyAuth", d.KeyAuth(), d.KeyAuth()},
		{"Issuer", d.Issuer(), d.Issuer()},
		{"MustVerifier", d.MustVerifier(), d.MustVerifier()},
	}
	for _, s := range same {
		if s.a == nil || s.a != s.b {
			t.Errorf("%s returned %p then %p: want one instance per container", s.name, s.a, s.b)
		}
	}
	if d.PublishingKeyring() == d.Keyring() {
		t.Error("PublishingKeyring is the signing keyring: the JWKS needs its own, which also reads the tested pending key")
	}
}

// shared/ is what the functions are built from; infra/ is the local stack and its tests. The
// arrow points one way only (shared's tests may use infra/test's helpers; its code may not).
func TestNothingInSharedImportsInfra(t *testing.T) {
	const module = "github.com/keygate/keygate/"
	deps := emulatortest.Deps(t, nil, "./shared/...")
	if !deps[module+"shared/authapi"] {
		t.Fatalf("go list -deps ./shared/... did not list shared/authapi: the check proves nothing")
	}
	for dep := range deps {
		if strings.HasPrefix(dep, module+"infra/") {
			t.Errorf("a package under shared/ depends on %s", dep)
		}
	}
}
