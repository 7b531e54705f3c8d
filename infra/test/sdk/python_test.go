package sdk_test

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPythonSDK runs sdk/python's pytest suites (unit, then end-to-end against the stack),
// checks the deliveries it signed with shared/webhook, and builds the wheel and sdist the way
// they would be published and checks what is in them.
func TestPythonSDK(t *testing.T) {
	t.Parallel()
	need(t)
	py := filepath.Join(sdkTool(t, "KEYGATE_SDK_VENV"), "bin", "python")
	dir := filepath.Join(root, "sdk", "python")
	// No __pycache__ or .pytest_cache in the source tree.
	env := []string{"PYTHONDONTWRITEBYTECODE=1", "PYTHONPATH=" + filepath.Join(dir, "src")}
	pytest := func(t *testing.T, suite string, extra ...string) {
		report := filepath.Join(t.TempDir(), "junit.xml")
		run(t, 3*time.Minute, dir, append(env, extra...), py, "-m", "pytest", "-q", "-p", "no:cacheprovider",
			"-o", "junit_family=xunit2", "--junitxml="+report, filepath.Join("tests", suite))
		passed, skipped := junitCounts(t, report)
		if skipped > 0 || passed == 0 {
			t.Fatalf("pytest %s: %d passed, %d skipped; want every test to run", suite, passed, skipped)
		}
		t.Logf("pytest %s: %d passed", suite, passed)
	}
	t.Run("unit", func(t *testing.T) { pytest(t, "unit") })
	t.Run("e2e", func(t *testing.T) {
		tmp := t.TempDir()
		vectors, signed := filepath.Join(tmp, "vectors.json"), filepath.Join(tmp, "signed.json")
		writeVectors(t, vectors)
		pytest(t, "e2e", suiteEnv(vectors, signed)...)
		checkSigned(t, "sdk/python", signed)
	})
	t.Run("README quick start", func(t *testing.T) {
		out := runQuickStart(t, quickStart(t, "sdk/python/README.md"), nil, env, py, "-")
		t.Logf("the README's quick start printed:\n%s", out)
	})
	t.Run("package", func(t *testing.T) {
		out := t.TempDir()
		// The sdist first, then the wheel built from it (python -m build's default), so a file
		// missing from the sdist breaks the wheel. --no-isolation: the backend comes from the
		// venv, so a warm run needs no network.
		run(t, 2*time.Minute, dir, env, py, "-m", "build", "--no-isolation", "--outdir", out, ".")
		wheels, _ := filepath.Glob(filepath.Join(out, "keygate-*.whl"))
		sdists, _ := filepath.Glob(filepath.Join(out, "keygate-*.tar.gz"))
		if len(wheels) != 1 || len(sdists) != 1 {
			t.Fatalf("python -m build made %v and %v, want one wheel and one sdist", wheels, sdists)
		}
		wheel := zipContents(t, wheels[0])
		sdist := tarContents(t, sdists[0])
		checkPackage(t, "wheel", wheel, []string{"keygate/__init__.py", "keygate/py.typed", "keygate/webhooks.py", "keygate/requests_auth.py"}, `^(keygate/[a-z_]+\.py|keygate/py\.typed|keygate-[0-9.]+\.dist-info/.*)$`)
		// hatchling always adds the repository's .gitignore to an sdist (a list of build outputs).
		checkPackage(t, "sdist", sdist, []string{"pyproject.toml", "README.md", "src/keygate/__init__.py", "PKG-INFO"}, `^keygate-[0-9.]+/(src/keygate/[a-z_]+\.py|src/keygate/py\.typed|README\.md|pyproject\.toml|PKG-INFO|\.gitignore)$`)
	})
}

// junitCounts reads pytest's JUnit XML report: tests passed and skipped.
func junitCounts(t *testing.T, path string) (passed, skipped int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Errors   int `xml:"errors,attr"`
			Skipped  int `xml:"skipped,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, s := range doc.Suites {
		passed += s.Tests - s.Failures - s.Errors - s.Skipped
		skipped += s.Skipped
	}
	return passed, skipped
}

// secretPatterns are credentials that must never ship in a package: keygate API keys, refresh
// tokens, webhook secrets, JWTs, private keys, AWS access keys.
var secretPatterns = regexp.MustCompile(`kg_(live|test)_[0-9A-Za-z]{36}_[0-9A-Za-z]{6}|kgr_[A-Za-z0-9_-]{43}|whsec_[A-Za-z0-9+/]{20,}|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}|-----BEGIN [A-Z ]*PRIVATE KEY|AKIA[0-9A-Z]{16}`)

// checkPackage fails unless the package holds the files it must, every file matches allowed
// (so no tests, no stray files), and no file contains a credential.
func checkPackage(t *testing.T, kind string, files map[string][]byte, must []string, allowed string) {
	t.Helper()
	ok := regexp.MustCompile(allowed)
	var names []string
	for name, body := range files {
		names = append(names, name)
		if !ok.MatchString(name) {
			t.Errorf("%s holds %s, which it should not (allowed: %s)", kind, name, allowed)
		}
		if strings.Contains(strings.ToLower(name), "test") {
			t.Errorf("%s holds a test file: %s", kind, name)
		}
		if m := secretPatterns.Find(body); m != nil {
			t.Errorf("%s: %s contains something shaped like a credential (%.12s…)", kind, name, m)
		}
	}
	for _, want := range must {
		found := false
		for _, n := range names {
			if strings.HasSuffix(n, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s lacks %s; it holds %v", kind, want, names)
		}
	}
	t.Logf("%s: %d files, none a test or holding a credential", kind, len(files))
}

func zipContents(t *testing.T, path string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = b
	}
	return out
}

func tarContents(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = b
	}
}
