// Package tenant lists the fleet: one database per customer, found in a
// folder or through a catalog query.
package tenant

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/sqlite"
)

// Tenant is one database: an id and where it lives.
type Tenant struct {
	ID      string
	Path    string
	Size    int64     // database plus -wal, bytes
	ModTime time.Time // latest change of the database or its -wal
	// Fingerprint changes whenever the database or its -wal changes (see
	// StatFile); a tenant with the same fingerprint as at its last good read
	// need not be read.
	Fingerprint string
	// Missing is set when the location has no file: the tenant is still
	// listed, so the run records it as failed instead of forgetting it.
	Missing bool
	// Remote is set for a tenant read through its embedded replica; Path
	// is then the replica file.
	Remote *Remote
}

// List returns the fleet sorted by id. It holds the whole fleet: the
// engine's runs use Each, which does not.
func List(ctx context.Context, src config.Tenants) ([]Tenant, error) {
	var ts []Tenant
	seen := map[string]bool{}
	err := Each(ctx, src, 1000, func(page []Tenant) error {
		for _, t := range page {
			if seen[t.ID] {
				return DuplicateError(t.ID)
			}
			seen[t.ID] = true
		}
		ts = append(ts, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID })
	return ts, nil
}

// DuplicateError is the error for a tenant id the source lists twice. Each
// does not look for these (that would hold every id seen); its caller does.
func DuplicateError(id string) error {
	return fmt.Errorf("tenants.catalog.query: tenant id %q appears twice; ids must be unique", id)
}

// Each lists the fleet a page of at most size tenants at a time, each
// stat'd, in no particular order, so a fleet of a million tenants never
// needs to be held at once. A folder is read in pages of its entries, a
// catalog query in pages of its rows; the Turso Platform API's list comes
// whole and is handed on in pages. An error from fn stops the listing.
func Each(ctx context.Context, src config.Tenants, size int, fn func([]Tenant) error) error {
	return EachWith(ctx, src, size, Headers{}, fn)
}

// EachWith is Each, treating local files' headers as h says.
func EachWith(ctx context.Context, src config.Tenants, size int, h Headers, fn func([]Tenant) error) error {
	size = max(size, 1)
	if h.fs == nil {
		h.fs = &ctimeFilesystems{}
	}
	emit := func(page []Tenant) error {
		lanes(page, func(t *Tenant) { stat(t, h) })
		return fn(page)
	}
	switch {
	case src.Catalog != nil:
		return eachCatalog(ctx, *src.Catalog, src.Remote, size, emit)
	case src.Turso != nil:
		ts, err := fromTurso(ctx, *src.Turso, src.Remote)
		if err != nil {
			return err
		}
		for i := 0; i < len(ts); i += size {
			if err := emit(ts[i:min(i+size, len(ts))]); err != nil {
				return err
			}
		}
		return nil
	default:
		return eachDir(ctx, src.Dir, size, h, fn) // it stats each file itself
	}
}

func eachDir(ctx context.Context, dir string, size int, h Headers, fn func([]Tenant) error) error {
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("tenants.dir %s does not exist; create the fleet with `attache demo` or point tenants.dir at your tenant databases", dir)
		}
		return fmt.Errorf("tenants.dir %s: %w", dir, err)
	}
	defer f.Close()
	dirfd := openDir(dir)
	defer closeDir(dirfd)
	wals := walsIn(ctx, dir, size)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := f.ReadDir(size)
		var ts []Tenant
		for _, e := range entries {
			name := e.Name()
			if !strings.HasSuffix(name, ".db") || name == ".db" || e.IsDir() {
				continue
			}
			ts = append(ts, Tenant{ID: strings.TrimSuffix(name, ".db"), Path: filepath.Join(dir, name)})
		}
		if len(ts) > 0 {
			lanes(ts, func(t *Tenant) {
				fs := statDirFile(dirfd, dir, t.ID+".db", wals.mayHold(t.ID+".db-wal"), h)
				t.Size, t.ModTime, t.Fingerprint, t.Missing = fs.Size, fs.ModTime, fs.Fingerprint, fs.Missing
			})
			if err := fn(ts); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && len(entries) == 0) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tenants.dir %s: %w", dir, err)
		}
	}
}

// walNamesKept bounds walSet: past it (a fleet of more WAL-mode
// databases than that), every -wal is stat'd.
const walNamesKept = 250_000

// walSet is the set of -wal files a folder held as its listing began, as
// hashes of their names (about 20 bytes each): a database with no -wal
// then costs one stat, not two. A -wal made after that moment is seen by
// the next run, like any change made while a run lists the fleet.
type walSet struct {
	seed  maphash.Seed
	names map[uint64]struct{}
}

// walsIn reads the folder's names once; nil (every -wal may exist) when
// it cannot, or when there are more than walNamesKept.
func walsIn(ctx context.Context, dir string, size int) *walSet {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	w := &walSet{seed: maphash.MakeSeed(), names: map[uint64]struct{}{}}
	for ctx.Err() == nil {
		names, err := f.Readdirnames(size)
		for _, n := range names {
			if strings.HasSuffix(n, "-wal") {
				if len(w.names) == walNamesKept {
					return nil
				}
				w.names[maphash.String(w.seed, n)] = struct{}{}
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && len(names) == 0) {
			return w
		}
		if err != nil {
			return nil
		}
	}
	return nil
}

// mayHold reports whether the folder may hold the file name: false only
// when it did not as the listing began.
func (w *walSet) mayHold(name string) bool {
	if w == nil {
		return true
	}
	_, ok := w.names[maphash.String(w.seed, name)]
	return ok
}

func eachCatalog(ctx context.Context, c config.Catalog, remote config.Remote, size int, fn func([]Tenant) error) error {
	if config.IsURL(c.DB) {
		ts, err := fromRemoteCatalog(ctx, c, remote)
		if err != nil {
			return err
		}
		for i := 0; i < len(ts); i += size {
			if err := fn(ts[i:min(i+size, len(ts))]); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := os.Stat(c.DB); err != nil {
		return fmt.Errorf("tenants.catalog.db %s: %w", c.DB, err)
	}
	// A scratch in-memory main database with the catalog attached read-only:
	// the catalog belongs to the SaaS app and is never written.
	db, err := sqlite.Open(":memory:", sqlite.Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("tenants.catalog: %w", err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("tenants.catalog: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "ATTACH ? AS catalog", sqlite.ReadOnlyURI(c.DB)); err != nil {
		return fmt.Errorf("tenants.catalog.db %s: %w", c.DB, sqlite.Wrap(err))
	}
	st, err := sqlite.Stream(ctx, conn, strings.TrimRight(strings.TrimSpace(c.Query), ";"))
	if err != nil {
		return fmt.Errorf("tenants.catalog.query: %v (it must return two columns: id, path)", err)
	}
	defer st.Close()
	for n := 0; ; {
		rows, err := st.Next(size)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("tenants.catalog.query: %v (it must return two columns: id, path)", err)
		}
		if len(rows) > 0 {
			ts, terr := catalogTenants(&sqlite.Result{Columns: st.Columns, Rows: rows}, n, filepath.Dir(c.DB), remote)
			if terr != nil {
				return terr
			}
			n += len(rows)
			if err := fn(ts); err != nil {
				return err
			}
		}
		if err != nil {
			return nil // io.EOF
		}
	}
}

// catalogTenants turns the catalog query's rows into tenants: a location is
// a file (relative to base) or a remote database (see location).
// first is the number of rows before res's, for messages. Ids listed
// twice are the caller's to find (see DuplicateError).
func catalogTenants(res *sqlite.Result, first int, base string, remote config.Remote) ([]Tenant, error) {
	if len(res.Columns) < 2 {
		return nil, fmt.Errorf("tenants.catalog.query returns %d column(s); it must return id, path", len(res.Columns))
	}
	var ts []Tenant
	for i, row := range res.Rows {
		i += first
		id, path := fmt.Sprint(row[0]), fmt.Sprint(row[1])
		if row[0] == nil || id == "" {
			return nil, fmt.Errorf("tenants.catalog.query: row %d has an empty id", i+1)
		}
		if row[1] == nil || path == "" {
			return nil, fmt.Errorf("tenants.catalog.query: tenant %q has an empty path", id)
		}
		if t, ok, err := remoteTenant(id, path, row, res.Columns, remote); ok || err != nil {
			if err != nil {
				return nil, err
			}
			ts = append(ts, t)
			continue
		}
		path = strings.TrimPrefix(path, "file:")
		if !filepath.IsAbs(path) && base == "" {
			return nil, fmt.Errorf("tenants.catalog.query: tenant %q has the relative path %q in a remote catalog; use an absolute path or a URL", id, path)
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(base, path)
		}
		ts = append(ts, Tenant{ID: id, Path: path})
	}
	return ts, nil
}

// lanes runs f on every tenant of a page, a few at a time: each is a
// handful of system calls that wait on the filesystem, not on the CPU.
func lanes(page []Tenant, f func(*Tenant)) {
	const n = 4
	var wg sync.WaitGroup
	for l := 0; l < n; l++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := l; i < len(page); i += n {
				f(&page[i])
			}
		}()
	}
	wg.Wait()
}

func stat(t *Tenant, h Headers) {
	if t.Remote != nil {
		statReplica(t)
		return
	}
	fs := statPath(t.Path, h)
	t.Size, t.ModTime, t.Fingerprint, t.Missing = fs.Size, fs.ModTime, fs.Fingerprint, fs.Missing
}

// CompleteAll completes the deferred fingerprints of a page of local
// tenants (see Complete), a few at a time.
func CompleteAll(page []Tenant) {
	lanes(page, func(t *Tenant) { t.Fingerprint = Complete(t.Path, t.Fingerprint) })
}
