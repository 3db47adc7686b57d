// Package sandbox runs read-only SQL in killable child processes, so a
// runaway query is stopped at its deadline and never blocks anything else:
// go-libsql ignores context cancellation, so killing the process is the only
// sure way to bound it.
package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/attache/attache/internal/sqlite"
	"github.com/attache/attache/internal/worker"
)

// Role is the worker role of sandbox children.
const Role = "sandbox"

// Attach is a database attached read-only under Schema for one request.
type Attach struct {
	Schema string
	Path   string
	Key    string // an encrypted replica's key; "" for a plain file
}

// Request is one query, or one page of an open cursor.
type Request struct {
	// Op is "query" (all rows up to Limit), "open" (start a cursor and return
	// its first page of N rows), "next" (N more rows) or "close".
	Op     string
	DB     string // the metrics DB, attached read-only as "metrics"; "" for none
	Attach []Attach
	SQL    string
	Args   []any
	Limit  int
	N      int
	Busy   time.Duration
	// MaxBytes cuts a "query" answer once its values pass this size
	// (0: no cut); the answer says so with Capped.
	MaxBytes int64
	// Memory is the child's memory limit in bytes, applied before its first
	// query runs (0: none).
	Memory int64
}

// Response carries rows with exact SQLite types.
type Response struct {
	Columns   []string
	Rows      [][]any
	Truncated bool
	Capped    bool // cut at Request.MaxBytes
	Done      bool
	Err       string
}

// child is the state of one sandbox process.
type child struct {
	dbs    map[string]*sql.DB
	conn   *sql.Conn // the connection of the open cursor
	cursor *sqlite.Rows
	attach []Attach
	limit  int64 // the memory limit in force
}

// Serve is the child's main: answer requests until stdin closes.
func Serve(r io.Reader, w io.Writer) error {
	c := &child{dbs: map[string]*sql.DB{}}
	return worker.Serve(r, w, c.handle)
}

func (c *child) handle(req *Request) *Response {
	ctx := context.Background()
	if req.Memory > 0 && c.limit == 0 {
		if err := limitMemory(req.Memory); err != nil {
			return &Response{Err: err.Error()}
		}
		c.limit = req.Memory
	}
	switch req.Op {
	case "query":
		resp, err := c.query(ctx, req)
		if err != nil {
			return &Response{Err: err.Error()}
		}
		return resp
	case "open":
		c.closeCursor(ctx)
		conn, attached, err := c.prepare(ctx, req)
		if err != nil {
			return &Response{Err: err.Error()}
		}
		st, err := sqlite.Stream(ctx, conn, req.SQL, req.Args...)
		if err != nil {
			c.release(ctx, conn, attached)
			return &Response{Err: err.Error()}
		}
		c.conn, c.cursor, c.attach = conn, st, attached
		return c.next(ctx, req.N)
	case "next":
		if c.cursor == nil {
			return &Response{Err: "no open cursor"}
		}
		return c.next(ctx, req.N)
	case "close":
		c.closeCursor(ctx)
		return &Response{Done: true}
	}
	return &Response{Err: fmt.Sprintf("unknown op %q", req.Op)}
}

func (c *child) next(ctx context.Context, n int) *Response {
	if n <= 0 {
		n = 1000
	}
	rows, err := c.cursor.Next(n)
	resp := &Response{Columns: c.cursor.Columns, Rows: rows}
	if errors.Is(err, io.EOF) {
		resp.Done = true
		c.closeCursor(ctx)
	} else if err != nil {
		resp.Err = err.Error()
		c.closeCursor(ctx)
	}
	return resp
}

func (c *child) closeCursor(ctx context.Context) {
	if c.cursor == nil {
		return
	}
	c.cursor.Close()
	c.release(ctx, c.conn, c.attach)
	c.cursor, c.conn, c.attach = nil, nil, nil
}

// query reads up to req.Limit rows, and stops early once the values
// pass req.MaxBytes: ten thousand rows of 10 KB must not reach the server.
func (c *child) query(ctx context.Context, req *Request) (*Response, error) {
	conn, attached, err := c.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	defer c.release(ctx, conn, attached)
	st, err := sqlite.Stream(ctx, conn, req.SQL, req.Args...)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	resp := &Response{Columns: st.Columns, Done: true}
	var size int64
	for {
		n := 500
		if req.Limit > 0 {
			n = min(n, req.Limit+1-len(resp.Rows))
		}
		rows, err := st.Next(n)
		for _, r := range rows {
			if req.Limit > 0 && len(resp.Rows) == req.Limit {
				resp.Truncated = true
				return resp, nil
			}
			size += RowSize(r)
			if req.MaxBytes > 0 && size > req.MaxBytes {
				resp.Truncated, resp.Capped = true, true
				return resp, nil
			}
			resp.Rows = append(resp.Rows, r)
		}
		if errors.Is(err, io.EOF) {
			return resp, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// RowSize is about how many bytes a row's values take: text and blobs their
// length, anything else 8.
func RowSize(r []any) int64 {
	var n int64
	for _, v := range r {
		switch x := v.(type) {
		case string:
			n += int64(len(x))
		case []byte:
			n += int64(len(x))
		default:
			n += 8
		}
	}
	return n
}

// prepare pins a connection of an in-memory main database and attaches the
// request's databases read-only: the metrics DB (req.DB) as "metrics", where
// unqualified table names find it, then req.Attach. Read-only attachments,
// not query_only, keep the files safe, so SQLite may still make the temp
// views that name a query's columns without running it. It returns the
// connection and what it attached.
func (c *child) prepare(ctx context.Context, req *Request) (*sql.Conn, []Attach, error) {
	db, ok := c.dbs[":memory:"]
	if !ok {
		var err error
		db, err = sqlite.Open(":memory:", sqlite.Options{BusyTimeout: req.Busy})
		if err != nil {
			return nil, nil, err
		}
		db.SetMaxOpenConns(1)
		c.dbs[":memory:"] = db
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%s", sqlite.Message(err))
	}
	all := req.Attach
	if req.DB != "" {
		all = append([]Attach{{Schema: "metrics", Path: req.DB}}, req.Attach...)
	}
	for i, a := range all {
		stmt, args := "ATTACH ? AS "+quoteIdent(a.Schema), []any{sqlite.ReadOnlyURI(a.Path)}
		if a.Key != "" {
			stmt, args = stmt+" KEY ?", append(args, a.Key)
		}
		if _, err := conn.ExecContext(ctx, stmt, args...); err != nil {
			c.release(ctx, conn, all[:i])
			return nil, nil, fmt.Errorf("attach %s: %s", a.Schema, sqlite.Message(err))
		}
	}
	return conn, all, nil
}

func (c *child) release(ctx context.Context, conn *sql.Conn, attached []Attach) {
	for _, a := range attached {
		conn.ExecContext(ctx, "DETACH "+quoteIdent(a.Schema))
	}
	conn.Close()
}

// quoteIdent quotes a schema name we chose ourselves (t0..t9, tenant).
func quoteIdent(s string) string { return sqlite.QuoteIdent(s) }

// TimeoutError is a query stopped at its time limit; it wraps
// worker.ErrTimeout.
type TimeoutError struct {
	Limit time.Duration
	Key   string // the config key that set Limit
}

func (e *TimeoutError) Error() string {
	key := e.Key
	if key == "" {
		key = "query_timeout"
	}
	return fmt.Sprintf("query stopped after %s (%s); narrow it down or raise %s", e.Limit, key, key)
}

func (e *TimeoutError) Unwrap() error { return worker.ErrTimeout }

// Runner sends requests to a pool of sandbox children with a time limit.
type Runner struct {
	pool    *worker.Pool
	Size    int // children at most, besides Each's one per stream
	Timeout time.Duration
	// TimeoutKey names the config key Timeout comes from, for the error a
	// user reads; query_timeout when empty.
	TimeoutKey string
	Busy       time.Duration
	// Memory is each child's memory limit in bytes (sandbox_memory_mb);
	// a query that needs more fails with "out of memory", alone.
	Memory int64
	// MaxBytes cuts each Query answer at this size (0: rows only); the
	// result says so with Capped.
	MaxBytes int64

	streams chan struct{} // Each's children: at most Size at once
}

// DefaultMemory is a child's memory limit unless the caller sets another.
const DefaultMemory = 512 << 20

// NewRunner starts no process yet; children start on first use and are kept.
func NewRunner(size int, timeout, busy time.Duration) *Runner {
	return &Runner{pool: worker.NewPool(Role, size), Size: size, Timeout: timeout, Busy: busy, Memory: DefaultMemory, streams: make(chan struct{}, size)}
}

// Result is a Query answer: sqlite.Result, and whether MaxBytes cut it.
type Result struct {
	sqlite.Result
	Capped bool
}

// Close ends the idle children.
func (r *Runner) Close() { r.pool.Close() }

// Query runs sqlText on db (with attach) and returns up to limit rows. A
// query still running at the runner's timeout is killed with its process.
func (r *Runner) Query(db string, attach []Attach, sqlText string, limit int, args ...any) (*Result, error) {
	return r.QueryBy(time.Now().Add(r.Timeout), db, attach, sqlText, limit, args...)
}

// QueryBy is Query with a deadline shared by several calls, as a
// cross-tenant query's batches share one query_timeout.
func (r *Runner) QueryBy(deadline time.Time, db string, attach []Attach, sqlText string, limit int, args ...any) (*Result, error) {
	left := time.Until(deadline)
	if left <= 0 {
		return nil, &TimeoutError{r.Timeout, r.TimeoutKey}
	}
	req := &Request{Op: "query", DB: db, Attach: attach, SQL: sqlText, Args: args, Limit: limit, Busy: r.Busy, MaxBytes: r.MaxBytes, Memory: r.Memory}
	var resp Response
	if err := r.pool.Call(req, &resp, left); err != nil {
		if errors.Is(err, worker.ErrTimeout) {
			return nil, &TimeoutError{r.Timeout, r.TimeoutKey}
		}
		return nil, err
	}
	if resp.Err != "" {
		return nil, errors.New(resp.Err)
	}
	return &Result{Result: sqlite.Result{Columns: resp.Columns, Rows: resp.Rows, Truncated: resp.Truncated}, Capped: resp.Capped}, nil
}

// Each streams every row of sqlText on db to fn, page by page, in a child
// of its own: memory stays bounded however long the result. The whole
// stream shares the runner's timeout.
func (r *Runner) Each(db string, sqlText string, page int, fn func(cols []string, rows [][]any) error, args ...any) error {
	// Streams wait for a slot: however many exports and digests are asked
	// for at once, no more than Size children read for them.
	r.streams <- struct{}{}
	defer func() { <-r.streams }()
	proc, err := worker.Start(Role)
	if err != nil {
		return err
	}
	defer proc.Close()
	deadline := time.Now().Add(r.Timeout)
	req := &Request{Op: "open", DB: db, SQL: sqlText, Args: args, N: page, Busy: r.Busy, Memory: r.Memory}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("query stopped after %s (query_timeout)", r.Timeout)
		}
		var resp Response
		if err := proc.Call(req, &resp, left); err != nil {
			if errors.Is(err, worker.ErrTimeout) {
				return fmt.Errorf("query stopped after %s (query_timeout); narrow it down or raise query_timeout", r.Timeout)
			}
			return err
		}
		if resp.Err != "" {
			return errors.New(resp.Err)
		}
		if err := fn(resp.Columns, resp.Rows); err != nil {
			proc.Call(&Request{Op: "close"}, &Response{}, 5*time.Second)
			return err
		}
		if resp.Done {
			return nil
		}
		req = &Request{Op: "next", N: page}
	}
}
