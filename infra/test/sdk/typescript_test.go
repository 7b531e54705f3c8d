package sdk_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTypeScriptSDK compiles sdk/typescript with its pinned tsc (the package, and the package
// with its tests), runs node's test runner on the unit tests and then on the end-to-end tests
// against the stack, checks the deliveries it signed with shared/webhook, and packs the package
// as npm would publish it and checks what is in it.
//
// Everything happens in a copy of the package in a temporary directory beside a symlink to the
// cached node_modules, so the source tree gets no node_modules, dist or build.
func TestTypeScriptSDK(t *testing.T) {
	t.Parallel()
	need(t)
	modules := sdkTool(t, "KEYGATE_SDK_NODE_MODULES")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not on PATH, yet install.sh installed the SDK's node_modules")
	}
	pkg := stageTypeScript(t, modules)
	tsc := filepath.Join(modules, "typescript", "bin", "tsc")
	run(t, 2*time.Minute, pkg, nil, node, tsc, "-p", "tsconfig.json")
	run(t, 2*time.Minute, pkg, nil, node, tsc, "-p", "tsconfig.test.json")

	nodeTest := func(t *testing.T, suite string, env []string) {
		files, _ := filepath.Glob(filepath.Join(pkg, "build", "test", suite, "*.test.js"))
		if len(files) == 0 {
			t.Fatalf("no compiled tests in build/test/%s", suite)
		}
		tap := filepath.Join(t.TempDir(), "report.tap")
		args := append([]string{"--test", "--test-reporter=spec", "--test-reporter-destination=stdout",
			"--test-reporter=tap", "--test-reporter-destination=" + tap}, files...)
		run(t, 3*time.Minute, pkg, env, node, args...)
		pass, skipped := tapCounts(t, tap)
		if skipped > 0 || pass == 0 {
			t.Fatalf("node --test %s: %d passed, %d skipped; want every test to run", suite, pass, skipped)
		}
		t.Logf("node --test %s: %d passed", suite, pass)
	}
	t.Run("unit", func(t *testing.T) { nodeTest(t, "unit", nil) })
	t.Run("e2e", func(t *testing.T) {
		tmp := t.TempDir()
		vectors, signed := filepath.Join(tmp, "vectors.json"), filepath.Join(tmp, "signed.json")
		writeVectors(t, vectors)
		nodeTest(t, "e2e", suiteEnv(vectors, signed))
		checkSigned(t, "sdk/typescript", signed)
	})
	t.Run("README quick start", func(t *testing.T) {
		links := map[string]string{filepath.Join("sdk", "typescript", "dist"): filepath.Join(pkg, "dist")}
		out := runQuickStart(t, quickStart(t, "sdk/typescript/README.md"), links, nil, node, "--input-type=module")
		t.Logf("the README's quick start printed:\n%s", out)
	})
	t.Run("package", func(t *testing.T) {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatal("npm not on PATH")
		}
		// --ignore-scripts: dist was built above (prepack would build it again).
		// No update notice: on a fresh HOME npm prints one after the JSON.
		out := run(t, time.Minute, pkg, []string{"npm_config_cache=" + filepath.Join(t.TempDir(), "npm"), "npm_config_update_notifier=false"}, npm,
			"pack", "--dry-run", "--json", "--ignore-scripts", "--loglevel=error")
		var packs []struct {
			Name  string `json:"name"`
			Files []struct {
				Path string `json:"path"`
			} `json:"files"`
		}
		if err := json.Unmarshal([]byte(out[strings.Index(out, "["):]), &packs); err != nil || len(packs) != 1 {
			t.Fatalf("npm pack --json printed %q: %v", out, err)
		}
		files := map[string][]byte{}
		for _, f := range packs[0].Files {
			b, err := os.ReadFile(filepath.Join(pkg, f.Path))
			if err != nil {
				t.Fatal(err)
			}
			files[f.Path] = b
		}
		checkPackage(t, "npm pack "+packs[0].Name, files,
			[]string{"package.json", "README.md", "dist/index.js", "dist/index.d.ts", "dist/axios.js", "dist/webhooks.d.ts"},
			`^(package\.json|README\.md|dist/[a-z]+\.(js|d\.ts))$`)
		// Its own imports must resolve inside the package: no test helpers, nothing undeclared.
		imports := regexp.MustCompile(`(?ms)^(?:import|export)\s[^;]*?\bfrom\s+"([^"]+)"`)
		for name, b := range files {
			if !strings.HasPrefix(name, "dist/") {
				continue
			}
			for _, m := range imports.FindAllSubmatch(b, -1) {
				if spec := string(m[1]); !strings.HasPrefix(spec, "./") && spec != "standardwebhooks" {
					t.Errorf("%s imports %q: only ./… and the declared dependency standardwebhooks may be imported", name, spec)
				}
			}
		}
	})
}

// stageTypeScript copies sdk/typescript's sources, tests, configs and README (not a developer's
// node_modules, dist or build) into a temporary directory next to a symlink to the cached
// node_modules, and returns it.
func stageTypeScript(t *testing.T, modules string) string {
	t.Helper()
	src := filepath.Join(root, "sdk", "typescript")
	dst := filepath.Join(t.TempDir(), "typescript")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"src", "test", "package.json", "package-lock.json", "tsconfig.json", "tsconfig.test.json", "README.md"} {
		from := filepath.Join(src, name)
		if fi, err := os.Stat(from); err != nil {
			t.Fatal(err)
		} else if fi.IsDir() {
			err = os.CopyFS(filepath.Join(dst, name), os.DirFS(from))
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := os.ReadFile(from)
		if err == nil {
			err = os.WriteFile(filepath.Join(dst, name), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(modules, filepath.Join(dst, "node_modules")); err != nil {
		t.Fatal(err)
	}
	return dst
}

// tapCounts reads the summary of a TAP report: tests passed and skipped.
func tapCounts(t *testing.T, path string) (pass, skipped int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "# pass "); ok {
			pass, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if v, ok := strings.CutPrefix(line, "# skipped "); ok {
			skipped, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return pass, skipped
}
