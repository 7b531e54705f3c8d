package stacksh_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startupState runs ks_startup_state on pid with the marker in a fresh bash and returns its
// verdict: 0 ours, 1 starting, 2 gone.
func startupState(t *testing.T, lib string, pid int, marker string) int {
	t.Helper()
	cmd := exec.Command("bash", "-c", `set -euo pipefail; . "$1"; rc=0; ks_startup_state "$2" "$3" || rc=$?; echo "$rc"`,
		"bash", lib, fmt.Sprint(pid), marker)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ks_startup_state: %v\n%s", err, out)
	}
	var rc int
	if _, err := fmt.Sscan(strings.TrimSpace(string(out)), &rc); err != nil {
		t.Fatalf("ks_startup_state printed %q", out)
	}
	return rc
}

// A process that has been forked but has not exec'd the emulator yet still runs the starting
// shell's command line. up.sh used to read that as "the process exited during startup" and
// gave up on a healthy emulator a moment before it started (seen on a busy 2-core machine).
// Here the stand-in emulator is exec'd only after the starter shell has slept, so the check
// runs while the child is still a shell.
func TestAChildThatHasNotExecedYetIsStartingNotGone(t *testing.T) {
	lib, err := filepath.Abs("../../local/stack/lib.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const marker = "keygate-fake-emulator"
	emulator := filepath.Join(dir, marker)
	if err := os.WriteFile(emulator, []byte("#!/usr/bin/env bash\nwhile :; do sleep 0.1; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The starter's own command line ("bash <dir>/starter.sh <dir>/release") does not contain
	// the marker (the emulator's path comes in the environment); the path of the script it
	// execs does, and a script keeps its path in /proc/PID/cmdline.
	starter := filepath.Join(dir, "starter.sh")
	release := filepath.Join(dir, "release")
	if err := os.WriteFile(starter, []byte(`while [ ! -e "$1" ]; do sleep 0.05; done; exec "$EMULATOR"`+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	child := exec.Command("bash", starter, release)
	child.Env = append(os.Environ(), "EMULATOR="+emulator)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = child.Wait(); close(exited) }()
	t.Cleanup(func() { _ = child.Process.Kill(); <-exited })

	if got := startupState(t, lib, child.Process.Pid, marker); got != 1 {
		t.Fatalf("a child still running its starter shell: ks_startup_state = %d, want 1 (starting)", got)
	}

	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for startupState(t, lib, child.Process.Pid, marker) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the child exec'd the stand-in emulator but ks_startup_state never said it is ours")
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited // reaped: the PID is gone
	if got := startupState(t, lib, child.Process.Pid, marker); got != 2 {
		t.Fatalf("a child that exited: ks_startup_state = %d, want 2 (gone)", got)
	}
}

// A zombie (exited, not yet reaped by its parent) is gone, not starting: up.sh must stop
// waiting for it at once.
func TestAZombieIsGone(t *testing.T) {
	lib, err := filepath.Abs("../../local/stack/lib.sh")
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command("true")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child.Process.Pid))
		if err == nil && strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child never became a zombie: %q %v", st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := startupState(t, lib, child.Process.Pid, "true"); got != 2 {
		t.Fatalf("a zombie: ks_startup_state = %d, want 2 (gone)", got)
	}
}
