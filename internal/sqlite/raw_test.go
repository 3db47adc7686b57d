package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestRawRunsStatementsWithTheirArguments checks what the engine's
// workers rely on: text arguments bound as given (” stays ”, not NULL),
// rows changed counted, errors with SQLite's code and words, transactions
// seen as open, result columns named without running the statement, and
// tenants attached read-only through a URI.
func TestRawRunsStatementsWithTheirArguments(t *testing.T) {
	dir := t.TempDir()
	tenant := filepath.Join(dir, "tenant.db")
	db, err := Open(tenant, Options{BusyTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"CREATE TABLE t (a TEXT, b INTEGER)", "INSERT INTO t VALUES ('x', 1), ('y', 2)"} {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	r, err := OpenRaw(filepath.Join(dir, "staging.db"), time.Second, []string{"journal_mode=MEMORY", "synchronous=OFF"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Exec("CREATE TABLE s (id TEXT, a TEXT, b)"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Exec("ATTACH ? AS t0", ReadOnlyURI(tenant)); err != nil {
		t.Fatal(err)
	}
	n, err := r.Exec("INSERT INTO s SELECT ?1, a, b FROM t0.t UNION ALL SELECT ?2, 'z', NULL", "tenant é", "")
	if err != nil || n != 3 {
		t.Fatalf("insert: %d rows, %v; want 3", n, err)
	}
	if _, err := r.Exec("INSERT INTO s VALUES (?1, 'zz', NULL)", ""); err != nil {
		t.Fatal(err)
	}
	got, err := Query(context.Background(), mustOpen(t, filepath.Join(dir, "staging.db")), "SELECT id, a, b FROM s ORDER BY a", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{"tenant é", "x", int64(1)}, {"tenant é", "y", int64(2)}, {"", "z", nil}, {"", "zz", nil}}
	if !reflect.DeepEqual(got.Rows, want) {
		t.Fatalf("rows:\n got %#v\nwant %#v", got.Rows, want)
	}

	// Read-only: the tenant cannot be written through the attachment.
	_, err = r.Exec("INSERT INTO t0.t VALUES ('w', 3)")
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeReadOnly {
		t.Fatalf("write to a read-only tenant: %v, want code %d", err, CodeReadOnly)
	}
	if _, err := r.Exec("SELECT nope FROM t0.t"); err == nil || Message(err) != "no such column: nope" {
		t.Fatalf("error = %v, want SQLite's own words", err)
	}

	cols, err := r.Columns("SELECT a AS first, b FROM t0.t")
	if err != nil || !reflect.DeepEqual(cols, []string{"first", "b"}) {
		t.Fatalf("columns = %v, %v", cols, err)
	}
	if _, err := r.Columns("SELECT * FROM t0.missing"); err == nil {
		t.Fatal("columns of a missing table: no error")
	}

	if r.InTx() {
		t.Fatal("in a transaction before BEGIN")
	}
	if _, err := r.Exec("BEGIN"); err != nil {
		t.Fatal(err)
	}
	if !r.InTx() {
		t.Fatal("not in a transaction after BEGIN")
	}
	if _, err := r.Exec("ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Exec("DETACH t0"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Exec(""); err == nil {
		t.Fatal("an empty statement ran")
	}
}

func mustOpen(t *testing.T, path string) Querier {
	t.Helper()
	db, err := Open(path, Options{BusyTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
