package tenant

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// FileState is what a tenant file looks like from outside, for deciding
// whether it changed since its last read.
type FileState struct {
	Size    int64     // database plus -wal, bytes
	ModTime time.Time // latest change of the database or its -wal
	// Fingerprint changes whenever the data can have changed: what stat
	// says of the files, and SQLite's own change markers, read from their
	// headers unless Deferred (see below).
	Fingerprint string
	Missing     bool // no regular file at the path
}

// A fingerprint is "s:" or "u:", then what stat says of the database
// (size, mtime, ctime, inode) and of its -wal (size, mtime, inode), "|",
// then SQLite's own change markers read from their headers. "s:" says the
// file was settled when its header was read: neither file had changed for
// settleTime. A settled file's ctime and inode cannot stay the same
// through a change (a write moves mtime and ctime on; setting mtime back,
// as cp -p, rsync -a or a restore do, moves ctime to now; a file renamed
// over it has another inode), so the header of a file whose stat equals
// that of a settled fingerprint holds what it held then: a listing may
// leave its read out, the fingerprint ending at "|" (Deferred), and the
// run takes the markers from the settled fingerprint it equals, or reads
// them (Complete) before it reads the tenant. A file changed within
// settleTime of its header read ("u:") gets its header read every time:
// two writes within one tick of the filesystem's clock leave its stat
// alone. Whole fingerprints are compared without their first letter: a
// file read while unsettled is not read again for having settled since.

// settleTime is how long a file must have been left alone for its stat to
// stand for its header: longer than any filesystem's timestamp
// granularity (2 s on FAT) and than one write's time in flight.
const settleTime = 5 * time.Second

// statKey is what stat says of one file; ctime and ino are 0 where the
// platform does not give them (a -wal's ctime is left out: see
// statDirFile), and a database without them is never settled.
type statKey struct {
	size, mtime, ctime int64 // bytes, Unix ns
	ino                uint64
}

func (k statKey) String() string {
	return fmt.Sprintf("%d:%d:%d:%d", k.size, k.mtime, k.ctime, k.ino)
}

// settledAt reports whether a database and its -wal (nil: none) whose
// stat says db and wal had been left alone for settleTime at now.
func settledAt(now time.Time, db statKey, wal *statKey) bool {
	if db.ctime == 0 || db.ino == 0 || now.UnixNano()-max(db.mtime, db.ctime) < int64(settleTime) {
		return false
	}
	return wal == nil || (wal.ino != 0 && now.UnixNano()-wal.mtime >= int64(settleTime))
}

// composeFingerprint puts a fingerprint together (see above); wal is nil
// when the database has no -wal with content, and markers is "" for a
// deferred one.
func composeFingerprint(settled bool, db statKey, wal *statKey, markers string) string {
	var b strings.Builder
	if settled {
		b.WriteString("s:")
	} else {
		b.WriteString("u:")
	}
	b.WriteString(db.String())
	if wal != nil {
		b.WriteString("/w:")
		b.WriteString(wal.String())
	}
	b.WriteByte('|')
	b.WriteString(markers)
	return b.String()
}

// Deferred reports whether a fingerprint lacks its header markers: the
// listing left them out for a settled file (see Headers.Defer).
func Deferred(fingerprint string) bool { return strings.HasSuffix(fingerprint, "|") }

// Complete returns a deferred fingerprint of the local file at path with
// its markers read now; any other fingerprint as it is.
func Complete(path, fingerprint string) string {
	if !Deferred(fingerprint) {
		return fingerprint
	}
	return fingerprint + fileMarkers(path, strings.Contains(fingerprint, "/w:"))
}

// fileMarkers reads the markers of the database at path, and of its -wal
// when wal is set.
func fileMarkers(path string, wal bool) string {
	m := dbMarkers(path)
	if wal {
		m += "/" + walMarkers(path+"-wal")
	}
	return m
}

// Headers says how a listing treats the headers of local files.
type Headers struct {
	// Now is when a file's settledness is judged; zero: the clock.
	Now time.Time
	// Defer leaves out the header read of a file settled at Now: its
	// fingerprint is Deferred.
	Defer bool
	// fs says, by device, whether a filesystem keeps a true ctime (see
	// keepsCtime); a listing makes one for all its pages.
	fs *ctimeFilesystems
}

// ctimeFilesystems caches, by device number, whether a filesystem keeps a
// ctime no change can leave as it was: a file elsewhere is never settled.
// It holds one entry per filesystem the fleet lives on.
type ctimeFilesystems struct {
	mu   sync.Mutex
	devs map[uint64]bool
}

// keeps reports whether the filesystem of device dev, on which the file
// name in dir lives, keeps a true ctime; asked of the system once per
// device (so the path is put together only then).
func (c *ctimeFilesystems) keeps(dev uint64, dir, name string) bool {
	if c == nil {
		return keepsCtimeAt(filepath.Join(dir, name))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ok, seen := c.devs[dev]
	if !seen {
		if c.devs == nil {
			c.devs = map[uint64]bool{}
		}
		ok = keepsCtimeAt(filepath.Join(dir, name))
		c.devs[dev] = ok
	}
	return ok
}

func (h Headers) now() time.Time {
	if h.Now.IsZero() {
		return time.Now()
	}
	return h.Now
}

// errShort is a file shorter than the header asked for.
var errShort = errors.New("short file")

// dbMarkers reads the database header: the file change counter (bytes
// 24-27, bumped by every commit in rollback mode), the page count (28-31)
// and the version-valid-for number (92-95).
func dbMarkers(path string) string {
	var h [100]byte
	err := readHeader(path, h[:])
	return headerMarkers(h, err)
}

// headerMarkers are dbMarkers from a header read with err.
func headerMarkers(h [100]byte, err error) string {
	if err != nil {
		if err == errShort {
			return "noheader"
		}
		return "unreadable"
	}
	if string(h[:16]) != "SQLite format 3\x00" {
		return "noheader"
	}
	be := binary.BigEndian
	return fmt.Sprintf("c%d.p%d.v%d", be.Uint32(h[24:]), be.Uint32(h[28:]), be.Uint32(h[92:]))
}

// walMarkers reads the WAL header's checkpoint sequence and salts, and
// walks the frame headers to the last commit frame whose salts match (the
// WAL's valid frames): its index and its cumulative checksum, which covers
// every valid frame before it. A WAL reset after a checkpoint changes the
// salts, so frames written over old ones at the same offsets still change
// the markers, even when the file keeps its size.
func walMarkers(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unreadable"
	}
	defer f.Close()
	var h [32]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return "noheader"
	}
	be := binary.BigEndian
	magic := be.Uint32(h[0:])
	if magic != 0x377f0682 && magic != 0x377f0683 {
		return "noheader"
	}
	pageSize := int64(be.Uint32(h[8:]))
	if pageSize == 1 { // 65536 is stored as 1
		pageSize = 65536
	}
	ckpt, salt1, salt2 := be.Uint32(h[12:]), be.Uint32(h[16:]), be.Uint32(h[20:])
	var fh [24]byte
	var commits, last int64
	var sum1, sum2 uint32
	for i := int64(0); ; i++ {
		if _, err := f.ReadAt(fh[:], 32+i*(24+pageSize)); err != nil {
			break
		}
		if be.Uint32(fh[8:]) != salt1 || be.Uint32(fh[12:]) != salt2 {
			break // a frame of an earlier generation: the valid frames end here
		}
		if be.Uint32(fh[4:]) != 0 { // a commit frame
			commits, last = commits+1, i+1
			sum1, sum2 = be.Uint32(fh[16:]), be.Uint32(fh[20:])
		}
	}
	return fmt.Sprintf("k%d.s%08x%08x.f%d.n%d.x%08x%08x", ckpt, salt1, salt2, last, commits, sum1, sum2)
}
