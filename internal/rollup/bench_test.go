package rollup

import (
	"context"
	"database/sql"
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
	"github.com/attache/attache/internal/demo"
	"github.com/attache/attache/internal/fleettest"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/query"
	"github.com/attache/attache/internal/tenant"
	"github.com/attache/attache/internal/worker"
)

// The fleet benchmarks compare, in one process run, `attache run --full`
// with the naive loop (open each tenant, run the queries, scan rows into
// Go, close) and with the sqlite3 shell running the same ATTACH batches,
// by wall time and by CPU time (user + system, every process involved).
// Two fleet profiles:
//
//	ATTACHE_BENCH_TENANTS=10000 go test ./internal/rollup -run '^$' -bench 'Fleet$' -benchtime 1x -timeout 60m
//	ATTACHE_BENCH_TENANTS=10000 go test ./internal/rollup -run '^$' -bench FleetCRM -benchtime 1x -timeout 60m
//
// Fleet is the demo (TODO lists, 18 months of activity, heavy queries);
// FleetCRM is many small CRM tenants (about 45 KB) with five light
// queries, where the cost per tenant, not the queries, decides. A fleet is
// generated once into ATTACHE_BENCH_DIR (default: the system temp folder)
// and reused by later runs.

const naiveRole = "bench-naive"

func benchTenants(b *testing.B) int {
	n := 1000
	if v := os.Getenv("ATTACHE_BENCH_TENANTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("ATTACHE_BENCH_TENANTS=%q: %v", v, err)
		}
	}
	return n
}

func benchDir(name string, n int) string {
	base := os.Getenv("ATTACHE_BENCH_DIR")
	if base == "" {
		base = os.TempDir()
	}
	return filepath.Join(base, fmt.Sprintf("attache-bench-%s%d", name, n))
}

func benchFleet(b *testing.B) *config.Config {
	b.Helper()
	n := benchTenants(b)
	dir := benchDir("", n)
	marker := filepath.Join(dir, "ready")
	if _, err := os.Stat(marker); err != nil {
		start := time.Now()
		_, err := demo.Generate(context.Background(), demo.Options{Dir: filepath.Join(dir, "tenants"), Tenants: n, Seed: 1,
			Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}, nil)
		if err != nil {
			b.Fatal(err)
		}
		os.WriteFile(marker, nil, 0o644)
		b.Logf("generated %d tenants in %s", n, time.Since(start).Round(time.Second))
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	cfg := config.Default()
	cfg.Tenants.Dir = filepath.Join(dir, "tenants")
	cfg.Queries = filepath.Join(root, "queries")
	cfg.QueriesFS = os.DirFS(cfg.Queries)
	cfg.Metrics = filepath.Join(b.TempDir(), "metrics.db")
	return &cfg
}

// crmFleet makes (or reuses) the CRM fleet and a query folder for it.
func crmFleet(b *testing.B) *config.Config {
	b.Helper()
	n := benchTenants(b)
	dir := benchDir("crm-", n)
	start := time.Now()
	if err := fleettest.CRM(context.Background(), filepath.Join(dir, "tenants"), n); err != nil {
		b.Fatal(err)
	}
	b.Logf("CRM fleet ready in %s", time.Since(start).Round(time.Millisecond))
	qdir := filepath.Join(b.TempDir(), "queries")
	os.MkdirAll(qdir, 0o755)
	for name, src := range fleettest.CRMQueries {
		if err := os.WriteFile(filepath.Join(qdir, name+".sql"), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Tenants.Dir = filepath.Join(dir, "tenants")
	cfg.Queries = qdir
	cfg.QueriesFS = os.DirFS(qdir)
	cfg.Metrics = filepath.Join(b.TempDir(), "metrics.db")
	return &cfg
}

func BenchmarkFleet(b *testing.B)    { compareReaders(b, benchFleet(b)) }
func BenchmarkFleetCRM(b *testing.B) { compareReaders(b, crmFleet(b)) }

// cpuClock is the CPU time (user + system) of this process and of its
// children that have been waited for.
type cpuClock struct{ self, children time.Duration }

func cpuNow() cpuClock {
	var self, ch syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ch)
	d := func(ru syscall.Rusage) time.Duration {
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return cpuClock{d(self), d(ch)}
}

func (c cpuClock) since() time.Duration {
	now := cpuNow()
	return now.self - c.self + now.children - c.children
}

// selfSince is this process's part of since: for a run, the coordinator.
func (c cpuClock) selfSince() time.Duration { return cpuNow().self - c.self }

// measured is one reader's wall and CPU time over the fleet.
type measured struct {
	wall, cpu time.Duration
}

func (m *measured) report(b *testing.B, n int) {
	b.ReportMetric(m.cpu.Seconds(), "cpu-s")
	b.ReportMetric(float64(m.cpu.Microseconds())/float64(n), "cpu-us/tenant")
}

func compareReaders(b *testing.B, cfg *config.Config) {
	ctx := context.Background()
	queries, err := SelectQueries(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	fleet, err := tenant.List(ctx, cfg.Tenants)
	if err != nil {
		b.Fatal(err)
	}
	n := len(fleet)
	var size int64
	for _, t := range fleet {
		size += t.Size
	}
	b.Logf("fleet: %d tenants, %.0f MB, %d queries, %d workers", n, float64(size)/1e6, len(queries), cfg.Workers)
	mdb, err := metrics.Open(ctx, cfg.Metrics, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer mdb.Close()

	var full, rerun, naive, shell measured
	b.Run("run-full", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			cpu := cpuNow()
			sum, err := Run(ctx, cfg, mdb, Options{Full: true})
			if err != nil {
				b.Fatal(err)
			}
			full = measured{sum.Duration, cpu.since()}
			b.ReportMetric(cpu.selfSince().Seconds(), "coordinator-cpu-s")
			b.ReportMetric(float64(sum.WorkerMaxRSS)/1e6, "worker-maxrss-MB")
			b.ReportMetric(float64(sum.Failed), "failed-tenants")
		}
		full.report(b, n)
		b.ReportMetric(selfMaxRSS()/1e6, "coordinator-maxrss-MB")
	})
	b.Run("rerun-unchanged", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			cpu := cpuNow()
			sum, err := Run(ctx, cfg, mdb, Options{})
			if err != nil {
				b.Fatal(err)
			}
			if sum.Read != 0 {
				b.Fatalf("rerun read %d tenants, want 0", sum.Read)
			}
			rerun = measured{sum.Duration, cpu.since()}
		}
		rerun.report(b, n)
	})
	b.Run("naive-loop", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			cpu, start := cpuNow(), time.Now()
			crashes, err := naiveLoop(fleet, queries)
			if err != nil {
				b.Fatal(err)
			}
			naive = measured{time.Since(start), cpu.since()}
			b.ReportMetric(float64(crashes), "crashes")
		}
		naive.report(b, n)
	})
	b.Run("sqlite3-shell", func(b *testing.B) {
		if _, err := exec.LookPath("sqlite3"); err != nil {
			b.Skip("sqlite3 shell not installed")
		}
		script := shellScript(b, fleet, queries, cfg.BatchSize)
		for i := 0; i < b.N; i++ {
			cpu, start := cpuNow(), time.Now()
			// Batches holding a tenant on the old schema fail in the shell
			// (it has no isolation), so its exit status is not checked.
			out, _ := exec.Command("sqlite3", ":memory:", ".read "+script).CombinedOutput()
			shell = measured{time.Since(start), cpu.since()}
			b.ReportMetric(float64(strings.Count(string(out), "\n")), "shell-error-lines")
		}
		shell.report(b, n)
	})
	if full.wall > 0 && naive.wall > 0 {
		b.Logf("wall: run --full %.2fs, rerun %.2fs, naive loop %.2fs, sqlite3 shell %.2fs", full.wall.Seconds(), rerun.wall.Seconds(), naive.wall.Seconds(), shell.wall.Seconds())
		b.Logf("cpu:  run --full %.2fs, rerun %.2fs, naive loop %.2fs, sqlite3 shell %.2fs", full.cpu.Seconds(), rerun.cpu.Seconds(), naive.cpu.Seconds(), shell.cpu.Seconds())
		b.Logf("ratios: run/naive %.2f, run/shell %.2f (cpu %.2f), rerun/run %.3f", full.wall.Seconds()/naive.wall.Seconds(),
			full.wall.Seconds()/shell.wall.Seconds(), full.cpu.Seconds()/shell.cpu.Seconds(), rerun.wall.Seconds()/full.wall.Seconds())
	}
}

func selfMaxRSS() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss * 1024)
}

type naiveRequest struct {
	Tenants []batchTenant
	Queries []workQuery
}

type naiveResponse struct {
	Rows int64
	Err  string
}

// naiveLoop runs the naive reader in child processes, 500 tenants per
// request, because opening and closing go-libsql databases in a loop can
// crash the process: a crash is counted, a new child takes the next chunk,
// and the time of the whole loop is still measured.
func naiveLoop(fleet []tenant.Tenant, queries []*query.Query) (crashes int, err error) {
	var wq []workQuery
	for _, q := range queries {
		wq = append(wq, workQuery{Name: q.Name, SQL: q.SQL})
	}
	var proc *worker.Proc
	defer func() {
		if proc != nil {
			proc.Close()
		}
	}()
	for i := 0; i < len(fleet); i += 500 {
		if proc == nil {
			if proc, err = worker.Start(naiveRole); err != nil {
				return crashes, err
			}
		}
		req := naiveRequest{Queries: wq}
		for _, t := range fleet[i:min(i+500, len(fleet))] {
			req.Tenants = append(req.Tenants, batchTenant{ID: t.ID, Path: t.Path})
		}
		var resp naiveResponse
		if err := proc.Call(&req, &resp, time.Hour); err != nil {
			crashes++
			proc = nil
		}
	}
	return crashes, nil
}

// serveNaive is the naive reader: per tenant, open, ATTACH itself as
// "tenant" (so the query runs unchanged), scan every row into Go, close.
func serveNaive(req *naiveRequest) *naiveResponse {
	resp := &naiveResponse{}
	ctx := context.Background()
	for _, t := range req.Tenants {
		db, err := sql.Open("libsql", "file:"+t.Path)
		if err != nil {
			continue
		}
		conn, err := db.Conn(ctx)
		if err == nil {
			conn.ExecContext(ctx, "ATTACH ? AS tenant", "file:"+t.Path+"?mode=ro")
			for _, q := range req.Queries {
				rows, err := conn.QueryContext(ctx, q.SQL)
				if err != nil {
					continue
				}
				cols, _ := rows.Columns()
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				for rows.Next() {
					rows.Scan(ptrs...)
					resp.Rows++
				}
				rows.Close()
			}
			conn.Close()
		}
		db.Close()
	}
	return resp
}

// shellScript writes the same ATTACH batches as a sqlite3 script: per batch,
// attach up to 10 tenants read-only, one INSERT … UNION ALL per query into
// a temp table, detach.
func shellScript(b *testing.B, fleet []tenant.Tenant, queries []*query.Query, size int) string {
	var s strings.Builder
	for i := 0; i < len(fleet); i += size {
		batch := fleet[i:min(i+size, len(fleet))]
		for j, t := range batch {
			fmt.Fprintf(&s, "ATTACH 'file:%s?mode=ro' AS t%d;\n", strings.ReplaceAll(t.Path, "'", "''"), j)
		}
		if i == 0 {
			for _, q := range queries {
				fmt.Fprintf(&s, "CREATE TEMP TABLE IF NOT EXISTS %s AS SELECT '' AS tenant_id, * FROM (%s) LIMIT 0;\n", "s_"+q.Name, mustRewrite(b, q.SQL, "t0"))
			}
		}
		for _, q := range queries {
			fmt.Fprintf(&s, "INSERT INTO s_%s ", q.Name)
			for j, t := range batch {
				if j > 0 {
					s.WriteString(" UNION ALL ")
				}
				fmt.Fprintf(&s, "SELECT '%s', * FROM (%s)", strings.ReplaceAll(t.ID, "'", "''"), mustRewrite(b, q.SQL, fmt.Sprintf("t%d", j)))
			}
			s.WriteString(";\n")
		}
		for j := range batch {
			fmt.Fprintf(&s, "DETACH t%d;\n", j)
		}
	}
	path := filepath.Join(b.TempDir(), "batches.sql")
	if err := os.WriteFile(path, []byte(".bail off\n"+s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

func mustRewrite(b *testing.B, sqlText, schema string) string {
	s, err := query.Rewrite(sqlText, schema)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
