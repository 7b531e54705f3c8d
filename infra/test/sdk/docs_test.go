package sdk_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/shared/httpapi"
)

// TestTheSDKsKnowEveryErrorCodeInTheServicesOrder holds each SDK's list of error codes equal
// to the service's one list (shared/httpapi), as the Go client's is held.
func TestTheSDKsKnowEveryErrorCodeInTheServicesOrder(t *testing.T) {
	var want []string
	for _, c := range httpapi.Codes() {
		want = append(want, c.Code)
	}
	for _, sdk := range []struct{ file, begin, end, entry string }{
		{"sdk/python/src/keygate/errors.py", "# BEGIN CODES", "# END CODES", `(?m)^[A-Z_]+ = "([a-z_]+)"$`},
		{"sdk/typescript/src/codes.ts", "// BEGIN CODES", "// END CODES", `(?m)^\s+"([a-z_]+)",$`},
	} {
		b, err := os.ReadFile(filepath.Join(root, sdk.file))
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok1 := strings.Cut(string(b), sdk.begin)
		block, _, ok2 := strings.Cut(rest, sdk.end)
		if !ok1 || !ok2 {
			t.Fatalf("%s: no %q … %q block", sdk.file, sdk.begin, sdk.end)
		}
		var got []string
		for _, m := range regexp.MustCompile(sdk.entry).FindAllStringSubmatch(block, -1) {
			got = append(got, m[1])
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s lists the codes\n  %v\nthe service answers with\n  %v", sdk.file, got, want)
		}
	}
}

// quickStart returns the program of an SDK README's quick start: the here-document of the
// Quick start section's first sh block, pointed at this stack instead of make run's.
func quickStart(t *testing.T, readme string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, readme))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "## Quick start")
	_, block, ok2 := strings.Cut(section, "```sh\n")
	block, _, ok3 := strings.Cut(block, "\n```")
	_, doc, ok4 := strings.Cut(block, "<<'EOF'\n")
	doc, _, ok5 := strings.Cut(doc, "\nEOF")
	if !ok || !ok2 || !ok3 || !ok4 || !ok5 {
		t.Fatalf("%s: no Quick start section with a ```sh block holding a <<'EOF' here-document", readme)
	}
	if !strings.Contains(doc, "http://127.0.0.1:3000") || !strings.Contains(doc, ".stack/run/demo-key") {
		t.Fatalf("%s's quick start does not use make run's address and demo key", readme)
	}
	if n := strings.Count(doc, "\n") + 1; n > 12 {
		t.Errorf("%s's quick start is %d lines; keep it to about ten", readme, n)
	}
	return strings.ReplaceAll(doc, "http://127.0.0.1:3000", apiURL)
}

// runQuickStart runs program with name (an interpreter reading it on stdin) in a directory laid
// out like the repository's root after make run: .stack/run/demo-key, plus links (from → to).
func runQuickStart(t *testing.T, program string, links map[string]string, env []string, name string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".stack", "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".stack", "run", "demo-key"), []byte(demoKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for from, to := range links {
		p := filepath.Join(dir, from)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(to, p); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(program)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the quick start failed: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{"insufficient_permissions customers:delete", "key_"} {
		if !strings.Contains(got, want) {
			t.Fatalf("the quick start printed\n%s\nwithout %q", got, want)
		}
	}
	if strings.Contains(got, demoKey) {
		t.Fatal("the quick start printed the API key")
	}
	return got
}
