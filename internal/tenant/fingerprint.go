package tenant

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// FileState is what a tenant file looks like from outside, for deciding
// whether it changed since its last read.
type FileState struct {
	Size    int64     // database plus -wal, bytes
	ModTime time.Time // latest change of the database or its -wal
	// Fingerprint changes whenever the data can have changed: size and
	// mtime, and SQLite's own change markers, read from the file headers,
	// which a copy that keeps the mtime (cp -p, rsync -a, a restore) or a
	// same-size change within the filesystem's mtime granularity still
	// changes.
	Fingerprint string
	Missing     bool // no regular file at the path
}

// StatFile reads the state of the database at path and its -wal: one small
// read of the database header, and in WAL mode the WAL header and its frame
// headers (24 bytes each), never page data.
//
// This is the fingerprint of a local file. A tenant read through a replica
// of a remote database is fingerprinted by its replication position
// instead; the rule is the same: equal fingerprints must mean equal data.
func StatFile(path string) FileState {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return FileState{Missing: true, Fingerprint: "missing"}
	}
	fs := FileState{Size: st.Size(), ModTime: st.ModTime()}
	fs.Fingerprint = fmt.Sprintf("%d:%d:%s", st.Size(), st.ModTime().UnixNano(), dbMarkers(path))
	// Reading a WAL-mode database leaves an empty -wal behind; only a -wal
	// with content means the data changed.
	if wal, err := os.Stat(path + "-wal"); err == nil && wal.Size() > 0 {
		fs.Size += wal.Size()
		if wal.ModTime().After(fs.ModTime) {
			fs.ModTime = wal.ModTime()
		}
		fs.Fingerprint += fmt.Sprintf("/wal:%d:%d:%s", wal.Size(), wal.ModTime().UnixNano(), walMarkers(path+"-wal"))
	}
	return fs
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
