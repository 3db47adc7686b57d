package rollup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/metrics"
)

// smallDisk mounts a tmpfs of size bytes and returns its path. CI runs as
// root, where it must work; elsewhere the test is skipped when it cannot.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
		}
		t.Fatalf("mount a %s tmpfs: %v %s", size, err, out)
	}
	// Registered first, so it runs after the metrics DB is closed.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// Issue 9 point 7: a full disk stops the run at once with "disk full:
// PATH", instead of splitting batches as if workers crashed, and the
// previous run stays intact.
func TestDiskFullStopsTheRunAndKeepsThePreviousOne(t *testing.T) {
	disk := smallDisk(t, "3m")
	e := setup(t, map[string]string{"titles": "-- mode: replace\nSELECT title, printf('%.2000c', 'x') AS pad FROM tenant.todos"})
	e.mdb.Close()
	e.cfg.Metrics = filepath.Join(disk, "metrics.db")
	mdb, err := metrics.Open(context.Background(), e.cfg.Metrics, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mdb.Close() })
	e.mdb = mdb
	todoTenant(t, e.dir, "small", 5)
	first := e.run(t, Options{})
	before := e.rows(t, "SELECT tenant_id, count(*) FROM rollup_titles GROUP BY tenant_id")

	// Enough rows that staging outgrows 3 MB: 40 tenants × 100 × 2 KB.
	for i := 0; i < 40; i++ {
		makeTenant(t, filepath.Join(e.dir, fmt.Sprintf("big%02d.db", i)),
			"CREATE TABLE tenant.todos (id INTEGER PRIMARY KEY, title TEXT, done INTEGER NOT NULL DEFAULT 0, due TEXT)",
			"INSERT INTO tenant.todos (title) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100) SELECT 'todo ' || i FROM n")
	}
	_, err = Run(context.Background(), e.cfg, e.mdb, Options{Full: true})
	if err == nil || !strings.Contains(err.Error(), "disk full: "+disk) {
		t.Fatalf("run on a full disk: %v, want \"disk full: %s…\"", err, disk)
	}
	if got := e.rows(t, "SELECT tenant_id, count(*) FROM rollup_titles GROUP BY tenant_id"); !reflect.DeepEqual(got, before) {
		t.Fatalf("rollup after the failed run %v, want the previous run's %v", got, before)
	}
	got := e.rows(t, "SELECT status, error LIKE 'disk full: %' FROM runs ORDER BY id")
	if !reflect.DeepEqual(got, [][]any{{"ok", int64(0)}, {"failed", int64(1)}}) {
		t.Fatalf("runs %v, want run %d ok and the new one failed with disk full", got, first.RunID)
	}
	if got := e.rows(t, "SELECT count(*) FROM tenant_errors WHERE error LIKE '%full%'"); got[0][0] != int64(0) {
		t.Fatal("a full disk must not be blamed on tenants")
	}
	if left, _ := filepath.Glob(filepath.Join(disk, ".attache-staging*")); len(left) != 0 {
		t.Fatalf("staging left on the full disk: %v", left)
	}
}
