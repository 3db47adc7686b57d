package worker

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procAttr makes a child die with its parent: a runaway query in an
// orphaned child would spin on for nothing.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// peakRSS is a live process's own peak resident memory (VmHWM), bytes; 0
// when unknown. rusage's maxrss is no good for a child: at exec it takes
// the parent's high-water mark, so a worker would report its coordinator's.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
