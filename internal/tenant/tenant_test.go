package tenant

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/config"
)

func TestListDirTakesOnlyDatabases(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.db", "a b.db", "a.db-wal", "a.db-shm", "c.db-journal", "notes.txt", ".db", "=1+2.db"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "folder.db"), 0o755); err != nil {
		t.Fatal(err)
	}
	ts, err := List(context.Background(), config.Tenants{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range ts {
		ids = append(ids, x.ID)
	}
	if want := []string{"=1+2", "a b", "b"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("ids = %q, want %q: only regular *.db files are tenants", ids, want)
	}
}

func TestFingerprintFollowsTheWAL(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "a.db")
	os.WriteFile(db, []byte("data"), 0o644)
	list := func() Tenant {
		ts, err := List(context.Background(), config.Tenants{Dir: dir})
		if err != nil || len(ts) != 1 {
			t.Fatalf("%v %v", ts, err)
		}
		return ts[0]
	}
	base := list()
	// An empty -wal, as a read-only reader leaves behind, changes nothing.
	os.WriteFile(db+"-wal", nil, 0o644)
	if got := list(); got.Fingerprint != base.Fingerprint {
		t.Fatalf("an empty -wal changed the fingerprint: %s -> %s", base.Fingerprint, got.Fingerprint)
	}
	later := time.Now().Add(time.Minute)
	os.WriteFile(db+"-wal", []byte("frames"), 0o644)
	os.Chtimes(db+"-wal", later, later)
	got := list()
	if got.Fingerprint == base.Fingerprint || got.Size != 4+6 || !got.ModTime.Equal(later) {
		t.Fatalf("a -wal with frames must change the fingerprint and count in size: %+v", got)
	}
}

func TestMissingDirSaysWhatToDo(t *testing.T) {
	_, err := List(context.Background(), config.Tenants{Dir: filepath.Join(t.TempDir(), "nope")})
	if err == nil || !strings.Contains(err.Error(), "attache demo") {
		t.Fatalf("err = %v", err)
	}
}
