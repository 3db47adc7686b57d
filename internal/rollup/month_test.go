package rollup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/demo"
	"github.com/attache/attache/internal/fleettest"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/query"
	"github.com/attache/attache/internal/sqlite"
	"github.com/attache/attache/internal/tenant"
)

// Issue 14: after a simulated month of daily incremental runs over the demo
// fleet, in which a few tenants change each day and most do not, the rows
// every shipped query holds for the current period equal those of a --full
// run at the same moment: no carried number differs from a fresh read.
func TestCarriedRowsEqualAFullRunAfterAMonth(t *testing.T) {
	if testing.Short() {
		t.Skip("a month of runs")
	}
	ctx := context.Background()
	root := t.TempDir()
	tenants := filepath.Join(root, "tenants")
	if _, err := demo.Generate(ctx, demo.Options{Dir: tenants, Tenants: 16, Days: 90, Seed: 7}, nil); err != nil {
		t.Fatal(err)
	}
	qdir, err := filepath.Abs(filepath.Join("..", "..", "queries"))
	if err != nil {
		t.Fatal(err)
	}
	open := func(name string) (*config.Config, *metrics.DB) {
		cfg := config.Default()
		cfg.Metrics = filepath.Join(root, name)
		cfg.Tenants.Dir = tenants
		cfg.Queries = qdir
		cfg.QueriesFS = os.DirFS(qdir)
		cfg.BusyTimeout = config.Duration(time.Second)
		mdb, err := metrics.Open(ctx, cfg.Metrics, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mdb.Close() })
		return &cfg, mdb
	}
	incCfg, inc := open("incremental.db")
	queries, err := SelectQueries(incCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := filepath.Glob(filepath.Join(tenants, "*.db"))
	// Queries that read the clock are recomputed for every tenant each
	// period; the others carry unchanged tenants. Run them apart, so the
	// carrying is seen.
	fleet, err := tenant.List(ctx, incCfg.Tenants)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := vet(ctx, queries, fleet); err != nil {
		t.Fatal(err)
	}
	var clock, data []string
	for _, q := range queries {
		if q.DependsOnTime() {
			clock = append(clock, q.Name)
		} else {
			data = append(data, q.Name)
		}
	}
	if len(clock) == 0 || len(data) == 0 {
		t.Fatalf("shipped queries: clock %v, data %v; want some of each", clock, data)
	}

	start := time.Now().UTC().Truncate(24 * time.Hour).Add(-30 * 24 * time.Hour)
	read, carried := 0, 0
	for day := 0; day < 30; day++ {
		at := start.Add(time.Duration(day)*24*time.Hour + 9*time.Hour)
		// Two tenants change each day, in place; the rest do not.
		for k := 0; k < 2; k++ {
			path := ids[(day*5+k*11)%len(ids)]
			fleettestWrite(t, path, fmt.Sprintf("INSERT INTO t.activity (member_id, kind, at) VALUES (1, 'login', datetime('now', '-%d hours'))", day%5),
				"UPDATE t.todos SET done = 1 - done WHERE id = (SELECT min(id) FROM t.todos)")
		}
		sum, err := Run(ctx, incCfg, inc, Options{Queries: data, Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		read += sum.Read
		carried += sum.Unchanged
		if sum, err = Run(ctx, incCfg, inc, Options{Queries: clock, Now: func() time.Time { return at }}); err != nil || sum.Unchanged != 0 {
			t.Fatalf("clock queries %v: %+v %v; want every tenant read", clock, sum, err)
		}
		if day%10 != 9 {
			continue
		}
		// The reference: a fresh metrics DB, every tenant read, same moment.
		refCfg, ref := open(fmt.Sprintf("full-%d.db", day))
		if _, err := Run(ctx, refCfg, ref, Options{Full: true, Now: func() time.Time { return at }}); err != nil {
			t.Fatal(err)
		}
		for _, q := range queries {
			sel := "SELECT * FROM " + quoteIdent("rollup_"+q.Name)
			args := []any{}
			if q.Mode == query.ModeSnapshot {
				sel += " WHERE bucket = ?"
				args = append(args, query.Bucket(q.Grain, at))
			}
			sel += " ORDER BY 1, 2, 3"
			want, err := sqlite.Query(ctx, ref.R, sel, 0, args...)
			if err != nil {
				t.Fatalf("%s: %v", q.Name, err)
			}
			got, err := sqlite.Query(ctx, inc.R, sel, 0, args...)
			if err != nil {
				t.Fatalf("%s: %v", q.Name, err)
			}
			if len(want.Rows) == 0 || !reflect.DeepEqual(got.Rows, want.Rows) {
				t.Errorf("day %d, %s: incremental rows differ from a full run's (%d vs %d rows):\n%v\n%v", day, q.Name, len(got.Rows), len(want.Rows), got.Rows, want.Rows)
			}
		}
	}
	if carried < 5*read {
		t.Errorf("over the month %d tenant reads, %d carried: most tenants should not have been read by %v", read, carried, data)
	}
}

// fleettestWrite changes a demo tenant in place, as its app would.
func fleettestWrite(t *testing.T, path string, stmts ...string) {
	t.Helper()
	fleettest.Write(t, path, "t", stmts...)
}
