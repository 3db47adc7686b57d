// Package metrics owns the metrics DB: its schema (embedded migrations), the
// run lock that keeps two runs apart, and the reads the CLI and dashboard share.
package metrics

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/attache/attache/internal/sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// TimeFormat is how every timestamp is stored: UTC, second precision, sortable.
const TimeFormat = "2006-01-02T15:04:05Z"

// Format renders t for storage.
func Format(t time.Time) string { return t.UTC().Format(TimeFormat) }

// DB is the metrics database: one writer connection beside a read pool, so
// readers never queue behind a run's merge (WAL lets them read meanwhile).
type DB struct {
	Path string
	W    *sql.DB
	R    *sql.DB
}

// Open opens (creating if needed) the metrics DB at path and migrates it.
func Open(ctx context.Context, path string, busy time.Duration) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("metrics DB %s: %w", path, err)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("metrics DB %s is a folder; point metrics at a file", path)
	}
	// temp_store=FILE: go-libsql is built to keep temp data in memory, so
	// sorting a million-row index would hold it all in RAM.
	// page_size=16384, for a new file only (an existing one keeps its
	// size; VACUUM would change it): a run writes rollups in bulk and the
	// dashboard reads them in ranges. A 10,000-tenant full run's merge
	// used 0.58-0.59 CPU-s with 4 KiB pages, 0.41-0.44 with 16 KiB (32
	// KiB saved a few percent more), with no slower rerun. It must come
	// before WAL mode, which fixes the page size.
	opt := sqlite.Options{BusyTimeout: busy, Pragmas: []string{"page_size=16384", "journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "temp_store=FILE"}}
	w, err := sqlite.Open(path, opt)
	if err != nil {
		return nil, fmt.Errorf("metrics DB: %w; point metrics at a new file or an attache metrics DB", err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	db := &DB{Path: path, W: w}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("metrics DB %s: %w (is it an attache metrics database?)", path, err)
	}
	r, err := sqlite.Open(path, sqlite.Options{BusyTimeout: busy, Pragmas: []string{"query_only=ON"}})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("metrics DB: %w", err)
	}
	r.SetMaxOpenConns(4)
	db.R = r
	return db, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	return errors.Join(db.R.Close(), db.W.Close())
}

// migrate applies the embedded migrations in order, one transaction each.
func (db *DB) migrate(ctx context.Context) error {
	conn, err := db.W.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"); err != nil {
		return fmt.Errorf("migrate: %w", sqlite.Wrap(err))
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE name = ?", name).Scan(&n); err != nil {
			return fmt.Errorf("migrate: %w", sqlite.Wrap(err))
		}
		if n > 0 {
			continue
		}
		src, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if err := inTx(ctx, conn, func() error {
			for _, stmt := range Statements(string(src)) {
				if _, err := conn.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", name, sqlite.Wrap(err))
				}
			}
			_, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations(name, applied_at) VALUES (?, ?)", name, Format(time.Now()))
			return err
		}); err != nil {
			return fmt.Errorf("migrate %w", err)
		}
	}
	return nil
}

// Statements splits a migration file on lines ending in ';' (go-libsql runs
// one statement per call). Comment-only chunks are dropped.
func Statements(src string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// InTx runs fn inside BEGIN IMMEDIATE ... COMMIT on conn, rolling back on error.
func InTx(ctx context.Context, conn *sql.Conn, fn func() error) error { return inTx(ctx, conn, fn) }

func inTx(ctx context.Context, conn *sql.Conn, fn func() error) error {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", sqlite.Wrap(err))
	}
	if err := fn(); err != nil {
		conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		conn.ExecContext(ctx, "ROLLBACK")
		return fmt.Errorf("commit: %w", sqlite.Wrap(err))
	}
	return nil
}

// InsertMany inserts rows into table, many per statement: each statement
// is a cgo call, and go-libsql parses its text in Go first.
func InsertMany(ctx context.Context, conn *sql.Conn, table string, cols []string, rows [][]any) error {
	const chunk = 100
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	for i := 0; i < len(rows); i += chunk {
		part := rows[i:min(i+chunk, len(rows))]
		args := make([]any, 0, len(cols)*len(part))
		for _, r := range part {
			args = append(args, r...)
		}
		stmt := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " + strings.TrimSuffix(strings.Repeat(tuple+",", len(part)), ",")
		if _, err := conn.ExecContext(ctx, stmt, args...); err != nil {
			return fmt.Errorf("insert into %s: %w", table, sqlite.Wrap(err))
		}
	}
	return nil
}

// ErrNotFound is wrapped by the lookups of one thing (a run, a tenant) when
// there is no such thing: a caller that can do without it checks errors.Is.
var ErrNotFound = errors.New("not found")

// ErrRunInProgress is returned by Lock when another run holds the metrics DB.
var ErrRunInProgress = errors.New("another run is in progress")

// Lock takes the run lock of the metrics DB at path: at most one run writes
// rollups at a time. The lock is an flock on PATH.lock, so it is released
// when its process dies. The returned func releases it.
func Lock(path string) (func(), error) {
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("run lock %s: %w", lockPath, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(lockPath)
		f.Close()
		who := strings.TrimSpace(string(holder))
		if who == "" {
			who = "another process"
		}
		return nil, fmt.Errorf("%w on %s (held by %s); wait for it to finish, or start this one later", ErrRunInProgress, path, who)
	}
	f.Truncate(0)
	f.WriteAt([]byte(fmt.Sprintf("pid %d since %s\n", os.Getpid(), Format(time.Now()))), 0)
	return func() {
		f.Truncate(0)
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Run is one row of runs.
type Run struct {
	ID               int64
	Job              string
	StartedAt        time.Time
	FinishedAt       time.Time // zero while running
	Status           string
	TenantsTotal     int
	TenantsOK        int
	TenantsFailed    int
	TenantsUnchanged int
	RowsWritten      int64
	Queries          string
	Full             bool
	Error            string
	// Elapsed is the measured length of a finished run, to the millisecond
	// (0 for runs recorded before it was kept).
	Elapsed time.Duration
	// QueryErrors are the queries the run could not run at all (GetRun
	// fills them).
	QueryErrors []QueryError
	// TenantsStale were read from a replica whose sync failed: counted
	// neither fresh nor failed.
	TenantsStale int
	// Progress is how far a running run was when its coordinator last
	// wrote it (zero when it never did).
	Progress Progress
}

// Progress is a run's progress as its coordinator records it.
type Progress struct {
	Phase string        // listing, reading or merging; "" when none recorded
	Done  int           // tenants listed (listing) or read (reading)
	Total int           // tenants to read; 0 while listing
	Rate  float64       // tenants per second so far in this phase
	Left  time.Duration // time left at that rate; 0 when unknown
	At    time.Time     // when it was written
}

// QueryError is one row of run_query_errors.
type QueryError struct {
	Query string
	File  string
	Error string
}

// Duration is how long a finished run took: the measured length, the same
// figure `attache run` prints, or the whole seconds between its stamps.
func (r Run) Duration() time.Duration {
	if r.FinishedAt.IsZero() {
		return 0
	}
	if r.Elapsed > 0 {
		return r.Elapsed
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

const runCols = "id, job, started_at, coalesce(finished_at, ''), status, tenants_total, tenants_ok, tenants_failed, tenants_unchanged, rows_written, queries, full, error, coalesce(elapsed_ms, 0), tenants_stale, " +
	"coalesce(progress_phase, ''), coalesce(progress_done, 0), coalesce(progress_total, 0), coalesce(progress_rate, 0), coalesce(progress_left_s, 0), coalesce(progress_at, '')"

func scanRun(s interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var started, finished any
	var elapsedMS, leftS int64
	var progressAt any
	err := s.Scan(&r.ID, &r.Job, &started, &finished, &r.Status, &r.TenantsTotal, &r.TenantsOK, &r.TenantsFailed, &r.TenantsUnchanged, &r.RowsWritten, &r.Queries, &r.Full, &r.Error, &elapsedMS, &r.TenantsStale,
		&r.Progress.Phase, &r.Progress.Done, &r.Progress.Total, &r.Progress.Rate, &leftS, &progressAt)
	r.StartedAt, r.FinishedAt = ParseTime(started), ParseTime(finished)
	r.Progress.Left, r.Progress.At = time.Duration(leftS)*time.Second, ParseTime(progressAt)
	r.Elapsed = time.Duration(elapsedMS) * time.Millisecond
	return r, err
}

// ParseTime reads a stored timestamp (go-libsql may already have made it a
// time.Time); anything else is the zero time.
func ParseTime(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case string:
		t, err := time.Parse(TimeFormat, x)
		if err == nil {
			return t
		}
	}
	return time.Time{}
}

// LastRun returns the newest finished run (ok status); ErrNotFound when no
// run has finished yet.
func (db *DB) LastRun(ctx context.Context) (*Run, error) {
	row := db.R.QueryRowContext(ctx, "SELECT "+runCols+" FROM runs WHERE status = 'ok' ORDER BY id DESC LIMIT 1")
	r, err := scanRun(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("no run has finished yet (run `attache run` first): %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("last run: %w", sqlite.Wrap(err))
	}
	return &r, nil
}

// Runs lists runs newest first, at most limit, optionally of one job.
func (db *DB) Runs(ctx context.Context, job string, limit int) ([]Run, error) {
	q := "SELECT " + runCols + " FROM runs"
	args := []any{}
	if job != "" {
		q += " WHERE job = ?"
		args = append(args, job)
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("runs: %w", sqlite.Wrap(err))
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("runs: %w", sqlite.Wrap(err))
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// GetRun returns one run; ErrNotFound when it does not exist.
func (db *DB) GetRun(ctx context.Context, id int64) (*Run, error) {
	r, err := scanRun(db.R.QueryRowContext(ctx, "SELECT "+runCols+" FROM runs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("run %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("run %d: %w", id, sqlite.Wrap(err))
	}
	rows, err := db.R.QueryContext(ctx, "SELECT query, file, error FROM run_query_errors WHERE run_id = ? ORDER BY query", id)
	if err != nil {
		return nil, fmt.Errorf("run %d: query errors: %w", id, sqlite.Wrap(err))
	}
	defer rows.Close()
	for rows.Next() {
		var e QueryError
		if err := rows.Scan(&e.Query, &e.File, &e.Error); err != nil {
			return nil, fmt.Errorf("run %d: query errors: %w", id, sqlite.Wrap(err))
		}
		r.QueryErrors = append(r.QueryErrors, e)
	}
	return &r, rows.Err()
}

// TenantError is one row of tenant_errors.
type TenantError struct {
	RunID    int64
	TenantID string
	Query    string
	Error    string
}

// RunErrors lists a run's tenant errors.
func (db *DB) RunErrors(ctx context.Context, runID int64, limit int) ([]TenantError, error) {
	return db.errors(ctx, "WHERE run_id = ? ORDER BY tenant_id, query LIMIT ?", runID, limit)
}

// TenantErrors lists a tenant's errors, newest run first.
func (db *DB) TenantErrors(ctx context.Context, tenantID string, limit int) ([]TenantError, error) {
	return db.errors(ctx, "WHERE tenant_id = ? ORDER BY run_id DESC, query LIMIT ?", tenantID, limit)
}

func (db *DB) errors(ctx context.Context, where string, args ...any) ([]TenantError, error) {
	rows, err := db.R.QueryContext(ctx, "SELECT run_id, hex(tenant_id), query, error FROM tenant_errors "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("tenant errors: %w", sqlite.Wrap(err))
	}
	defer rows.Close()
	var out []TenantError
	for rows.Next() {
		var e TenantError
		var hexID string
		if err := rows.Scan(&e.RunID, &hexID, &e.Query, &e.Error); err != nil {
			return nil, fmt.Errorf("tenant errors: %w", sqlite.Wrap(err))
		}
		e.TenantID = unhex(hexID)
		out = append(out, e)
	}
	return out, rows.Err()
}

// text turns a scanned TEXT value back into the string SQLite holds, even
// when go-libsql made a time.Time of it (a tenant id can look like a date).
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return x.Format("2006-01-02 15:04:05")
	}
	return fmt.Sprint(v)
}

// TenantRow is one row of tenants.
type TenantRow struct {
	ID         string
	Location   string
	SizeBytes  int64
	ModifiedAt time.Time
	FirstSeen  time.Time
	LastSeen   time.Time
	LastOKAt   time.Time
	LastError  string
	// RemovedAt is when a run's listing first lacked the tenant; zero while
	// the source lists it.
	RemovedAt time.Time
	// Kind is "local" (a file) or "remote" (read through an embedded
	// replica); the replica fields are set for remote tenants only.
	Kind         string
	ReplicaBytes int64
	LastSyncAt   time.Time // last successful sync
	SyncError    string    // why the last sync failed; "" when it worked
}

// TenantOrder names the sortable columns of Tenants.
var TenantOrder = map[string]string{
	"id": "id", "size": "size_bytes DESC, id", "modified": "modified_at DESC, id",
	"last_ok": "last_ok_at DESC, id", "error": "last_error = '', id",
}

// LastSeenSQL is a tenants row's last_seen: for a tenant the source still
// lists, the end of the latest good run (each lists the whole fleet, and
// rewriting every row's stamp was a tenth of a rerun); the stored stamp
// once it is removed, or when no run is recorded as good.
const LastSeenSQL = "CASE WHEN removed_at IS NULL THEN coalesce((SELECT finished_at FROM runs WHERE status = 'ok' ORDER BY id DESC LIMIT 1), last_seen) ELSE last_seen END"

const tenantCols = "hex(id), location, size_bytes, modified_at, first_seen, " + LastSeenSQL + ", last_ok_at, last_error, removed_at, kind, coalesce(replica_bytes, 0), last_sync_at, sync_error"

// Tenants lists the fleet the source lists now (listed_tenants), sorted by
// one of TenantOrder's keys (id by default).
func (db *DB) Tenants(ctx context.Context, order string, limit int) ([]TenantRow, error) {
	return db.tenants(ctx, "listed_tenants", order, limit)
}

// RemovedTenants lists the tenants the source no longer lists, whose
// history stays in the rollups.
func (db *DB) RemovedTenants(ctx context.Context, order string, limit int) ([]TenantRow, error) {
	return db.tenants(ctx, "(SELECT * FROM tenants WHERE removed_at IS NOT NULL)", order, limit)
}

func (db *DB) tenants(ctx context.Context, from, order string, limit int) ([]TenantRow, error) {
	return db.tenantRows(ctx, from, order, "", nil, 0, limit)
}

// tenantMatch keeps the tenants whose id, last error or sync error holds
// ?1, ignoring case.
const tenantMatch = "(instr(lower(id), lower(?1)) OR instr(lower(last_error), lower(?1)) OR instr(lower(coalesce(sync_error, '')), lower(?1)))"

// TenantsPage is one page of Tenants: those whose id, last error or sync
// error holds match, ignoring case (all when match is ""), sorted by order,
// from offset, at most limit; and how many match in all. Only the page is
// read into memory, however large the fleet.
func (db *DB) TenantsPage(ctx context.Context, order, match string, offset, limit int) ([]TenantRow, int, error) {
	where, args := "", []any(nil)
	if match != "" {
		where, args = " WHERE "+tenantMatch, []any{match}
	}
	var total int
	if err := db.R.QueryRowContext(ctx, "SELECT count(*) FROM listed_tenants"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("tenants: %w", sqlite.Wrap(err))
	}
	rows, err := db.tenantRows(ctx, "listed_tenants", order, where, args, offset, limit)
	return rows, total, err
}

func (db *DB) tenantRows(ctx context.Context, from, order, where string, args []any, offset, limit int) ([]TenantRow, error) {
	o, ok := TenantOrder[order]
	if !ok {
		o = "id"
	}
	// The id is read through quote-free hex so go-libsql cannot turn an id
	// that looks like a date into a time.
	n := len(args)
	rows, err := db.R.QueryContext(ctx, "SELECT "+tenantCols+" FROM "+from+where+" ORDER BY "+o+fmt.Sprintf(" LIMIT ?%d OFFSET ?%d", n+1, n+2), append(args, limit, offset)...)
	if err != nil {
		return nil, fmt.Errorf("tenants: %w", sqlite.Wrap(err))
	}
	defer rows.Close()
	var out []TenantRow
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Tenant returns one tenant; ErrNotFound when the metrics DB has none
// with that id.
func (db *DB) Tenant(ctx context.Context, id string) (*TenantRow, error) {
	row := db.R.QueryRowContext(ctx, "SELECT "+tenantCols+" FROM tenants WHERE id = ?", id)
	t, err := scanTenant(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("tenant %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func scanTenant(s interface{ Scan(...any) error }) (TenantRow, error) {
	var t TenantRow
	var hexID string
	var loc, mod, first, last, ok, lastErr, removed, kind, synced, syncErr any
	if err := s.Scan(&hexID, &loc, &t.SizeBytes, &mod, &first, &last, &ok, &lastErr, &removed, &kind, &t.ReplicaBytes, &synced, &syncErr); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return t, err
		}
		return t, fmt.Errorf("tenants: %w", sqlite.Wrap(err))
	}
	t.ID = unhex(hexID)
	t.Location, t.LastError = text(loc), text(lastErr)
	t.ModifiedAt, t.FirstSeen, t.LastSeen, t.LastOKAt = ParseTime(mod), ParseTime(first), ParseTime(last), ParseTime(ok)
	t.RemovedAt = ParseTime(removed)
	t.Kind, t.LastSyncAt, t.SyncError = text(kind), ParseTime(synced), text(syncErr)
	return t, nil
}

func unhex(h string) string { return sqlite.Unhex(h) }
