//go:build linux

package lambdarun

import "syscall"

// setParentDeathSignal makes the kernel kill a function process if the runner itself dies
// without Close (a crashed test or a kill -9), so no orphan keeps a port or a table busy.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
