package tenant

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attache/attache/internal/config"
	"golang.org/x/sys/unix"
)

// A file is settled only on a filesystem that keeps a true ctime: on any
// other (FAT, NFS, FUSE…) its header is read at every listing.
func TestSettledOnlyWhereCtimeIsKept(t *testing.T) {
	for _, c := range []struct {
		name string
		fs   int64
		want bool
	}{
		{"ext4", unix.EXT4_SUPER_MAGIC, true}, {"xfs", unix.XFS_SUPER_MAGIC, true}, {"tmpfs", unix.TMPFS_MAGIC, true},
		{"vfat", unix.MSDOS_SUPER_MAGIC, false}, {"exfat", unix.EXFAT_SUPER_MAGIC, false},
		{"nfs", unix.NFS_SUPER_MAGIC, false}, {"fuse", unix.FUSE_SUPER_MAGIC, false},
	} {
		if got := keepsCtime(c.fs); got != c.want {
			t.Errorf("%s: keepsCtime = %v, want %v", c.name, got, c.want)
		}
	}

	dir := t.TempDir()
	header := append([]byte("SQLite format 3\x00"), make([]byte, 84)...)
	if err := os.WriteFile(filepath.Join(dir, "a.db"), header, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	dev := uint64(st.Sys().(*syscall.Stat_t).Dev)
	if !keepsCtimeAt(dir) {
		t.Skipf("the temp folder's filesystem does not keep a ctime attache trusts")
	}
	list := func(keeps bool) string {
		h := Headers{Now: time.Now().Add(time.Hour), Defer: true, fs: &ctimeFilesystems{devs: map[uint64]bool{dev: keeps}}}
		var fp string
		if err := EachWith(context.Background(), config.Tenants{Dir: dir}, 10, h, func(p []Tenant) error { fp = p[0].Fingerprint; return nil }); err != nil {
			t.Fatal(err)
		}
		return fp
	}
	if fp := list(true); !Deferred(fp) {
		t.Errorf("on a filesystem that keeps ctime, a settled file listed as %q; want its header deferred", fp)
	}
	if fp := list(false); Deferred(fp) || !strings.HasPrefix(fp, "u:") {
		t.Errorf("on a filesystem that does not, listed as %q; want its header read and the file never settled", fp)
	}
}
