package rollup

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/fleettest"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/worker"
)

// BenchmarkFleetScale runs the CRM fleet at several sizes in one process
// run, so the sizes compare as ratios on the same machine at the same
// moment: a full run and a rerun with nothing changed at each size, each
// in its own coordinator process (this test binary in the role
// scaleRole), whose own peak RSS is read from its rusage, apart from its
// workers'. The larger fleets are copies of the 10,000-tenant one under
// new names (fleettest.CRMCopies), made once into ATTACHE_BENCH_DIR:
//
//	ATTACHE_BENCH_DIR=/var/tmp ATTACHE_BENCH_SCALE=10000,100000 go test ./internal/rollup -run '^$' -bench FleetScale -benchtime 1x -timeout 3h
//
// A million tenants is ATTACHE_BENCH_SCALE=10000,1000000 (about 49 GB
// of tenant files).
func BenchmarkFleetScale(b *testing.B) {
	sizes := []int{10000, 100000}
	if v := os.Getenv("ATTACHE_BENCH_SCALE"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 || n%10000 != 0 && n > 10000 {
				b.Fatalf("ATTACHE_BENCH_SCALE=%q: sizes are 10000 or multiples of it", v)
			}
			sizes = append(sizes, n)
		}
	}
	ctx := context.Background()
	base := filepath.Join(benchDir("crm-", 10000), "tenants")
	type result struct {
		n           int
		full, rerun scaleReport
	}
	var results []result
	for _, n := range sizes {
		dir := filepath.Join(benchDir("crm-", n), "tenants")
		start := time.Now()
		var err error
		if n <= 10000 {
			err = fleettest.CRM(ctx, dir, n)
		} else {
			err = fleettest.CRMCopies(ctx, dir, n, base, 10000)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%d tenants ready in %s", n, time.Since(start).Round(time.Second))
		cfgPath := scaleConfig(b, dir)
		r := result{n: n}
		b.Run(fmt.Sprintf("%d/full", n), func(b *testing.B) { r.full = runScale(b, cfgPath, true) })
		b.Run(fmt.Sprintf("%d/rerun", n), func(b *testing.B) { r.rerun = runScale(b, cfgPath, false) })
		results = append(results, r)
	}
	b.Logf("%-10s %-6s %10s %12s %16s %16s %8s", "tenants", "run", "wall s", "ms/tenant", "coordinator MB", "worker MB", "read")
	for _, r := range results {
		for _, x := range []struct {
			name string
			s    scaleReport
		}{{"full", r.full}, {"rerun", r.rerun}} {
			b.Logf("%-10d %-6s %10.1f %12.3f %16.1f %16.1f %8d", r.n, x.name, x.s.Seconds, x.s.Seconds*1000/float64(r.n), float64(x.s.CoordinatorMaxRSS)/1e6, float64(x.s.WorkerMaxRSS)/1e6, x.s.Read)
		}
		b.Logf("%d tenants: rerun/full %.3f", r.n, r.rerun.Seconds/r.full.Seconds)
	}
	if len(results) > 1 {
		first := results[0]
		for _, r := range results[1:] {
			b.Logf("time per tenant, full run, %d vs %d: %.2f×", r.n, first.n, (r.full.Seconds/float64(r.n))/(first.full.Seconds/float64(first.n)))
		}
	}
}

// scaleRole is a coordinator process of BenchmarkFleetScale: it runs once
// with the config in ATTACHE_SCALE_CONFIG and prints a scaleReport.
const scaleRole = "bench-scale"

type scaleReport struct {
	Seconds           float64
	Read, Unchanged   int
	Failed            int
	CoordinatorMaxRSS int64 // this process alone (VmHWM), bytes
	// WorkerMaxRSS is the largest worker's rusage maxrss: an upper bound,
	// as it carries the coordinator's size when the worker was started.
	WorkerMaxRSS int64
	CPUSeconds   float64 // this process alone
}

// scaleConfig makes a query folder and a metrics DB path for a fleet and
// returns the three paths, as ATTACHE_SCALE_CONFIG passes them.
func scaleConfig(b *testing.B, tenants string) string {
	b.Helper()
	dir := b.TempDir()
	qdir := filepath.Join(dir, "queries")
	os.MkdirAll(qdir, 0o755)
	for name, src := range fleettest.CRMQueries {
		if err := os.WriteFile(filepath.Join(qdir, name+".sql"), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return strings.Join([]string{tenants, qdir, filepath.Join(dir, "metrics.db")}, string(os.PathListSeparator))
}

func runScale(b *testing.B, cfgPath string, full bool) scaleReport {
	var rep scaleReport
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), worker.RoleEnv+"="+scaleRole, "ATTACHE_SCALE_CONFIG="+cfgPath, "ATTACHE_SCALE_FULL="+strconv.FormatBool(full))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("coordinator: %v", err)
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			b.Fatalf("coordinator said %q: %v", out, err)
		}
	}
	b.ReportMetric(rep.Seconds, "wall-s")
	b.ReportMetric(float64(rep.CoordinatorMaxRSS)/1e6, "coordinator-maxrss-MB")
	b.ReportMetric(float64(rep.WorkerMaxRSS)/1e6, "worker-maxrss-MB")
	b.ReportMetric(rep.CPUSeconds, "coordinator-cpu-s")
	return rep
}

// serveScale is the coordinator process's main.
func serveScale() int {
	ctx := context.Background()
	paths := filepath.SplitList(os.Getenv("ATTACHE_SCALE_CONFIG"))
	if len(paths) != 3 {
		fmt.Fprintln(os.Stderr, "ATTACHE_SCALE_CONFIG: want tenants, queries and metrics paths")
		return 1
	}
	c := config.Default()
	cfg := &c
	cfg.Tenants.Dir, cfg.Queries, cfg.Metrics = paths[0], paths[1], paths[2]
	cfg.QueriesFS = os.DirFS(cfg.Queries)
	mdb, err := metrics.Open(ctx, cfg.Metrics, time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer mdb.Close()
	sum, err := Run(ctx, cfg, mdb, Options{Full: os.Getenv("ATTACHE_SCALE_FULL") == "true"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	json.NewEncoder(os.Stdout).Encode(scaleReport{
		Seconds: sum.Duration.Seconds(), Read: sum.Read, Unchanged: sum.Unchanged, Failed: sum.Failed,
		CoordinatorMaxRSS: ownPeakRSS(ru.Maxrss * 1024), WorkerMaxRSS: sum.WorkerMaxRSS,
		CPUSeconds: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds(),
	})
	return 0
}

// ownPeakRSS is this process's own peak resident memory, VmHWM: rusage's
// maxrss after fork and exec carries the parent's high-water mark. When
// /proc is not there, it is the rusage figure, an upper bound.
func ownPeakRSS(rusage int64) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return rusage
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return kb * 1024
			}
		}
	}
	return rusage
}
