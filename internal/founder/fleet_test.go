package founder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/fleettest"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/rollup"
	"github.com/attache/attache/internal/sandbox"
)

// event is one row of a tenant's activity table, its time as stored.
type event struct {
	at   string
	kind string // login, todo_created, todo_completed, ...
}

// spec is one tenant of a test fleet, written with the demo's schema.
type spec struct {
	id     string
	plan   string
	signup string // meta created_at, as stored
	schema int    // 3 (current) or 1 (no todos.priority, todos.completed_at)
	events []event
	subs   []sub // subscription_events, in order
}

// sub is one row of a tenant's subscription_events (the demo's billing
// table): from at (as stored) on, status, billed amount cents per interval.
type sub struct {
	at       string
	status   string // trialing, active, canceled, expired
	interval string // month, year
	amount   int64
}

// login is an event of kind login at each of the times.
func logins(at ...string) []event {
	out := make([]event, len(at))
	for i, a := range at {
		out[i] = event{at: a, kind: "login"}
	}
	return out
}

// The demo's tables (internal/demo/sql.go), created in the database
// attached as t.
var (
	schemaCurrent = []string{
		`CREATE TABLE t.meta(key TEXT PRIMARY KEY, value TEXT)`,
		`CREATE TABLE t.members(id INTEGER PRIMARY KEY, email TEXT, name TEXT, role TEXT, joined_at TEXT)`,
		`CREATE TABLE t.lists(id INTEGER PRIMARY KEY, name TEXT, created_at TEXT, archived INTEGER NOT NULL DEFAULT 0)`,
		`CREATE TABLE t.todos(id INTEGER PRIMARY KEY, list_id INTEGER REFERENCES lists(id), title TEXT, created_by INTEGER, created_at TEXT, completed_at TEXT, done INTEGER NOT NULL DEFAULT 0, priority INTEGER NOT NULL DEFAULT 0)`,
		`CREATE TABLE t.activity(id INTEGER PRIMARY KEY, member_id INTEGER, kind TEXT, at TEXT)`,
		`CREATE INDEX t.activity_at ON activity(at)`,
		`CREATE TABLE t.subscription_events(id INTEGER PRIMARY KEY, at TEXT NOT NULL, status TEXT NOT NULL, plan TEXT, seats INTEGER, billing_interval TEXT, amount_cents INTEGER)`,
	}
	schemaOld = []string{
		schemaCurrent[0], schemaCurrent[1], schemaCurrent[2],
		`CREATE TABLE t.todos(id INTEGER PRIMARY KEY, list_id INTEGER REFERENCES lists(id), title TEXT, created_by INTEGER, created_at TEXT, done INTEGER NOT NULL DEFAULT 0)`,
		schemaCurrent[4], schemaCurrent[5], schemaCurrent[6],
	}
)

// writeTenant creates dir/ID.db from s through one in-memory connection
// that ATTACHes the new file, the way the demo writes its fleet.
func writeTenant(t *testing.T, dir string, s spec) {
	t.Helper()
	stmts := schemaCurrent
	if s.schema == 1 {
		stmts = schemaOld
	}
	stmts = append([]string{}, stmts...)
	stmts = append(stmts,
		fmt.Sprintf(`INSERT INTO t.meta VALUES ('name', %s), ('plan', %s), ('created_at', %s), ('schema_version', '%d')`,
			quote("Tenant "+strings.ToUpper(s.id)), quote(s.plan), quote(s.signup), s.schema),
		fmt.Sprintf(`INSERT INTO t.members VALUES (1, 'owner@%s.example', 'Owner', 'owner', %s)`, s.id, quote(s.signup)),
		fmt.Sprintf(`INSERT INTO t.lists VALUES (1, 'Inbox', %s, 0)`, quote(s.signup)),
	)
	for i, e := range s.events {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO t.activity(id, member_id, kind, at) VALUES (%d, 1, %s, %s)`, i+1, quote(e.kind), quote(e.at)))
		if e.kind == "todo_created" {
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO t.todos(list_id, title, created_by, created_at) VALUES (1, 'a todo', 1, %s)`, quote(e.at)))
		}
	}
	for i, b := range s.subs {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO t.subscription_events VALUES (%d, %s, %s, %s, 1, %s, %d)`,
			i+1, quote(b.at), quote(b.status), quote(s.plan), quote(b.interval), b.amount))
	}
	fleettest.Write(t, filepath.Join(dir, s.id+".db"), "t", stmts...)
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// env is a test fleet read into a metrics DB by the real engine, with the
// shipped queries, and a runner for the shipped reports' panels.
type env struct {
	cfg     *config.Config
	mdb     *metrics.DB
	dir     string
	reports []*report.Report
	runner  *report.Runner
}

// newEnv makes an empty tenant folder and metrics DB in a temp dir.
func newEnv(t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "tenants")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	queries, err := filepath.Abs("../../queries")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Metrics = filepath.Join(root, "metrics.db")
	cfg.Tenants.Dir = dir
	cfg.Queries = queries
	cfg.QueriesFS = os.DirFS(queries)
	cfg.BusyTimeout = config.Duration(time.Second)
	mdb, err := metrics.Open(context.Background(), cfg.Metrics, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mdb.Close() })
	sb := sandbox.NewRunner(2, time.Minute, time.Second)
	t.Cleanup(sb.Close)
	return &env{cfg: &cfg, mdb: mdb, dir: dir, reports: loadReports(t), runner: report.NewRunner(sb, cfg.Metrics, 10000)}
}

// run reads the fleet into rollups with the engine's clock at now, then
// records `attache check`'s findings.
func (e *env) run(t *testing.T, now time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := rollup.Run(ctx, e.cfg, e.mdb, rollup.Options{Now: func() time.Time { return now }}); err != nil {
		t.Fatal(err)
	}
	queries, err := rollup.SelectQueries(e.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rollup.Check(ctx, e.cfg, e.mdb, queries, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// panel runs one panel of a shipped report and fails the test on an error.
func (e *env) panel(t *testing.T, rep, id string) *report.Data {
	t.Helper()
	r := report.Find(e.reports, rep)
	if r == nil {
		t.Fatalf("no report %s", rep)
	}
	p := r.Panel(id)
	if p == nil {
		t.Fatalf("report %s has no panel %s (has %v)", rep, id, r.PanelIDs())
	}
	d := e.runner.Run(p)
	if d.Err != nil {
		t.Fatalf("%s/%s: %v", rep, id, d.Err)
	}
	if d.Truncated {
		t.Fatalf("%s/%s: truncated", rep, id)
	}
	return d
}

// get is a row's value by column name.
func get(t *testing.T, d *report.Data, row []any, col string) any {
	t.Helper()
	i := d.Column(col)
	if i < 0 {
		t.Fatalf("%s: no column %q in %v", d.Panel.ID, col, d.Columns)
	}
	return row[i]
}

// series is a two-column panel as x -> y, after checking the columns.
func series(t *testing.T, d *report.Data, x, y string) (keys []string, vals map[string]any) {
	t.Helper()
	vals = map[string]any{}
	for _, r := range d.Rows {
		k, ok := get(t, d, r, x).(string)
		if !ok {
			t.Fatalf("%s: %s is %#v, want text", d.Panel.ID, x, get(t, d, r, x))
		}
		keys = append(keys, k)
		vals[k] = get(t, d, r, y)
	}
	return keys, vals
}

// utc parses a timestamp the way the tenants store them (UTC without a zone,
// or RFC 3339 with an offset) and returns it in UTC.
func utc(t *testing.T, s string) time.Time {
	t.Helper()
	for _, layout := range []string{"2006-01-02 15:04:05", time.RFC3339} {
		if v, err := time.Parse(layout, s); err == nil {
			return v.UTC()
		}
	}
	t.Fatalf("bad timestamp %q", s)
	return time.Time{}
}

// Period keys, computed in Go: an implementation independent of the SQL.
func dayOf(v time.Time) string   { return v.Format("2006-01-02") }
func monthOf(v time.Time) string { return v.Format("2006-01") }
func weekOf(v time.Time) string {
	back := (int(v.Weekday()) + 6) % 7 // days since Monday
	return dayOf(v.AddDate(0, 0, -back))
}
