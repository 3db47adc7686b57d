package worker

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain makes the test binary a worker that echoes strings, in any role.
func TestMain(m *testing.M) {
	if Role() != "" {
		if err := Serve(os.Stdin, os.Stdout, func(s *string) *string { return s }); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// threadNice reads the nice value of every thread of pid.
func threadNice(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	var out []int
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis; nice is field 19.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		n, _ := strconv.Atoi(f[16])
		out = append(out, n)
	}
	return out
}

// A run's worker processes run below the server's priority, every thread
// of them; sandbox children, which answer viewers, do not.
func TestBatchWorkersRunAtLowerPriority(t *testing.T) {
	for _, c := range []struct {
		role string
		want int
	}{{"rollup", 10}, {"replica", 10}, {"sandbox", 0}} {
		prio, _ := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
		c.want = min(19, 20-prio+c.want) // relative to this process
		p, err := Start(c.role)
		if err != nil {
			t.Fatal(err)
		}
		var out string
		in := "ping"
		if err := p.Call(&in, &out, 10*time.Second); err != nil || out != "ping" {
			t.Fatalf("%s worker: %q %v", c.role, out, err)
		}
		nice := threadNice(t, p.cmd.Process.Pid)
		p.Close()
		if len(nice) < 2 {
			t.Fatalf("%s worker: threads %v", c.role, nice)
		}
		for _, n := range nice {
			if n != c.want {
				t.Errorf("%s worker threads have nice %v, want all %d", c.role, nice, c.want)
				break
			}
		}
	}
}
