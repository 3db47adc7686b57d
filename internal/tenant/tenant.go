// Package tenant lists the fleet: one database per customer, found in a
// folder or through a catalog query.
package tenant

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
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

// List returns the fleet sorted by id.
func List(ctx context.Context, src config.Tenants) ([]Tenant, error) {
	var (
		ts  []Tenant
		err error
	)
	switch {
	case src.Catalog != nil:
		ts, err = fromCatalog(ctx, *src.Catalog, src.Remote)
	case src.Turso != nil:
		ts, err = fromTurso(ctx, *src.Turso, src.Remote)
	default:
		ts, err = fromDir(src.Dir)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID })
	for i := range ts {
		stat(&ts[i])
	}
	return ts, nil
}

func fromDir(dir string) ([]Tenant, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("tenants.dir %s does not exist; create the fleet with `attache demo` or point tenants.dir at your tenant databases", dir)
		}
		return nil, fmt.Errorf("tenants.dir %s: %w", dir, err)
	}
	var ts []Tenant
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".db") || name == ".db" {
			continue
		}
		if e.IsDir() {
			continue
		}
		ts = append(ts, Tenant{ID: strings.TrimSuffix(name, ".db"), Path: filepath.Join(dir, name)})
	}
	return ts, nil
}

func fromCatalog(ctx context.Context, c config.Catalog, remote config.Remote) ([]Tenant, error) {
	if config.IsURL(c.DB) {
		return fromRemoteCatalog(ctx, c, remote)
	}
	if _, err := os.Stat(c.DB); err != nil {
		return nil, fmt.Errorf("tenants.catalog.db %s: %w", c.DB, err)
	}
	// A scratch in-memory main database with the catalog attached read-only:
	// the catalog belongs to the SaaS app and is never written.
	db, err := sqlite.Open(":memory:", sqlite.Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("tenants.catalog: %w", err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("tenants.catalog: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "ATTACH ? AS catalog", sqlite.ReadOnlyURI(c.DB)); err != nil {
		return nil, fmt.Errorf("tenants.catalog.db %s: %w", c.DB, sqlite.Wrap(err))
	}
	res, err := sqlite.Query(ctx, conn, strings.TrimRight(strings.TrimSpace(c.Query), ";"), 0)
	if err != nil {
		return nil, fmt.Errorf("tenants.catalog.query: %v (it must return two columns: id, path)", err)
	}
	return catalogTenants(res, filepath.Dir(c.DB), remote)
}

// catalogTenants turns the catalog query's rows into tenants: a location is
// a file (relative to base) or a remote database (see location).
func catalogTenants(res *sqlite.Result, base string, remote config.Remote) ([]Tenant, error) {
	if len(res.Columns) < 2 {
		return nil, fmt.Errorf("tenants.catalog.query returns %d column(s); it must return id, path", len(res.Columns))
	}
	seen := map[string]bool{}
	var ts []Tenant
	for i, row := range res.Rows {
		id, path := fmt.Sprint(row[0]), fmt.Sprint(row[1])
		if row[0] == nil || id == "" {
			return nil, fmt.Errorf("tenants.catalog.query: row %d has an empty id", i+1)
		}
		if row[1] == nil || path == "" {
			return nil, fmt.Errorf("tenants.catalog.query: tenant %q has an empty path", id)
		}
		if seen[id] {
			return nil, fmt.Errorf("tenants.catalog.query: tenant id %q appears twice; ids must be unique", id)
		}
		seen[id] = true
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

func stat(t *Tenant) {
	if t.Remote != nil {
		statReplica(t)
		return
	}
	fs := StatFile(t.Path)
	t.Size, t.ModTime, t.Fingerprint, t.Missing = fs.Size, fs.ModTime, fs.Fingerprint, fs.Missing
}
