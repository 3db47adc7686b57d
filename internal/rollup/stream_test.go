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
	e.cfg.BatchSize = 4 // 2 workers take 32 tenants at a time: this fleet is 4 pages
	e.cfg.BatchTimeout = config.Duration(1500 * time.Millisecond)
	const n = 120
	for i := 0; i < n; i++ {
		if i == 70 {
			makeTenant(t, filepath.Join(e.dir, "t070.db"), "CREATE TABLE tenant.todos (id INTEGER PRIMARY KEY, done INTEGER NOT NULL DEFAULT 0)", "INSERT INTO tenant.todos (id) VALUES (9000000000000)")
			continue
		}
		todoTenant(t, e.dir, fmt.Sprintf("t%03d", i), i%7)
	}
	sum := e.run(t, Options{})
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
