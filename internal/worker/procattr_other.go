//go:build !linux

package worker

import "syscall"

// procAttr is empty outside Linux, which alone offers Pdeathsig: there a
// child outlives a parent that is killed (not one that exits normally,
// which closes the child's stdin and so ends it).
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

// peakRSS is unknown outside Linux; MaxRSS falls back to rusage.
func peakRSS(int) int64 { return 0 }
