package tursofleet

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/fleettest"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/replica"
	"github.com/attache/attache/internal/rollup"
	"github.com/attache/attache/internal/sqldtest"
	"github.com/attache/attache/internal/sqlite"
)

// BenchmarkRemoteFleet times, in one process run, against N remote tenants
// on a local sqld (every tenant its own database, reached through its own
// loopback port):
//
//   - cold: `attache run` with no replicas yet (sync every tenant, read all);
//   - resync: `attache run` again with nothing changed on any primary
//     (sync brings nothing new, every tenant unchanged);
//   - naive: what a user would write without attache: open each remote
//     database over HTTP with go-libsql, run the same queries remotely,
//     scan every row into Go, close.
//
// Each runs in a child process, so peak memory is that run's alone: the
// largest resident set of any process of the run (coordinator, sync and
// read workers), and the coordinator's own.
//
//	ATTACHE_BENCH_REMOTE=1000 go test ./internal/tursofleet -run '^$' -bench RemoteFleet -benchtime 1x -timeout 60m
func BenchmarkRemoteFleet(b *testing.B) {
	n := 100
	if v := os.Getenv("ATTACHE_BENCH_REMOTE"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("ATTACHE_BENCH_REMOTE=%q: %v", v, err)
		}
	}
	srv := sqldtest.Start(b)
	root := b.TempDir()
	qdir := filepath.Join(root, "queries")
	os.MkdirAll(qdir, 0o755)
	for name, src := range queries {
		os.WriteFile(filepath.Join(qdir, name+".sql"), []byte(src), 0o644)
	}
	setup := time.Now()
	var rows []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("org-%04d", i)
		u := srv.CreateDB(b, id)
		srv.Exec(b, id, tenantSQL(i, "")...)
		rows = append(rows, fmt.Sprintf("('%s', '%s')", id, u))
	}
	catalog := filepath.Join(root, "catalog.db")
	fleettest.Write(b, catalog, "c", "CREATE TABLE c.organizations (id TEXT, db_url TEXT)", "INSERT INTO c.organizations VALUES "+strings.Join(rows, ", "))
	b.Logf("%d remote tenants made in %.1fs", n, time.Since(setup).Seconds())
	token := srv.Token(true)
	b.Setenv("TURSO_DB_AUTH_TOKEN", token)
	cfgPath := filepath.Join(root, "config.yaml")
	syncWorkers := 4
	if v := os.Getenv("ATTACHE_BENCH_SYNC_WORKERS"); v != "" {
		syncWorkers, _ = strconv.Atoi(v)
	}
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`metrics: metrics.db
tenants:
  catalog:
    db: catalog.db
    query: SELECT id, db_url FROM organizations
  auth_token_env: TURSO_DB_AUTH_TOKEN
  replicas: replicas
  sync_workers: %d
queries: queries
`, syncWorkers)), 0o644)

	b.ResetTimer()
	for range b.N {
		cold := child(b, "run", cfgPath)
		resync := child(b, "run", cfgPath)
		syncOnly := child(b, "sync", cfgPath)
		naive := child(b, "naive", cfgPath)
		b.StopTimer()
		if cold.Summary.OK != n || resync.Summary.Unchanged != n {
			b.Fatalf("cold %+v, resync %+v: want %d read and then %d unchanged", cold.Summary, resync.Summary, n, n)
		}
		b.Logf("%d remote tenants, 2 cores: cold run %.2fs (peak: coordinator %s, largest worker %s)",
			n, cold.Wall.Seconds(), mb(cold.SelfRSS), mb(cold.OtherRSS))
		b.Logf("resync with nothing changed + run %.2fs (peak: coordinator %s, largest worker %s); naive remote loop %.2fs (peak %s)",
			resync.Wall.Seconds(), mb(resync.SelfRSS), mb(resync.OtherRSS), naive.Wall.Seconds(), mb(naive.SelfRSS))
		b.Logf("coordinator memory from the Go runtime: cold %s, resync %s (the rest is native code and go-libsql)", mb(int64(cold.GoSys)), mb(int64(resync.GoSys)))
		b.Logf("the resync's sync phase alone (catalog read + replica.SyncAll, nothing changed): %.2fs, peak %s (Go runtime %s)", syncOnly.Wall.Seconds(), mb(syncOnly.SelfRSS), mb(int64(syncOnly.GoSys)))
		b.Logf("ratios to the naive loop: cold %.3f, resync+run %.3f", cold.Wall.Seconds()/naive.Wall.Seconds(), resync.Wall.Seconds()/naive.Wall.Seconds())
		b.ReportMetric(cold.Wall.Seconds(), "cold-s")
		b.ReportMetric(resync.Wall.Seconds(), "resync-s")
		b.ReportMetric(naive.Wall.Seconds(), "naive-s")
		b.ReportMetric(resync.Wall.Seconds()/naive.Wall.Seconds(), "resync/naive")
		b.ReportMetric(float64(max(cold.SelfRSS, cold.OtherRSS, resync.SelfRSS, resync.OtherRSS))/1e6, "peak-MB")
	}
}

func mb(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }

// outcome is what a child reports, plus what its parent measured.
//
// Memory is each process's own high-water mark (VmHWM). getrusage's
// ru_maxrss is not: a process started with fork/vfork + exec inherits, at
// exec, the high-water mark of the memory it shared with its parent, so a
// child of this benchmark (which holds a proxy per tenant) would report the
// benchmark's size, and a worker would report its coordinator's.
type outcome struct {
	Summary rollup.Summary
	SelfRSS int64 // the child's (the coordinator's) own peak
	// GoSys is what the Go runtime took from the OS (heap, stacks, its
	// own structures); the rest of SelfRSS is native (go-libsql) and code.
	GoSys    uint64
	Wall     time.Duration `json:"-"`
	OtherRSS int64         `json:"-"` // the largest peak among the child's descendants (sync and read workers)
}

const benchEnv = "TURSOFLEET_BENCH"

// child runs one timed step in a fresh process of this test binary.
func child(b *testing.B, step, cfgPath string) outcome {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), benchEnv+"="+step+":"+cfgPath)
	cmd.Stderr = os.Stderr
	var stdout strings.Builder
	cmd.Stdout = &stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s: %v", step, err)
	}
	// Workers live as long as their pool, so sampling their high-water
	// marks every 20 ms sees each one's peak but the last instants.
	done := make(chan struct{})
	peak := make(chan int64)
	go func() {
		var top int64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, pid := range descendants(cmd.Process.Pid) {
				top = max(top, hwm(pid))
			}
			select {
			case <-done:
				peak <- top
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	wall := time.Since(start)
	close(done)
	other := <-peak
	if err != nil {
		b.Fatalf("%s: %v", step, err)
	}
	var o outcome
	if err := json.Unmarshal([]byte(stdout.String()), &o); err != nil {
		b.Fatalf("%s: %v: %s", step, err, stdout.String())
	}
	o.Wall, o.OtherRSS = wall, other
	return o
}

// descendants are the processes below pid, from /proc.
func descendants(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
				out = append(out, descendants(c)...)
			}
		}
	}
	return out
}

// hwm is a process's peak resident memory (VmHWM) in bytes; 0 if gone.
func hwm(pid any) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%v/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// benchChild is a child's main; it prints its outcome as JSON on stdout.
func benchChild(spec string) int {
	step, cfgPath, _ := strings.Cut(spec, ":")
	cfg, err := config.Load(cfgPath, nil, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	var o outcome
	// ATTACHE_BENCH_PROFILE=DIR writes each step's CPU profile and its heap
	// at the end, for go tool pprof.
	if dir := os.Getenv("ATTACHE_BENCH_PROFILE"); dir != "" {
		f, err := os.Create(filepath.Join(dir, step+"-"+strconv.Itoa(os.Getpid())+".cpu.pprof"))
		if err == nil {
			pprof.StartCPUProfile(f)
			defer func() {
				pprof.StopCPUProfile()
				f.Close()
				if h, err := os.Create(strings.TrimSuffix(f.Name(), ".cpu.pprof") + ".heap.pprof"); err == nil {
					pprof.WriteHeapProfile(h)
					h.Close()
				}
			}()
		}
	}
	switch step {
	case "run":
		mdb, err := metrics.Open(ctx, cfg.Metrics, 5*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		sum, err := rollup.Run(ctx, cfg, mdb, rollup.Options{Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))})
		mdb.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		o.Summary = *sum
	case "sync":
		if err := syncOnly(ctx, cfg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "naive":
		if err := naive(ctx, cfg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	o.SelfRSS = hwm("self")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	o.GoSys = ms.Sys
	json.NewEncoder(os.Stdout).Encode(o)
	return 0
}

// syncOnly is the sync phase of a run by itself: the catalog's tenants,
// synced as a run syncs them.
func syncOnly(ctx context.Context, cfg *config.Config) error {
	ids, urls, err := catalogRows(ctx, cfg)
	if err != nil {
		return err
	}
	token := replica.Secret(os.Getenv(cfg.Tenants.AuthTokenEnv))
	targets := make([]replica.Target, len(ids))
	for i := range ids {
		targets[i] = replica.Target{ID: ids[i], URL: urls[i], Token: token}
	}
	st, err := replica.SyncAll(ctx, targets, replica.Options{
		Dir: cfg.Tenants.Replicas, Workers: cfg.Tenants.SyncWorkers, Timeout: cfg.Tenants.SyncTimeout.D(),
	})
	if err != nil {
		return err
	}
	for _, s := range st {
		if s.Err != "" {
			return fmt.Errorf("%s: %s", s.ID, s.Err)
		}
	}
	return nil
}

func catalogRows(ctx context.Context, cfg *config.Config) (ids, urls []string, err error) {
	if err := sqlite.Setup(); err != nil {
		return nil, nil, err
	}
	cat, err := sql.Open("libsql", "file:"+cfg.Tenants.Catalog.DB+"?mode=ro")
	if err != nil {
		return nil, nil, err
	}
	defer cat.Close()
	rows, err := cat.QueryContext(ctx, cfg.Tenants.Catalog.Query)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, u string
		if err := rows.Scan(&id, &u); err != nil {
			return nil, nil, err
		}
		ids, urls = append(ids, id), append(urls, u)
	}
	return ids, urls, rows.Err()
}

// naive opens each remote tenant over HTTP, runs every query remotely with
// its schema name dropped, scans all rows into Go and closes.
func naive(ctx context.Context, cfg *config.Config) error {
	_, urls, err := catalogRows(ctx, cfg)
	if err != nil {
		return err
	}
	token := os.Getenv(cfg.Tenants.AuthTokenEnv)
	var texts []string
	for _, q := range queries {
		texts = append(texts, strings.ReplaceAll(q, "tenant.", ""))
	}
	for _, u := range urls {
		db, err := sql.Open("libsql", u+"?"+url.Values{"authToken": {token}}.Encode())
		if err != nil {
			return err
		}
		for _, q := range texts {
			rs, err := db.QueryContext(ctx, q)
			if err != nil {
				// A loaded server expires idle streams; a user's loop
				// would try again.
				rs, err = db.QueryContext(ctx, q)
			}
			if err != nil {
				db.Close()
				return fmt.Errorf("%s: %w", u, err)
			}
			cols, _ := rs.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rs.Next() {
				rs.Scan(ptrs...)
			}
			rs.Close()
		}
		db.Close()
	}
	return nil
}
