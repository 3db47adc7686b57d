package metrics

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/attache/attache/internal/sqlite"
)

// TestPageSizeOnlyForNewFiles: a new metrics DB gets 16 KiB pages; one made
// before keeps its page size and its rows through the migrations.
func TestPageSizeOnlyForNewFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pageSize := func(db *DB) int64 {
		t.Helper()
		var n int64
		if err := db.W.QueryRowContext(ctx, "PRAGMA page_size").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	fresh, err := Open(ctx, filepath.Join(dir, "new.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got := pageSize(fresh); got != 16384 {
		t.Fatalf("new metrics DB: page_size %d, want 16384", got)
	}

	oldPath := filepath.Join(dir, "old.db")
	old, err := sqlite.Open(oldPath, sqlite.Options{Pragmas: []string{"journal_mode=WAL"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"CREATE TABLE kept (v)", "INSERT INTO kept VALUES (42)"} {
		if _, err := old.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	db, err := Open(ctx, oldPath, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := pageSize(db); got != 4096 {
		t.Fatalf("existing DB: page_size %d, want its 4096 kept", got)
	}
	var v int64
	if err := db.W.QueryRowContext(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
		t.Fatalf("existing row: %d, %v", v, err)
	}
}
