package rollup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/attache/attache/internal/fleettest"
	"github.com/attache/attache/internal/sqlite"
)

// TestCRMFleetMatchesOneTenantAtATime runs the benchmark's CRM profile at a
// smoke size (three batches and a part) and checks every rollup row
// against the same query run alone on each tenant, the way a user would
// check a number in the sqlite3 shell.
func TestCRMFleetMatchesOneTenantAtATime(t *testing.T) {
	e := setup(t, fleettest.CRMQueries)
	const n = 33
	ctx := context.Background()
	if err := fleettest.CRM(ctx, e.dir, n); err != nil {
		t.Fatal(err)
	}
	sum := e.run(t, Options{Full: true})
	if sum.Read != n || sum.OK != n || sum.Failed != 0 {
		t.Fatalf("summary = %+v, want %d tenants read, all ok", sum, n)
	}

	db, err := sqlite.Open(":memory:", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var total int64
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("crm-%05d", i)
		if _, err := conn.ExecContext(ctx, "ATTACH ? AS tenant", sqlite.ReadOnlyURI(filepath.Join(e.dir, id+".db"))); err != nil {
			t.Fatal(err)
		}
		for name, src := range fleettest.CRMQueries {
			want, err := sqlite.Query(ctx, conn, strings.TrimSpace(src), 0)
			if err != nil {
				t.Fatalf("%s on %s alone: %v", name, id, err)
			}
			cols := `"` + strings.Join(want.Columns, `", "`) + `"`
			got := e.rows(t, "SELECT "+cols+" FROM rollup_"+name+" WHERE tenant_id = ?", id)
			if len(want.Rows) == 0 {
				t.Fatalf("%s on %s: no rows; the fleet should give every query something to count", name, id)
			}
			if !reflect.DeepEqual(sorted(got), sorted(want.Rows)) {
				t.Fatalf("%s for %s:\n got %v\nwant %v", name, id, got, want.Rows)
			}
			total += int64(len(got))
		}
		if _, err := conn.ExecContext(ctx, "DETACH tenant"); err != nil {
			t.Fatal(err)
		}
	}
	if total != sum.Rows {
		t.Fatalf("checked %d rows, the run wrote %d", total, sum.Rows)
	}
}

func sorted(rows [][]any) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%#v", r)
	}
	sort.Strings(out)
	return out
}

// TestLargeTenantReadThroughMmap reads a tenant above mmapMin (which the
// worker maps) beside a small one (read with read calls), in one batch.
func TestLargeTenantReadThroughMmap(t *testing.T) {
	e := setup(t, map[string]string{"todo_counts": todoCounts})
	todoTenant(t, e.dir, "small", 3)
	todoTenant(t, e.dir, "large", 5)
	makeTenant(t, filepath.Join(e.dir, "large.db"), "CREATE TABLE tenant.files (data BLOB)",
		fmt.Sprintf("INSERT INTO tenant.files VALUES (zeroblob(%d))", mmapMin+(1<<20)))
	sum := e.run(t, Options{})
	if sum.OK != 2 {
		t.Fatalf("summary = %+v, want 2 tenants ok", sum)
	}
	got := e.rows(t, "SELECT tenant_id, todos, done FROM rollup_todo_counts ORDER BY tenant_id")
	want := [][]any{{"large", int64(5), int64(2)}, {"small", int64(3), int64(1)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rows = %v, want %v", got, want)
	}
}

// TestCallsOfSeveralBatches has a worker sent several batches at once (45
// tenants, batch_size 2, one worker: calls of four tenants, the last of
// one), with a tenant that cannot be opened in the middle of a call, and
// checks every rollup row against a run of one batch a call.
func TestCallsOfSeveralBatches(t *testing.T) {
	ctx := context.Background()
	e := setup(t, fleettest.CRMQueries)
	const n = 45
	if err := fleettest.CRM(ctx, e.dir, n); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "crm-00022.db"), []byte("not a database, but long enough to have a header of its own..............................................."), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cfg.BatchSize, e.cfg.Workers = 2, 1
	sum := e.run(t, Options{Full: true})
	if sum.Read != n || sum.OK != n-1 || sum.Failed != 1 {
		t.Fatalf("summary = %+v, want %d read, %d ok, 1 failed", sum, n, n-1)
	}
	one := setup(t, fleettest.CRMQueries)
	one.dir, one.cfg.Tenants.Dir = e.dir, e.dir
	one.cfg.BatchSize, one.cfg.Workers = 2, 4 // 45/(4*8) < 2: one batch a call
	if got := one.run(t, Options{Full: true}); got.Rows != sum.Rows || got.OK != sum.OK {
		t.Fatalf("one batch a call: %+v; several: %+v", got, sum)
	}
	for name := range fleettest.CRMQueries {
		q := "SELECT * FROM rollup_" + name
		if got, want := sorted(e.rows(t, q)), sorted(one.rows(t, q)); !reflect.DeepEqual(got, want) {
			t.Fatalf("rollup_%s: %d rows with several batches a call, %d with one", name, len(got), len(want))
		}
	}
	if got := e.rows(t, "SELECT tenant_id FROM tenant_errors GROUP BY tenant_id"); !reflect.DeepEqual(got, [][]any{{"crm-00022"}}) {
		t.Fatalf("failed tenants = %v, want crm-00022 alone", got)
	}
}
