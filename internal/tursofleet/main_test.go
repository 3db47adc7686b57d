// Package tursofleet holds the end-to-end tests and the benchmark of reading
// a Turso fleet: tenants on real libSQL servers (sqld), listed by a catalog
// that is itself on sqld, synced into embedded replicas and read by the
// engine exactly like local files.
package tursofleet

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/fleettest"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/roles"
	"github.com/attache/attache/internal/rollup"
	"github.com/attache/attache/internal/sqldtest"
	"github.com/attache/attache/internal/sqlite"
)

// TestMain lets the test binary serve as the engine's worker processes and
// the replica sync processes.
func TestMain(m *testing.M) {
	if code, ok := roles.Serve(); ok {
		os.Exit(code)
	}
	if spec := os.Getenv(benchEnv); spec != "" {
		os.Exit(benchChild(spec))
	}
	os.Exit(m.Run())
}

// The queries every test runs: a snapshot, a replace-mode history, and one
// that reads text and real values.
var queries = map[string]string{
	"todo_counts": "-- mode: snapshot\nSELECT count(*) AS todos, coalesce(sum(done), 0) AS done FROM tenant.todos",
	"activity":    "-- mode: replace\nSELECT day, count(*) AS events, sum(amount) AS amount FROM tenant.events GROUP BY day",
	"titles":      "-- mode: snapshot\nSELECT max(title) AS last_title, avg(done) AS share_done FROM tenant.todos",
}

// tenantSQL is tenant i's data, written for a schema prefix ("tenant." for
// a local file, "" on the server), so both copies hold the same rows.
func tenantSQL(i int, prefix string) []string {
	stmts := []string{
		"CREATE TABLE " + prefix + "todos (id INTEGER PRIMARY KEY, title TEXT, done INTEGER NOT NULL DEFAULT 0)",
		"CREATE TABLE " + prefix + "events (id INTEGER PRIMARY KEY, day TEXT, amount REAL)",
	}
	var todos, events []string
	for k := 0; k < 3+i%5; k++ {
		todos = append(todos, fmt.Sprintf("('todo %d of tenant %d', %d)", k, i, (k+i)%2))
	}
	for k := 0; k < 2+i%4; k++ {
		events = append(events, fmt.Sprintf("('2026-11-%02d', %d.25)", 1+(k*i)%28, k+i))
	}
	return append(stmts,
		"INSERT INTO "+prefix+"todos (title, done) VALUES "+strings.Join(todos, ", "),
		"INSERT INTO "+prefix+"events (day, amount) VALUES "+strings.Join(events, ", "))
}

// fleet is one test's world: a sqld holding remote tenants and the
// catalog, local tenant files, and a config reading them all.
type fleet struct {
	t        *testing.T
	srv      *sqldtest.Server
	root     string
	local    string // folder of the local copies of every tenant
	cfg      *config.Config
	mdb      *metrics.DB
	log      *bytes.Buffer
	logMu    *sync.Mutex
	logger   *slog.Logger
	remote   []string
	locals   []string
	tokens   []string // every secret in play, to check they never leak
	catalog  []string // catalog rows (SQL tuples)
	catalogN int
}

// newFleet makes nRemote tenants on sqld and nLocal local files, all in one
// catalog on sqld, plus a local copy of every tenant for comparison.
func newFleet(t *testing.T, nRemote, nLocal int, extraYAML string) *fleet {
	t.Helper()
	srv := sqldtest.Start(t)
	f := &fleet{t: t, srv: srv, root: t.TempDir(), log: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	f.local = filepath.Join(f.root, "copies")
	qdir := filepath.Join(f.root, "queries")
	for _, d := range []string{f.local, qdir, filepath.Join(f.root, "tenants")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, src := range queries {
		if err := os.WriteFile(filepath.Join(qdir, name+".sql"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < nRemote+nLocal; i++ {
		id := fmt.Sprintf("org-%02d", i)
		fleettest.Write(t, filepath.Join(f.local, id+".db"), "tenant", tenantSQL(i, "tenant.")...)
		if i < nRemote {
			u := srv.CreateDB(t, id)
			srv.Exec(t, id, tenantSQL(i, "")...)
			f.remote = append(f.remote, id)
			// turso-crm keeps a bare host name; a local server needs its
			// http:// URL (a bare host would mean libsql://, i.e. TLS).
			f.catalog = append(f.catalog, fmt.Sprintf("('%s', '%s', NULL)", id, u))
		} else {
			path := filepath.Join(f.root, "tenants", id+".db")
			fleettest.Write(t, path, "tenant", tenantSQL(i, "tenant.")...)
			f.locals = append(f.locals, id)
			f.catalog = append(f.catalog, fmt.Sprintf("('%s', '%s', NULL)", id, path))
		}
	}
	catURL := srv.CreateDB(t, "crm")
	srv.Exec(t, "crm", "CREATE TABLE organizations (id TEXT PRIMARY KEY, db_url TEXT NOT NULL, token TEXT)")
	f.setCatalog()
	catTok, tenTok := srv.Token(true), srv.Token(true)
	t.Setenv("TURSO_AUTH_TOKEN", catTok)
	t.Setenv("TURSO_DB_AUTH_TOKEN", tenTok)
	f.tokens = append(f.tokens, catTok, tenTok, srv.Token(false))
	yaml := fmt.Sprintf(`metrics: metrics.db
tenants:
  catalog:
    db: %s
    auth_token_env: TURSO_AUTH_TOKEN
    query: SELECT id, db_url, token FROM organizations
  auth_token_env: TURSO_DB_AUTH_TOKEN
  replicas: replicas
  sync_workers: 3
  sync_timeout: 30s
%s
queries: queries
busy_timeout: 2s
`, catURL, extraYAML)
	cfgPath := filepath.Join(f.root, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.mdb, err = metrics.Open(context.Background(), cfg.Metrics, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.mdb.Close() })
	f.logger = slog.New(slog.NewTextHandler(lockedWriter{f.logMu, f.log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return f
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// setCatalog writes the catalog rows on the server.
func (f *fleet) setCatalog() {
	f.srv.Exec(f.t, "crm", "DELETE FROM organizations", "INSERT INTO organizations VALUES "+strings.Join(f.catalog, ", "))
}

func (f *fleet) run(opt rollup.Options) *rollup.Summary {
	f.t.Helper()
	opt.Log = f.logger
	sum, err := rollup.Run(context.Background(), f.cfg, f.mdb, opt)
	if err != nil {
		f.t.Fatal(err)
	}
	return sum
}

// rollups is every rollup table's rows as text, sorted: what the dashboard
// and exports show.
func rollups(t *testing.T, mdb *metrics.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{"todo_counts", "activity", "titles"} {
		res, err := sqlite.Query(context.Background(), mdb.R, "SELECT * FROM rollup_"+q+" ORDER BY 1, 2, 3, 4", 0)
		if err != nil {
			t.Fatalf("rollup_%s: %v", q, err)
		}
		fmt.Fprintf(&b, "%s %v\n", q, res.Columns)
		for _, r := range res.Rows {
			fmt.Fprintf(&b, "%#v\n", r)
		}
	}
	return b.String()
}

// localRun runs the same queries over the local copies of every tenant:
// the numbers the remote fleet must give.
func (f *fleet) localRun(now func() time.Time) string {
	f.t.Helper()
	cfg := *f.cfg
	cfg.Tenants = config.Tenants{Dir: f.local, Remote: f.cfg.Tenants.Remote}
	cfg.Metrics = filepath.Join(f.t.TempDir(), "local-metrics.db")
	mdb, err := metrics.Open(context.Background(), cfg.Metrics, 5*time.Second)
	if err != nil {
		f.t.Fatal(err)
	}
	defer mdb.Close()
	if _, err := rollup.Run(context.Background(), &cfg, mdb, rollup.Options{Now: now}); err != nil {
		f.t.Fatal(err)
	}
	return rollups(f.t, mdb)
}
