package compat_test

import "syscall"

// childProcAttr makes the kernel kill a started server if the test binary
// dies (a timeout panic, a SIGKILL), so no process is left holding a port.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
