//go:build unix

package lambdarun

import (
	"os"
	"os/exec"
	"syscall"
)

// isolate puts the process in its own process group so that signals reach anything it
// started too.
func isolate(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	setParentDeathSignal(cmd.SysProcAttr)
}

// signalGroup sends sig to the process group of p (falling back to the process).
func signalGroup(p *os.Process, sig syscall.Signal) {
	if p == nil {
		return
	}
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		_ = p.Signal(sig)
	}
}

func terminate(p *os.Process) { signalGroup(p, syscall.SIGTERM) }
func kill(p *os.Process)      { signalGroup(p, syscall.SIGKILL) }
