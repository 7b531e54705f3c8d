package stacksh_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTools writes executables named after the keys of tools (each a shell script body) into
// a fresh directory and returns it, to stand before the real PATH.
func fakeTools(t *testing.T, tools map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range tools {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Where no engine answers and none can be started, make sam-local says what is missing and
// how to get it, exits non-zero and leaves nothing running; it never starts an engine as a
// non-root user or on another OS.
func TestTheEngineScriptSaysWhatIsMissing(t *testing.T) {
	script, err := filepath.Abs("../../local/sam/engine.sh")
	if err != nil {
		t.Fatal(err)
	}
	noEngine := "echo 'Cannot connect to the Docker daemon' >&2; exit 1"
	for _, tt := range []struct {
		name  string
		args  []string
		tools map[string]string
		want  []string
	}{
		{"not root on Linux", []string{"up"}, map[string]string{"docker": noEngine, "id": `if [ "$1" = -u ]; then echo 1000; else /usr/bin/id "$@"; fi`},
			[]string{"needs root", "https://docs.docker.com/engine/install/"}},
		{"macOS without Docker Desktop running", []string{"up"}, map[string]string{"docker": noEngine, "uname": "echo Darwin"},
			[]string{"start Docker Desktop"}},
		{"find never starts one", []string{"find"}, map[string]string{"docker": noEngine},
			[]string{"no Docker engine runs: start make sam-local first"}},
		{"no client at all and not root", []string{"up"}, map[string]string{"id": `if [ "$1" = -u ]; then echo 1000; else /usr/bin/id "$@"; fi`, "docker": "exit 127"},
			[]string{"needs root"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bin := fakeTools(t, tt.tools)
			cmd := exec.Command("bash", append([]string{script}, tt.args...)...)
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "DOCKER_HOST=unix:///nonexistent.sock",
				"KEYGATE_CACHE="+t.TempDir(), "XDG_RUNTIME_DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("engine.sh %v succeeded:\n%s", tt.args, out)
			}
			if strings.Contains(string(out), "DOCKER_HOST=") {
				t.Errorf("printed an engine to use:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(string(out), "starting a private dockerd") {
				t.Errorf("started an engine:\n%s", out)
			}
		})
	}
}

// make sam-local itself stops at once with the engine's message and a non-zero status, and
// starts no emulator, when there is no engine.
func TestSAMLocalStopsCleanlyWithoutAnEngine(t *testing.T) {
	script, err := filepath.Abs("../../local/sam/sam-local.sh")
	if err != nil {
		t.Fatal(err)
	}
	bin := fakeTools(t, map[string]string{
		"docker": "echo 'Cannot connect to the Docker daemon' >&2; exit 1",
		"id":     `if [ "$1" = -u ]; then echo 1000; else /usr/bin/id "$@"; fi`,
	})
	state := t.TempDir()
	cmd := exec.Command("bash", script, "nodocker", "8490", "8491", "3490")
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "DOCKER_HOST=unix:///nonexistent.sock",
		"KEYGATE_CACHE="+t.TempDir(), "XDG_RUNTIME_DIR="+t.TempDir(), "KEYGATE_STATE_DIR="+state)
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); err == nil || code == 0 {
		t.Fatalf("sam-local.sh without an engine exited %d:\n%s", code, out)
	}
	if !strings.Contains(string(out), "needs root") {
		t.Errorf("no word on what is missing:\n%s", out)
	}
	if strings.Contains(string(out), "starting moto") {
		t.Errorf("started emulators without an engine:\n%s", out)
	}
	if pids, _ := filepath.Glob(filepath.Join(state, "nodocker", "*.pid")); len(pids) > 0 {
		t.Errorf("left pid files (something runs?): %v", pids)
	}
}
