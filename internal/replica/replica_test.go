package replica

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/sqldtest"
	"github.com/attache/attache/internal/sqlite"
	"github.com/attache/attache/internal/worker"
)

// TestMain lets the test binary serve as the sync processes.
func TestMain(m *testing.M) {
	if worker.Role() == Role {
		if err := Serve(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// count reads a replica the way the engine does: attached read-only to
// another connection, with the key when there is one.
func count(t *testing.T, path, key string) (int, error) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(":memory:", sqlite.Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if key != "" {
		_, err = conn.ExecContext(ctx, "ATTACH ? AS t0 KEY ?", sqlite.ReadOnlyURI(path), key)
	} else {
		_, err = conn.ExecContext(ctx, "ATTACH ? AS t0", sqlite.ReadOnlyURI(path))
	}
	if err != nil {
		return 0, err
	}
	var n int
	err = conn.QueryRowContext(ctx, "SELECT count(*) FROM t0.todos").Scan(&n)
	return n, err
}

func byID(st []Status) map[string]Status {
	m := map[string]Status{}
	for _, s := range st {
		m[s.ID] = s
	}
	return m
}

func TestSyncIncrementalReadOnlyAndFailures(t *testing.T) {
	srv := sqldtest.Start(t)
	other := sqldtest.Start(t) // stopped below: a server that went away
	ro := Secret(srv.Token(true))
	var targets []Target
	for _, id := range []string{"acme", "globex", "gone", "badtoken"} {
		u := srv.CreateDB(t, id)
		srv.Exec(t, id, "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT)", "INSERT INTO todos (title) VALUES ('a'), ('b')")
		tok := ro
		if id == "badtoken" {
			tok = Secret(sqldtest.ForeignToken())
		}
		targets = append(targets, Target{ID: id, URL: u, Token: tok})
	}
	u := other.CreateDB(t, "away")
	other.Exec(t, "away", "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT)", "INSERT INTO todos (title) VALUES ('a')")
	targets = append(targets, Target{ID: "away", URL: u, Token: Secret(other.Token(true))})

	dir := t.TempDir()
	opt := Options{Dir: dir, Workers: 3, Timeout: time.Minute}
	ctx := context.Background()
	st, err := SyncAll(ctx, targets, opt)
	if err != nil {
		t.Fatal(err)
	}
	first := byID(st)
	for _, id := range []string{"acme", "globex", "gone", "away"} {
		if s := first[id]; s.Err != "" || s.Position == "" {
			t.Fatalf("%s: read-only token should sync: %+v", id, s)
		}
	}
	// The token attache was given is read-only: the server refuses writes.
	if err := srv.ExecErr("acme", string(ro), "INSERT INTO todos (title) VALUES ('x')"); err == nil {
		t.Fatal("a read-only token could write: the test would not prove that read-only is enough")
	}
	if n, err := count(t, first["acme"].Path, ""); err != nil || n != 2 {
		t.Fatalf("acme replica: %d rows, %v", n, err)
	}
	if s := first["badtoken"]; !strings.Contains(s.Err, "token is wrong") || s.Position != "" || s.Stale() {
		t.Fatalf("badtoken: %+v", s)
	}

	// Nothing written: every position stays. One row written: only its
	// tenant moves.
	srv.Exec(t, "globex", "INSERT INTO todos (title) VALUES ('c')")
	srv.DeleteDB(t, "gone")
	other.Stop()
	var logged bytes.Buffer
	opt.Log = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err = SyncAll(ctx, targets, opt)
	if err != nil {
		t.Fatal(err)
	}
	second := byID(st)
	if s := second["acme"]; s.Err != "" || s.Position != first["acme"].Position {
		t.Fatalf("acme unchanged on the primary, its position moved: %q -> %+v", first["acme"].Position, s)
	}
	// Proven current is a successful sync: its time is the last sync's.
	if s := second["acme"]; !s.SyncedAt.After(first["acme"].SyncedAt) || SyncedAt(s.Path).Sub(s.SyncedAt).Abs() > 10*time.Millisecond {
		t.Fatalf("acme's last sync: first %v, second %v, on disk %v", first["acme"].SyncedAt, s.SyncedAt, SyncedAt(s.Path))
	}
	if s := second["gone"]; !s.SyncedAt.Equal(first["gone"].SyncedAt) {
		t.Fatalf("a failed sync keeps the last sync time: %v -> %v", first["gone"].SyncedAt, s.SyncedAt)
	}
	if s := second["globex"]; s.Err != "" || s.Position == first["globex"].Position {
		t.Fatalf("globex changed on the primary, its position did not move: %+v", s)
	}
	if n, _ := count(t, second["globex"].Path, ""); n != 3 {
		t.Fatalf("globex replica has %d rows, want 3", n)
	}
	if s := second["gone"]; !strings.Contains(s.Err, "does not exist on the server") || !s.Stale() || s.Position != first["gone"].Position {
		t.Fatalf("deleted database: %+v", s)
	}
	if s := second["away"]; !strings.Contains(s.Err, "unreachable") || !s.Stale() {
		t.Fatalf("stopped server: %+v", s)
	}
	if n, _ := count(t, second["gone"].Path, ""); n != 2 {
		t.Fatalf("a failed sync must keep the older replica: %d rows", n)
	}
	// Only acme is proven unchanged by the handshake alone; the others
	// went through a real sync, which moved globex and worded the errors.
	if !strings.Contains(logged.String(), "tenant=acme by=handshake") || !strings.Contains(logged.String(), "unchanged_by_handshake=1 ") {
		t.Fatalf("acme should be proven unchanged by the handshake:\n%s", logged.String())
	}
	if !strings.Contains(logged.String(), "tenant=globex by=sync") {
		t.Fatalf("globex changed and needs a real sync:\n%s", logged.String())
	}
	for _, s := range st {
		for _, secret := range []string{string(ro), srv.Token(false)} {
			if strings.Contains(s.Err, secret) || strings.Contains(fmt.Sprintf("%+v %v", s, targets), secret) {
				t.Fatalf("a token leaked: %+v", s)
			}
		}
	}
}

func TestSyncTimeoutKillsTheSync(t *testing.T) {
	// A server that accepts and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	st, err := SyncAll(context.Background(), []Target{{ID: "slow", URL: "http://" + l.Addr().String()}}, Options{Dir: t.TempDir(), Workers: 1, Timeout: 700 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st[0].Err, "tenants.sync_timeout (700ms)") {
		t.Fatalf("got %+v", st[0])
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Fatalf("the sync was not stopped at its timeout: %v", d)
	}
}

func TestEncryptedReplica(t *testing.T) {
	srv := sqldtest.Start(t)
	u := srv.CreateDB(t, "acme")
	srv.Exec(t, "acme", "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT)", "INSERT INTO todos (title) VALUES ('private customer row')")
	dir := t.TempDir()
	key := "correct horse battery staple"
	st, err := SyncAll(context.Background(), []Target{{ID: "acme", URL: u, Token: Secret(srv.Token(true))}}, Options{Dir: dir, Workers: 1, Timeout: time.Minute, Key: Secret(key)})
	if err != nil || st[0].Err != "" {
		t.Fatalf("%v %+v", err, st)
	}
	if n, err := count(t, st[0].Path, key); err != nil || n != 1 {
		t.Fatalf("attach with key: %d %v", n, err)
	}
	if _, err := count(t, st[0].Path, ""); err == nil {
		t.Fatal("an encrypted replica opened without its key")
	}
	for _, suffix := range []string{"", "-wal"} {
		b, _ := os.ReadFile(st[0].Path + suffix)
		if strings.Contains(string(b), "private customer row") {
			t.Fatalf("plain text in %s", filepath.Base(st[0].Path+suffix))
		}
	}
}

// A key change is noticed although nothing changed on the primary: the
// replica is not proven current by the handshake, and the real sync says
// the key does not open it. Back with the right key, a real sync checks
// it once, and the handshake proves it current after that.
func TestEncryptedReplicaWithAnotherKey(t *testing.T) {
	srv := sqldtest.Start(t)
	u := srv.CreateDB(t, "acme")
	srv.Exec(t, "acme", "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT)", "INSERT INTO todos (title) VALUES ('a')")
	target := []Target{{ID: "acme", URL: u, Token: Secret(srv.Token(true))}}
	dir := t.TempDir()
	var logged bytes.Buffer
	opt := Options{Dir: dir, Workers: 1, Timeout: time.Minute, Key: "key one", Log: slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	ctx := context.Background()
	if st, err := SyncAll(ctx, target, opt); err != nil || st[0].Err != "" {
		t.Fatalf("%v %+v", err, st)
	}
	other := opt
	other.Key = "key two"
	st, err := SyncAll(ctx, target, other)
	if err != nil || !strings.Contains(st[0].Err, "encryption key") || !st[0].Stale() {
		t.Fatalf("another key: %v %+v", err, st)
	}
	// The first key again: one real sync checks it against the replica,
	// then the handshake proves the replica current.
	for range 2 {
		logged.Reset()
		if st, err := SyncAll(ctx, target, opt); err != nil || st[0].Err != "" {
			t.Fatalf("%v %+v", err, st)
		}
	}
	if !strings.Contains(logged.String(), "by=handshake") {
		t.Fatalf("the first key again, nothing changed: the handshake should prove it:\n%s", logged.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, keyFile)); strings.Contains(string(b), "key one") || strings.Contains(string(b), "key two") {
		t.Fatalf("the key record holds a key: %s", b)
	}
}

func TestCleanDeletesOnlyUnlistedReplicas(t *testing.T) {
	dir := t.TempDir()
	keep, drop := PathFor(dir, "keep"), PathFor(dir, "drop")
	for _, p := range []string{keep, drop} {
		for _, suffix := range []string{"", "-wal", "-shm", "-client_wal_index"} {
			os.WriteFile(p+suffix, []byte("x"), 0o600)
		}
		writeSource(p, source{URL: "http://x"})
	}
	user := filepath.Join(dir, "not-ours.db")
	os.WriteFile(user, []byte("x"), 0o600)
	removed, err := Clean(dir, map[string]bool{keep: true})
	if err != nil || len(removed) != 1 || removed[0] != drop {
		t.Fatalf("removed %v, %v", removed, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	var names []string
	for _, p := range left {
		names = append(names, filepath.Base(p))
	}
	if got := strings.Join(names, " "); got != "keep.db keep.db-client_wal_index keep.db-shm keep.db-wal keep.db.source not-ours.db" {
		t.Fatalf("left: %s", got)
	}
}

func TestPathForStaysInside(t *testing.T) {
	for _, id := range []string{"../../etc/passwd", "a/b", "", "x.db.source", strings.Repeat("x", 300)} {
		p := PathFor("/r", id)
		if filepath.Dir(p) != "/r" {
			t.Fatalf("%q -> %s", id, p)
		}
	}
	if PathFor("/r", "acme-1") != "/r/acme-1.db" {
		t.Fatal(PathFor("/r", "acme-1"))
	}
}
