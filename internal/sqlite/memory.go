package sqlite

/*
#include <stdint.h>
#include <stdlib.h>
#include <pthread.h>

// These are defined in go-libsql's static libSQL library, which every
// binary importing this package links. go-libsql ships no sqlite3.h, so
// the few declarations needed are here; sqlite3_config is variadic, so
// cgo calls it through wrappers.
typedef struct sqlite3 sqlite3;
extern int sqlite3_config(int, ...);
extern int sqlite3_open_v2(const char *, sqlite3 **, int, const char *);
extern int sqlite3_close_v2(sqlite3 *);
extern int sqlite3_exec(sqlite3 *, const char *, void *, void *, char **);

static int attache_config_int(int op, int v) { return sqlite3_config(op, v); }
static int attache_config_int2(int op, int a, int b) { return sqlite3_config(op, a, b); }

// sqlite3_mem_methods, as sqlite3.h defines it.
typedef struct {
	void *(*xMalloc)(int);
	void (*xFree)(void *);
	void *(*xRealloc)(void *, int);
	int (*xSize)(void *);
	int (*xRoundup)(int);
	int (*xInit)(void *);
	void (*xShutdown)(void *);
	void *pAppData;
} attache_mem_methods;

// SQLite's memory goes through malloc with an 8-byte size header, as
// SQLite's own default allocator does. A freed block the size of a
// connection (a struct sqlite3) is held back in a ring of the last
// ATTACHE_HELD such blocks before it goes back to malloc; see Setup.
#define ATTACHE_HELD 1024
static int64_t attache_held_size = -1;
static void *attache_held[ATTACHE_HELD];
static int attache_held_next;
static pthread_mutex_t attache_held_mu = PTHREAD_MUTEX_INITIALIZER;

static void *attache_malloc(int n) {
	int64_t *b = malloc((size_t)n + 8);
	if (!b) return 0;
	b[0] = n;
	return b + 1;
}

static void attache_free(void *p) {
	if (!p) return;
	int64_t *b = (int64_t *)p - 1;
	if (b[0] == __atomic_load_n(&attache_held_size, __ATOMIC_RELAXED)) {
		pthread_mutex_lock(&attache_held_mu);
		void *old = attache_held[attache_held_next];
		attache_held[attache_held_next] = b;
		attache_held_next = (attache_held_next + 1) % ATTACHE_HELD;
		pthread_mutex_unlock(&attache_held_mu);
		free(old);
		return;
	}
	free(b);
}

static void *attache_realloc(void *p, int n) {
	if (!p) return attache_malloc(n);
	int64_t *b = realloc((int64_t *)p - 1, (size_t)n + 8);
	if (!b) return 0;
	b[0] = n;
	return b + 1;
}

static int attache_size(void *p) { return p ? (int)((int64_t *)p)[-1] : 0; }
static int attache_roundup(int n) { return (n + 7) & ~7; }
static int attache_init(void *app) { return 0; }
static void attache_shutdown(void *app) {}

static attache_mem_methods attache_mem = {
	attache_malloc, attache_free, attache_realloc, attache_size,
	attache_roundup, attache_init, attache_shutdown, 0,
};

static int attache_config_malloc(void) { return sqlite3_config(4, &attache_mem); } // SQLITE_CONFIG_MALLOC

// attache_hold_connections learns the size of a connection's block by
// opening one, and from then on holds such blocks back when freed.
static int attache_hold_connections(void) {
	sqlite3 *db = 0;
	int rc = sqlite3_open_v2(":memory:", &db, 0x02 | 0x04, 0); // READWRITE | CREATE
	if (rc != 0) {
		sqlite3_close_v2(db);
		return -rc;
	}
	int n = attache_size(db);
	sqlite3_close_v2(db);
	__atomic_store_n(&attache_held_size, (int64_t)n, __ATOMIC_RELAXED);
	return n;
}

// attache_close_twice does what libSQL does when it closes a connection
// (close it, and close the same handle again) with another connection
// opened in between, on this one thread, where malloc hands the freed
// block straight back. It returns 0 when the second connection survived.
static int attache_close_twice(void) {
	sqlite3 *a = 0, *b = 0;
	if (sqlite3_open_v2(":memory:", &a, 0x02 | 0x04, 0) != 0) return -1;
	sqlite3_close_v2(a);
	if (sqlite3_open_v2(":memory:", &b, 0x02 | 0x04, 0) != 0) return -1;
	sqlite3_close_v2(a);
	int rc = sqlite3_exec(b, "CREATE TABLE t (x); INSERT INTO t VALUES (1)", 0, 0, 0);
	sqlite3_close_v2(b);
	return rc;
}
*/
import "C"

import (
	"database/sql/driver"
	"fmt"
	"io"
	"sync"
)

const (
	configLookaside = 13 // SQLITE_CONFIG_LOOKASIDE
	configMemstatus = 9  // SQLITE_CONFIG_MEMSTATUS
)

// SQLite's statement journals stay at their 64 KiB in memory before they
// go to a temp file: a run's merge writes 19,000 pages of them at 10,000
// tenants, and 16 MB in memory took 8% off its CPU, but with anything
// above 64 KiB the libSQL go-libsql ships fails a statement whose journal
// spills with "database or disk is full" (TestLargeStatementJournals; a
// 100,000-tenant run's plan).

// setup is process-wide because SQLite's configuration is: it runs once,
// before the process's first database. It keeps go-libsql's driver, which
// Open makes its connectors with.
var setup struct {
	once sync.Once
	err  error
	drv  driver.DriverContext
}

// Setup prepares SQLite for this process. Open calls it, and so must any
// other code that opens a database through go-libsql, before it does.
//
// It works around a libSQL bug (tursodatabase/libsql#2251, go-libsql#90,
// in the library go-libsql ships): closing a local connection calls
// sqlite3_close_v2 twice on the same handle, the second time on freed
// memory, on a libSQL thread in the background. When another thread has
// opened a connection into that freed block in between, the second close
// closes that live connection: its next statement fails with "bad
// parameter or other API misuse", or the process dies of a segmentation
// fault with no Go stack (a CI run, and 1 in 60 local runs of the
// engine's tests, on 2 cores). Setup gives SQLite an allocator that holds back the last
// 1,024 freed connection-sized blocks (about 0.9 MB), so the second close
// finds the closed connection it expects and returns, harmlessly.
func Setup() error {
	setup.once.Do(func() { setup.err = configure() })
	return setup.err
}

func configure() error {
	if rc := C.attache_config_malloc(); rc != 0 {
		return fmt.Errorf("sqlite: allocator: code %d (SQLite was already in use in this process: call sqlite.Setup before opening a database)", int(rc))
	}
	// libSQL configures and starts SQLite itself, the first time it opens
	// a database, and refuses to run if SQLite was started before: a
	// connector starts it without opening a connection.
	drv, ok := libsqlDriver().(driver.DriverContext)
	if !ok {
		return fmt.Errorf("sqlite: go-libsql driver has no connector")
	}
	setup.drv = drv
	c, err := drv.OpenConnector(":memory:")
	if err != nil {
		return fmt.Errorf("sqlite: start: %w", Wrap(err))
	}
	if cl, ok := c.(io.Closer); ok {
		cl.Close()
	}
	if n := C.attache_hold_connections(); n <= 0 {
		return fmt.Errorf("sqlite: open an in-memory database: code %d", -int(n))
	}
	return nil
}

// closeTwice reports whether a connection opened between the two closes
// of another survives them (see Setup); an error names what failed.
func closeTwice() error {
	if rc := C.attache_close_twice(); rc != 0 {
		return fmt.Errorf("a connection opened between two closes of another failed with SQLite code %d", int(rc))
	}
	return nil
}

// ConfigureForBatchReads sets SQLite's process-wide memory settings for a
// process that compiles and runs many short statements on one connection,
// as an engine worker does, then calls Setup. It must run before the
// process opens its first database (SQLite refuses afterwards): a worker
// calls it first thing.
//
//   - No memory statistics: every allocation otherwise takes a global
//     mutex to count itself (5.6% of a worker's instructions, callgrind).
//   - A larger lookaside (500 slots of 1,200 bytes per connection, up from
//     SQLite's 100 of 1,200 + 128 bytes): parse trees and prepared
//     statements are served from it instead of malloc (7.5% fewer).
//   - The VFS that TenantURI names, which finds a tenant's full name for
//     one lstat instead of one per component of its path.
func ConfigureForBatchReads() error {
	if rc := C.attache_config_int(configMemstatus, 0); rc != 0 {
		return fmt.Errorf("sqlite: memory statistics: code %d (SQLite was already in use in this process)", int(rc))
	}
	if rc := C.attache_config_int2(configLookaside, 1200, 500); rc != 0 {
		return fmt.Errorf("sqlite: lookaside: code %d (SQLite was already in use in this process)", int(rc))
	}
	if err := Setup(); err != nil {
		return err
	}
	return registerPathsVFS()
}
