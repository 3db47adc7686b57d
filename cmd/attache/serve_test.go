package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attache/attache/internal/metrics"
)

// syncBuffer is a bytes.Buffer that a running command and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeRunsTheSchedule starts `attache serve` with a job ticking every
// second: the job runs, /runs and /metrics show it, and stopping serve
// waits for a job in flight, leaving no run marked running.
func TestServeRunsTheSchedule(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	root := filepath.Join(wd, "..", "..")
	cfgPath := writeConfig(t, dir, "listen: 127.0.0.1:0\nmetrics: data/metrics.db\ntenants: {dir: data/tenants}\nqueries: "+filepath.Join(root, "queries")+"\nreports: "+filepath.Join(root, "reports")+`
jobs:
  - {name: every-second, schedule: "@every 1s", queries: [activity]}
`)
	if code, out, errOut := runCLI(t, dir, "demo", "--tenants", "5", "--days", "20"); code != 0 {
		t.Fatalf("demo: %d\n%s\n%s", code, out, errOut)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errOut := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--config", cfgPath}, &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: errOut})
	}()
	addr := regexp.MustCompile(`dashboard on http://(127\.0\.0\.1:\d+)`)
	var base string
	for end := time.Now().Add(20 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if m := addr.FindStringSubmatch(errOut.String()); m != nil {
			base = "http://" + m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("serve ended with %d:\n%s", code, errOut.String())
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("serve did not come up:\n%s", errOut.String())
		}
	}
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	// The job ticks on its own; /runs shows its last run.
	okRun := regexp.MustCompile(`<span class="status s-ok">ok</span> <a href="/runs/\d+">run \d+</a>`)
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		page := get("/runs")
		if strings.Contains(page, "<strong>every-second</strong>") && okRun.MatchString(page) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the job never showed a run on /runs:\n%s\n%s", page, errOut.String())
		}
	}
	if m := get("/metrics"); !strings.Contains(m, `attache_job_stale{kind="job",name="every-second"} 0`) {
		t.Errorf("/metrics lacks the job's stale gauge:\n%s", m)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve ended with %d:\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	mdb, err := metrics.Open(context.Background(), filepath.Join(dir, "data", "metrics.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer mdb.Close()
	if busy, err := mdb.RunInProgress(context.Background()); err != nil || busy {
		t.Errorf("a run is still marked running after serve stopped (%v):\n%s", err, errOut.String())
	}
	events, err := mdb.JobEvents(context.Background(), metrics.KindJob, "every-second", 100)
	if err != nil || len(events) == 0 {
		t.Errorf("no job events recorded: %v", err)
	}
	if strings.Contains(errOut.String(), "database is closed") {
		t.Errorf("something wrote after the metrics DB closed:\n%s", errOut.String())
	}
}
