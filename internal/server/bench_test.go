package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/attache/attache"
	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/demo"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/rollup"
	"github.com/attache/attache/internal/sandbox"
)

// The benchmark's metrics DB is what the engine makes of a demo fleet of
// 10,000 tenants with a year of history: a year of daily rollups per tenant
// (rollup_activity, rollup_active, ...). Fleet and metrics DB are kept in
// the temp folder between runs (about a minute to build); the metrics DB is
// rebuilt when the queries change.
const (
	benchTenants = 10_000
	benchDays    = 365
)

var (
	benchOnce sync.Once
	benchFx   *fixture
	benchErr  error
)

func benchFixture(b *testing.B) *fixture {
	b.Helper()
	benchOnce.Do(func() { benchFx, benchErr = newBenchFixture() })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchFx
}

func newBenchFixture() (*fixture, error) {
	ctx := context.Background()
	cache := filepath.Join(os.TempDir(), "attache-server-bench")
	fleet := filepath.Join(cache, "tenants")
	queries, _ := fs.Sub(attache.Files, "queries")
	hash, _ := bcrypt.GenerateFromPassword([]byte(anaPW), bcrypt.MinCost)
	cfg, err := config.Parse(fmt.Appendf(nil, "metrics: metrics.db\ntenants: {dir: %q}\nauth: {users: [{name: ana, password_hash: %q, role: viewer}]}\n", fleet, hash), cache)
	if err != nil {
		return nil, err
	}
	cfg.QueriesFS = queries
	cfg.ReportsFS, _ = fs.Sub(attache.Files, "reports")
	if _, err := os.Stat(filepath.Join(cache, "fleet-ready")); err != nil {
		fmt.Fprintf(os.Stderr, "generating %d tenants × %d days in %s (once)…\n", benchTenants, benchDays, fleet)
		if _, err := demo.Generate(ctx, demo.Options{Dir: fleet, Tenants: benchTenants, Days: benchDays, Seed: 1}, nil); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(cache, "fleet-ready"), nil, 0o644); err != nil {
			return nil, err
		}
	}
	key, err := fsHash(queries)
	if err != nil {
		return nil, err
	}
	cached := filepath.Join(cache, "metrics-"+key+".db")
	if _, err := os.Stat(cached); err != nil {
		fmt.Fprintf(os.Stderr, "running the engine over the fleet into %s (once per version of queries/)…\n", cached)
		tmp := filepath.Join(cache, "build.db")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(tmp + suffix)
		}
		build := *cfg
		build.Metrics = tmp
		mdb, err := metrics.Open(ctx, tmp, time.Second)
		if err != nil {
			return nil, err
		}
		_, err = rollup.Run(ctx, &build, mdb, rollup.Options{Full: true})
		if err == nil {
			var a, b, c int
			err = mdb.W.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&a, &b, &c)
		}
		mdb.Close()
		if err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, cached); err != nil {
			return nil, err
		}
	}
	root, err := os.MkdirTemp("", "attache-server-bench-")
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(cached)
	if err != nil {
		return nil, err
	}
	cfg.Metrics = filepath.Join(root, "metrics.db")
	if err := os.WriteFile(cfg.Metrics, data, 0o644); err != nil {
		return nil, err
	}
	mdb, err := metrics.Open(ctx, cfg.Metrics, time.Second)
	if err != nil {
		return nil, err
	}
	reps, err := report.LoadDir(cfg.ReportsFS)
	if err != nil {
		return nil, err
	}
	sb := sandbox.NewRunner(4, cfg.QueryTimeout.D(), time.Second)
	f := &fixture{root: root, cfg: cfg, mdb: mdb, reports: reps, sb: sb,
		panels: report.NewRunner(sb, cfg.Metrics, cfg.RowLimit), adhoc: sandbox.NewRunner(1, cfg.QueryTimeout.D(), time.Second)}
	fixturesMu.Lock()
	fixtures = append(fixtures, f)
	fixturesMu.Unlock()
	return f, nil
}

// fsHash names the contents of a folder, to know when to rebuild.
func fsHash(fsys fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil)[:8]), err
}

// BenchmarkReportPage measures /reports/growth over a year of daily
// rollups for 10,000 tenants, as a signed-in viewer, and reports p50/p99.
// The first view (every panel computed) is reported as cold-ms.
func BenchmarkReportPage(b *testing.B) { benchRoute(b, "/reports/growth") }

// BenchmarkReportJSON is BenchmarkReportPage for /api/reports/growth.
func BenchmarkReportJSON(b *testing.B) { benchRoute(b, "/api/reports/growth") }

// BenchmarkReportPageParallel is BenchmarkReportPage with 8 viewers at
// once (GOMAXPROCS×4 goroutines on 2 cores).
func BenchmarkReportPageParallel(b *testing.B) {
	fx := benchFixture(b)
	s := newServer(b, fx, nil)
	c := newClient(b, s)
	c.signIn("ana", anaPW)
	c.get("/reports/growth")
	session := c.cookies[sessionCookie]
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		v := newClient(b, s)
		v.cookies[sessionCookie] = session
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if rec := v.get("/reports/growth"); rec.Code != http.StatusOK {
				b.Errorf("status %d", rec.Code)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkFleetPage is the fleet report (tables over the tenants table).
func BenchmarkFleetPage(b *testing.B) { benchRoute(b, "/reports/fleet") }

func benchRoute(b *testing.B, path string) {
	fx := benchFixture(b)
	s := newServer(b, fx, nil)
	c := newClient(b, s)
	c.signIn("ana", anaPW)
	start := time.Now()
	if rec := c.get(path); rec.Code != http.StatusOK {
		b.Fatalf("%s: %d", path, rec.Code)
	}
	cold := time.Since(start)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		rec := c.get(path)
		lat = append(lat, time.Since(t0))
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d", path, rec.Code)
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
	b.ReportMetric(float64(cold.Milliseconds()), "cold-ms")
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkWorkbook is /reports/growth.xlsx on the same DB: exports are not
// cached, so this is every panel's SQL plus the workbook.
func BenchmarkWorkbook(b *testing.B) {
	fx := benchFixture(b)
	c := newClient(b, newServer(b, fx, nil))
	c.signIn("ana", anaPW)
	for b.Loop() {
		if rec := c.get("/reports/growth.xlsx"); rec.Code != http.StatusOK {
			b.Fatalf("xlsx: %d", rec.Code)
		}
	}
}
