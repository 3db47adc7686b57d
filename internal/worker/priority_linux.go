package worker

import (
	"os"
	"strconv"
	"syscall"
)

// NiceEnv overrides how much lower than the server batch workers run
// (default 10; 0 runs them at the server's priority). Benchmarks use it to
// compare.
const NiceEnv = "ATTACHE_WORKER_NICE"

// batch says whether a role's children are batch work: a run's readers
// and replica syncs. Sandbox children answer people waiting for a page or a
// download, so they keep the server's priority (and are bounded in number
// by their pools instead).
func batch(role string) bool { return role == "rollup" || role == "replica" }

// lowerPriority renices a batch child so viewers are not starved during a
// run. Linux nice is per thread, and a thread inherits its creator's: every
// thread the child has now is reniced, and those it makes later follow.
func lowerPriority(pid int, role string) {
	if !batch(role) {
		return
	}
	nice := 10
	if v, err := strconv.Atoi(os.Getenv(NiceEnv)); err == nil && v >= 0 && v <= 19 {
		nice = v
	}
	if nice == 0 {
		return
	}
	// Relative to this process: a server already run under nice keeps its
	// workers below it. (The raw syscall answers 20 - nice.)
	if prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0); err == nil {
		nice = min(19, 20-prio+nice)
	}
	// Threads the child starts meanwhile may come from one not yet
	// reniced: look again until a pass finds none new.
	done := map[int]bool{}
	for pass := 0; pass < 5; pass++ {
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		if err != nil {
			syscall.Setpriority(syscall.PRIO_PROCESS, pid, nice)
			return
		}
		fresh := false
		for _, t := range tasks {
			if tid, err := strconv.Atoi(t.Name()); err == nil && !done[tid] {
				syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice)
				done[tid], fresh = true, true
			}
		}
		if !fresh {
			return
		}
	}
}
