package rollup

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
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
