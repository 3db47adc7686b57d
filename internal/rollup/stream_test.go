package rollup

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/config"
)

// The dispatcher takes tenants from the run's temp tables a few batches at
// a time. A fleet many times that size, with a tenant in the middle that
// stops its worker after the worker has read dozens of others, must still
// land every tenant exactly once: the lost session's tenants are handed
// out again from the table, the culprit is isolated, nothing is doubled.
func TestStreamedDispatchLandsEveryTenantOnceAfterALostWorker(t *testing.T) {
	e := setup(t, map[string]string{
		"todo_counts": todoCounts,
		"spin":        `SELECT (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < (SELECT max(id) FROM tenant.todos)) SELECT count(*) FROM n) AS n`,
	})
	e.cfg.BatchSize = 4
	e.cfg.BatchTimeout = config.Duration(1500 * time.Millisecond)
	const n = 120
	for i := 0; i < n; i++ {
		if i == 70 {
			makeTenant(t, filepath.Join(e.dir, "t070.db"), "CREATE TABLE tenant.todos (id INTEGER PRIMARY KEY, done INTEGER NOT NULL DEFAULT 0)", "INSERT INTO tenant.todos (id) VALUES (9000000000000)")
			continue
		}
		todoTenant(t, e.dir, fmt.Sprintf("t%03d", i), i%7)
	}
	sum := e.run(t, Options{feedPage: 32}) // this fleet is 4 pages
	if sum.Total != n || sum.OK != n-1 || sum.Failed != 1 || sum.Read != n {
		t.Fatalf("summary = %+v, want %d ok and t070 failed", sum, n-1)
	}
	got := e.rows(t, "SELECT count(*), count(DISTINCT tenant_id), sum(todos) FROM rollup_todo_counts")
	wantTodos := int64(0)
	for i := 0; i < n; i++ {
		if i != 70 {
			wantTodos += int64(i % 7)
		}
	}
	// t070 stopped its worker: it is failed for every query, as before.
	if want := []any{int64(n - 1), int64(n - 1), wantTodos}; !reflect.DeepEqual(got[0], want) {
		t.Fatalf("rollup_todo_counts count, tenants, todos = %v, want %v", got[0], want)
	}
	errs := e.rows(t, "SELECT tenant_id, query, error FROM tenant_errors WHERE run_id = ?", sum.RunID)
	if len(errs) != 2 || errs[0][0] != "t070" || !strings.Contains(errs[0][2].(string), "batch_timeout") {
		t.Fatalf("tenant errors = %v, want t070's two, for batch_timeout", errs)
	}
	if got := e.rows(t, "SELECT count(*) FROM rollup_spin"); got[0][0] != int64(n-1) {
		t.Fatalf("rollup_spin rows = %v, want %d", got, n-1)
	}
	// A rerun reads only the failed tenant again (a timeout may not last).
	sum = e.run(t, Options{})
	if sum.Unchanged != n-1 || sum.Read != 1 || sum.Failed != 1 {
		t.Fatalf("rerun summary = %+v, want %d unchanged and t070 read and failed again", sum, n-1)
	}
}

// While a run reads, its runs row says how far it is: phase, tenants done
// of total, a rate and when that was written, for the dashboard.
func TestRunRecordsItsProgressWhileItRuns(t *testing.T) {
	e := setup(t, map[string]string{"todo_counts": todoCounts})
	e.cfg.BatchSize = 2
	e.cfg.Workers = 1 // one writer of the row, so the row read is the update just made
	const n = 12
	for i := 0; i < n; i++ {
		todoTenant(t, e.dir, fmt.Sprintf("t%02d", i), i)
	}
	var seen [][]any
	var fails []string
	opt := Options{progressEvery: -1, Progress: func(done, total int) {
		row := e.rows(t, "SELECT status, progress_phase, progress_done, progress_total, progress_rate > 0, progress_at IS NOT NULL FROM runs ORDER BY id DESC LIMIT 1")[0]
		want := []any{"running", "reading", int64(done), int64(total), int64(1), int64(1)}
		if !reflect.DeepEqual(row, want) {
			fails = append(fails, fmt.Sprintf("at %d of %d the runs row says %v, want %v", done, total, row, want))
		}
		seen = append(seen, row)
	}}
	sum := e.run(t, opt)
	if len(fails) > 0 {
		t.Fatal(strings.Join(fails, "\n"))
	}
	if len(seen) < n/2 || sum.Read != n {
		t.Fatalf("progress seen %d times for %d tenants in batches of 2", len(seen), sum.Read)
	}
	last := e.rows(t, "SELECT status, progress_phase, progress_done, progress_total FROM runs WHERE id = ?", sum.RunID)[0]
	if want := []any{"ok", "merging", int64(n), int64(n)}; !reflect.DeepEqual(last, want) {
		t.Fatalf("finished run's row = %v, want %v", last, want)
	}
}
