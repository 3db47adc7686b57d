package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attache/attache/internal/fleettest"
)

// Issue 9 points 1 and 2 through the commands a user types: a query that
// forgets tenant. and one with a syntax error are reported by check (with
// file, message and fix, counted broken), refused by query, and skipped by
// run, which still runs the good query.
func TestBrokenAndUnqualifiedQueriesThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"tenants", "queries", "reports"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	for i, id := range []string{"a", "b", "c"} {
		stmts := []string{"CREATE TABLE tenant.todos (id INTEGER PRIMARY KEY)"}
		for j := 0; j <= i; j++ {
			stmts = append(stmts, "INSERT INTO tenant.todos DEFAULT VALUES")
		}
		fleettest.Write(t, filepath.Join(dir, "tenants", id+".db"), "tenant", stmts...)
	}
	for name, src := range map[string]string{
		"good":  "SELECT count(*) AS n FROM tenant.todos",
		"bare":  "SELECT count(*) AS n FROM todos",
		"typo":  "SELECT count(*) AS n\nFROM tenant.todos\nWHERE id >",
		"other": "SELECT count(*) AS n FROM t1.todos",
	} {
		os.WriteFile(filepath.Join(dir, "queries", name+".sql"), []byte(src), 0o644)
	}
	writeConfig(t, dir, "metrics: data/metrics.db\ntenants: {dir: tenants}\nqueries: queries\nreports: reports\n")

	code, out, errOut := runCLI(t, dir, "check")
	if code != 1 || !strings.Contains(out, "queries: 1 ok, 3 broken") ||
		!strings.Contains(out, "queries/bare.sql: table todos is not in the tenant's schema; write tenant.todos") ||
		!strings.Contains(out, "queries/other.sql: table todos is not in the tenant's schema; write tenant.todos") ||
		!strings.Contains(out, "queries/typo.sql: incomplete input") || !strings.Contains(out, "good: all 3 tenants can run it") {
		t.Fatalf("check: code %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, dir, "query", "SELECT count(*) FROM todos")
	if code != 1 || !strings.Contains(errOut, "write tenant.todos") || out != "" {
		t.Fatalf("query: code %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, dir, "run")
	if code != 1 || !strings.Contains(out, "3 tenants: 3 read, 0 unchanged, 0 failed") || !strings.Contains(out, "query not run: queries/bare.sql") ||
		!strings.Contains(errOut, "3 queries did not run") {
		t.Fatalf("run: code %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, dir, "query", "SELECT tenant_id, n FROM rollup_good")
	if code != 1 {
		t.Fatalf("rollups are not tenant tables: %d %s", code, out)
	}
}

// `attache query --format csv` keeps values byte for byte (a newline, a
// lone CR, quotes) in RFC 4180 records, like every CSV attache writes.
func TestQueryCSVKeepsValuesExact(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"tenants", "queries", "reports"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	fleettest.Write(t, filepath.Join(dir, "tenants", "a.db"), "tenant",
		"CREATE TABLE tenant.notes (body TEXT)",
		"INSERT INTO tenant.notes VALUES ('two\nlines'), ('cr\ronly'), ('say \"hi\", ok'), ('=1+1')")
	os.WriteFile(filepath.Join(dir, "queries", "n.sql"), []byte("SELECT count(*) AS n FROM tenant.notes"), 0o644)
	writeConfig(t, dir, "metrics: data/metrics.db\ntenants: {dir: tenants}\nqueries: queries\nreports: reports\n")
	code, out, errOut := runCLI(t, dir, "query", "--format", "csv", "SELECT body FROM tenant.notes ORDER BY rowid")
	want := "tenant_id,body\r\na,\"two\nlines\"\r\na,\"cr\ronly\"\r\na,\"say \"\"hi\"\", ok\"\r\na,=1+1\r\n"
	if code != 0 || out != want {
		t.Fatalf("code %d\ngot  %q\nwant %q\n%s", code, out, want, errOut)
	}
}
