package doccheck_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/infra/test/emulatortest"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := emulatortest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// layoutEntries returns the first field of every line of the code block in README.md's
// "## Layout" section: the path each line describes.
func layoutEntries(t *testing.T, readme string) []string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Layout\n")
	if !ok {
		t.Fatal(`README.md has no "## Layout" section`)
	}
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	_, block, ok := strings.Cut(section, "```\n")
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	if !ok {
		t.Fatal("README.md's Layout section has no ``` block")
	}
	var entries []string
	for _, line := range strings.Split(block, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			entries = append(entries, f[0])
		}
	}
	return entries
}

// goPackages returns the directory of every package `go list ./...` reports, relative to the
// repository root, with forward slashes.
func goPackages(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-f", "{{.Dir}}", "./...")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	var pkgs []string
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, filepath.ToSlash(rel))
	}
	if len(pkgs) == 0 {
		t.Fatal("go list ./... found no package")
	}
	return pkgs
}

func readREADME(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTheLayoutHasALineForEveryGoPackage(t *testing.T) {
	root := repoRoot(t)
	listed := map[string]bool{}
	for _, e := range layoutEntries(t, readREADME(t, root)) {
		listed[strings.TrimSuffix(e, "/")] = true
	}
	for _, pkg := range goPackages(t, root) {
		if !listed[pkg] {
			t.Errorf("README.md's Layout has no line for the package %s: add one saying what it owns", pkg)
		}
	}
}

func TestTheLayoutNamesOnlyPathsThatExistOnce(t *testing.T) {
	root := repoRoot(t)
	seen := map[string]bool{}
	for _, e := range layoutEntries(t, readREADME(t, root)) {
		if seen[e] {
			t.Errorf("README.md's Layout lists %s twice", e)
		}
		seen[e] = true
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(e))); err != nil {
			t.Errorf("README.md's Layout names %s, which is not in the tree: rename or remove its line (%v)", e, err)
		}
	}
}
