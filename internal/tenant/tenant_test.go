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

// A folder's tenants are stat'd relative to the folder; the result must be
// exactly StatFile's, or every tenant would look changed (or, worse, a
// changed one unchanged): databases with and without a -wal, a file too
// short for a header, one that is not SQLite, an empty -wal, a symlink to
// a database, a symlink to nothing, a folder named like a database.
func TestFolderListingFingerprintsAsStatFile(t *testing.T) {
	dir := t.TempDir()
	header := append([]byte("SQLite format 3\x00"), make([]byte, 84)...)
	header[27], header[31], header[95] = 7, 3, 9
	wal := make([]byte, 32+24+512)
	for i, b := range []byte{0x37, 0x7f, 0x06, 0x82, 0, 0x2d, 0xe2, 0x18, 0, 0, 2, 0} {
		wal[i] = b
	}
	files := map[string][]byte{
		"plain.db": header, "walled.db": header, "walled.db-wal": wal, "short.db": []byte("SQLite"),
		"text.db": []byte(strings.Repeat("not a database ", 10)), "emptywal.db": header, "emptywal.db-wal": nil,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink(filepath.Join(dir, "plain.db"), filepath.Join(dir, "link.db"))
	os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "dangling.db"))
	os.Mkdir(filepath.Join(dir, "folder.db"), 0o755)
	var got []Tenant
	if err := Each(context.Background(), config.Tenants{Dir: dir}, 3, func(p []Tenant) error { got = append(got, p...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 {
		t.Fatalf("listed %d tenants, want 7 (every *.db that is not a folder)", len(got))
	}
	for _, tn := range got {
		want := StatFile(tn.Path)
		have := FileState{Size: tn.Size, ModTime: tn.ModTime, Fingerprint: tn.Fingerprint, Missing: tn.Missing}
		if !have.ModTime.Equal(want.ModTime) || have.Size != want.Size || have.Fingerprint != want.Fingerprint || have.Missing != want.Missing {
			t.Errorf("%s: listed as %+v, StatFile says %+v", tn.ID, have, want)
		}
	}
}

// A settled file's listing may leave its header read out; what it gives
// then is the start of the whole fingerprint, which Complete finishes, and
// anything that replaces the file's content, even at the same size and
// mtime, changes that start.
func TestSettledFileDefersOnlyItsHeader(t *testing.T) {
	dir := t.TempDir()
	header := append([]byte("SQLite format 3\x00"), make([]byte, 84)...)
	header[27] = 7
	wal := make([]byte, 32+24+512)
	for i, b := range []byte{0x37, 0x7f, 0x06, 0x82, 0, 0x2d, 0xe2, 0x18, 0, 0, 2, 0} {
		wal[i] = b
	}
	for name, b := range map[string][]byte{"plain.db": header, "walled.db": header, "walled.db-wal": wal} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	list := func(h Headers) map[string]string {
		fps := map[string]string{}
		if err := EachWith(context.Background(), config.Tenants{Dir: dir}, 10, h, func(p []Tenant) error {
			for _, tn := range p {
				fps[tn.ID] = tn.Fingerprint
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return fps
	}
	later := time.Now().Add(time.Hour)
	deferred, whole := list(Headers{Now: later, Defer: true}), list(Headers{Now: later})
	for _, id := range []string{"plain", "walled"} {
		d, w := deferred[id], whole[id]
		if !Deferred(d) || !strings.HasPrefix(d, "s:") || Deferred(w) || !strings.HasPrefix(w, d) {
			t.Errorf("%s: deferred %q, whole %q: want the deferred one settled and the start of the whole one", id, d, w)
		}
		if got := Complete(filepath.Join(dir, id+".db"), d); got != w {
			t.Errorf("%s: Complete gives %q, want %q", id, got, w)
		}
	}
	if !strings.Contains(whole["walled"], "/w:") || !strings.Contains(whole["walled"], "/k0.") {
		t.Errorf("walled: %q has no -wal part", whole["walled"])
	}
	// Just written: not settled now, so never deferred, and marked so.
	now := list(Headers{Defer: true})
	if fp := now["plain"]; Deferred(fp) || !strings.HasPrefix(fp, "u:") || fp[1:] != whole["plain"][1:] {
		t.Errorf("a file written just now listed as %q; want its whole fingerprint marked unsettled (%q)", fp, whole["plain"])
	}
	// The same size and mtime, other content: the ctime moves, so the
	// deferred fingerprint changes and the header will be read.
	path := filepath.Join(dir, "plain.db")
	st, _ := os.Stat(path)
	other := append([]byte(nil), header...)
	other[27] = 8
	time.Sleep(20 * time.Millisecond)
	if err := os.WriteFile(path, other, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, st.ModTime(), st.ModTime())
	if st2, _ := os.Stat(path); st2.Size() != st.Size() || !st2.ModTime().Equal(st.ModTime()) {
		t.Fatalf("the copy did not keep size and mtime: %v %v", st2.Size(), st2.ModTime())
	}
	after := list(Headers{Now: later.Add(time.Minute), Defer: true})
	if after["plain"] == deferred["plain"] {
		t.Fatalf("content replaced at the same size and mtime left the deferred fingerprint %q as it was", after["plain"])
	}
	if c := Complete(path, after["plain"]); !strings.Contains(c, "|c8.") {
		t.Fatalf("completed after the change: %q, want the new change counter (c8)", c)
	}
}
