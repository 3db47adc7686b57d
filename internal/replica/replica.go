// Package replica keeps an embedded replica (go-libsql) of every remote
// tenant: a local file synced from the primary before each run, then
// attached read-only like any local tenant. Replicas are attache's cache:
// never written back, kept between runs (a new one replays the primary's
// whole history), and deleted when the source stops listing their tenant.
//
// Before syncing, the coordinator asks each primary for its replication
// handshake (check.go): a replica at the primary's log and last frame is
// proven current with that one request. The others sync in worker
// processes (role "replica"), a bounded number at once: go-libsql's Sync
// ignores cancellation, so only killing its process stops a sync past
// sync_timeout.
package replica

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Secret is a token or key: it prints as [redacted] in logs, errors, JSON
// and %v, so holding one in a struct cannot leak it by accident.
type Secret string

func (s Secret) String() string   { return "[redacted]" }
func (s Secret) GoString() string { return "[redacted]" }

// MarshalJSON keeps the value out of JSON.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// MarshalText keeps the value out of text encodings (slog, YAML).
func (s Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Reveal is the value, for the one call that needs it.
func (s Secret) Reveal() string { return string(s) }

// sidecars are the files go-libsql keeps beside a replica.
var sidecars = []string{"-wal", "-shm", "-client_wal_index", "-info"}

// sourceSuffix marks a file as a replica attache made, with where it
// comes from; cleanup deletes only files carrying it.
const sourceSuffix = ".source"

var plainID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// PathFor is the replica file of tenant id under dir. Ids that are not
// plain file names are hashed, so no id can reach outside dir.
func PathFor(dir, id string) string {
	name := id
	if !plainID.MatchString(id) || strings.HasSuffix(id, sourceSuffix) {
		h := sha256.Sum256([]byte(id))
		name = "id-" + hex.EncodeToString(h[:12])
	}
	return filepath.Join(dir, name+".db")
}

// source is what the marker file beside a replica records.
type source struct {
	URL       string    `json:"url"`
	Encrypted bool      `json:"encrypted"`
	SyncedAt  time.Time `json:"synced_at"`
	// KeyID names the key record (see keyFor) of the key the replica was
	// last synced with; "" when unencrypted.
	KeyID string `json:"key_id,omitempty"`
}

func readSource(path string) (source, bool) {
	var s source
	b, err := os.ReadFile(path + sourceSuffix)
	if err != nil || json.Unmarshal(b, &s) != nil {
		return s, false
	}
	return s, true
}

func writeSource(path string, s source) error {
	b, _ := json.Marshal(s)
	tmp := path + sourceSuffix + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path+sourceSuffix); err != nil {
		return err
	}
	if s.SyncedAt.IsZero() {
		return nil
	}
	// The marker's time is the last sync's (see SyncedAt).
	return os.Chtimes(path+sourceSuffix, s.SyncedAt, s.SyncedAt)
}

// keyFile records which key the encrypted replicas were synced with,
// without holding the key: a salted, slow hash of it (the encrypted files
// beside it already allow testing guesses, at a comparable cost).
const keyFile = ".key"

type keyRecord struct {
	ID    string `json:"id"`
	Salt  []byte `json:"salt"`
	Check []byte `json:"check"`
}

const keyIterations = 200_000

// keyFor returns the id of key's record in dir, writing a new record (a
// new id) when the key is not the one recorded. A replica whose marker
// carries another id was made or last synced with another key.
func keyFor(dir string, key Secret) (string, error) {
	path := filepath.Join(dir, keyFile)
	var rec keyRecord
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &rec) == nil && len(rec.Salt) == 16 {
		check, err := pbkdf2.Key(sha256.New, key.Reveal(), rec.Salt, keyIterations, 32)
		if err != nil {
			return "", err
		}
		if subtle.ConstantTimeCompare(check, rec.Check) == 1 {
			return rec.ID, nil
		}
	}
	id := make([]byte, 8)
	rec.Salt = make([]byte, 16)
	rand.Read(id)
	rand.Read(rec.Salt)
	rec.ID = hex.EncodeToString(id)
	check, err := pbkdf2.Key(sha256.New, key.Reveal(), rec.Salt, keyIterations, 32)
	if err != nil {
		return "", err
	}
	rec.Check = check
	b, _ := json.Marshal(rec)
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return "", err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return "", err
	}
	return rec.ID, nil
}

// remove deletes a replica and everything beside it.
func remove(path string) error {
	var errs []error
	for _, suffix := range append([]string{"", sourceSuffix}, sidecars...) {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Position is the replica's replication state, read from go-libsql's
// client_wal_index beside it: the primary's generation and the last frame
// applied. A sync that brought nothing new leaves it as it was; any change
// on the primary moves it. "" when the replica has never synced.
func Position(path string) string {
	b, err := os.ReadFile(path + "-client_wal_index")
	if err != nil || len(b) < 24 {
		return ""
	}
	return hex.EncodeToString(b[:16]) + ":" + fmt.Sprint(binary.LittleEndian.Uint64(b[16:24]))
}

// Size is the replica's bytes on disk: the database and its -wal.
func Size(path string) int64 {
	var n int64
	for _, suffix := range []string{"", "-wal"} {
		if st, err := os.Stat(path + suffix); err == nil {
			n += st.Size()
		}
	}
	return n
}

// Exists reports whether a replica has been synced at least once.
func Exists(path string) bool {
	if _, err := os.Stat(path); err != nil {
		return false
	}
	return Position(path) != ""
}

// SyncedAt is the time of the replica's last successful sync: the
// marker's modification time once the marker records a sync. A replica
// proven current by the handshake only has its marker's time set (one
// syscall; rewriting the marker cost a third of a resync's CPU).
func SyncedAt(path string) time.Time {
	s, _ := readSource(path)
	if s.SyncedAt.IsZero() {
		return s.SyncedAt
	}
	if st, err := os.Stat(path + sourceSuffix); err == nil && st.ModTime().After(s.SyncedAt) {
		return st.ModTime().UTC()
	}
	return s.SyncedAt
}

// Clean deletes the replicas in dir that attache made and that are not in
// keep (replica paths), with their side files; it returns what it deleted.
// Files without attache's marker are never touched.
func Clean(dir string, keep map[string]bool) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replicas %s: %w", dir, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".db"+sourceSuffix) {
			continue
		}
		path := filepath.Join(dir, strings.TrimSuffix(name, sourceSuffix))
		if keep[path] {
			continue
		}
		if err := remove(path); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, path)
	}
	return removed, errors.Join(errs...)
}
