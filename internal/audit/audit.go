// Package audit is the append-only audit trail in the metrics DB: who signed
// in, who read customer data (ad-hoc queries, exports), what ran and what was
// sent. Entries are only ever added; retention pruning is the one delete.
package audit

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/sqlite"
)

// Actions recorded. Callers may add their own; keep them dotted and short.
const (
	SignIn        = "signin"
	SignInFailed  = "signin.failed"
	SignOut       = "signout"
	SignOutAll    = "signout.all"    // every session of a user revoked
	Query         = "query"          // ad-hoc SQL: the dashboard's /query or `attache query`
	Export        = "export"         // a workbook or CSV downloaded or written
	Run           = "run"            // a rollup run started
	Digest        = "digest"         // a digest sent
	DigestRequest = "digest.request" // an admin asked for a digest to go out now
	ShareCreate   = "share.create"
	ShareUse      = "share.use"
	ShareRevoke   = "share.revoke"
	AuditExport   = "audit.export" // the audit trail itself was downloaded
	ActorCLI      = "cli"
	ActorSchedule = "scheduler"
)

// Entry is one row of the audit table.
type Entry struct {
	ID      int64
	At      time.Time // zero: now
	Actor   string    // a user name, ActorCLI, ActorSchedule, "share:ID"
	Action  string    // one of the constants above
	Target  string    // the report, job, digest or link acted on
	Detail  string    // the SQL of a query, a digest's recipients, why it failed
	Tenants string    // which tenants were read: "all", or ids
	Rows    int64     // rows returned or written, when the action returns rows
	Remote  string    // the client's address, for web actions
	Failed  bool      // the action was refused or failed
}

// Open opens a writer for audit entries on the metrics DB at path (which
// metrics.Open has created and migrated). It is a connection of its own: a
// run holds metrics.DB.W for its whole length, and a sign-in must not wait.
func Open(path string, busy time.Duration) (*sql.DB, error) {
	db, err := sqlite.Open(path, sqlite.Options{BusyTimeout: busy})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// maxDetail bounds one entry: a pasted 5 MB query must not bloat the trail.
const maxDetail = 64 << 10

// Record appends e to the audit trail.
func Record(ctx context.Context, db *sql.DB, e Entry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if len(e.Detail) > maxDetail {
		e.Detail = e.Detail[:maxDetail] + "… (truncated)"
	}
	if len(e.Actor) > 200 { // a name typed at sign-in
		e.Actor = e.Actor[:200] + "…"
	}
	if len(e.Tenants) > maxDetail {
		e.Tenants = e.Tenants[:maxDetail] + "… (truncated)"
	}
	ok := 1
	if e.Failed {
		ok = 0
	}
	_, err := db.ExecContext(ctx, "INSERT INTO audit (at, actor, action, target, detail, tenants, nrows, remote, ok) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		metrics.Format(e.At), e.Actor, e.Action, e.Target, e.Detail, e.Tenants, e.Rows, e.Remote, ok)
	if err != nil {
		return fmt.Errorf("audit %s by %s: %w", e.Action, e.Actor, sqlite.Wrap(err))
	}
	return nil
}

// TenantList names the tenants an action read: "all" for none named.
func TenantList(ids []string) string {
	if len(ids) == 0 {
		return "all"
	}
	return strings.Join(ids, ",")
}

// Filter selects entries for List.
type Filter struct {
	Actor  string    // exact; empty: everyone
	Action string    // exact, or a prefix ending in "." ("share."); empty: all
	Since  time.Time // inclusive; zero: no bound
	Until  time.Time // exclusive; zero: no bound
	Before int64     // entries with a smaller id (paging); 0: newest
	Limit  int       // 0: 100
}

// List returns entries newest first.
func List(ctx context.Context, db *sql.DB, f Filter) ([]Entry, error) {
	var where []string
	var args []any
	if f.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, f.Actor)
	}
	if strings.HasSuffix(f.Action, ".") {
		where, args = append(where, "substr(action, 1, ?) = ?"), append(args, len(f.Action), f.Action)
	} else if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, f.Action)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, metrics.Format(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, metrics.Format(f.Until))
	}
	if f.Before > 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q := "SELECT id, at, actor, action, target, detail, tenants, coalesce(nrows, 0), remote, ok FROM audit"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	rows, err := db.QueryContext(ctx, q, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", sqlite.Wrap(err))
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var at any
		var ok int
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.Tenants, &e.Rows, &e.Remote, &ok); err != nil {
			return nil, fmt.Errorf("audit: %w", sqlite.Wrap(err))
		}
		e.At, e.Failed = metrics.ParseTime(at), ok == 0
		out = append(out, e)
	}
	return out, rows.Err()
}

// MinRetention is the shortest retention allowed: the table refuses to
// delete younger entries (a trigger), so the trail cannot be wiped at once.
const MinRetention = 24 * time.Hour

// Prune deletes entries older than keep, counted back from now, and says how
// many. keep 0 keeps everything. It is the trail's only delete.
func Prune(ctx context.Context, db *sql.DB, keep time.Duration, now time.Time) (int64, error) {
	if keep == 0 {
		return 0, nil
	}
	if keep < MinRetention {
		return 0, fmt.Errorf("audit retention %s is shorter than a day; set audit.retention to 1d or more", keep)
	}
	res, err := db.ExecContext(ctx, "DELETE FROM audit WHERE at < ?", metrics.Format(now.Add(-keep)))
	if err != nil {
		return 0, fmt.Errorf("audit prune: %w", sqlite.Wrap(err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}
