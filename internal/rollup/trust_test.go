package rollup

import (
	"errors"
	"fmt"
	"io"
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
	"github.com/attache/attache/internal/sandbox"
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

	// c is deleted (a copy kept, with its time), b is renamed to d.
	cPath := filepath.Join(e.dir, "c.db")
	cBytes, err := os.ReadFile(cPath)
	if err != nil {
		t.Fatal(err)
	}
	cInfo, err := os.Stat(cPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(cPath); err != nil {
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
		// The run that marks a tenant removed forgets its state.
		if got := e.rows(t, "SELECT count(*) FROM rollup_state WHERE tenant_id IN ('b', 'c')"); got[0][0] != int64(0) {
			t.Fatalf("full=%v: %v state rows left for removed tenants", full, got[0][0])
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

	// c comes back exactly as it was, time included (a restore): listed
	// again and read afresh, not carried, though its fingerprint is the one
	// it had.
	if err := os.WriteFile(cPath, cBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(cPath, cInfo.ModTime(), cInfo.ModTime()); err != nil {
		t.Fatal(err)
	}
	sum := e.run(t, Options{Now: at(day1.Add(48 * time.Hour))})
	if sum.Read != 1 || sum.Unchanged != 2 {
		t.Fatalf("restore run %+v: want c read, a and d unchanged", sum)
	}
	if got := e.rows(t, nowTodos); !reflect.DeepEqual(got, [][]any{{int64(3), int64(7)}}) {
		t.Fatalf("after restore: %v, want 3 tenants, 7 todos", got)
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
	for i := 0; i < 20; i++ {
		todoTenant(t, a.dir, fmt.Sprintf("a%02d", i), 1)
	}
	for i := 0; i < 15; i++ {
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
		if got := a.rows(t, "SELECT count(*), sum(todos), sum(tenant_id LIKE 'a%') FROM rollup_todo_counts"); !reflect.DeepEqual(got, [][]any{{int64(20), int64(20), int64(20)}}) {
			t.Fatalf("round %d: config a holds %v, want its 20 tenants with 1 todo each", round, got)
		}
		if got := b.rows(t, "SELECT count(*), sum(todos), sum(tenant_id LIKE 'b%') FROM rollup_todo_counts"); !reflect.DeepEqual(got, [][]any{{int64(15), int64(30), int64(15)}}) {
			t.Fatalf("round %d: config b holds %v, want its 15 tenants with 2 todos each", round, got)
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
	if err := makeTemp(t.Context(), conn); err != nil {
		t.Fatal(err)
	}
	m := &merge{log: slog.New(slog.DiscardHandler), conn: conn, runID: 99, queries: q,
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

// Issue 9 point 1: a query that does not say tenant. is refused before
// anything is written, by run, check and ad-hoc queries alike; so are
// main., temp. and tN. references. A view in the tenant is fine.
func TestQueryOutsideTheTenantIsRefused(t *testing.T) {
	e := setup(t, map[string]string{
		"todo_counts": todoCounts,
		"bare":        "SELECT count(*) AS n FROM todos",
		"slot":        "SELECT count(*) AS n FROM t3.todos",
		"main_schema": "SELECT count(*) AS n FROM main.sqlite_schema",
		"temp_schema": "SELECT count(*) AS n FROM temp.sqlite_temp_schema",
		"bare_in_sub": "SELECT (SELECT count(*) FROM todos) AS n FROM tenant.todos LIMIT 1",
		"own_view":    "WITH c AS (SELECT * FROM tenant.open_todos) SELECT count(*) AS n FROM c",
	})
	for i := 0; i < 10; i++ {
		todoTenant(t, e.dir, fmt.Sprintf("t%d", i), 3*i)
		makeTenant(t, filepath.Join(e.dir, fmt.Sprintf("t%d.db", i)), "CREATE VIEW tenant.open_todos AS SELECT * FROM todos WHERE done = 0")
	}
	refused := []string{"bare", "bare_in_sub", "main_schema", "slot", "temp_schema"}

	// check: counted broken, with the table and the fix.
	qs, broken, err := LoadQueries(e.cfg, nil)
	if err != nil || len(broken) != 0 {
		t.Fatal(err, broken)
	}
	rep, err := Check(t.Context(), e.cfg, e.mdb, qs, broken, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range rep.Broken {
		names = append(names, b.Query)
		if !errors.Is(b, ErrOutsideTenant) {
			t.Errorf("%s: %v, want a refusal as outside the tenant", b.Query, b)
		}
	}
	if !reflect.DeepEqual(names, refused) {
		t.Fatalf("check refused %v, want %v", names, refused)
	}
	if msg := rep.Broken[0].Error(); !strings.Contains(msg, "queries/bare.sql: table todos is not in the tenant's schema; write tenant.todos") {
		t.Fatalf("message %q must name the file, the table and the fix", msg)
	}

	// run: the refused queries write nothing and are recorded; the others run.
	sum := e.run(t, Options{})
	if len(sum.QueryErrors) != len(refused) || sum.Failed != 0 {
		t.Fatalf("run: %d query errors, %d failed tenants; want %d and 0", len(sum.QueryErrors), sum.Failed, len(refused))
	}
	for _, name := range refused {
		if got := e.rows(t, "SELECT count(*) FROM sqlite_schema WHERE name = ?", "rollup_"+name); got[0][0] != int64(0) {
			t.Errorf("rollup_%s exists: a refused query wrote rows", name)
		}
	}
	if got := e.rows(t, "SELECT sum(n) FROM rollup_own_view"); got[0][0] != int64(0+2+3+5+6+8+9+11+12+14) {
		t.Fatalf("own_view sums %v: every tenant must count its own open todos", got[0][0])
	}
	r, err := e.mdb.GetRun(t.Context(), sum.RunID)
	if err != nil || r.Status != "ok" || len(r.QueryErrors) != len(refused) || strings.Contains(r.Queries, "bare") {
		t.Fatalf("run record %+v, %v: want ok, the refused queries recorded and not listed as run", r, err)
	}

	// ad-hoc (attache query and /query call Adhoc).
	sb := sandbox.NewRunner(1, 10*time.Second, time.Second)
	defer sb.Close()
	for _, sqlText := range []string{"SELECT count(*) FROM todos", "SELECT count(*) FROM t0.todos", "SELECT * FROM main.sqlite_master"} {
		_, err := Adhoc(t.Context(), e.cfg, sb, sqlText, nil, 100)
		if !errors.Is(err, ErrOutsideTenant) {
			t.Errorf("Adhoc(%q) = %v, want a refusal", sqlText, err)
		}
	}
	res, err := Adhoc(t.Context(), e.cfg, sb, "SELECT count(*) AS n FROM tenant.todos", nil, 100)
	if err != nil || len(res.Rows) != 10 {
		t.Fatalf("a qualified ad-hoc query: %v, %v", res, err)
	}
}

// Issue 9 point 2: a query with a syntax error beside good ones is reported
// with its file, the database's message and the line; the others run.
func TestSyntaxErrorCostsOnlyItsQuery(t *testing.T) {
	e := setup(t, map[string]string{
		"todo_counts": todoCounts,
		"typo":        "-- description: broken\n\nSELECT count(*)\n  FROM tenant.todos\n WHER done = 1",
		"unparsable":  "-- mode: sometimes\nSELECT 1",
	})
	todoTenant(t, e.dir, "a", 2)
	todoTenant(t, e.dir, "b", 3)
	for round := 0; round < 2; round++ {
		sum := e.run(t, Options{})
		if sum.Read+sum.Unchanged != 2 || sum.Failed != 0 || len(sum.QueryErrors) != 2 {
			t.Fatalf("round %d: %+v; want both tenants done and 2 queries not run", round, sum)
		}
		if got := e.rows(t, "SELECT sum(todos) FROM rollup_todo_counts WHERE bucket = (SELECT max(bucket) FROM rollup_todo_counts)"); got[0][0] != int64(5) {
			t.Fatalf("round %d: todo_counts = %v, want 5", round, got[0][0])
		}
		msgs := e.rows(t, "SELECT query, error FROM run_query_errors WHERE run_id = ? ORDER BY query", sum.RunID)
		if len(msgs) != 2 || !strings.Contains(msgs[0][1].(string), `queries/typo.sql line 5: near "done": syntax error`) ||
			!strings.Contains(msgs[1][1].(string), `queries/unparsable.sql: mode "sometimes"`) {
			t.Fatalf("round %d: run_query_errors = %v", round, msgs)
		}
	}
	qs, broken, err := LoadQueries(e.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Check(t.Context(), e.cfg, e.mdb, qs, broken, nil, nil)
	if err != nil || len(rep.Queries) != 1 || len(rep.Broken) != 2 {
		t.Fatalf("check: %+v, %v; want 1 ok and 2 broken", rep, err)
	}
}

// Issue 9 point 6: a column named user.count survives carrying forward,
// and the merge's debug log works on any statement.
func TestDottedColumnIsCarriedForward(t *testing.T) {
	e := setup(t, map[string]string{"dotted": `SELECT count(*) AS "user.count", 7 AS "r.x" FROM tenant.todos`})
	todoTenant(t, e.dir, "a", 3)
	debug := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	day := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	e.run(t, Options{Now: func() time.Time { return day }, Log: debug})
	sum := e.run(t, Options{Now: func() time.Time { return day.Add(24 * time.Hour) }, Log: debug})
	if sum.Unchanged != 1 {
		t.Fatalf("second run %+v: want the tenant carried", sum)
	}
	got := e.rows(t, `SELECT bucket, "user.count", "r.x" FROM rollup_dotted ORDER BY bucket`)
	want := [][]any{{"2026-06-01", int64(3), int64(7)}, {"2026-06-02", int64(3), int64(7)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	if got := shorten("SELECT\n\n\n      1   FROM    x", 90); got != "SELECT 1 FROM x" {
		t.Fatalf("shorten = %q", got)
	}
}

// Issue 9 point 6: a panic anywhere in a run, in its own goroutine or in a
// dispatcher goroutine, is a recorded failed run, never a crash.
func TestPanicInARunIsAFailedRun(t *testing.T) {
	e := setup(t, map[string]string{"todo_counts": todoCounts})
	for i := 0; i < 3; i++ {
		todoTenant(t, e.dir, fmt.Sprintf("t%d", i), i)
	}
	calls := 0
	for name, opt := range map[string]Options{
		"dispatcher goroutine": {Full: true, Progress: func(int, int) { panic("progress broke") }},
		"run goroutine": {Full: true, Now: func() time.Time {
			if calls++; calls > 1 {
				panic("clock broke")
			}
			return time.Now()
		}},
	} {
		_, err := Run(t.Context(), e.cfg, e.mdb, opt)
		if err == nil || !strings.Contains(err.Error(), "internal error") {
			t.Fatalf("%s: error %v, want the panic as an internal error", name, err)
		}
		got := e.rows(t, "SELECT status, error LIKE '%internal error%broke%' FROM runs ORDER BY id DESC LIMIT 1")
		if !reflect.DeepEqual(got, [][]any{{"failed", int64(1)}}) {
			t.Fatalf("%s: last run %v, want failed with the panic", name, got)
		}
	}
	// The lock was released and a normal run works.
	if sum := e.run(t, Options{}); sum.Read != 3 {
		t.Fatalf("run after panics: %+v", sum)
	}
}

// Issue 9 point 3: the shipped queries compare instants, not text, at the
// edge where a positive offset moves a time into the previous UTC day.
func TestShippedQueriesCompareInstants(t *testing.T) {
	src := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "queries", name+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	e := setup(t, map[string]string{"engagement": src("engagement"), "tenant_profile": src("tenant_profile")})
	// Now is 2026-06-17 12:00 UTC. The run's clock is SQLite's own, so the
	// rows are placed relative to 'now' in SQL.
	makeTenant(t, filepath.Join(e.dir, "a.db"),
		"CREATE TABLE tenant.meta (key TEXT PRIMARY KEY, value TEXT)",
		"CREATE TABLE tenant.members (id INTEGER PRIMARY KEY)",
		"CREATE TABLE tenant.activity (id INTEGER PRIMARY KEY, member_id INTEGER, kind TEXT, at TEXT)",
		"CREATE INDEX tenant.activity_at ON activity(at)",
		// 7 days and 1 hour ago in UTC, written with +02:00: as text it
		// looks 7 days minus 1 hour ago, inside the window.
		"INSERT INTO tenant.activity (member_id, kind, at) VALUES (1, 'x', strftime('%Y-%m-%dT%H:%M:%S+02:00', 'now', '-7 days', '-1 hours', '+2 hours'))",
		// 6 days ago, in UTC: inside.
		"INSERT INTO tenant.activity (member_id, kind, at) VALUES (2, 'x', datetime('now', '-6 days'))",
		// The latest instant, 1 hour ago, written with -05:00 (text earlier).
		"INSERT INTO tenant.activity (member_id, kind, at) VALUES (3, 'x', strftime('%Y-%m-%dT%H:%M:%S-05:00', 'now', '-1 hours', '-5 hours'))",
		// 2 hours ago in UTC, written with +09:00: the text max, not the latest.
		"INSERT INTO tenant.activity (member_id, kind, at) VALUES (4, 'x', strftime('%Y-%m-%dT%H:%M:%S+09:00', 'now', '-2 hours', '+9 hours'))",
	)
	e.run(t, Options{})
	if got := e.rows(t, "SELECT events_7d, active_members_7d FROM rollup_engagement"); !reflect.DeepEqual(got, [][]any{{int64(3), int64(3)}}) {
		t.Fatalf("engagement 7d = %v, want 3 events by members 2, 3, 4 (member 1's event is 7 days and 1 hour ago)", got)
	}
	if got := e.rows(t, "SELECT last_activity_at LIKE '%-05:00', first_activity_at LIKE '%+02:00' FROM rollup_tenant_profile"); !reflect.DeepEqual(got, [][]any{{int64(1), int64(1)}}) {
		t.Fatalf("profile = %v, want the latest instant (-05:00) and the earliest (+02:00)", got)
	}
}
