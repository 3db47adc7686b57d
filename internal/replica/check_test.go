package replica

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
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

// A primary that stops answering: the handshake waits sync_timeout, no
// longer, and the tenant is stale with the timeout named, without a second
// wait in a sync process.
func TestHandshakeTimeoutIsStale(t *testing.T) {
	srv := sqldtest.Start(t)
	u := srv.CreateDB(t, "acme")
	srv.Exec(t, "acme", "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT)", "INSERT INTO todos (title) VALUES ('a')")
	upstream := strings.TrimPrefix(u, "http://")
	// A relay in front of the database's URL that can go silent.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var silent atomic.Bool
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if silent.Load() {
				defer c.Close() // accepted, never answered
				continue
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	target := []Target{{ID: "acme", URL: "http://" + l.Addr().String(), Token: Secret(srv.Token(true))}}
	opt := Options{Dir: t.TempDir(), Workers: 1, Timeout: time.Minute}
	ctx := context.Background()
	first, err := SyncAll(ctx, target, opt)
	if err != nil || first[0].Err != "" {
		t.Fatalf("%v %+v", err, first)
	}
	silent.Store(true)
	opt.Timeout = 2 * time.Second
	start := time.Now()
	st, err := SyncAll(ctx, target, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st[0].Err, "tenants.sync_timeout (2s)") || !st[0].Stale() || st[0].Position != first[0].Position {
		t.Fatalf("got %+v", st[0])
	}
	if d := time.Since(start); d > 3500*time.Millisecond {
		t.Fatalf("one timeout should be waited, not two: %v", d)
	}
}

// A fleet synced a chunk at a time through one Syncer gives what SyncAll
// gives: each chunk's tenants synced, the unchanged ones proven by the
// handshake, a changed one synced for real.
func TestSyncerChunks(t *testing.T) {
	srv := sqldtest.Start(t)
	var targets []Target
	for _, id := range []string{"a", "b", "c"} {
		u := srv.CreateDB(t, id)
		srv.Exec(t, id, "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT)", "INSERT INTO todos (title) VALUES ('x')")
		targets = append(targets, Target{ID: id, URL: u, Token: Secret(srv.Token(true))})
	}
	var logged bytes.Buffer
	s, err := NewSyncer(Options{Dir: t.TempDir(), Workers: 2, Timeout: time.Minute, Log: slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for round := range 2 {
		if round == 1 {
			srv.Exec(t, "c", "INSERT INTO todos (title) VALUES ('y')")
			logged.Reset()
		}
		for _, chunk := range [][]Target{targets[:2], targets[2:]} {
			st, err := s.Sync(ctx, chunk)
			if err != nil || len(st) != len(chunk) {
				t.Fatalf("%v %+v", err, st)
			}
			for _, x := range st {
				if x.Err != "" || x.Position == "" {
					t.Fatalf("round %d: %+v", round, x)
				}
			}
		}
	}
	for _, want := range []string{"tenant=a by=handshake", "tenant=b by=handshake", "tenant=c by=sync"} {
		if !strings.Contains(logged.String(), want) {
			t.Fatalf("want %q:\n%s", want, logged.String())
		}
	}
	if n, err := count(t, PathFor(s.opt.Dir, "c"), ""); err != nil || n != 2 {
		t.Fatalf("c: %d rows, %v", n, err)
	}
}

// Explain reads a status code as a number of its own: a temp folder named
// ...4010560089 in a wrong-key message is not a refused token.
func TestExplainStatusCodes(t *testing.T) {
	for msg, want := range map[string]string{
		"failed to open database /tmp/TestX4010560089/002/acme.db: file is not a database": "encryption key",
		"sync failed: status: 401 Unauthorized":                                            "token was refused",
		"sync failed: HTTP error 403":                                                      "token was refused",
	} {
		if got := Explain("http://127.0.0.1:1", msg); !strings.Contains(got, want) {
			t.Errorf("%q: got %q, want %q", msg, got, want)
		}
	}
}
