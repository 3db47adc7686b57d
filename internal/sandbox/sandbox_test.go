package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/sqlite"
	"github.com/attache/attache/internal/worker"
)

// TestMain lets the test binary serve as its own sandbox child.
func TestMain(m *testing.M) {
	if worker.Role() == Role {
		if err := Serve(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func makeDB(t *testing.T, stmts ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestQueryExactValuesAcrossProcess(t *testing.T) {
	path := makeDB(t, "CREATE TABLE v(a, b, c, d)", "INSERT INTO v VALUES ('2026-11-22', 7, NULL, x'00ff'), ('<script>', 2.5, 'x', NULL)")
	r := NewRunner(1, 10*time.Second, time.Second)
	defer r.Close()
	got, err := r.Query(path, nil, "SELECT a, b, c, d FROM v ORDER BY rowid", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{"2026-11-22", int64(7), nil, []byte{0, 0xff}}, {"<script>", 2.5, "x", nil}}
	if !reflect.DeepEqual(got.Rows, want) {
		t.Fatalf("got %#v want %#v", got.Rows, want)
	}
	// The database stays read-only through the sandbox.
	if _, err := r.Query(path, nil, "DELETE FROM v RETURNING a", 0); err == nil {
		t.Fatal("DELETE through the sandbox succeeded; want a read-only error")
	}
}

func TestRunawayQueryIsKilledAtDeadline(t *testing.T) {
	r := NewRunner(1, 300*time.Millisecond, time.Second)
	defer r.Close()
	start := time.Now()
	_, err := r.Query("", nil, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n) SELECT count(*) FROM n", 0)
	if err == nil || !strings.Contains(err.Error(), "query_timeout") {
		t.Fatalf("err = %v, want a query_timeout error", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("runaway query took %s to stop", el)
	}
	// The pool recovers: the next query runs in a fresh child.
	got, err := r.Query("", nil, "SELECT 42", 0)
	if err != nil || got.Rows[0][0] != int64(42) {
		t.Fatalf("after kill: %v %v", got, err)
	}
}

func TestEachStreamsPages(t *testing.T) {
	r := NewRunner(1, 10*time.Second, time.Second)
	defer r.Close()
	var n, pages int
	err := r.Each("", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2500) SELECT i FROM n", 1000, func(cols []string, rows [][]any) error {
		pages++
		n += len(rows)
		return nil
	})
	if err != nil || n != 2500 || pages != 3 {
		t.Fatalf("rows %d pages %d err %v, want 2500 rows in 3 pages", n, pages, err)
	}
}

func TestAttachReadOnly(t *testing.T) {
	path := makeDB(t, "CREATE TABLE todos(x)", "INSERT INTO todos VALUES (1),(2)")
	r := NewRunner(1, 10*time.Second, time.Second)
	defer r.Close()
	got, err := r.Query("", []Attach{{Schema: "tenant", Path: path}}, "SELECT count(*) FROM tenant.todos", 0)
	if err != nil || got.Rows[0][0] != int64(2) {
		t.Fatalf("got %v err %v", got, err)
	}
	if _, err := r.Query("", []Attach{{Schema: "tenant", Path: filepath.Join(t.TempDir(), "missing.db")}}, "SELECT 1", 0); err == nil {
		t.Fatal("attaching a missing file succeeded; it must not be created")
	}
}

// A query that would take a gigabyte fails alone at the child's memory
// limit, and the next query gets a working child.
func TestChildMemoryLimit(t *testing.T) {
	path := makeDB(t, "CREATE TABLE v(a)")
	r := NewRunner(1, 30*time.Second, time.Second)
	defer r.Close()
	r.Memory = 256 << 20
	_, err := r.Query(path, nil, "SELECT length(randomblob(900000000))", 0)
	if err == nil {
		t.Fatal("a 900 MB blob in a child limited to 256 MB: no error")
	}
	t.Logf("900 MB blob under a 256 MB limit: %v", err)
	got, err := r.Query(path, nil, "SELECT length(randomblob(1000000))", 0)
	if err != nil || got.Rows[0][0] != int64(1000000) {
		t.Fatalf("after the refused query: %v %v", got, err)
	}
}

// An answer is cut at MaxBytes, and says so.
func TestResultCappedInBytes(t *testing.T) {
	path := makeDB(t, "CREATE TABLE v(a)")
	r := NewRunner(1, 30*time.Second, time.Second)
	defer r.Close()
	r.MaxBytes = 1 << 20
	q := "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 10000) SELECT i, randomblob(10000) AS b FROM n"
	got, err := r.Query(path, nil, q, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, row := range got.Rows {
		size += RowSize(row)
	}
	if !got.Capped || !got.Truncated || size > 1<<20 || len(got.Rows) < 90 {
		t.Errorf("10,000 rows of 10 KB under a 1 MB cap: %d rows, %d bytes, capped %v", len(got.Rows), size, got.Capped)
	}
	r.MaxBytes = 0
	got, err = r.Query(path, nil, q+" LIMIT 200", 10000)
	if err != nil || got.Capped || len(got.Rows) != 200 {
		t.Errorf("without a cap: %d rows, capped %v, %v", len(got.Rows), got.Capped, err)
	}
}
