package worker

import "syscall"

// procAttr makes a child die with its parent: a runaway query in an
// orphaned child would spin on for nothing.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
