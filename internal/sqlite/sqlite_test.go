package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestQueryKeepsExactTypes(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{BusyTimeout: time.Second, Pragmas: []string{"journal_mode=WAL"}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range []string{
		"CREATE TABLE v(a, b, c, d, e)",
		"INSERT INTO v VALUES ('2026-11-22', 42, 1.5, x'0102', NULL), ('2026-11-22 14:00:00', '42', 'x', '', 9007199254740993)",
	} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Query(ctx, db, "WITH w AS (SELECT rowid AS r, * FROM v) SELECT a, b, c, d, e FROM w ORDER BY r", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{"2026-11-22", int64(42), 1.5, []byte{1, 2}, nil},
		{"2026-11-22 14:00:00", "42", "x", "", int64(9007199254740993)},
	}
	if !reflect.DeepEqual(got.Rows, want) {
		t.Fatalf("rows:\n got %#v\nwant %#v", got.Rows, want)
	}
	if !reflect.DeepEqual(got.Columns, []string{"a", "b", "c", "d", "e"}) {
		t.Fatalf("columns %v", got.Columns)
	}
}

func TestQueryLimitAndErrors(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := Query(ctx, db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100) SELECT i FROM n", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != 10 || !got.Truncated {
		t.Fatalf("got %d rows truncated=%v, want 10 and true", len(got.Rows), got.Truncated)
	}
	_, err = Query(ctx, db, "SELECT nope FROM missing", 0)
	if err == nil || !strings.Contains(err.Error(), "no such table: missing") || strings.Contains(err.Error(), "_attache_q") {
		t.Fatalf("error = %v, want the database's own message", err)
	}
}

func TestReadOnlyURI(t *testing.T) {
	got := ReadOnlyURI("/a b/c?d#e%.db")
	want := "file:///a%20b/c%3Fd%23e%25.db?mode=ro"
	if got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

func TestErrorKeepsCodeAndChain(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.ExecContext(ctx, "CREATE TABLE u(x UNIQUE)")
	db.ExecContext(ctx, "INSERT INTO u VALUES (1)")
	_, err = db.ExecContext(ctx, "INSERT INTO u VALUES (1)")
	err = fmt.Errorf("save: %w", Wrap(err))
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeConstraint || Code(err) != CodeConstraint {
		t.Fatalf("error %v: want an *Error with code %d, got %+v", err, CodeConstraint, e)
	}
	if e.Msg != "UNIQUE constraint failed: u.x" || errors.Unwrap(e) == nil {
		t.Fatalf("message %q (want SQLite's own words) and the driver error underneath", e.Msg)
	}
	_, err = Query(ctx, db, "SELECT nope FROM missing", 0)
	if Code(err) != CodeError {
		t.Fatalf("query error %v: code %d, want %d", err, Code(err), CodeError)
	}
	if IsFull(err) || !IsFull(Wrap(errors.New("SQLite failure: `database or disk is full`"))) || !IsFull(fmt.Errorf("x: %w", syscall.ENOSPC)) {
		t.Fatal("IsFull must know SQLITE_FULL and ENOSPC, and nothing else")
	}
}

// TestClosingTwiceSparesTheNextConnection checks the workaround for
// libSQL closing each connection twice (see Setup): a connection opened
// between the two closes of another must keep working.
func TestClosingTwiceSparesTheNextConnection(t *testing.T) {
	if err := Setup(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := closeTwice(); err != nil {
			t.Fatalf("try %d: %v", i, err)
		}
	}
}
