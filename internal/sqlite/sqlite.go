// Package sqlite opens databases through go-libsql with the settings attache
// relies on, and reads rows back with their exact SQLite types.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "github.com/tursodatabase/go-libsql" // registers the "libsql" driver
)

// Options are applied to every new connection, because PRAGMAs are per
// connection and database/sql opens connections behind our back.
type Options struct {
	BusyTimeout time.Duration
	// Pragmas run in order on each new connection, e.g. "journal_mode=WAL".
	Pragmas []string
}

// Open opens the database file at path (created if missing) with opt.
func Open(path string, opt Options) (*sql.DB, error) {
	if err := Setup(); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	dsn := path
	if !strings.HasPrefix(path, ":memory:") {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		dsn = "file:" + abs
	}
	// go-libsql opens a native database per connector and a connection per
	// Connect; reuse one connector so the pool shares one native database.
	inner, err := setup.drv.OpenConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, Wrap(err))
	}
	db := sql.OpenDB(&connector{inner: inner, opt: opt})
	// One ping makes open errors (a folder that does not exist, a file that
	// is not a database) surface here, with the path, not at first use.
	if err := db.PingContext(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, Wrap(err))
	}
	return db, nil
}

type connector struct {
	inner driver.Connector
	opt   Options
}

// libsqlDriver returns go-libsql's driver, registered under "libsql".
func libsqlDriver() driver.Driver {
	db, _ := sql.Open("libsql", "file::memory:")
	defer db.Close()
	return db.Driver()
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("go-libsql connection cannot run queries")
	}
	pragmas := append([]string{fmt.Sprintf("busy_timeout=%d", c.opt.BusyTimeout.Milliseconds())}, c.opt.Pragmas...)
	for _, p := range pragmas {
		// PRAGMAs that answer (journal_mode) return rows: run them as queries.
		rows, err := q.QueryContext(ctx, "PRAGMA "+p, nil)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("PRAGMA %s: %w", p, Wrap(err))
		}
		rows.Close()
	}
	return conn, nil
}

func (c *connector) Driver() driver.Driver { return c.inner.Driver() }

// Close releases the native database when the *sql.DB closes.
func (c *connector) Close() error {
	if cl, ok := c.inner.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// ReadOnlyURI is the URI that ATTACHes path read-only: SQLite never creates
// or writes the file through it.
func ReadOnlyURI(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro"}
	return u.String()
}

// TenantURI is ReadOnlyURI through the VFS that ConfigureForBatchReads
// registers (see vfs.go), for a process that attaches many tenants: the
// engine's workers.
func TenantURI(path string) string {
	return ReadOnlyURI(path) + "&vfs=" + pathsVFS
}

// Result is a query's rows with the values SQLite holds: int64, float64,
// string, []byte or nil.
type Result struct {
	Columns   []string
	Rows      [][]any
	Truncated bool // more rows existed than the limit
}

// Querier is a *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// TEXT and BLOB values leave SQLite as BLOBs marked by their first byte:
// go-libsql turns any date-looking TEXT into time.Time when scanning (trying
// ten layouts per value, a third of the scan time), and a BLOB is returned
// as it is, so '2026-11-22' stays the string the database holds.
const (
	textMark = 1
	blobMark = 2
)

// Query runs one SELECT and returns at most limit rows (0: no limit) with
// exact types. sqlText must be a single statement without a trailing ';'.
func Query(ctx context.Context, q Querier, sqlText string, limit int, args ...any) (*Result, error) {
	st, err := Stream(ctx, q, sqlText, args...)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	res := &Result{Columns: st.Columns}
	for {
		n := 1000
		if limit > 0 {
			n = limit + 1 - len(res.Rows)
		}
		rows, err := st.Next(n)
		res.Rows = append(res.Rows, rows...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if limit > 0 && len(res.Rows) > limit {
			res.Rows, res.Truncated = res.Rows[:limit], true
			break
		}
	}
	return res, nil
}

// Rows streams a query's rows with exact types, a page at a time, so a
// large export never holds the whole result.
type Rows struct {
	Columns []string
	rows    *sql.Rows
}

// Stream starts sqlText; read it with Next and Close it.
func Stream(ctx context.Context, q Querier, sqlText string, args ...any) (*Rows, error) {
	cols, err := columns(ctx, q, sqlText, args)
	if err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return &Rows{}, nil
	}
	var b strings.Builder
	b.WriteString("WITH _attache_q(")
	for i := range cols {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "c%d", i)
	}
	b.WriteString(") AS (\n")
	b.WriteString(sqlText)
	b.WriteString("\n) SELECT ")
	for i := range cols {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "CASE typeof(c%d) WHEN 'text' THEN CAST(char(1)||c%d AS BLOB) WHEN 'blob' THEN CAST(x'02'||c%d AS BLOB) ELSE c%d END", i, i, i, i)
	}
	b.WriteString(" FROM _attache_q")
	rows, err := q.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, cleanErr(err)
	}
	return &Rows{Columns: cols, rows: rows}, nil
}

// Next returns up to n rows; io.EOF (possibly with the last rows) at the end.
func (r *Rows) Next(n int) ([][]any, error) {
	if r.rows == nil {
		return nil, io.EOF
	}
	var out [][]any
	for len(out) < n {
		if !r.rows.Next() {
			if err := r.rows.Err(); err != nil {
				return out, cleanErr(err)
			}
			return out, io.EOF
		}
		vals := make([]any, len(r.Columns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.rows.Scan(ptrs...); err != nil {
			return out, cleanErr(err)
		}
		for i, v := range vals {
			vals[i] = exact(v)
		}
		out = append(out, vals)
	}
	return out, nil
}

// Close ends the query.
func (r *Rows) Close() error {
	if r.rows == nil {
		return nil
	}
	return r.rows.Close()
}

// columns names a query's result columns. Without parameters it asks a temp
// view, which compiles the query but never runs it; otherwise (or where temp
// views are not allowed, as under query_only) it runs the query with WHERE 0
// LIMIT 0, which SQLite mostly answers without work, though a recursive CTE
// is still computed.
func columns(ctx context.Context, q Querier, sqlText string, args []any) ([]string, error) {
	if len(args) == 0 {
		if cols, ok := viewColumns(ctx, q, sqlText); ok {
			return cols, nil
		}
	}
	rows, err := q.QueryContext(ctx, "SELECT * FROM (\n"+sqlText+"\n) WHERE 0 LIMIT 0", args...)
	if err != nil {
		return nil, cleanErr(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, cleanErr(err)
	}
	return cols, nil
}

func viewColumns(ctx context.Context, q Querier, sqlText string) ([]string, bool) {
	e, ok := q.(interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	})
	if !ok {
		return nil, false
	}
	const view = "_attache_columns"
	if _, err := e.ExecContext(ctx, "CREATE TEMP VIEW "+view+" AS "+sqlText); err != nil {
		return nil, false
	}
	defer e.ExecContext(ctx, "DROP VIEW temp."+view)
	rows, err := q.QueryContext(ctx, "SELECT name FROM pragma_table_info('"+view+"', 'temp')")
	if err != nil {
		return nil, false
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, false
		}
		cols = append(cols, c)
	}
	return cols, rows.Err() == nil && len(cols) > 0
}

func exact(v any) any {
	switch x := v.(type) {
	case []byte:
		if len(x) > 0 && x[0] == textMark {
			return string(x[1:])
		}
		if len(x) > 0 && x[0] == blobMark {
			return x[1:]
		}
		return x
	case time.Time:
		// Only reachable for values we did not mark; keep SQLite's format.
		return x.UTC().Format("2006-01-02 15:04:05")
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	}
	return v
}

// Primary SQLite result codes attache acts on.
const (
	CodeError      = 1
	CodeInternal   = 2
	CodePerm       = 3
	CodeAbort      = 4
	CodeBusy       = 5
	CodeLocked     = 6
	CodeNoMem      = 7
	CodeReadOnly   = 8
	CodeInterrupt  = 9
	CodeIOErr      = 10
	CodeCorrupt    = 11
	CodeFull       = 13
	CodeCantOpen   = 14
	CodeConstraint = 19
	CodeMisuse     = 21
	CodeNotADB     = 26
)

// Error is an error from the database: SQLite's primary result code, its
// message, and the driver's error underneath.
//
// go-libsql passes SQLite's message but not its result code, so Code is
// read back from the message: SQLite's text for each primary code is fixed
// (sqlite3ErrStr), and these are the words it uses.
type Error struct {
	Code int
	Msg  string
	err  error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the driver's error.
func (e *Error) Unwrap() error { return e.err }

// codes maps SQLite's fixed messages to their primary codes; the first
// match wins, so longer phrases come first.
var codes = []struct {
	text string
	code int
}{
	{"database or disk is full", CodeFull},
	{"database disk image is malformed", CodeCorrupt},
	{"file is not a database", CodeNotADB},
	{"database table is locked", CodeLocked},
	{"database schema is locked", CodeLocked},
	{"database is locked", CodeBusy},
	{"disk I/O error", CodeIOErr},
	{"unable to open database", CodeCantOpen},
	{"attempt to write a readonly database", CodeReadOnly},
	{"out of memory", CodeNoMem},
	{"interrupted", CodeInterrupt},
	{"constraint failed", CodeConstraint},
	{"access permission denied", CodePerm},
}

// Wrap turns a driver error into an *Error (an *Error stays as it is);
// nil stays nil.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	msg := Message(err)
	code := CodeError
	for _, c := range codes {
		if strings.Contains(msg, c.text) {
			code = c.code
			break
		}
	}
	return &Error{Code: code, Msg: msg, err: err}
}

// Code is the SQLite primary result code in err's chain, 0 when err did not
// come from the database.
func Code(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// IsFull reports whether err means the disk is full: SQLITE_FULL, or ENOSPC
// from the operating system.
func IsFull(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Code == CodeFull || strings.Contains(err.Error(), "database or disk is full")
}

// Message is the database's own words from a go-libsql error, without the
// driver's wrapping ("failed to execute query ...\nerror code = 2: ...").
func Message(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	s := err.Error()
	if i := strings.Index(s, "SQLite failure: `"); i >= 0 {
		m := s[i+len("SQLite failure: `"):]
		return strings.TrimSuffix(strings.TrimSpace(m), "`")
	}
	if i := strings.LastIndex(s, "error code = "); i >= 0 {
		m := s[i:]
		if j := strings.Index(m, ": "); j >= 0 {
			return strings.TrimSpace(m[j+2:])
		}
	}
	return s
}

// cleanErr keeps the database's message and code and drops the echoed SQL,
// which for wrapped queries is ours, not the user's.
func cleanErr(err error) error { return Wrap(err) }

// Op is one instruction of a compiled statement, as EXPLAIN lists it.
type Op struct {
	Addr           int64
	Opcode         string
	P1, P2, P3, P5 int64
	P4             string
}

// Explain compiles sqlText on q without running it and returns its
// program: what SQLite will actually do, after name resolution, views and
// query planning.
func Explain(ctx context.Context, q Querier, sqlText string, args ...any) ([]Op, error) {
	rows, err := q.QueryContext(ctx, "EXPLAIN "+sqlText, args...)
	if err != nil {
		return nil, Wrap(err)
	}
	defer rows.Close()
	var ops []Op
	for rows.Next() {
		var o Op
		var p4, comment any
		if err := rows.Scan(&o.Addr, &o.Opcode, &o.P1, &o.P2, &o.P3, &p4, &o.P5, &comment); err != nil {
			return nil, Wrap(err)
		}
		switch x := p4.(type) {
		case nil:
		case []byte:
			o.P4 = string(x)
		case string:
			o.P4 = x
		default:
			o.P4 = fmt.Sprint(x)
		}
		ops = append(ops, o)
	}
	if err := rows.Err(); err != nil {
		return nil, Wrap(err)
	}
	return ops, nil
}

// QuoteIdent quotes a name for SQL ("a""b"): for names attache chose or
// read from a schema, never for values, which are always bound.
func QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// Unhex turns the text of SQLite's hex(x) back into x. Ids are read as
// hex(id) so go-libsql cannot turn an id that looks like a date into a time.
func Unhex(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		return h
	}
	return string(b)
}
