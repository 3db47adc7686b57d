package server

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/attache/attache"
	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/demo"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/roles"
	"github.com/attache/attache/internal/rollup"
	"github.com/attache/attache/internal/sandbox"
)

// TestMain lets the test binary serve as its own sandbox and rollup workers.
func TestMain(m *testing.M) {
	if code, ok := roles.Serve(); ok {
		os.Exit(code)
	}
	code := m.Run()
	cleanupFixtures()
	os.Exit(code)
}

// fixedNow is the shared fixture's clock, so its data never depends on the day.
var fixedNow = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// xss is a hostile tenant id and data value: it must only ever appear escaped.
const xss = `</script><script>alert(1)</script>`

// Passwords of the test users; hashes use bcrypt's lowest cost to keep
// tests fast.
const (
	anaPW = "ana-secret-1"
	fayPW = "fay-secret-2"
)

// fixture is a metrics DB built by the real engine from a generated fleet,
// shared by the tests that only read it.
type fixture struct {
	root    string
	cfg     *config.Config
	mdb     *metrics.DB
	reports []*report.Report
	panels  *report.Runner
	sb      *sandbox.Runner
	adhoc   *sandbox.Runner
}

var (
	sharedOnce sync.Once
	shared     *fixture
	sharedErr  error
	fixtures   []*fixture
	fixturesMu sync.Mutex
)

func cleanupFixtures() {
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	for _, f := range fixtures {
		f.close()
	}
}

func (f *fixture) close() {
	f.sb.Close()
	f.adhoc.Close()
	f.mdb.Close()
	os.RemoveAll(f.root)
}

// sharedFixture is built once per test binary: demo fleet, one real run,
// plus hostile rows.
func sharedFixture(t testing.TB) *fixture {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = newFixture(12, 120, true, fixedNow) })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

// testReports are reports beside the shipped ones: one with a panel that
// fails, and one that charts the hostile labels.
const brokenReport = `title: Broken
panels:
  - id: fine
    title: Tenants
    chart: number
    sql: SELECT count(*) AS n FROM tenants
  - id: broken
    title: Broken panel
    chart: line
    sql: SELECT nope FROM no_such_table
    x: nope
    y: [nope]
`

const xssReport = `title: Plans with hostile labels
panels:
  - id: plans
    title: Plans
    chart: bar
    sql: SELECT coalesce(plan, 'none') AS plan, count(*) AS tenants FROM rollup_tenant_profile GROUP BY 1 ORDER BY 1
    x: plan
    y: [tenants]
  - id: names
    title: Names
    chart: table
    sql: SELECT tenant_id, name FROM rollup_tenant_profile ORDER BY tenant_id
`

// newFixture generates tenants with days of history ending at now and runs
// the engine once at now.
func newFixture(tenants, days int, hostile bool, now time.Time) (*fixture, error) {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "attache-server-test-")
	if err != nil {
		return nil, err
	}
	if _, err := demo.Generate(ctx, demo.Options{Dir: filepath.Join(root, "tenants"), Tenants: tenants, Days: days, Seed: 7, Now: now}, nil); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	ana, _ := bcrypt.GenerateFromPassword([]byte(anaPW), bcrypt.MinCost)
	fay, _ := bcrypt.GenerateFromPassword([]byte(fayPW), bcrypt.MinCost)
	yaml := fmt.Sprintf(`metrics: metrics.db
tenants: {dir: tenants}
query_timeout: 20s
auth:
  users:
    - {name: ana, password_hash: %q, role: viewer}
    - {name: fay, password_hash: %q, role: admin}
`, ana, fay)
	cfg, err := config.Parse([]byte(yaml), root)
	if err != nil {
		return nil, err
	}
	cfg.QueriesFS, _ = fs.Sub(attache.Files, "queries")
	cfg.ReportsFS, _ = fs.Sub(attache.Files, "reports")
	mdb, err := metrics.Open(ctx, cfg.Metrics, time.Second)
	if err != nil {
		return nil, err
	}
	if _, err := rollup.Run(ctx, cfg, mdb, rollup.Options{Now: func() time.Time { return now }}); err != nil {
		return nil, fmt.Errorf("rollup: %w", err)
	}
	if hostile {
		stmts := []string{
			"INSERT INTO tenants (id, location, size_bytes, modified_at, first_seen, last_seen, last_ok_at, last_error) VALUES (?1, '/fleet/' || ?1, 4096, '2026-02-27T10:00:00Z', '2026-01-01T00:00:00Z', '2026-03-01T00:00:00Z', NULL, 'no such column: ' || ?1)",
			"INSERT INTO tenant_errors (run_id, tenant_id, query, error) VALUES (1, ?1, 'activity', 'file is not a database ' || ?1)",
			"INSERT INTO rollup_tenant_profile (tenant_id, name, plan) VALUES (?1, ?1, ?1)",
		}
		for _, s := range stmts {
			if _, err := mdb.W.ExecContext(ctx, s, xss); err != nil {
				return nil, fmt.Errorf("hostile rows: %w", err)
			}
		}
	}
	reps, err := report.LoadDir(cfg.ReportsFS)
	if err != nil {
		return nil, err
	}
	for name, src := range map[string]string{"broken.yaml": brokenReport, "xss.yaml": xssReport} {
		r, err := report.Parse(name, []byte(src))
		if err != nil {
			return nil, err
		}
		reps = append(reps, r)
	}
	sb := sandbox.NewRunner(2, cfg.QueryTimeout.D(), time.Second)
	f := &fixture{
		root: root, cfg: cfg, mdb: mdb, reports: reps, sb: sb,
		panels: report.NewRunner(sb, cfg.Metrics, cfg.RowLimit),
		adhoc:  sandbox.NewRunner(2, cfg.QueryTimeout.D(), time.Second),
	}
	fixturesMu.Lock()
	fixtures = append(fixtures, f)
	fixturesMu.Unlock()
	return f, nil
}

// webFS is the embedded web/ folder the binary serves.
func webFS(t testing.TB) fs.FS {
	w, err := fs.Sub(attache.Files, "web")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// newServer builds a server on fx; edit may change a copy of its config.
func newServer(t testing.TB, fx *fixture, edit func(*config.Config)) *Server {
	t.Helper()
	return newServerDeps(t, fx, edit, nil)
}

// newServerDeps is newServer with more: it may add to the Deps (a
// scheduler, a digest preview) built on the same copy of the config.
func newServerDeps(t testing.TB, fx *fixture, edit func(*config.Config), more func(*config.Config, *Deps)) *Server {
	t.Helper()
	cfg := *fx.cfg
	if edit != nil {
		edit(&cfg)
	}
	d := Deps{
		Metrics: fx.mdb, Reports: fx.reports, Panels: fx.panels, Sandbox: fx.adhoc, Web: webFS(t),
		Log: testLogger(t),
		StartRun: func(ctx context.Context, opt rollup.Options) (*rollup.Summary, error) {
			return rollup.Run(ctx, &cfg, fx.mdb, opt)
		},
	}
	if more != nil {
		more(&cfg, &d)
	}
	s, err := New(&cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// client drives a handler like a browser or a script: it keeps cookies and
// sends requests from one client IP.
type client struct {
	t       testing.TB
	h       http.Handler
	ip      string
	cookies map[string]*http.Cookie
	basic   [2]string
	html    bool // send Accept: text/html like a browser
}

func newClient(t testing.TB, s *Server) *client {
	return &client{t: t, h: s.Handler(), ip: "192.0.2.10", cookies: map[string]*http.Cookie{}}
}

func (c *client) do(method, target string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = c.ip + ":40000"
	req.Host = "localhost:8080"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.html {
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
	}
	if c.basic[0] != "" {
		req.SetBasicAuth(c.basic[0], c.basic[1])
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return rec
}

func (c *client) get(target string, hdr ...string) *httptest.ResponseRecorder {
	c.t.Helper()
	return c.do(http.MethodGet, target, nil, hdr...)
}

// csrf returns the client's CSRF token, fetching the cookie that holds it
// (double submit) when there is none yet.
func (c *client) csrf() string {
	c.t.Helper()
	if ck, ok := c.cookies["attache_csrf"]; ok {
		return ck.Value
	}
	c.get("/login")
	ck, ok := c.cookies["attache_csrf"]
	if !ok {
		c.t.Fatal("no CSRF cookie after GET /login")
	}
	return ck.Value
}

// post sends a form with a valid CSRF token.
func (c *client) post(target string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set(csrfField, c.csrf())
	return c.do(http.MethodPost, target, form, hdr...)
}

// signIn signs in through the form and checks it worked.
func (c *client) signIn(name, pw string) {
	c.t.Helper()
	rec := c.post("/login", url.Values{"name": {name}, "password": {pw}, "next": {"/"}})
	if rec.Code != http.StatusSeeOther || c.cookies[sessionCookie] == nil {
		c.t.Fatalf("sign-in as %s: status %d, body %s", name, rec.Code, rec.Body.String())
	}
}
