// Package demo writes a deterministic fleet of tenant databases for a
// made-up TODO-list SaaS: one SQLite file per customer, 18 months of
// signups, activity, churn and schema drift, so attache has something
// realistic to read before it is pointed at a real fleet.
package demo

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/attache/attache/internal/sqlite"
)

// Options says what fleet to write. Zero values take the defaults.
type Options struct {
	Dir     string    // folder to write tenants into (created if missing); files are <id>.db
	Tenants int       // default 300
	Days    int       // days of history, default 540 (18 months)
	Seed    int64     // default 1
	Now     time.Time // end of history; zero means time.Now().UTC() truncated to the day
	Catalog string    // optional path of a catalog db to write: table organizations(id, name, path, plan, created_at)
}

// Progress is told how many tenants are written so far, out of total.
type Progress func(done, total int)

// Summary describes the fleet written.
type Summary struct {
	Tenants   int
	OldSchema int   // tenants still on schema_version 1
	Churned   int   // tenants whose activity stopped at least 30 days before Now
	Bytes     int64 // total size of the tenant files
}

// MarkerFile marks a folder as written by Generate, which may then delete
// and rewrite the *.db files in it.
const MarkerFile = ".attache-demo"

// catalogAppID is the catalog's PRAGMA application_id ("atdm"), so that a
// rerun may replace a catalog it wrote and refuses to touch anyone else's.
const catalogAppID = 0x6174646d

// Generate writes the fleet described by opt. The same options (Now
// included) always give the same data. Tenant files are written through one
// long-lived connection that ATTACHes each new file in turn: go-libsql does
// not survive opening and closing thousands of databases in one process.
// progress, if not nil, is called on the caller's goroutine after each
// tenant is written.
func Generate(ctx context.Context, opt Options, progress Progress) (Summary, error) {
	opt, err := withDefaults(opt)
	if err != nil {
		return Summary{}, err
	}
	catalog := ""
	if opt.Catalog != "" {
		if catalog, err = filepath.Abs(opt.Catalog); err != nil {
			return Summary{}, fmt.Errorf("demo catalog %s: %w", opt.Catalog, err)
		}
		if filepath.Dir(catalog) == opt.Dir && strings.HasSuffix(catalog, ".db") {
			return Summary{}, fmt.Errorf("demo catalog %s is a *.db file in the tenant dir %s, where it would be read as a tenant; put it elsewhere", catalog, opt.Dir)
		}
	}

	db, err := sqlite.Open(":memory:", sqlite.Options{})
	if err != nil {
		return Summary{}, fmt.Errorf("demo: open scratch database: %w", err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("demo: open scratch connection: %w", err)
	}
	defer conn.Close()

	// Check the catalog before touching the tenant dir, so a refusal
	// leaves everything as it was.
	if catalog != "" {
		if err := checkCatalog(ctx, conn, catalog); err != nil {
			return Summary{}, err
		}
	}
	if err := prepareDir(opt.Dir); err != nil {
		return Summary{}, err
	}

	f := newFleet(opt.Seed, opt.Now, opt.Days)
	var sum Summary
	rows := make([]catalogRow, 0, opt.Tenants)
	err = build(ctx, &f, opt.Tenants, func(t *builtTenant) error {
		path := filepath.Join(opt.Dir, t.plan.id+".db")
		size, err := writeTenant(ctx, conn, path, t)
		if err != nil {
			return err
		}
		sum.Tenants++
		sum.Bytes += size
		if t.plan.schema == schemaOld {
			sum.OldSchema++
		}
		if t.plan.churned {
			sum.Churned++
		}
		rows = append(rows, catalogRow{
			id: t.plan.id, name: t.plan.name, path: path, plan: t.plan.plan, created: t.plan.created,
		})
		if progress != nil {
			progress(len(rows), opt.Tenants)
		}
		return nil
	})
	if err != nil {
		return sum, fmt.Errorf("demo fleet in %s: %w", opt.Dir, err)
	}

	if catalog != "" {
		slices.SortFunc(rows, func(a, b catalogRow) int { return cmp.Compare(a.id, b.id) })
		if err := writeCatalog(ctx, conn, catalog, rows); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

func withDefaults(opt Options) (Options, error) {
	if opt.Dir == "" {
		return opt, errors.New("demo: no dir given; say where to write the tenant databases")
	}
	dir, err := filepath.Abs(opt.Dir)
	if err != nil {
		return opt, fmt.Errorf("demo dir %s: %w", opt.Dir, err)
	}
	opt.Dir = dir
	if opt.Tenants < 0 || opt.Days < 0 {
		return opt, fmt.Errorf("demo: tenants (%d) and days (%d) must not be negative", opt.Tenants, opt.Days)
	}
	if opt.Tenants == 0 {
		opt.Tenants = 300
	}
	if opt.Days == 0 {
		opt.Days = 540
	}
	if opt.Seed == 0 {
		opt.Seed = 1
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now().UTC().Truncate(24 * time.Hour)
	}
	return opt, nil
}

// prepareDir makes dir ready for a fresh fleet: created if missing, and
// emptied of a previous demo's databases. It refuses a dir holding *.db
// files without the marker: they are someone's data.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo dir %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("demo dir %s: %w", dir, err)
	}
	marked := false
	var dbs, stale []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == MarkerFile:
			marked = true
		case strings.HasSuffix(name, ".db"):
			dbs = append(dbs, name)
			stale = append(stale, name)
		case strings.HasSuffix(name, ".db-wal"), strings.HasSuffix(name, ".db-shm"), strings.HasSuffix(name, ".db-journal"):
			stale = append(stale, name)
		}
	}
	if len(dbs) > 0 && !marked {
		return fmt.Errorf("demo dir %s already holds %d *.db files (e.g. %s) that attache demo did not write; choose an empty or new dir, or move those files away", dir, len(dbs), dbs[0])
	}
	// The marker goes first, so that a run cut short can simply be rerun.
	const note = "Written by attache demo. The *.db files in this folder are a generated demo fleet;\nrunning attache demo again deletes and regenerates them.\n"
	if err := os.WriteFile(filepath.Join(dir, MarkerFile), []byte(note), 0o644); err != nil {
		return fmt.Errorf("demo dir %s: write marker: %w", dir, err)
	}
	for _, name := range stale {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("demo dir %s: remove old %s: %w", dir, name, err)
		}
	}
	return nil
}

// builtTenant is one tenant ready to write: its plan and its SQL.
type builtTenant struct {
	plan  tenantPlan
	stmts []string
}

// build simulates tenants 0..n-1 on a few goroutines and hands them to
// write, one at a time and in no particular order. The channel between them
// is short, so memory stays flat however big the fleet: the Go side
// (simulation and SQL text) runs while the single connection writes. A
// second writing connection measured no faster: go-libsql work in one
// process barely overlaps.
func build(ctx context.Context, f *fleet, n int, write func(*builtTenant) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := min(max(1, runtime.GOMAXPROCS(0)-1), 4, n)
	next := make(chan int)
	done := make(chan *builtTenant, workers)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	})
	var producers sync.WaitGroup
	for range workers {
		producers.Go(func() {
			for i := range next {
				p := planTenant(f, i)
				s := simulate(f, p)
				t := &builtTenant{plan: p, stmts: storySQL(&s)}
				select {
				case done <- t:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Go(func() {
		producers.Wait()
		close(done)
	})

	var err error
	for t := range done {
		if err == nil {
			if err = ctx.Err(); err == nil {
				err = write(t)
			}
			if err != nil {
				cancel()
			}
		}
	}
	wg.Wait()
	return err
}

// writeTenant creates the tenant database at path and returns its size.
func writeTenant(ctx context.Context, conn *sql.Conn, path string, t *builtTenant) (int64, error) {
	if _, err := conn.ExecContext(ctx, "ATTACH ? AS t", path); err != nil {
		return 0, fmt.Errorf("create tenant %q: attach: %w", t.plan.id, sqlErr(err))
	}
	err := fillTenant(ctx, conn, t)
	// Detach even when the context is done, or the connection stays
	// pinned to a half-written file.
	if err != nil {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	}
	if _, derr := conn.ExecContext(context.WithoutCancel(ctx), "DETACH t"); derr != nil && err == nil {
		err = fmt.Errorf("detach: %w", sqlErr(derr))
	}
	if err != nil {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			_ = os.Remove(path + suffix)
		}
		return 0, fmt.Errorf("create tenant %q: %w", t.plan.id, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("create tenant %q: %w", t.plan.id, err)
	}
	return fi.Size(), nil
}

func fillTenant(ctx context.Context, conn *sql.Conn, t *builtTenant) error {
	// A generated file has no readers and can be regenerated, so it is
	// written without a journal or fsync; the journal mode is not stored
	// in the file, which ends up in the default rollback (DELETE) mode.
	if err := pragma(ctx, conn, "PRAGMA t.journal_mode = OFF"); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA t.synchronous = OFF"); err != nil {
		return fmt.Errorf("synchronous: %w", sqlErr(err))
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("begin: %w", sqlErr(err))
	}
	stmts := slices.Concat(schemaSQL(t.plan.schema), t.stmts, []string{indexSQL})
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", statementName(q), sqlErr(err))
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", sqlErr(err))
	}
	if t.plan.wal {
		// WAL mode is recorded in the file header, so it survives; the
		// -wal file is empty and removed when the file is detached.
		if err := pragma(ctx, conn, "PRAGMA t.journal_mode = WAL"); err != nil {
			return err
		}
	}
	return nil
}

// pragma runs a PRAGMA that answers with a row, which go-libsql refuses
// to Exec.
func pragma(ctx context.Context, conn *sql.Conn, q string) error {
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("%s: %w", q, sqlErr(err))
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("%s: %w", q, sqlErr(err))
	}
	return rows.Err()
}

// statementName is the start of a statement, enough to say which failed.
func statementName(q string) string {
	if i := strings.Index(q, "("); i > 0 {
		return strings.TrimSpace(q[:i])
	}
	return q
}

// sqlErr drops the statement text that go-libsql copies into its errors: a
// multi-row INSERT would make the message megabytes long.
func sqlErr(err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, "\nerror code = "); i >= 0 {
		return errors.New(msg[i+1:])
	}
	return err
}
