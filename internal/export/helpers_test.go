package export

import (
	"encoding/xml"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func xmlEscapeText(w io.Writer, s string) error { return xml.EscapeText(w, []byte(s)) }

type runtimeMemStats struct{ ms runtime.MemStats }

// heapInuse samples the Go heap in use now.
func (m *runtimeMemStats) heapInuse() uint64 {
	runtime.ReadMemStats(&m.ms)
	return m.ms.HeapInuse
}

// peakRSS is the process's peak resident set (VmHWM), which also counts
// memory outside the Go heap; 0 where /proc is missing.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb * 1024
		}
	}
	return 0
}

// cpuTime is the user and system time of this process and its waited-for
// children (each sandbox stream is a child that exits when done).
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}
