package rollup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"regexp"
	"strings"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/query"
	"github.com/attache/attache/internal/sqlite"
	"github.com/attache/attache/internal/tenant"
)

// QueryError is a query that cannot run at all: its file does not parse,
// SQLite rejects its SQL, or it reads outside the tenant's schema. It costs
// only itself: the other queries run.
type QueryError struct {
	Query string // name
	File  string // queries/NAME.sql
	Err   error  // names the file and, when SQLite gives one, the line
}

func (e *QueryError) Error() string { return e.Err.Error() }
func (e *QueryError) Unwrap() error { return e.Err }

// ErrOutsideTenant marks a query refused because a table it reads does not
// resolve into the tenant's own schema.
var ErrOutsideTenant = errors.New("reads outside the tenant's schema")

// The probe attaches one tenant under every slot name a batch uses (t0 …
// t9) and compiles a query for slot t1, then for t2. A table name that does
// not say tenant. resolves to t0 (or to main or temp), and a user's own tN.
// names another slot in at least one of the two, so neither is ever
// silently the slot's own.
var probeSlots = []int{1, 2}

// vet compiles every query against tenants of the fleet (EXPLAIN: nothing
// runs) and keeps the ones that read only their own tenant. Every table and
// index the compiled statement opens must live in the tenant's schema; CTEs
// and subqueries are ephemeral tables, which are fine, and a view in the
// tenant's schema is fine when what it opens is there too. SQLite's own
// name resolution decides, not a parser of ours.
//
// A statement that does not compile for one tenant (its schema lags) says
// nothing either way, so the next tenant is tried; a query no tenant can
// compile fails on every tenant, which the run records tenant by tenant.
func vet(ctx context.Context, queries []*query.Query, fleet []tenant.Tenant) ([]*query.Query, []*QueryError, error) {
	return vetPaths(ctx, queries, func(yield func(string) bool) {
		for _, t := range fleet {
			if !t.Missing && !yield(t.Path) {
				return
			}
		}
	})
}

// vetPaths is vet over the files of the fleet's present tenants, in order,
// of which it reads only as many as it needs (usually one).
func vetPaths(ctx context.Context, queries []*query.Query, paths iter.Seq[string]) ([]*query.Query, []*QueryError, error) {
	db, err := sqlite.Open(":memory:", sqlite.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("check queries: %w", err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("check queries: %w", sqlite.Wrap(err))
	}
	defer conn.Close()

	nondet, err := nondeterministic(ctx, conn)
	if err != nil {
		return nil, nil, fmt.Errorf("check queries: %w", err)
	}
	verdict := make([]error, len(queries))
	clocks := make([][]string, len(queries))
	decided := make([]bool, len(queries))
	left := len(queries)
	probe := func(uri string) error {
		for i := 0; i < config.MaxBatch; i++ {
			if _, err := conn.ExecContext(ctx, "ATTACH ? AS "+slotName(i), uri); err != nil {
				return err
			}
			defer conn.ExecContext(context.WithoutCancel(ctx), "DETACH "+slotName(i))
		}
		schemas, err := databaseList(ctx, conn)
		if err != nil {
			return err
		}
		for i, q := range queries {
			if decided[i] {
				continue
			}
			done, err := true, error(nil)
			for j, slot := range probeSlots {
				var ops []sqlite.Op
				if done, ops, err = vetOne(ctx, conn, q, slotName(slot), schemas); !done || err != nil {
					break
				}
				if j == 0 {
					clocks[i] = clockReasons(ops, nondet)
				}
			}
			if done {
				decided[i], verdict[i] = true, err
				left--
			}
		}
		return nil
	}
	tried := false
	for path := range paths {
		if left == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		// A tenant that cannot be attached is the run's to report.
		if probe(sqlite.ReadOnlyURI(path)) == nil {
			tried = true
		}
	}
	if !tried {
		// No tenant to compile against: empty schemas still catch syntax
		// errors and names that do not say tenant.
		if err := probe(":memory:"); err != nil {
			return nil, nil, fmt.Errorf("check queries: %w", sqlite.Wrap(err))
		}
	}
	var ok []*query.Query
	var bad []*QueryError
	for i, q := range queries {
		if verdict[i] != nil {
			bad = append(bad, &QueryError{Query: q.Name, File: q.File, Err: verdict[i]})
			continue
		}
		q.ReadsClock = clocks[i]
		if !decided[i] {
			// No tenant compiles it, so none will be read; were one to
			// change, it is recomputed each period rather than trusted.
			q.ReadsClock = []string{"no tenant could compile it to tell"}
		}
		ok = append(ok, q)
	}
	return ok, bad, nil
}

// schemaList maps PRAGMA database_list's seq to the schema name.
type schemaList map[int64]string

func databaseList(ctx context.Context, conn *sql.Conn) (schemaList, error) {
	rows, err := conn.QueryContext(ctx, "SELECT seq, name FROM pragma_database_list")
	if err != nil {
		return nil, sqlite.Wrap(err)
	}
	defer rows.Close()
	out := schemaList{}
	for rows.Next() {
		var seq int64
		var name string
		if err := rows.Scan(&seq, &name); err != nil {
			return nil, sqlite.Wrap(err)
		}
		out[seq] = name
	}
	return out, rows.Err()
}

func (s schemaList) index(name string) int64 {
	for k, v := range s {
		if v == name {
			return k
		}
	}
	return -1
}

// Messages SQLite gives whatever the tenant holds: the query itself is wrong.
var brokenMessages = []string{"syntax error", "incomplete input", "unrecognized token", "no such function", "wrong number of arguments", "do not have the same number of result columns", "misuse of", "not allowed", "is not a function"}

var slotRe = regexp.MustCompile(`^t[0-9]+$`)

var nearRe = regexp.MustCompile(`near "((?:[^"]|"")*)"`)

// vetOne compiles q for the probe slot. done is false when this tenant
// cannot tell (its schema lacks something the query names as tenant.X).
func vetOne(ctx context.Context, conn *sql.Conn, q *query.Query, probeSlot string, schemas schemaList) (done bool, ops []sqlite.Op, err error) {
	text, err := query.Rewrite(q.SQL, probeSlot)
	if err != nil {
		return true, nil, fmt.Errorf("%s: %w", q.File, err)
	}
	ops, err = sqlite.Explain(ctx, conn, text)
	if err != nil {
		msg := slotBack(sqlite.Message(err), probeSlot)
		if name, ok := strings.CutPrefix(msg, "no such table: "); ok {
			if strings.HasPrefix(name, query.Schema+".") {
				return false, nil, nil
			}
			return true, nil, outside(q, name)
		}
		for _, b := range brokenMessages {
			if strings.Contains(msg, b) {
				return true, nil, fmt.Errorf("%s%s: %w", q.File, position(q, msg), &sqlite.Error{Code: sqlite.Code(sqlite.Wrap(err)), Msg: msg})
			}
		}
		return false, nil, nil
	}
	slot := schemas.index(probeSlot)
	for _, o := range ops {
		switch o.Opcode {
		case "OpenWrite":
			return true, nil, fmt.Errorf("%s: the statement writes; a query must only read", q.File)
		case "OpenRead", "ReopenIdx":
			if o.P3 != slot {
				return true, nil, outside(q, tableAt(ctx, conn, schemas[o.P3], o.P2, probeSlot))
			}
		case "Transaction":
			// Schema 0 is main, where SQLite keeps table-valued functions
			// such as json_each; the probe's main is empty, so a table read
			// there shows up as an OpenRead above.
			if o.P1 != slot && o.P1 != 0 {
				return true, nil, outside(q, schemas[o.P1]+".(a table)")
			}
		}
	}
	return true, ops, nil
}

// outside is the refusal of a query that reads name (as SQLite resolved
// it) outside the tenant's schema.
func outside(q *query.Query, name string) error {
	table := name
	if i := strings.LastIndex(name, "."); i >= 0 {
		table = name[i+1:]
	}
	return fmt.Errorf("%s: table %s is not in the tenant's schema; write tenant.%s (a query reads only its own tenant's tables, named tenant.TABLE): %w",
		q.File, name, table, ErrOutsideTenant)
}

// tableAt names the table (or the index's table) at root page root of
// schema, as another slot or main holds it.
func tableAt(ctx context.Context, conn *sql.Conn, schema string, root int64, probeSlot string) string {
	name := "sqlite_schema"
	if root != 1 {
		err := conn.QueryRowContext(ctx, "SELECT tbl_name FROM "+quoteIdent(schema)+".sqlite_schema WHERE rootpage = ?", root).Scan(&name)
		if err != nil {
			name = fmt.Sprintf("(root page %d)", root)
		}
	}
	if slotRe.MatchString(schema) && schema != probeSlot {
		return name // another slot: named without tenant., or as tN.
	}
	return schema + "." + name
}

// slotBack names the slot schema as the user wrote it.
func slotBack(msg, slot string) string {
	return regexp.MustCompile(`\b`+slot+`\.`).ReplaceAllString(msg, query.Schema+".")
}

// position is " line N" when SQLite's message quotes a token that occurs
// once in the query, so the line is certain.
func position(q *query.Query, msg string) string {
	m := nearRe.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	tok := strings.ReplaceAll(m[1], `""`, `"`)
	if tok == "" || strings.Count(q.SQL, tok) != 1 {
		return ""
	}
	return fmt.Sprintf(" line %d", q.LineOf(strings.Index(q.SQL, tok)))
}
