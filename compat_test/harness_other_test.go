//go:build !linux

package compat_test

import "syscall"

// childProcAttr returns nil: Pdeathsig exists only on Linux.
func childProcAttr() *syscall.SysProcAttr { return nil }
