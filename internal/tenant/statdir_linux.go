package tenant

import (
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// openDir opens a tenants folder for statDirFile; -1 when it cannot, and
// the file's full path is used instead.
func openDir(dir string) int {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

func closeDir(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// StatFile reads the state of the database at path and its -wal: one small
// read of the database header, and in WAL mode the WAL header and its frame
// headers (24 bytes each), never page data.
//
// This is the fingerprint of a local file. A tenant read through a replica
// of a remote database is fingerprinted by its replication position
// instead; the rule is the same: equal fingerprints must mean equal data.
func StatFile(path string) FileState { return statPath(path, Headers{}) }

func statPath(path string, h Headers) FileState {
	return statDirFile(unix.AT_FDCWD, "", path, true, h)
}

// statDirFile is StatFile for the file name in the folder open as dirfd,
// looked up relative to the folder: a listing of 100,000 tenants walked
// the folder's whole path three times per tenant (16 µs per tenant
// against 12 µs, measured on 20,000 files). Its -wal is stat'd only when
// the folder may hold one.
func statDirFile(dirfd int, dir, name string, mayHaveWAL bool, h Headers) FileState {
	if dirfd == -1 {
		return statPath(filepath.Join(dir, name), h)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, 0); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return FileState{Missing: true, Fingerprint: "missing"}
	}
	db := statKey{size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(), ino: st.Ino}
	fs := FileState{Size: st.Size, ModTime: time.Unix(0, db.mtime)}
	var wal *statKey
	var ws unix.Stat_t
	// Reading a WAL-mode database leaves an empty -wal behind; only a -wal
	// with content means the data changed.
	if mayHaveWAL && unix.Fstatat(dirfd, name+"-wal", &ws, 0) == nil && ws.Size > 0 {
		// Not the -wal's ctime: SQLite running as root chowns a -wal
		// it opens to the database's owner, so every read of the tenant
		// moves it on (its mtime and content do not change).
		wal = &statKey{size: ws.Size, mtime: ws.Mtim.Nano(), ino: ws.Ino}
		fs.Size += ws.Size
		if wal.mtime > db.mtime {
			fs.ModTime = time.Unix(0, wal.mtime)
		}
	}
	settled := settledAt(h.now(), db, wal) && h.fs.keeps(uint64(st.Dev), dir, name)
	if settled && h.Defer {
		fs.Fingerprint = composeFingerprint(true, db, wal, "")
		return fs
	}
	m := headerMarkers(readHeaderAt(dirfd, name))
	if wal != nil {
		m += "/" + walMarkers(filepath.Join(dir, name)+"-wal")
	}
	fs.Fingerprint = composeFingerprint(settled, db, wal, m)
	return fs
}

// readHeaderAt reads the database header of name in dirfd.
func readHeaderAt(dirfd int, name string) ([100]byte, error) {
	var h [100]byte
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return h, err
	}
	defer unix.Close(fd)
	for n := 0; n < len(h); {
		m, err := unix.Pread(fd, h[n:], int64(n))
		if err != nil {
			return h, err
		}
		if m == 0 {
			return h, errShort
		}
		n += m
	}
	return h, nil
}

// keepsCtimeAt reports whether the filesystem path lives on keeps a ctime
// that every change moves on, which a settled fingerprint relies on: the
// local filesystems Linux runs databases on. Not FAT, exFAT or NTFS (no
// such ctime), nor NFS or SMB (a client may answer stat from its cache),
// nor FUSE (anything): there every header is read.
func keepsCtimeAt(path string) bool {
	var st unix.Statfs_t
	if unix.Statfs(path, &st) != nil {
		return false
	}
	return keepsCtime(int64(st.Type))
}

func keepsCtime(fsType int64) bool {
	const zfs = 0x2fc12fc1
	switch fsType {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.F2FS_SUPER_MAGIC,
		unix.BCACHEFS_SUPER_MAGIC, zfs, unix.TMPFS_MAGIC, unix.OVERLAYFS_SUPER_MAGIC:
		return true
	}
	return false
}
