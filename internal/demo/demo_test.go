package demo

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/sqlite"
)

// testOptions is a fleet small enough for a unit test yet big enough to hold
// each kind of tenant (seed 3 gives old-schema, churned and WAL tenants),
// with a fixed end of history so every run sees the same fleet.
func testOptions(dir string) Options {
	now := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	return Options{Dir: dir, Tenants: 50, Days: 120, Seed: 3, Now: now}
}

func generate(t *testing.T, opt Options) Summary {
	t.Helper()
	s, err := Generate(context.Background(), opt, nil)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return s
}

// reader is one connection that attaches tenant files in turn, the way the
// generator and the engine do.
type reader struct {
	t    *testing.T
	conn *sql.Conn
}

func newReader(t *testing.T) *reader {
	t.Helper()
	db, err := sqlite.Open(":memory:", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &reader{t: t, conn: conn}
}

// with attaches path as alias for the duration of fn.
func (r *reader) with(path, alias string, fn func()) {
	r.t.Helper()
	ctx := context.Background()
	if _, err := r.conn.ExecContext(ctx, "ATTACH ? AS "+alias, path); err != nil {
		r.t.Fatalf("attach %s: %v", path, err)
	}
	defer func() {
		if _, err := r.conn.ExecContext(ctx, "DETACH "+alias); err != nil {
			r.t.Fatalf("detach %s: %v", path, err)
		}
	}()
	fn()
}

// rows runs q and returns every row, values formatted with their types.
func (r *reader) rows(q string) ([][]string, error) {
	rs, err := r.conn.QueryContext(context.Background(), q)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]string
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			row[i] = fmt.Sprintf("%T:%v", v, v)
		}
		out = append(out, row)
	}
	return out, rs.Err()
}

func (r *reader) columns(q string) []string {
	r.t.Helper()
	rs, err := r.conn.QueryContext(context.Background(), q)
	if err != nil {
		r.t.Fatalf("%s: %v", q, err)
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		r.t.Fatalf("%s: %v", q, err)
	}
	return cols
}

func (r *reader) mustRows(q string) [][]string {
	r.t.Helper()
	rows, err := r.rows(q)
	if err != nil {
		r.t.Fatalf("%s: %v", q, err)
	}
	return rows
}

// value runs a one-value query and returns the value as text. go-libsql
// hands back TEXT that looks like a timestamp as a time.Time, so those are
// formatted back the way tenants store them.
func (r *reader) value(q string) string {
	r.t.Helper()
	var v any
	if err := r.conn.QueryRowContext(context.Background(), q).Scan(&v); err != nil {
		r.t.Fatalf("%s: %v", q, err)
	}
	switch v := v.(type) {
	case nil:
		return ""
	case time.Time:
		return v.UTC().Format(timeLayout)
	case []byte:
		return string(v)
	default:
		return fmt.Sprint(v)
	}
}

func tenantFiles(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.db"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	return paths
}

// digests returns, per tenant file name and table, the row count and a
// checksum of every row.
func digests(t *testing.T, dir string) map[string]string {
	r := newReader(t)
	out := map[string]string{}
	for _, path := range tenantFiles(t, dir) {
		r.with(path, "t", func() {
			for _, table := range []string{"meta", "members", "lists", "todos", "activity"} {
				rows := r.mustRows("SELECT * FROM t." + table + " ORDER BY 1")
				h := sha256.New()
				for _, row := range rows {
					fmt.Fprintln(h, strings.Join(row, "|"))
				}
				key := filepath.Base(path) + "/" + table
				out[key] = fmt.Sprintf("%d rows %s", len(rows), hex.EncodeToString(h.Sum(nil)))
			}
		})
	}
	return out
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	sa := generate(t, testOptions(a))
	sb := generate(t, testOptions(b))
	if sa != sb {
		t.Errorf("summaries differ: %+v and %+v", sa, sb)
	}
	if sa.Tenants != 50 || len(tenantFiles(t, a)) != 50 {
		t.Fatalf("want 50 tenants, got summary %+v and %d files", sa, len(tenantFiles(t, a)))
	}
	da, db := digests(t, a), digests(t, b)
	if len(da) != 50*5 {
		t.Fatalf("want %d table digests, got %d", 50*5, len(da))
	}
	for k, v := range da {
		if db[k] != v {
			t.Errorf("%s: %s in one run, %s in the other", k, v, db[k])
		}
	}

	// And the seed matters.
	opt := testOptions(t.TempDir())
	opt.Seed = 4
	generate(t, opt)
	dc := digests(t, opt.Dir)
	same := 0
	for k, v := range dc {
		if da[k] == v {
			same++
		}
	}
	if same == len(dc) {
		t.Errorf("seed 4 wrote the same fleet as seed 3")
	}
}

func TestTenantSchemas(t *testing.T) {
	dir := t.TempDir()
	sum := generate(t, testOptions(dir))
	r := newReader(t)
	versions := map[string]int{}
	wal := 0
	for _, path := range tenantFiles(t, dir) {
		r.with(path, "t", func() {
			v := r.value("SELECT value FROM t.meta WHERE key = 'schema_version'")
			versions[v]++
			var cols []string
			for _, row := range r.mustRows("SELECT name FROM pragma_table_info('todos', 't')") {
				cols = append(cols, strings.TrimPrefix(row[0], "string:"))
			}
			hasNew := slices.Contains(cols, "priority") && slices.Contains(cols, "completed_at")
			hasAny := slices.Contains(cols, "priority") || slices.Contains(cols, "completed_at")
			switch v {
			case "3":
				if !hasNew {
					t.Errorf("%s: schema_version 3 but todos has %v", path, cols)
				}
			case "1":
				if hasAny {
					t.Errorf("%s: schema_version 1 but todos has %v", path, cols)
				}
			default:
				t.Errorf("%s: schema_version %q", path, v)
			}
			for _, key := range []string{"name", "plan", "created_at"} {
				if r.value("SELECT value FROM t.meta WHERE key = '"+key+"'") == "" {
					t.Errorf("%s: meta has no %s", path, key)
				}
			}
			if plan := r.value("SELECT value FROM t.meta WHERE key = 'plan'"); !slices.Contains([]string{"free", "team", "business"}, plan) {
				t.Errorf("%s: plan %q", path, plan)
			}
			if n := r.value("SELECT count(*) FROM t.sqlite_schema WHERE type = 'index' AND sql LIKE '%activity(at)%'"); n != "1" {
				t.Errorf("%s: no index on activity(at)", path)
			}
		})
		header := make([]byte, 20)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Read(header)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		// Bytes 18 and 19 of the header are 2 in WAL mode, 1 in rollback mode.
		if header[18] == 2 {
			wal++
		}
	}
	if versions["1"] == 0 || versions["3"] == 0 || versions["1"] != sum.OldSchema {
		t.Errorf("schema versions %v, summary says %d old", versions, sum.OldSchema)
	}
	if wal == 0 || wal > 10 {
		t.Errorf("%d of 50 tenants in WAL mode, want a few", wal)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*.db-*"))
	if len(leftovers) > 0 {
		t.Errorf("journal files left behind: %v", leftovers)
	}
}

func TestTenantTimeline(t *testing.T) {
	dir := t.TempDir()
	opt := testOptions(dir)
	sum := generate(t, opt)
	opt, err := withDefaults(opt)
	if err != nil {
		t.Fatal(err)
	}
	f := newFleet(opt.Seed, opt.Now, opt.Days)
	churnedBefore := opt.Now.Add(-30 * 24 * time.Hour).Format(timeLayout)
	start := opt.Now.AddDate(0, 0, -opt.Days).Format(timeLayout)
	end := opt.Now.Format(timeLayout)
	r := newReader(t)
	churned := 0
	for i := range opt.Tenants {
		p := planTenant(&f, i)
		r.with(filepath.Join(dir, p.id+".db"), "t", func() {
			created := r.value("SELECT value FROM t.meta WHERE key = 'created_at'")
			if created < start || created >= end {
				t.Errorf("%s: created_at %s outside the history %s..%s", p.id, created, start, end)
			}
			checks := map[string]string{
				"activity before signup":          "SELECT count(*) FROM t.activity WHERE at < '" + created + "'",
				"activity after the end":          "SELECT count(*) FROM t.activity WHERE at >= '" + end + "'",
				"members joined before signup":    "SELECT count(*) FROM t.members WHERE joined_at < '" + created + "'",
				"lists created before signup":     "SELECT count(*) FROM t.lists WHERE created_at < '" + created + "'",
				"todos created before signup":     "SELECT count(*) FROM t.todos WHERE created_at < '" + created + "'",
				"activity by a member not joined": "SELECT count(*) FROM t.activity a JOIN t.members m ON m.id = a.member_id WHERE a.at < m.joined_at",
				"activity by no member":           "SELECT count(*) FROM t.activity WHERE member_id NOT IN (SELECT id FROM t.members)",
				"todos in no list":                "SELECT count(*) FROM t.todos WHERE list_id NOT IN (SELECT id FROM t.lists)",
				"todos created vs activity":       "SELECT (SELECT count(*) FROM t.todos) - (SELECT count(*) FROM t.activity WHERE kind = 'todo_created')",
				"todos done vs activity":          "SELECT (SELECT count(*) FROM t.todos WHERE done = 1) - (SELECT count(*) FROM t.activity WHERE kind = 'todo_completed')",
				"unknown activity kinds":          "SELECT count(*) FROM t.activity WHERE kind NOT IN ('login', 'todo_created', 'todo_completed', 'list_created', 'comment')",
			}
			if p.schema == schemaCurrent {
				checks["completed before created"] = "SELECT count(*) FROM t.todos WHERE completed_at < created_at"
				checks["done without completed_at"] = "SELECT count(*) FROM t.todos WHERE (done = 1) <> (completed_at IS NOT NULL)"
			}
			for name, q := range checks {
				if n := r.value(q); n != "0" {
					t.Errorf("%s: %s: %s", p.id, name, n)
				}
			}
			last := r.value("SELECT max(at) FROM t.activity")
			if p.churned {
				churned++
				if last >= churnedBefore {
					t.Errorf("%s churned but was active at %s, within 30 days of %s", p.id, last, end)
				}
			}
		})
	}
	if churned == 0 || churned != sum.Churned {
		t.Errorf("%d churned tenants, summary says %d", churned, sum.Churned)
	}
}

func TestRefusesForeignDir(t *testing.T) {
	dir := t.TempDir()
	precious := filepath.Join(dir, "customers.db")
	if err := os.WriteFile(precious, []byte("not ours"), 0o644); err != nil {
		t.Fatal(err)
	}
	opt := testOptions(dir)
	opt.Catalog = filepath.Join(t.TempDir(), "catalog.sqlite")
	_, err := Generate(context.Background(), opt, nil)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "did not write") {
		t.Fatalf("want a refusal naming %s, got %v", dir, err)
	}
	if b, err := os.ReadFile(precious); err != nil || string(b) != "not ours" {
		t.Errorf("customers.db was touched: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, MarkerFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("marker written into a refused dir: %v", err)
	}
	if _, err := os.Stat(opt.Catalog); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("catalog written for a refused dir: %v", err)
	}
}

func TestRegeneratesDemoDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet") // created by Generate
	opt := testOptions(dir)
	opt.Tenants = 20
	generate(t, opt)
	// Leftovers of a crashed writer are cleared too.
	if err := os.WriteFile(filepath.Join(dir, "gone-0001.db-wal"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	opt.Tenants, opt.Seed = 5, 9
	var calls [][2]int
	sum, err := Generate(context.Background(), opt, func(done, total int) { calls = append(calls, [2]int{done, total}) })
	if err != nil {
		t.Fatal(err)
	}
	files := tenantFiles(t, dir)
	if len(files) != 5 || sum.Tenants != 5 {
		t.Errorf("want 5 tenants after regenerating, got %d files and summary %+v", len(files), sum)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "*.db-*")); len(leftovers) > 0 {
		t.Errorf("old files left: %v", leftovers)
	}
	if len(calls) != 5 || calls[4] != [2]int{5, 5} {
		t.Errorf("progress calls %v", calls)
	}
	var total int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	if total != sum.Bytes {
		t.Errorf("files hold %d bytes, summary says %d", total, sum.Bytes)
	}
}

func TestCatalog(t *testing.T) {
	base := t.TempDir()
	opt := testOptions(filepath.Join(base, "tenants"))
	opt.Tenants = 10
	opt.Catalog = filepath.Join(base, "catalog.sqlite")
	generate(t, opt)
	generate(t, opt) // a catalog it wrote is rewritten, not refused

	r := newReader(t)
	r.with(opt.Catalog, "c", func() {
		rows := r.mustRows("SELECT id, path, plan, created_at FROM c.organizations ORDER BY id")
		if len(rows) != 10 {
			t.Fatalf("catalog has %d rows, want 10", len(rows))
		}
		for _, row := range rows {
			id := strings.TrimPrefix(row[0], "string:")
			path := strings.TrimPrefix(row[1], "string:")
			if !filepath.IsAbs(path) || filepath.Base(path) != id+".db" {
				t.Errorf("catalog row %v: path should be the absolute path of %s.db", row, id)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("catalog row %v: %v", row, err)
			}
		}
	})

	// Someone else's database is not a catalog to overwrite.
	foreign := filepath.Join(base, "app.sqlite")
	r.with(foreign, "f", func() {
		if _, err := r.conn.ExecContext(context.Background(), "CREATE TABLE f.organizations(id TEXT)"); err != nil {
			t.Fatal(err)
		}
	})
	opt.Catalog = foreign
	if _, err := Generate(context.Background(), opt, nil); err == nil || !strings.Contains(err.Error(), foreign) {
		t.Errorf("want a refusal naming %s, got %v", foreign, err)
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, testOptions(t.TempDir()), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("want context.Canceled, got %v", err)
	}
}

// TestQueries runs every demo query in queries/ against the demo fleet,
// each tenant attached as "tenant" the way the file is meant to be tried
// in the sqlite3 shell. Queries that need schema_version 3 must fail on old
// tenants: that is the schema lag `attache check` is there to show.
func TestQueries(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "queries", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no queries found: %v", err)
	}
	needsV3 := map[string]bool{"priorities": true, "completion_time": true}
	dir := t.TempDir()
	opt := testOptions(dir)
	// 'now' in the queries is the real clock, so the fleet ends today.
	opt.Now = time.Now().UTC().Truncate(24 * time.Hour)
	generate(t, opt)
	r := newReader(t)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".sql")
		q, header := readQuery(t, file)
		switch header["mode"] {
		case "snapshot", "replace":
		default:
			t.Errorf("%s: mode %q", name, header["mode"])
		}
		if g, ok := header["grain"]; ok && !slices.Contains([]string{"hour", "day", "week", "month"}, g) {
			t.Errorf("%s: grain %q", name, g)
		}
		if header["description"] == "" {
			t.Errorf("%s: no description", name)
		}
		rowsSeen := 0
		var columns []string
		for _, path := range tenantFiles(t, dir) {
			r.with(path, "tenant", func() {
				old := r.value("SELECT value FROM tenant.meta WHERE key = 'schema_version'") == "1"
				rows, err := r.rows(q)
				if err == nil && columns == nil {
					columns = r.columns(q)
				}
				switch {
				case err != nil && !(old && needsV3[name]):
					t.Errorf("%s on %s: %v", name, filepath.Base(path), err)
				case err == nil && old && needsV3[name]:
					t.Errorf("%s on old-schema %s: want an error", name, filepath.Base(path))
				}
				rowsSeen += len(rows)
			})
		}
		if rowsSeen == 0 {
			t.Errorf("%s: no rows from any tenant", name)
		}
		for _, col := range columns {
			if col == "tenant_id" || col == "bucket" {
				t.Errorf("%s: result column %q is reserved for the engine", name, col)
			}
		}
	}
}

// readQuery returns a query file's SQL and its "-- key: value" header.
func readQuery(t *testing.T, file string) (string, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	header := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, value, ok := strings.Cut(strings.TrimPrefix(line, "--"), ":")
		if !strings.HasPrefix(line, "--") || !ok {
			break
		}
		header[strings.TrimSpace(key)] = strings.TrimSpace(value)
	}
	return string(b), header
}

// BenchmarkGenerate measures whole fleets; run one size with e.g.
// go test -run '^$' -bench 'Generate/tenants=10000' -benchtime 1x ./internal/demo
func BenchmarkGenerate(b *testing.B) {
	for _, n := range []int{300, 10000} {
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			var sum Summary
			for b.Loop() {
				var err error
				sum, err = Generate(context.Background(), Options{Dir: dir, Tenants: n}, nil)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(sum.Bytes)/1e6, "MB")
			b.ReportMetric(float64(sum.Bytes)/float64(sum.Tenants)/1e3, "kB/tenant")
		})
	}
}
