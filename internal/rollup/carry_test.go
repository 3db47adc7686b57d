package rollup

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/config"
)

// A snapshot query's carry is skipped when the last merge already left
// every unchanged tenant's answer in this period, and runs again when a
// tenant was missing from a run: it comes back unchanged with its answer
// still in an older period, and that answer must reach this one.
func TestCarryIsSkippedOnlyWhenNoAnswerLags(t *testing.T) {
	e := setup(t, map[string]string{"todo_counts": todoCounts})
	todoTenant(t, e.dir, "a", 2)
	todoTenant(t, e.dir, "b", 4)
	list := e.catalog(t)
	list("a", filepath.Join(e.dir, "a.db"), "b", filepath.Join(e.dir, "b.db"))
	day := func(d int) Options {
		at := time.Date(2026, 11, d, 9, 0, 0, 0, time.UTC)
		return Options{Now: func() time.Time { return at }}
	}
	rows := func(bucket string) [][]any {
		return e.rows(t, "SELECT tenant_id, todos FROM rollup_todo_counts WHERE bucket = ? ORDER BY tenant_id", bucket)
	}
	carried := func() any { // the period of the mark, without its run
		v := e.rows(t, "SELECT carried_bucket FROM rollups WHERE name = 'todo_counts'")[0][0]
		if s, ok := v.(string); ok {
			return strings.Split(s, "@")[0]
		}
		return v
	}
	both := [][]any{{"a", int64(2)}, {"b", int64(4)}}

	if sum := e.run(t, day(1)); sum.OK != 2 {
		t.Fatalf("day 1: %+v, want both read", sum)
	}
	if sum := e.run(t, day(2)); sum.Unchanged != 2 {
		t.Fatalf("day 2: %+v, want both unchanged", sum)
	}
	if got := rows("2026-11-02"); !reflect.DeepEqual(got, both) {
		t.Fatalf("day 2: rows %v, want %v", got, both)
	}
	if got := carried(); got != "2026-11-02" {
		t.Fatalf("day 2: carried_bucket = %v, want 2026-11-02", got)
	}
	// A second run on day 2 has nothing to carry and skips it: state
	// set back behind its back stays as it is (a carry would move b's
	// answer to day 2 again).
	exec := func(q string) {
		if _, err := e.mdb.W.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	// rerun sets b's state back to day 1, runs day 2 again and returns
	// the period b's state is in after: day 2 only if the carry ran.
	rerun := func(when string) any {
		t.Helper()
		exec("UPDATE rollup_state SET bucket = '2026-11-01' WHERE tenant_id = 'b'")
		if sum := e.run(t, day(2)); sum.Unchanged != 2 {
			t.Fatalf("day 2, %s: %+v, want both unchanged", when, sum)
		}
		return e.rows(t, "SELECT bucket FROM rollup_state WHERE tenant_id = 'b'")[0][0]
	}
	if got := rerun("second run"); got != "2026-11-01" {
		t.Fatalf("day 2, second run: b's state is in %v: the carry ran again", got)
	}
	// A merge by something that does not keep the mark (an older attache)
	// moves last_run_id on: the mark no longer holds and the carry runs.
	exec("UPDATE rollups SET last_run_id = last_run_id + 1000 WHERE name = 'todo_counts'")
	if got := rerun("after another writer's merge"); got != "2026-11-02" {
		t.Fatalf("day 2, after another writer's merge: b's state is in %v: the carry did not run", got)
	}
	exec("UPDATE rollup_state SET bucket = '2026-11-02' WHERE tenant_id = 'b'")
	if got := rows("2026-11-02"); !reflect.DeepEqual(got, both) {
		t.Fatalf("day 2, second run: rows %v, want %v", got, both)
	}

	// Day 3: b's listed path has no file. a is carried; b's answer stays
	// on day 2, so the mark says the carry must run next time.
	list("a", filepath.Join(e.dir, "a.db"), "b", filepath.Join(e.dir, "gone.db"))
	if sum := e.run(t, day(3)); sum.Unchanged != 1 || sum.Failed != 1 {
		t.Fatalf("day 3 with b missing: %+v, want a unchanged and b failed", sum)
	}
	if got := carried(); got != nil {
		t.Errorf("day 3 with b missing: carried_bucket = %v, want NULL", got)
	}
	// b is listed again, its file untouched: unchanged, and carried.
	list("a", filepath.Join(e.dir, "a.db"), "b", filepath.Join(e.dir, "b.db"))
	if sum := e.run(t, day(3)); sum.Unchanged != 2 {
		t.Fatalf("day 3 with b back: %+v, want both unchanged", sum)
	}
	if got := rows("2026-11-03"); !reflect.DeepEqual(got, both) {
		t.Fatalf("day 3 with b back: rows %v, want %v", got, both)
	}
	if got := carried(); got != "2026-11-03" {
		t.Fatalf("day 3 with b back: carried_bucket = %v, want 2026-11-03", got)
	}
}

// A tenant's last_seen is the end of the latest run that listed it, though
// a run rewrites only the tenants rows that change: listed tenants show
// the latest good run's end, a removed one the end of the last run that
// still listed it.
func TestLastSeenIsTheLatestRunThatListedTheTenant(t *testing.T) {
	e := setup(t, map[string]string{"todo_counts": todoCounts})
	todoTenant(t, e.dir, "a", 2)
	todoTenant(t, e.dir, "b", 4)
	list := e.catalogOf(t)
	list("a", "b")
	at := func(d int) Options {
		now := time.Date(2026, 11, d, 9, 0, 0, 0, time.UTC)
		return Options{Now: func() time.Time { return now }}
	}
	ended := func(run int64) time.Time {
		r, err := e.mdb.GetRun(context.Background(), run)
		if err != nil {
			t.Fatal(err)
		}
		return r.FinishedAt
	}
	seen := func(id string) time.Time {
		tr, err := e.mdb.Tenant(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return tr.LastSeen
	}
	e.run(t, at(1))
	second := e.run(t, at(2)) // nothing changed: no tenants row rewritten
	if second.Unchanged != 2 {
		t.Fatalf("second run: %+v, want both unchanged", second)
	}
	for _, id := range []string{"a", "b"} {
		if got, want := seen(id), ended(second.RunID); !got.Equal(want) {
			t.Errorf("%s: last seen %v after the second run, want its end %v", id, got, want)
		}
	}
	list("a")
	third := e.run(t, at(3))
	if got, want := seen("a"), ended(third.RunID); !got.Equal(want) {
		t.Errorf("a: last seen %v, want the third run's end %v", got, want)
	}
	if got, want := seen("b"), ended(second.RunID); !got.Equal(want) {
		t.Errorf("b, no longer listed: last seen %v, want the second run's end %v", got, want)
	}
}

// catalog points the run at a catalog of its own and returns what sets
// the tenants it lists, as id, path pairs, in that order.
func (e *env) catalog(t *testing.T) func(idPaths ...string) {
	catalog := filepath.Join(t.TempDir(), "catalog.db")
	e.cfg.Tenants = config.Tenants{Catalog: &config.Catalog{DB: catalog, Query: "SELECT id, path FROM orgs"}}
	return func(idPaths ...string) {
		t.Helper()
		stmts := []string{"DROP TABLE IF EXISTS tenant.orgs", "CREATE TABLE tenant.orgs (id TEXT, path TEXT)"}
		for i := 0; i+1 < len(idPaths); i += 2 {
			stmts = append(stmts, fmt.Sprintf("INSERT INTO tenant.orgs VALUES ('%s', '%s')", idPaths[i], idPaths[i+1]))
		}
		makeTenant(t, catalog, stmts...)
	}
}

// catalogOf is catalog for tenants in the fleet's folder, named by id.
func (e *env) catalogOf(t *testing.T) func(ids ...string) {
	list := e.catalog(t)
	return func(ids ...string) {
		t.Helper()
		var idPaths []string
		for _, id := range ids {
			idPaths = append(idPaths, id, filepath.Join(e.dir, id+".db"))
		}
		list(idPaths...)
	}
}
