package rollup

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestLinkedTenantsAreReadWithTheirWAL: a tenant listed through a symbolic
// link to a file elsewhere, and tenants listed through a linked folder,
// are read with the commits still in their -wal, which SQLite finds beside
// the real file (the workers name tenants through their own VFS, which
// resolves a linked file as SQLite does).
func TestLinkedTenantsAreReadWithTheirWAL(t *testing.T) {
	e := setup(t, map[string]string{"todo_counts": todoCounts})
	ctx := context.Background()
	elsewhere := t.TempDir()
	todoTenant(t, elsewhere, "acme", 2)
	todoTenant(t, e.dir, "plain", 2)
	// Each app keeps its database open in WAL mode, its last commit still
	// in the -wal file.
	for _, path := range []string{filepath.Join(elsewhere, "acme.db"), filepath.Join(e.dir, "plain.db")} {
		if _, err := liveWALApp(t, path).ExecContext(ctx, "INSERT INTO todos (title, done) VALUES ('in the wal', 1)"); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(path + "-wal"); err != nil || st.Size() == 0 {
			t.Fatalf("%s: no -wal with the commit: %v", path, err)
		}
	}
	if err := os.Symlink(filepath.Join(elsewhere, "acme.db"), filepath.Join(e.dir, "acme.db")); err != nil {
		t.Fatal(err)
	}
	linkedDir := filepath.Join(t.TempDir(), "tenants")
	if err := os.Symlink(e.dir, linkedDir); err != nil {
		t.Fatal(err)
	}
	e.cfg.Tenants.Dir = linkedDir
	sum := e.run(t, Options{})
	if sum.OK != 2 || sum.Failed != 0 {
		t.Fatalf("summary = %+v, want 2 tenants ok", sum)
	}
	got := e.rows(t, "SELECT tenant_id, todos FROM rollup_todo_counts ORDER BY tenant_id")
	want := [][]any{{"acme", int64(3)}, {"plain", int64(3)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("todos = %v, want %v: the commits in the -wal files count", got, want)
	}
}
