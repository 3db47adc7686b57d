package sqlite

/*
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

// sqlite3_vfs as sqlite3.h (version 3) defines it; go-libsql ships no
// header, and libSQL's is SQLite's here.
typedef struct sqlite3_file sqlite3_file;
typedef void (*attache_syscall_ptr)(void);
typedef struct attache_vfs attache_vfs;
struct attache_vfs {
	int iVersion;
	int szOsFile;
	int mxPathname;
	attache_vfs *pNext;
	const char *zName;
	void *pAppData;
	int (*xOpen)(attache_vfs *, const char *, sqlite3_file *, int, int *);
	int (*xDelete)(attache_vfs *, const char *, int);
	int (*xAccess)(attache_vfs *, const char *, int, int *);
	int (*xFullPathname)(attache_vfs *, const char *, int, char *);
	void *(*xDlOpen)(attache_vfs *, const char *);
	void (*xDlError)(attache_vfs *, int, char *);
	void (*(*xDlSym)(attache_vfs *, void *, const char *))(void);
	void (*xDlClose)(attache_vfs *, void *);
	int (*xRandomness)(attache_vfs *, int, char *);
	int (*xSleep)(attache_vfs *, int);
	int (*xCurrentTime)(attache_vfs *, double *);
	int (*xGetLastError)(attache_vfs *, int, char *);
	int (*xCurrentTimeInt64)(attache_vfs *, int64_t *);
	int (*xSetSystemCall)(attache_vfs *, const char *, attache_syscall_ptr);
	attache_syscall_ptr (*xGetSystemCall)(attache_vfs *, const char *);
	const char *(*xNextSystemCall)(attache_vfs *, const char *);
};

extern attache_vfs *sqlite3_vfs_find(const char *);
extern int sqlite3_vfs_register(attache_vfs *, int);

// The "attache-paths" VFS is the default one with a cheaper way to name a
// file: SQLite resolves every component of a path for symbolic links
// (one lstat each, five for /srv/app/tenants/acme.db) so that a database's
// -wal and -journal are found beside the real file. Only the last
// component can move them elsewhere; a directory reached through a link
// is the same directory. So an absolute, clean path whose file is not a
// link is its own full name, for one lstat; anything else is resolved as
// SQLite does. Every other method is the default VFS's.
static attache_vfs *attache_base;
static attache_vfs attache_paths;

static int ap_open(attache_vfs *v, const char *z, sqlite3_file *f, int fl, int *o) { return attache_base->xOpen(attache_base, z, f, fl, o); }
static int ap_delete(attache_vfs *v, const char *z, int d) { return attache_base->xDelete(attache_base, z, d); }
static int ap_access(attache_vfs *v, const char *z, int fl, int *r) { return attache_base->xAccess(attache_base, z, fl, r); }
static void *ap_dlopen(attache_vfs *v, const char *z) { return attache_base->xDlOpen(attache_base, z); }
static void ap_dlerror(attache_vfs *v, int n, char *z) { attache_base->xDlError(attache_base, n, z); }
static void (*ap_dlsym(attache_vfs *v, void *h, const char *z))(void) { return attache_base->xDlSym(attache_base, h, z); }
static void ap_dlclose(attache_vfs *v, void *h) { attache_base->xDlClose(attache_base, h); }
static int ap_randomness(attache_vfs *v, int n, char *z) { return attache_base->xRandomness(attache_base, n, z); }
static int ap_sleep(attache_vfs *v, int us) { return attache_base->xSleep(attache_base, us); }
static int ap_time(attache_vfs *v, double *t) { return attache_base->xCurrentTime(attache_base, t); }
static int ap_lasterror(attache_vfs *v, int n, char *z) { return attache_base->xGetLastError(attache_base, n, z); }
static int ap_time64(attache_vfs *v, int64_t *t) { return attache_base->xCurrentTimeInt64(attache_base, t); }

// ap_clean reports whether z is absolute with no empty, "." or ".."
// component and no trailing slash.
static int ap_clean(const char *z) {
	if (z[0] != '/') return 0;
	for (const char *p = z; *p; p++) {
		if (p[0] != '/') continue;
		if (p[1] == '/' || p[1] == 0) return 0;
		if (p[1] == '.' && (p[2] == '/' || p[2] == 0)) return 0;
		if (p[1] == '.' && p[2] == '.' && (p[3] == '/' || p[3] == 0)) return 0;
	}
	return 1;
}

static int ap_fullpathname(attache_vfs *v, const char *z, int n, char *out) {
	struct stat st;
	size_t len = strlen(z);
	if (len + 1 <= (size_t)n && ap_clean(z) && lstat(z, &st) == 0 && !S_ISLNK(st.st_mode)) {
		memcpy(out, z, len + 1);
		return 0;
	}
	return attache_base->xFullPathname(attache_base, z, n, out);
}

// attache_register_paths registers "attache-paths" once; 0 on success.
static int attache_register_paths(void) {
	if (attache_base) return 0;
	attache_vfs *b = sqlite3_vfs_find(0);
	if (!b || b->iVersion < 2) return 1;
	attache_paths.iVersion = 2;
	attache_paths.szOsFile = b->szOsFile;
	attache_paths.mxPathname = b->mxPathname;
	attache_paths.zName = "attache-paths";
	attache_paths.xOpen = ap_open;
	attache_paths.xDelete = ap_delete;
	attache_paths.xAccess = ap_access;
	attache_paths.xFullPathname = ap_fullpathname;
	attache_paths.xDlOpen = ap_dlopen;
	attache_paths.xDlError = ap_dlerror;
	attache_paths.xDlSym = ap_dlsym;
	attache_paths.xDlClose = ap_dlclose;
	attache_paths.xRandomness = ap_randomness;
	attache_paths.xSleep = ap_sleep;
	attache_paths.xCurrentTime = ap_time;
	attache_paths.xGetLastError = ap_lasterror;
	attache_paths.xCurrentTimeInt64 = ap_time64;
	attache_base = b;
	return sqlite3_vfs_register(&attache_paths, 0);
}
*/
import "C"

import "fmt"

// pathsVFS is the VFS that names a file for one lstat (see the C above).
const pathsVFS = "attache-paths"

// registerPathsVFS makes pathsVFS available to this process; SQLite must
// be set up first (Setup).
func registerPathsVFS() error {
	if rc := C.attache_register_paths(); rc != 0 {
		return fmt.Errorf("sqlite: register the %s VFS: code %d", pathsVFS, int(rc))
	}
	return nil
}
