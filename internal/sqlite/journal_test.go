package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestLargeStatementJournals runs statements whose journals go well past
// what SQLite keeps in memory, in a temp table and in the main database,
// inside one transaction, as a run's plan and merge do at 100,000 tenants.
// (With SQLITE_CONFIG_STMTJRNL_SPILL raised above its 64 KiB default, the
// libSQL go-libsql ships failed these with "database or disk is full".)
func TestLargeStatementJournals(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "m.db"), Options{BusyTimeout: time.Second, Pragmas: []string{"journal_mode=WAL", "temp_store=FILE"}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range []string{
		"PRAGMA temp.cache_size = -2000",
		"CREATE TEMP TABLE t (id TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID",
		"CREATE TABLE m (id TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID",
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) INSERT INTO t SELECT printf('tenant-%06d', i), hex(randomblob(200)) FROM n",
		"INSERT INTO m SELECT * FROM t",
		"BEGIN",
		"UPDATE t SET v = v || 'x' WHERE true",
		"UPDATE m SET v = v || 'y' WHERE true",
		"INSERT INTO m SELECT id || '-b', v FROM t",
		"COMMIT",
	} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	var n int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM m WHERE v LIKE '%y'").Scan(&n); err != nil || n != 100000 {
		t.Fatalf("rows updated: %d, %v", n, err)
	}
}
