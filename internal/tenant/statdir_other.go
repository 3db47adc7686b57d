//go:build !linux

package tenant

import (
	"os"
	"path/filepath"
)

func openDir(string) int { return -1 }

func closeDir(int) {}

// StatFile reads the state of the database at path and its -wal: one small
// read of the database header, and in WAL mode the WAL header and its frame
// headers (24 bytes each), never page data. Here stat gives no ctime or
// inode, so no file counts as settled and every header is read.
func StatFile(path string) FileState { return statPath(path, Headers{}) }

func statPath(path string, _ Headers) FileState {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return FileState{Missing: true, Fingerprint: "missing"}
	}
	db := statKey{size: st.Size(), mtime: st.ModTime().UnixNano()}
	fs := FileState{Size: st.Size(), ModTime: st.ModTime()}
	var wal *statKey
	if ws, err := os.Stat(path + "-wal"); err == nil && ws.Size() > 0 {
		wal = &statKey{size: ws.Size(), mtime: ws.ModTime().UnixNano()}
		fs.Size += ws.Size()
		if ws.ModTime().After(fs.ModTime) {
			fs.ModTime = ws.ModTime()
		}
	}
	fs.Fingerprint = composeFingerprint(false, db, wal, fileMarkers(path, wal != nil))
	return fs
}

// statDirFile is StatFile for name in dir.
func statDirFile(_ int, dir, name string, _ bool, h Headers) FileState {
	return statPath(filepath.Join(dir, name), h)
}

// keepsCtimeAt: stat gives no ctime here (see StatFile).
func keepsCtimeAt(string) bool { return false }
