package rollup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/fleettest"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/sandbox"
	"github.com/attache/attache/internal/sqlite"
	"github.com/attache/attache/internal/worker"
)

// TestMain lets the test binary serve as the engine's worker processes.
func TestMain(m *testing.M) {
	switch worker.Role() {
	case Role:
		if err := ServeWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case sandbox.Role:
		if err := sandbox.Serve(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	case naiveRole:
		// As every attache process does: without it, about one child in
		// 40 died of libSQL closing each connection twice (see sqlite.Setup).
		if os.Getenv("ATTACHE_BENCH_NO_SETUP") == "" {
			if err := sqlite.Setup(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		if err := worker.Serve(os.Stdin, os.Stdout, serveNaive); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	case lockRole:
		os.Exit(holdLock())
	case scaleRole:
		os.Exit(serveScale())
	}
	os.Exit(m.Run())
}

// lockRole is a child that holds a tenant in the middle of a write
// transaction, as the SaaS app's own process would. It must be another
// process: the coordinator reads tenant headers, and closing any descriptor
// of a file drops the POSIX locks its process holds on it.
const lockRole = "test-locker"

func holdLock() int {
	db, err := sqlite.Open(os.Getenv("ATTACHE_TEST_LOCK"), sqlite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		return 1
	}
	defer conn.Close()
	for _, s := range []string{"BEGIN EXCLUSIVE", "INSERT INTO todos (title) VALUES ('held')"} {
		if _, err := conn.ExecContext(context.Background(), s); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin) // hold until the test closes stdin
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// lockTenant holds path's write lock from another process until the
// returned func (or the test's end) rolls it back.
func lockTenant(t *testing.T, path string) (unlock func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), worker.RoleEnv+"="+lockRole, "ATTACHE_TEST_LOCK="+path)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	unlock = func() { once.Do(func() { in.Close(); cmd.Wait() }) }
	t.Cleanup(unlock)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("lock %s: %q %v", path, line, err)
	}
	return unlock
}

// makeTenant builds a tenant database with SQL, its tables as tenant.NAME.
func makeTenant(t *testing.T, path string, stmts ...string) {
	t.Helper()
	fleettest.Write(t, path, "tenant", stmts...)
}

// todoTenant makes a tenant with n todos, every other one done.
func todoTenant(t *testing.T, dir, id string, n int) {
	t.Helper()
	stmts := []string{"CREATE TABLE tenant.todos (id INTEGER PRIMARY KEY, title TEXT, done INTEGER NOT NULL DEFAULT 0, due TEXT)"}
	for i := 0; i < n; i++ {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO tenant.todos (title, done, due) VALUES ('todo %d', %d, '2026-11-22')", i, i%2))
	}
	makeTenant(t, filepath.Join(dir, id+".db"), stmts...)
}

// liveWALApp opens the tenant at path as its SaaS app does: in WAL mode,
// with a connection kept open and no checkpoint, so its commits stay in
// the -wal file until the test ends.
func liveWALApp(t *testing.T, path string) *sql.Conn {
	t.Helper()
	app, err := sqlite.Open(path, sqlite.Options{Pragmas: []string{"journal_mode=WAL", "wal_autocheckpoint=0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	conn, err := app.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

type env struct {
	cfg *config.Config
	mdb *metrics.DB
	dir string
}

func setup(t *testing.T, queries map[string]string) *env {
	t.Helper()
	root := t.TempDir()
	tenants := filepath.Join(root, "tenants")
	qdir := filepath.Join(root, "queries")
	for _, d := range []string{tenants, qdir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, src := range queries {
		if err := os.WriteFile(filepath.Join(qdir, name+".sql"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Metrics = filepath.Join(root, "metrics.db")
	cfg.Tenants.Dir = tenants
	cfg.Queries = qdir
	cfg.QueriesFS = os.DirFS(qdir)
	cfg.BusyTimeout = config.Duration(200 * time.Millisecond)
	mdb, err := metrics.Open(context.Background(), cfg.Metrics, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mdb.Close() })
	return &env{cfg: &cfg, mdb: mdb, dir: tenants}
}

const todoCounts = `-- description: todos per tenant
-- mode: snapshot
SELECT count(*) AS todos, coalesce(sum(done), 0) AS done FROM tenant.todos`

func (e *env) run(t *testing.T, opt Options) *Summary {
	t.Helper()
	sum, err := Run(context.Background(), e.cfg, e.mdb, opt)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// rows returns a query's result from the metrics DB as text, for got/want.
func (e *env) rows(t *testing.T, sqlText string, args ...any) [][]any {
	t.Helper()
	res, err := sqlite.Query(context.Background(), e.mdb.R, sqlText, 0, args...)
	if err != nil {
		t.Fatalf("%s: %v", sqlText, err)
	}
	return res.Rows
}

func TestBatching(t *testing.T) {
	for _, n := range []int{1, 9, 10, 11, 25} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			e := setup(t, map[string]string{"todo_counts": todoCounts})
			for i := 0; i < n; i++ {
				todoTenant(t, e.dir, fmt.Sprintf("t%02d", i), i)
			}
			sum := e.run(t, Options{})
			if sum.Total != n || sum.Read != n || sum.OK != n || sum.Failed != 0 || sum.Rows != int64(n) {
				t.Fatalf("summary = %+v, want %d tenants read ok, %d rows", sum, n, n)
			}
			got := e.rows(t, "SELECT tenant_id, todos, done FROM rollup_todo_counts ORDER BY tenant_id")
			if len(got) != n {
				t.Fatalf("got %d rows, want %d", len(got), n)
			}
			for i, r := range got {
				want := []any{fmt.Sprintf("t%02d", i), int64(i), int64(i / 2)}
				if !reflect.DeepEqual(r, want) {
					t.Fatalf("row %d = %v, want %v", i, r, want)
				}
			}
			run := e.rows(t, "SELECT status, tenants_total, tenants_ok, tenants_failed, tenants_unchanged, rows_written FROM runs WHERE id = ?", sum.RunID)
			if want := []any{"ok", int64(n), int64(n), int64(0), int64(0), int64(n)}; !reflect.DeepEqual(run[0], want) {
				t.Fatalf("runs row = %v, want %v", run[0], want)
			}
		})
	}
}

// hashes returns the sha256 of every file in dir, so tests can prove that
// tenant files are never written.
func hashes(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(path)] = sha256.Sum256(b)
		return nil
	})
	return out
}

func TestHostileTenants(t *testing.T) {
	e := setup(t, map[string]string{
		"todo_counts": todoCounts,
		"due":         "-- mode: snapshot\nSELECT due, count(*) AS n FROM tenant.todos GROUP BY due",
	})
	e.cfg.Workers = 2
	good := []string{"acme", "it's", "with space", "semi;colon", "ünïcødé-テナント", "=1+2", "2026-11-22", `quote"d`, "-dash", "@at"}
	for i, id := range good {
		todoTenant(t, e.dir, id, i+1)
	}
	// A corrupt file, a zero-byte file, a database without the table, a
	// tenant whose schema lags (no due column), and a locked tenant.
	os.WriteFile(filepath.Join(e.dir, "corrupt.db"), []byte(strings.Repeat("this is not a database ", 400)), 0o644)
	os.WriteFile(filepath.Join(e.dir, "empty.db"), nil, 0o644)
	makeTenant(t, filepath.Join(e.dir, "notable.db"), "CREATE TABLE tenant.other (x)")
	makeTenant(t, filepath.Join(e.dir, "lagging.db"), "CREATE TABLE tenant.todos (id INTEGER PRIMARY KEY, title TEXT, done INTEGER)", "INSERT INTO tenant.todos (title, done) VALUES ('a', 1)")
	todoTenant(t, e.dir, "locked", 3)
	// Hash before locking: reading a file closes a descriptor, and closing
	// any descriptor drops the process's POSIX locks on that file.
	before := hashes(t, e.dir)
	unlock := lockTenant(t, filepath.Join(e.dir, "locked.db"))

	sum := e.run(t, Options{})
	if sum.Total != 15 || sum.OK != len(good) || sum.Failed != 5 {
		t.Fatalf("summary = %+v, want 15 tenants, %d ok, 5 failed", sum, len(good))
	}
	errs := map[string]string{}
	for _, r := range e.rows(t, "SELECT tenant_id, query, error FROM tenant_errors WHERE run_id = ?", sum.RunID) {
		errs[r[0].(string)+"/"+r[1].(string)] = r[2].(string)
	}
	wantErr := map[string]string{
		"corrupt/todo_counts": "file is not a database",
		"empty/todo_counts":   "no such table: tenant.todos",
		"notable/todo_counts": "no such table: tenant.todos",
		"lagging/due":         "no such column: due",
		"locked/todo_counts":  "database is locked",
	}
	for k, want := range wantErr {
		if !strings.Contains(errs[k], want) {
			t.Errorf("error for %s = %q, want it to contain %q", k, errs[k], want)
		}
	}
	if _, ok := errs["lagging/todo_counts"]; ok {
		t.Errorf("lagging tenant failed todo_counts, which its schema can run")
	}
	// Every good tenant landed, under its exact id.
	var gotIDs []string
	for _, r := range e.rows(t, "SELECT tenant_id FROM rollup_todo_counts") {
		gotIDs = append(gotIDs, r[0].(string))
	}
	want := append(append([]string{}, good...), "lagging")
	sort.Strings(gotIDs)
	sort.Strings(want)
	if !reflect.DeepEqual(gotIDs, want) {
		t.Fatalf("tenants with rows = %q, want %q", gotIDs, want)
	}
	// The tenants table says what broke.
	last := e.rows(t, "SELECT last_error FROM tenants WHERE id = 'lagging'")
	if !strings.Contains(last[0][0].(string), "due: no such column: due") {
		t.Fatalf("tenants.last_error = %q", last[0][0])
	}
	unlock()
	if after := hashes(t, e.dir); !reflect.DeepEqual(before, after) {
		t.Fatal("tenant files changed during the run")
	}
	// Next run: the lock is gone, so that tenant is read again and lands;
	// the others would fail the same way, so they are reported, not read.
	sum = e.run(t, Options{})
	if sum.Read != 1 || sum.OK != 1 || sum.Failed != 4 || sum.Unchanged != 10 {
		t.Fatalf("second run = %+v, want the locked tenant read, 4 lasting failures, 10 unchanged", sum)
	}
	if got := e.rows(t, "SELECT count(DISTINCT tenant_id) FROM tenant_errors WHERE run_id = ?", sum.RunID); got[0][0] != int64(4) {
		t.Fatalf("second run recorded errors for %v tenants, want 4", got[0][0])
	}
}

func TestValuesLandExactly(t *testing.T) {
	e := setup(t, map[string]string{"v": "SELECT due, 42 AS i, 1.5 AS f, x'00ff' AS b, NULL AS n, '007' AS s FROM tenant.todos LIMIT 1"})
	todoTenant(t, e.dir, "a", 1)
	e.run(t, Options{})
	got := e.rows(t, "SELECT typeof(due), due, typeof(i), typeof(f), typeof(b), typeof(n), typeof(s), s FROM rollup_v")
	want := []any{"text", "2026-11-22", "integer", "real", "blob", "null", "text", "007"}
	if !reflect.DeepEqual(got[0], want) {
		t.Fatalf("got %v, want %v", got[0], want)
	}
}

func TestRerunIsIdempotentAndIncremental(t *testing.T) {
	e := setup(t, map[string]string{"todo_counts": todoCounts})
	for i := 0; i < 12; i++ {
		todoTenant(t, e.dir, fmt.Sprintf("t%02d", i), i)
	}
	day1 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clock := func(t time.Time) func() time.Time { return func() time.Time { return t } }

	e.run(t, Options{Now: clock(day1)})
	// Same period, full rerun: rows for the bucket are replaced, not added.
	sum := e.run(t, Options{Now: clock(day1.Add(time.Hour)), Full: true})
	if sum.Read != 12 {
		t.Fatalf("full rerun read %d tenants, want 12", sum.Read)
	}
	if got := e.rows(t, "SELECT count(*) FROM rollup_todo_counts"); got[0][0] != int64(12) {
		t.Fatalf("after rerun: %v rows, want 12", got[0][0])
	}
	// Nothing changed: nothing is read; rows are carried into the next day.
	sum = e.run(t, Options{Now: clock(day1.Add(24 * time.Hour))})
	if sum.Read != 0 || sum.Unchanged != 12 {
		t.Fatalf("unchanged rerun = %+v, want 0 read, 12 unchanged", sum)
	}
	got := e.rows(t, "SELECT bucket, count(*), sum(todos) FROM rollup_todo_counts GROUP BY bucket ORDER BY bucket")
	want := [][]any{{"2026-11-22", int64(12), int64(66)}, {"2026-11-23", int64(12), int64(66)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("buckets = %v, want %v", got, want)
	}
	// One tenant changes: only it is read.
	time.Sleep(10 * time.Millisecond)
	makeTenant(t, filepath.Join(e.dir, "t03.db"), "INSERT INTO tenant.todos (title, done) VALUES ('new', 1)")
	sum = e.run(t, Options{Now: clock(day1.Add(25 * time.Hour))})
	if sum.Read != 1 || sum.Unchanged != 11 {
		t.Fatalf("after one change = %+v, want 1 read, 11 unchanged", sum)
	}
	got = e.rows(t, "SELECT todos FROM rollup_todo_counts WHERE tenant_id = 't03' AND bucket = '2026-11-23'")
	if got[0][0] != int64(4) {
		t.Fatalf("t03 todos = %v, want 4", got[0][0])
	}
	// A new query is run for everyone even when files did not change.
	os.WriteFile(filepath.Join(e.cfg.Queries, "titles.sql"), []byte("-- mode: replace\nSELECT title FROM tenant.todos"), 0o644)
	sum = e.run(t, Options{Now: clock(day1.Add(26 * time.Hour))})
	if sum.Read != 12 {
		t.Fatalf("new query: read %d tenants, want 12", sum.Read)
	}
}

func TestReplaceModeReplacesTenantRows(t *testing.T) {
	e := setup(t, map[string]string{"titles": "-- mode: replace\nSELECT title, done FROM tenant.todos"})
	todoTenant(t, e.dir, "a", 3)
	todoTenant(t, e.dir, "b", 2)
	e.run(t, Options{})
	time.Sleep(10 * time.Millisecond)
	makeTenant(t, filepath.Join(e.dir, "a.db"), "DELETE FROM tenant.todos WHERE id > 1")
	e.run(t, Options{})
	got := e.rows(t, "SELECT tenant_id, count(*) FROM rollup_titles GROUP BY tenant_id ORDER BY tenant_id")
	want := [][]any{{"a", int64(1)}, {"b", int64(2)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// A full rerun replaces everything at once and lands the same rows.
	e.run(t, Options{Full: true})
	if got := e.rows(t, "SELECT tenant_id, count(*) FROM rollup_titles GROUP BY tenant_id ORDER BY tenant_id"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after --full: got %v, want %v", got, want)
	}
	if cols := e.rows(t, "SELECT name FROM pragma_table_info('rollup_titles') ORDER BY cid"); len(cols) != 3 {
		t.Fatalf("replace-mode table has columns %v, want tenant_id, title, done (no bucket)", cols)
	}
}

func TestCatalogSource(t *testing.T) {
	e := setup(t, map[string]string{"todo_counts": todoCounts})
	elsewhere := t.TempDir()
	todoTenant(t, elsewhere, "db-one", 2)
	todoTenant(t, e.dir, "db-two", 4)
	catalog := filepath.Join(t.TempDir(), "catalog.db")
	makeTenant(t, catalog,
		"CREATE TABLE tenant.organizations (id TEXT, path TEXT, active INT)",
		fmt.Sprintf("INSERT INTO tenant.organizations VALUES ('org one', '%s', 1), ('org two', '%s', 1), ('gone', 'missing.db', 1), ('off', 'x.db', 0)",
			filepath.Join(elsewhere, "db-one.db"), filepath.Join(e.dir, "db-two.db")))
	e.cfg.Tenants = config.Tenants{Catalog: &config.Catalog{DB: catalog, Query: "SELECT id, path FROM organizations WHERE active = 1"}}
	before := hashes(t, filepath.Dir(catalog))
	sum := e.run(t, Options{})
	if sum.Total != 3 || sum.OK != 2 || sum.Failed != 1 {
		t.Fatalf("summary = %+v, want 3 tenants, 2 ok, 1 failed (missing file)", sum)
	}
	got := e.rows(t, "SELECT tenant_id, todos FROM rollup_todo_counts ORDER BY tenant_id")
	want := [][]any{{"org one", int64(2)}, {"org two", int64(4)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if after := hashes(t, filepath.Dir(catalog)); !reflect.DeepEqual(before, after) {
		t.Fatal("the catalog database changed")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(catalog), "missing.db")); err == nil {
		t.Fatal("a missing tenant file was created")
	}

	// The query page over the same fleet: the missing tenant is an error,
	// counted among the tenants asked; named tenants come in the order named.
	sb := sandbox.NewRunner(1, 10*time.Second, time.Second)
	defer sb.Close()
	res, err := Adhoc(t.Context(), e.cfg, sb, "SELECT count(*) AS n FROM tenant.todos", nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tenants != 3 || len(res.Rows) != 2 || len(res.Errors) != 1 || res.Errors[0].TenantID != "gone" || res.Truncated {
		t.Fatalf("adhoc over the catalog: %d tenants, rows %v, errors %+v, truncated %v", res.Tenants, res.Rows, res.Errors, res.Truncated)
	}
	res, err = Adhoc(t.Context(), e.cfg, sb, "SELECT count(*) AS n FROM tenant.todos", []string{"org two", "gone", "org one"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]any{{"org two", int64(4)}, {"org one", int64(2)}}; res.Tenants != 3 || !reflect.DeepEqual(res.Rows, want) || len(res.Errors) != 1 {
		t.Fatalf("adhoc over named tenants: %d tenants, rows %v (want %v), errors %+v", res.Tenants, res.Rows, want, res.Errors)
	}
	if _, err := Adhoc(t.Context(), e.cfg, sb, "SELECT 1 AS x FROM tenant.todos", []string{"nobody"}, 10); err == nil || !strings.Contains(err.Error(), `no tenant "nobody"`) {
		t.Fatalf("adhoc on an unknown tenant: err = %v", err)
	}
}

func TestSecondRunIsRefused(t *testing.T) {
	e := setup(t, map[string]string{"todo_counts": todoCounts})
	todoTenant(t, e.dir, "a", 1)
	unlock, err := metrics.Lock(e.mdb.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = Run(context.Background(), e.cfg, e.mdb, Options{})
	if !errors.Is(err, metrics.ErrRunInProgress) || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("err = %v, want ErrRunInProgress naming the holder", err)
	}
}

func TestRunawayTenantIsStoppedAndIsolated(t *testing.T) {
	e := setup(t, map[string]string{"spin": `SELECT (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < (SELECT max(id) FROM tenant.todos)) SELECT count(*) FROM n) AS n`})
	e.cfg.BatchTimeout = config.Duration(1500 * time.Millisecond)
	// Forty quick tenants in batches of two, one worker: calls grow to two
	// batches (see grow), and the runaway shares a batch with ok20 in the
	// middle of the fleet, so the call it stops is split into its batches
	// first.
	e.cfg.BatchSize, e.cfg.Workers = 2, 1
	for i := 0; i < 40; i++ {
		todoTenant(t, e.dir, fmt.Sprintf("ok%02d", i), 3)
	}
	const runaway = "ok20-runaway"
	makeTenant(t, filepath.Join(e.dir, runaway+".db"), "CREATE TABLE tenant.todos (id INTEGER PRIMARY KEY)", "INSERT INTO tenant.todos (id) VALUES (9000000000000)")
	var logs bytes.Buffer
	sum := e.run(t, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if sum.OK != 40 || sum.Failed != 1 {
		t.Fatalf("summary = %+v, want 40 ok and the runaway failed", sum)
	}
	got := e.rows(t, "SELECT error FROM tenant_errors WHERE tenant_id = ?", runaway)
	if len(got) != 1 || !strings.Contains(got[0][0].(string), "batch_timeout") {
		t.Fatalf("runaway error = %v", got)
	}
	// Stopped once a level: its call, its batch, then alone; one batch a
	// call if this machine was too slow for calls to grow.
	stops, want := strings.Count(logs.String(), `err="time limit reached`), 2
	if strings.Contains(logs.String(), "lost a call of several batches") {
		want = 3
	} else {
		t.Log("calls did not grow past one batch: the split of a call was not exercised")
	}
	if stops != want {
		t.Fatalf("the runaway was stopped %d times, want %d:\n%s", stops, want, logs.String())
	}
}

func TestCheckFindsSchemaLag(t *testing.T) {
	e := setup(t, map[string]string{"due": "SELECT due FROM tenant.todos"})
	todoTenant(t, e.dir, "new", 1)
	makeTenant(t, filepath.Join(e.dir, "old.db"), "CREATE TABLE tenant.todos (id INTEGER PRIMARY KEY)")
	qs, err := SelectQueries(e.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := hashes(t, e.dir)
	rep, err := Check(context.Background(), e.cfg, e.mdb, qs, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	findings, total := rep.Findings, rep.Total
	if total != 2 || len(findings) != 1 || findings[0].Tenant != "old" || !strings.Contains(findings[0].Error, "no such column: due") {
		t.Fatalf("findings = %+v (of %d)", findings, total)
	}
	if got := e.rows(t, "SELECT tenant_id, query FROM check_findings"); !reflect.DeepEqual(got, [][]any{{"old", "due"}}) {
		t.Fatalf("check_findings = %v", got)
	}
	if after := hashes(t, e.dir); !reflect.DeepEqual(before, after) {
		t.Fatal("check changed tenant files")
	}
}

// A fleet checked in chunks (as a large one is) finds what one chunk
// finds: every finding counted and saved, at most keep of them held.
func TestCheckInChunksFindsTheSame(t *testing.T) {
	e := setup(t, map[string]string{"due": "SELECT due FROM tenant.todos", "titles": "SELECT count(title) AS n FROM tenant.todos"})
	for i := 0; i < 4; i++ {
		todoTenant(t, e.dir, fmt.Sprintf("new%d", i), 1)
	}
	for i := 0; i < 5; i++ {
		makeTenant(t, filepath.Join(e.dir, fmt.Sprintf("old%d.db", i)), "CREATE TABLE tenant.todos (id INTEGER PRIMARY KEY, title TEXT)")
	}
	makeTenant(t, filepath.Join(e.dir, "bare.db"), "CREATE TABLE tenant.other (x)")
	qs, err := SelectQueries(e.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	saved := func() [][]any {
		return e.rows(t, "SELECT tenant_id, query, error FROM check_findings ORDER BY query, tenant_id")
	}
	whole, err := check(t.Context(), e.cfg, e.mdb, qs, nil, nil, nil, checkLimits{chunk: 100, keep: 100})
	if err != nil {
		t.Fatal(err)
	}
	wholeSaved := saved()
	var steps []int
	chunked, err := check(t.Context(), e.cfg, e.mdb, qs, nil, func(done, total int) { steps = append(steps, done) }, nil, checkLimits{chunk: 3, keep: 4})
	if err != nil {
		t.Fatal(err)
	}
	// due: the five old tenants and bare; titles: bare.
	if want := map[string]int{"due": 6, "titles": 1}; !reflect.DeepEqual(whole.Counts, want) || !reflect.DeepEqual(chunked.Counts, want) {
		t.Fatalf("counts: whole %v, chunked %v, want %v", whole.Counts, chunked.Counts, want)
	}
	if whole.Total != 10 || chunked.Total != 10 || len(whole.Findings) != 7 || len(chunked.Findings) != 4 || chunked.FindingCount() != 7 {
		t.Fatalf("whole %d tenants %d findings; chunked %d tenants %d findings (%d counted)", whole.Total, len(whole.Findings), chunked.Total, len(chunked.Findings), chunked.FindingCount())
	}
	if got := saved(); len(got) != 7 || !reflect.DeepEqual(got, wholeSaved) {
		t.Fatalf("check_findings after the chunked check = %v, want %v", got, wholeSaved)
	}
	if len(steps) == 0 || steps[len(steps)-1] != 10 {
		t.Fatalf("progress %v, want it to end at 10", steps)
	}
}

func TestAdhoc(t *testing.T) {
	e := setup(t, nil)
	for i := 0; i < 13; i++ {
		todoTenant(t, e.dir, fmt.Sprintf("t%02d", i), i)
	}
	makeTenant(t, filepath.Join(e.dir, "broken.db"), "CREATE TABLE tenant.other (x)")
	sb := sandbox.NewRunner(1, 10*time.Second, time.Second)
	defer sb.Close()
	before := hashes(t, e.dir)
	res, err := Adhoc(context.Background(), e.cfg, sb, "SELECT count(*) AS n FROM tenant.todos", nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 13 || !reflect.DeepEqual(res.Columns, []string{"tenant_id", "n"}) || len(res.Errors) != 1 || res.Errors[0].TenantID != "broken" {
		t.Fatalf("adhoc = %d rows, cols %v, errors %+v", len(res.Rows), res.Columns, res.Errors)
	}
	if !strings.Contains(res.Errors[0].Error, "no such table: tenant.todos") {
		t.Fatalf("error = %q", res.Errors[0].Error)
	}
	res, err = Adhoc(context.Background(), e.cfg, sb, "SELECT title FROM tenant.todos", []string{"t12"}, 5)
	if err != nil || len(res.Rows) != 5 || !res.Truncated {
		t.Fatalf("limited adhoc: %v rows, truncated %v, err %v", len(res.Rows), res.Truncated, err)
	}
	for _, bad := range []string{"ATTACH 'x.db' AS y", "DELETE FROM tenant.todos", "PRAGMA tenant.user_version = 3", "SELECT 1; SELECT 2"} {
		if _, err := Adhoc(context.Background(), e.cfg, sb, bad, nil, 10); err == nil {
			t.Errorf("adhoc accepted %q", bad)
		}
	}
	if after := hashes(t, e.dir); !reflect.DeepEqual(before, after) {
		t.Fatal("adhoc changed tenant files")
	}
}

func TestClockQueriesAreReadOncePerPeriod(t *testing.T) {
	e := setup(t, map[string]string{"recent": "-- grain: day\nSELECT count(*) AS n FROM tenant.todos WHERE due <= date('now')"})
	todoTenant(t, e.dir, "a", 2)
	at := func(h int) Options {
		return Options{Now: func() time.Time { return time.Date(2026, 11, 22, h, 0, 0, 0, time.UTC) }}
	}
	e.run(t, at(1))
	if sum := e.run(t, at(2)); sum.Read != 0 {
		t.Fatalf("same day: read %d, want 0", sum.Read)
	}
	if sum := e.run(t, at(26)); sum.Read != 1 {
		t.Fatalf("next day: read %d, want 1: a query that reads the clock is recomputed each period", sum.Read)
	}
}

func TestWALTenantWithLiveWriter(t *testing.T) {
	e := setup(t, map[string]string{"todo_counts": todoCounts})
	path := filepath.Join(e.dir, "wal.db")
	todoTenant(t, e.dir, "wal", 2)
	ctx := context.Background()
	// The SaaS app keeps the database open in WAL mode; its last commit is
	// still in the -wal file, not checkpointed.
	conn := liveWALApp(t, path)
	write := func() {
		if _, err := conn.ExecContext(ctx, "INSERT INTO todos (title, done) VALUES ('from the app', 1)"); err != nil {
			t.Fatal(err)
		}
	}
	write()
	sum := e.run(t, Options{})
	if got := e.rows(t, "SELECT todos FROM rollup_todo_counts WHERE tenant_id = 'wal'"); sum.OK != 1 || got[0][0] != int64(3) {
		t.Fatalf("summary %+v, todos %v: want the committed row in the -wal to be read (3)", sum, got)
	}
	if sum := e.run(t, Options{}); sum.Read != 0 {
		t.Fatalf("unchanged WAL tenant read again: %+v", sum)
	}
	time.Sleep(10 * time.Millisecond)
	write() // only the -wal changes
	if sum := e.run(t, Options{}); sum.Read != 1 {
		t.Fatalf("a change in the -wal alone was not noticed: %+v", sum)
	}
	if got := e.rows(t, "SELECT todos FROM rollup_todo_counts WHERE tenant_id = 'wal'"); got[0][0] != int64(4) {
		t.Fatalf("todos = %v, want 4", got[0][0])
	}
}

func TestAdhocSharesOneDeadline(t *testing.T) {
	e := setup(t, nil)
	for i := 0; i < 12; i++ {
		todoTenant(t, e.dir, fmt.Sprintf("t%02d", i), 1)
	}
	sb := sandbox.NewRunner(1, 700*time.Millisecond, time.Second)
	defer sb.Close()
	start := time.Now()
	res, err := Adhoc(context.Background(), e.cfg, sb, "SELECT (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n) AS spin FROM tenant.todos", nil, 100)
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("a runaway ad-hoc query over 12 tenants took %s; the batches must share one query_timeout", el)
	}
	if err == nil && (res == nil || !res.Truncated || res.Partial == "") && (res == nil || len(res.Errors) == 0) {
		t.Fatalf("a stopped query must say so: %+v", res)
	}
}

func TestFullRerunKeepsRowsOfTenantsThatFailed(t *testing.T) {
	e := setup(t, map[string]string{"titles": "-- mode: replace\nSELECT title FROM tenant.todos"})
	todoTenant(t, e.dir, "a", 2)
	todoTenant(t, e.dir, "b", 3)
	e.run(t, Options{})
	// b is locked during the next full runs: its earlier rows must stay.
	lockTenant(t, filepath.Join(e.dir, "b.db"))
	for i := 0; i < 2; i++ {
		sum := e.run(t, Options{Full: true})
		if sum.Failed != 1 {
			t.Fatalf("run %d: %+v, want b failed (locked)", i, sum)
		}
		got := e.rows(t, "SELECT tenant_id, count(*) FROM rollup_titles GROUP BY tenant_id ORDER BY tenant_id")
		if want := [][]any{{"a", int64(2)}, {"b", int64(3)}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("run %d: rows %v, want %v: a failed tenant keeps its last good rows", i, got, want)
		}
	}
}
