// Package fleettest builds tenant databases for tests from SQL, so no test
// commits a binary .db fixture.
package fleettest

import (
	"context"
	"testing"

	"github.com/attache/attache/internal/sqlite"
)

// Write creates (or extends) the database at path by running stmts with it
// attached as schema, through one in-memory connection: the way the demo
// writes tenants, since opening and closing go-libsql databases in a loop
// is what crashes it.
func Write(t testing.TB, path, schema string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(":memory:", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "ATTACH ? AS "+schema, "file:"+path); err != nil {
		t.Fatalf("attach %s: %v", path, err)
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "DETACH "+schema); err != nil {
		t.Fatal(err)
	}
}
