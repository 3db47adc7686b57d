package sqlite

/*
#include <stdint.h>
#include <stdlib.h>

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
extern int sqlite3_open_v2(const char *, sqlite3 **, int, const char *);
extern int sqlite3_close_v2(sqlite3 *);
extern int sqlite3_busy_timeout(sqlite3 *, int);
extern int sqlite3_prepare_v2(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
extern int sqlite3_bind_text(sqlite3_stmt *, int, const char *, int, void (*)(void *));
extern int sqlite3_step(sqlite3_stmt *);
extern int sqlite3_finalize(sqlite3_stmt *);
extern int sqlite3_column_count(sqlite3_stmt *);
extern const char *sqlite3_column_name(sqlite3_stmt *, int);
extern int64_t sqlite3_changes64(sqlite3 *);
extern int sqlite3_get_autocommit(sqlite3 *);
extern const char *sqlite3_errmsg(sqlite3 *);

// attache_exec prepares, binds, steps to the end and finalizes one
// statement, all in one call from Go. The n text arguments are the bytes
// of args between off[i] and off[i+1]; they are bound SQLITE_STATIC, as
// they outlive the statement. Rows a statement returns are stepped over.
// It returns SQLite's result code; *changes is set on success.
static int attache_exec(sqlite3 *db, const char *sql, int nsql, const char *args, const int *off, int n, int64_t *changes) {
	sqlite3_stmt *st = 0;
	int rc = sqlite3_prepare_v2(db, sql, nsql, &st, 0);
	if (rc != 0) return rc;
	if (!st) { *changes = 0; return 0; } // only a comment or white space
	for (int i = 0; i < n; i++) {
		rc = sqlite3_bind_text(st, i + 1, args + off[i], off[i + 1] - off[i], 0);
		if (rc != 0) { sqlite3_finalize(st); return rc; }
	}
	while ((rc = sqlite3_step(st)) == 100) {} // SQLITE_ROW
	if (rc != 101) { // SQLITE_DONE
		sqlite3_finalize(st); // keeps the step's error for errmsg
		return rc;
	}
	rc = sqlite3_finalize(st);
	*changes = sqlite3_changes64(db);
	return rc;
}
*/
import "C"

import (
	"fmt"
	"strings"
	"time"
	"unsafe"
)

// Raw is one connection that Go drives through SQLite's C API, in the
// libSQL library go-libsql ships: one cgo call a statement, prepared,
// bound, run and finalized inside it. The engine's workers use it for
// their hot loop (attach ten tenants, run each query over them, detach),
// where go-libsql's own path (database/sql, then its Rust layer, several
// cgo calls a statement) added 5% to a run's CPU.
// Everything else opens databases with Open.
//
// A Raw belongs to one goroutine; it has no pool and no locking.
type Raw struct {
	db   *C.sqlite3
	path string
}

// OpenRaw opens (or creates) the database at path, ":memory:" included,
// with URIs allowed in ATTACH, the busy timeout, and pragmas run in order.
func OpenRaw(path string, busy time.Duration, pragmas []string) (*Raw, error) {
	if err := Setup(); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	r := &Raw{path: path}
	// READWRITE | CREATE | URI | NOMUTEX: the connection is used by one
	// goroutine at a time.
	const flags = 0x02 | 0x04 | 0x40 | 0x8000
	rc := C.sqlite3_open_v2(cpath, &r.db, flags, nil)
	if rc != 0 {
		err := r.err(rc)
		C.sqlite3_close_v2(r.db)
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	C.sqlite3_busy_timeout(r.db, C.int(busy.Milliseconds()))
	for _, p := range pragmas {
		if _, err := r.Exec("PRAGMA " + p); err != nil {
			r.Close()
			return nil, fmt.Errorf("open %s: PRAGMA %s: %w", path, p, err)
		}
	}
	return r, nil
}

// Exec runs one statement with text arguments bound to ?1, ?2 … and
// returns the rows it changed (for INSERT, UPDATE and DELETE). A
// statement that returns rows runs to its end; the rows are dropped.
func (r *Raw) Exec(sqlText string, args ...string) (int64, error) {
	if sqlText == "" {
		return 0, &Error{Code: CodeMisuse, Msg: "empty statement"}
	}
	var buf strings.Builder
	off := make([]C.int, len(args)+1)
	for i, a := range args {
		buf.WriteString(a)
		off[i+1] = C.int(buf.Len())
	}
	// A NUL at the end keeps the buffer non-empty: an empty text argument
	// is then a pointer to zero bytes, which SQLite binds as '', not NULL.
	buf.WriteByte(0)
	all := buf.String()
	var changes C.int64_t
	rc := C.attache_exec(r.db, cstr(sqlText), C.int(len(sqlText)), cstr(all), &off[0], C.int(len(args)), &changes)
	if rc != 0 {
		return 0, r.err(rc)
	}
	return int64(changes), nil
}

// Columns compiles one statement and returns its result columns' names,
// without running it.
func (r *Raw) Columns(sqlText string) ([]string, error) {
	if sqlText == "" {
		return nil, &Error{Code: CodeMisuse, Msg: "empty statement"}
	}
	var st *C.sqlite3_stmt
	if rc := C.sqlite3_prepare_v2(r.db, cstr(sqlText), C.int(len(sqlText)), &st, nil); rc != 0 {
		return nil, r.err(rc)
	}
	defer C.sqlite3_finalize(st)
	n := int(C.sqlite3_column_count(st))
	cols := make([]string, n)
	for i := range cols {
		cols[i] = C.GoString(C.sqlite3_column_name(st, C.int(i)))
	}
	return cols, nil
}

// InTx reports whether a transaction is open: SQLite ends one by itself
// on some errors (I/O, a full disk, an interrupt).
func (r *Raw) InTx() bool { return C.sqlite3_get_autocommit(r.db) == 0 }

// Close closes the connection.
func (r *Raw) Close() error {
	if r.db == nil {
		return nil
	}
	rc := C.sqlite3_close_v2(r.db)
	r.db = nil
	if rc != 0 {
		return fmt.Errorf("close %s: SQLite code %d", r.path, int(rc))
	}
	return nil
}

// err is the connection's last error as an *Error with the primary code.
func (r *Raw) err(rc C.int) error {
	msg := C.GoString(C.sqlite3_errmsg(r.db))
	return &Error{Code: int(rc) & 0xff, Msg: msg}
}

// cstr points C at s's bytes without copying; C reads at most len(s) of
// them, and only during the call. s must not be empty.
func cstr(s string) *C.char {
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s)))
}
