package rollup

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attache/attache/internal/fleettest"
	"github.com/attache/attache/internal/metrics"
)

// nowTodos is a "now" figure as the reports compute it: the latest bucket,
// listed tenants only.
const nowTodos = `SELECT count(*), coalesce(sum(todos), 0) FROM rollup_todo_counts
  WHERE bucket = (SELECT max(bucket) FROM rollup_todo_counts)
    AND tenant_id IN (SELECT id FROM listed_tenants)`

// Issue 9 point 4: a tenant deleted from the source leaves every "now"
// figure, a renamed one counts once, and history stays.
func TestDeletedAndRenamedTenantsLeaveNowFigures(t *testing.T) {
	e := setup(t, map[string]string{"todo_counts": todoCounts})
	todoTenant(t, e.dir, "a", 1)
	todoTenant(t, e.dir, "b", 2)
	todoTenant(t, e.dir, "c", 4)
	day1 := time.Date(2026, 5, 30, 10, 0, 0, 0, time.UTC)
	at := func(t time.Time) func() time.Time { return func() time.Time { return t } }
	e.run(t, Options{Now: at(day1)})
	if got := e.rows(t, nowTodos); !reflect.DeepEqual(got, [][]any{{int64(3), int64(7)}}) {
		t.Fatalf("before: %v, want 3 tenants, 7 todos", got)
	}

	// c is deleted, b is renamed to d.
	if err := os.Remove(filepath.Join(e.dir, "c.db")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(e.dir, "b.db"), filepath.Join(e.dir, "d.db")); err != nil {
		t.Fatal(err)
	}
	for _, full := range []bool{false, true} {
		sum := e.run(t, Options{Now: at(day1.Add(24 * time.Hour)), Full: full})
		if sum.Total != 2 {
			t.Fatalf("full=%v: run saw %d tenants, want 2", full, sum.Total)
		}
		if got := e.rows(t, nowTodos); !reflect.DeepEqual(got, [][]any{{int64(2), int64(3)}}) {
			t.Fatalf("full=%v: now figure %v, want 2 tenants (a, d), 3 todos", full, got)
		}
		if got := e.rows(t, "SELECT id FROM listed_tenants ORDER BY id"); !reflect.DeepEqual(got, [][]any{{"a"}, {"d"}}) {
			t.Fatalf("full=%v: listed %v, want a, d", full, got)
		}
		if got := e.rows(t, "SELECT id, removed_at FROM tenants WHERE removed_at IS NOT NULL ORDER BY id"); !reflect.DeepEqual(got, [][]any{{"b", "2026-05-31T10:00:00Z"}, {"c", "2026-05-31T10:00:00Z"}}) {
			t.Fatalf("full=%v: removed %v, want b and c removed by the first run that missed them", full, got)
		}
	}
	// History stays: day 1 still holds three tenants.
	if got := e.rows(t, "SELECT count(*) FROM rollup_todo_counts WHERE bucket = '2026-05-30'"); got[0][0] != int64(3) {
		t.Fatalf("history of day 1 = %v tenants, want 3", got[0][0])
	}
	rs, err := e.mdb.RemovedTenants(t.Context(), "id", 10)
	if err != nil || len(rs) != 2 || rs[0].ID != "b" || rs[0].RemovedAt.IsZero() {
		t.Fatalf("RemovedTenants = %+v, %v", rs, err)
	}
	listed, err := e.mdb.Tenants(t.Context(), "id", 10)
	if err != nil || len(listed) != 2 {
		t.Fatalf("Tenants = %+v, %v; want the two listed", listed, err)
	}

	// c comes back (a restore): listed again and read afresh, not carried.
	todoTenant(t, e.dir, "c", 5)
	sum := e.run(t, Options{Now: at(day1.Add(48 * time.Hour))})
	if sum.Read != 1 || sum.Unchanged != 2 {
		t.Fatalf("restore run %+v: want c read, a and d unchanged", sum)
	}
	if got := e.rows(t, nowTodos); !reflect.DeepEqual(got, [][]any{{int64(3), int64(8)}}) {
		t.Fatalf("after restore: %v, want 3 tenants, 8 todos", got)
	}
	if got := e.rows(t, "SELECT count(*) FROM tenants WHERE id = 'c' AND removed_at IS NULL"); got[0][0] != int64(1) {
		t.Fatal("a tenant listed again must have removed_at cleared")
	}
}

// Issue 9 point 5: two configs whose metrics DBs share a folder run at once;
// each lands exactly its own fleet.
func TestTwoMetricsDBsInOneFolderRunAtOnce(t *testing.T) {
	a := setup(t, map[string]string{"todo_counts": todoCounts})
	b := setup(t, map[string]string{"todo_counts": todoCounts})
	// b's metrics DB moves into a's folder.
	b.mdb.Close()
	b.cfg.Metrics = filepath.Join(filepath.Dir(a.cfg.Metrics), "other.db")
	mdb, err := metrics.Open(t.Context(), b.cfg.Metrics, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mdb.Close() })
	b.mdb = mdb
	a.cfg.BatchSize, b.cfg.BatchSize = 2, 3
	for i := 0; i < 40; i++ {
		todoTenant(t, a.dir, fmt.Sprintf("a%02d", i), 1)
	}
	for i := 0; i < 31; i++ {
		todoTenant(t, b.dir, fmt.Sprintf("b%02d", i), 2)
	}
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, e := range []*env{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = Run(t.Context(), e.cfg, e.mdb, Options{Full: true})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, config %d: %v", round, i, err)
			}
		}
		if got := a.rows(t, "SELECT count(*), sum(todos), sum(tenant_id LIKE 'a%') FROM rollup_todo_counts"); !reflect.DeepEqual(got, [][]any{{int64(40), int64(40), int64(40)}}) {
			t.Fatalf("round %d: config a holds %v, want its 40 tenants with 1 todo each", round, got)
		}
		if got := b.rows(t, "SELECT count(*), sum(todos), sum(tenant_id LIKE 'b%') FROM rollup_todo_counts"); !reflect.DeepEqual(got, [][]any{{int64(31), int64(62), int64(31)}}) {
			t.Fatalf("round %d: config b holds %v, want its 31 tenants with 2 todos each", round, got)
		}
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(a.cfg.Metrics), ".attache-staging*"))
	if len(left) != 0 {
		t.Fatalf("staging folders left behind: %v", left)
	}
}

// A staging file that holds other rows than its worker reported fails the
// merge: nothing is committed and the previous run's rows stay.
func TestMergeRefusesAStagingFileItDidNotWrite(t *testing.T) {
	e := setup(t, map[string]string{"todo_counts": todoCounts})
	todoTenant(t, e.dir, "a", 3)
	e.run(t, Options{})
	staged := filepath.Join(t.TempDir(), "worker-1.db")
	fleettest.Write(t, staged, "s",
		"CREATE TABLE s.s__ok (tenant_id TEXT NOT NULL, query TEXT NOT NULL)",
		`CREATE TABLE s."s_todo_counts" ("tenant_id", "todos", "done")`,
		"INSERT INTO s.s__ok VALUES ('a', 'todo_counts')",
		`INSERT INTO s."s_todo_counts" VALUES ('a', 3, 1), ('a', 99, 99)`)
	q, err := SelectQueries(e.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := e.mdb.W.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := &merge{log: slog.New(slog.DiscardHandler), conn: conn, runID: 99, queries: q, plan: &plan{}, fails: map[string][]failure{},
		staging:  []stagingFile{{Path: staged, Staged: map[string]int64{"todo_counts": 1}, OK: 1}},
		bucketAt: time.Now(), finishedAt: time.Now()}
	_, err = m.apply(t.Context())
	if err == nil || !strings.Contains(err.Error(), "holds 2 rows of query todo_counts where its worker wrote 1") {
		t.Fatalf("merge error = %v, want the count mismatch named", err)
	}
	if got := e.rows(t, "SELECT count(*), sum(todos) FROM rollup_todo_counts"); !reflect.DeepEqual(got, [][]any{{int64(1), int64(3)}}) {
		t.Fatalf("rollup after refused merge = %v, want the previous run's single row", got)
	}
}
