package replica

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/attache/attache/internal/sqldtest"
)

// The handshake check against a real sqld: a replica just synced is
// proven current; one row written on the primary makes it not current
// until the next sync; a wrong token or a deleted database proves nothing.
func TestCurrentProvesUnchangedAndOnlyThat(t *testing.T) {
	srv := sqldtest.Start(t)
	u := srv.CreateDB(t, "acme")
	srv.Exec(t, "acme", "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT)", "INSERT INTO todos (title) VALUES ('a')")
	tok := Secret(srv.Token(true))
	target := Target{ID: "acme", URL: u, Token: tok}
	dir := t.TempDir()
	opt := Options{Dir: dir, Workers: 1, Timeout: time.Minute}
	ctx := context.Background()
	client := &http.Client{Timeout: 30 * time.Second}
	path := PathFor(dir, "acme")

	if ok, err := current(ctx, client, target, path); ok || err != nil {
		t.Fatalf("no replica yet: current %v, %v", ok, err)
	}
	if st, err := SyncAll(ctx, []Target{target}, opt); err != nil || st[0].Err != "" {
		t.Fatalf("%v %+v", err, st)
	}
	if ok, err := current(ctx, client, target, path); !ok || err != nil {
		t.Fatalf("a replica just synced should be proven current: %v, %v", ok, err)
	}
	srv.Exec(t, "acme", "INSERT INTO todos (title) VALUES ('b')")
	if ok, err := current(ctx, client, target, path); ok || err != nil {
		t.Fatalf("a row written on the primary: current %v, %v", ok, err)
	}
	if st, err := SyncAll(ctx, []Target{target}, opt); err != nil || st[0].Err != "" {
		t.Fatalf("%v %+v", err, st)
	}
	if n, err := count(t, path, ""); err != nil || n != 2 {
		t.Fatalf("replica after the sync: %d rows, %v", n, err)
	}
	if ok, err := current(ctx, client, target, path); !ok || err != nil {
		t.Fatalf("synced again: current %v, %v", ok, err)
	}
	bad := target
	bad.Token = Secret(sqldtest.ForeignToken())
	if ok, err := current(ctx, client, bad, path); ok || err == nil {
		t.Fatalf("a foreign token: current %v, %v", ok, err)
	}
	srv.DeleteDB(t, "acme")
	if ok, err := current(ctx, client, target, path); ok || err == nil {
		t.Fatalf("a deleted database: current %v, %v", ok, err)
	}
}
