package demo

import (
	"strconv"
	"strings"
	"time"
)

// rowsPerInsert bounds one multi-row INSERT: big enough that a tenant costs
// a handful of cgo calls, small enough that a statement stays well under a
// megabyte.
const rowsPerInsert = 1000

// schemaSQL creates a tenant's tables in the database attached as t. The
// index on activity(at) comes last, in indexSQL, so it is built once over
// sorted rows rather than maintained row by row.
func schemaSQL(version int) []string {
	todos := `CREATE TABLE t.todos(id INTEGER PRIMARY KEY, list_id INTEGER REFERENCES lists(id), title TEXT, created_by INTEGER, created_at TEXT, completed_at TEXT, done INTEGER NOT NULL DEFAULT 0, priority INTEGER NOT NULL DEFAULT 0)`
	if version == schemaOld {
		todos = `CREATE TABLE t.todos(id INTEGER PRIMARY KEY, list_id INTEGER REFERENCES lists(id), title TEXT, created_by INTEGER, created_at TEXT, done INTEGER NOT NULL DEFAULT 0)`
	}
	return []string{
		`CREATE TABLE t.meta(key TEXT PRIMARY KEY, value TEXT)`,
		`CREATE TABLE t.members(id INTEGER PRIMARY KEY, email TEXT, name TEXT, role TEXT, joined_at TEXT)`,
		`CREATE TABLE t.lists(id INTEGER PRIMARY KEY, name TEXT, created_at TEXT, archived INTEGER NOT NULL DEFAULT 0)`,
		todos,
		`CREATE TABLE t.activity(id INTEGER PRIMARY KEY, member_id INTEGER, kind TEXT, at TEXT)`,
		billingSQL,
	}
}

// billingSQL is the tenant's subscription history, one row per change:
// from at on, the subscription is in status (trialing, active, canceled,
// expired) on plan with seats, billed amount_cents (all seats) every
// billing_interval (month or year). Every schema version has it.
const billingSQL = `CREATE TABLE t.subscription_events(id INTEGER PRIMARY KEY, at TEXT NOT NULL, status TEXT NOT NULL, plan TEXT, seats INTEGER, billing_interval TEXT, amount_cents INTEGER)`

const indexSQL = `CREATE INDEX t.activity_at ON activity(at)`

// storySQL renders a tenant's rows as multi-row INSERTs with literal values.
// Every value is generated here (numbers, timestamps, words from the lists),
// and text goes through quote, so nothing outside the package reaches SQL.
func storySQL(s *story) []string {
	var out []string
	p := s.plan

	w := inserter{head: "INSERT INTO t.meta(key, value) VALUES ", out: &out}
	for _, kv := range [][2]string{
		{"name", p.name},
		{"plan", p.plan},
		{"created_at", formatTime(p.created)},
		{"schema_version", strconv.Itoa(p.schema)},
	} {
		b := w.row()
		b = quote(b, kv[0])
		b = append(b, ',')
		b = quote(b, kv[1])
		w.end(b)
	}
	w.flush()

	w = inserter{head: "INSERT INTO t.members(id, email, name, role, joined_at) VALUES ", out: &out}
	for _, m := range s.members {
		b := w.row()
		b = strconv.AppendInt(b, int64(m.id), 10)
		b = append(b, ',')
		b = quote(b, m.email)
		b = append(b, ',')
		b = quote(b, m.name)
		b = append(b, ',')
		b = quote(b, m.role)
		b = append(b, ',')
		b = appendTime(b, m.joined)
		w.end(b)
	}
	w.flush()

	w = inserter{head: "INSERT INTO t.lists(id, name, created_at, archived) VALUES ", out: &out}
	for _, l := range s.lists {
		b := w.row()
		b = strconv.AppendInt(b, int64(l.id), 10)
		b = append(b, ',')
		b = quote(b, l.name)
		b = append(b, ',')
		b = appendTime(b, l.created)
		b = append(b, ',')
		b = appendBool(b, l.archived)
		w.end(b)
	}
	w.flush()

	if p.schema == schemaOld {
		w = inserter{head: "INSERT INTO t.todos(id, list_id, title, created_by, created_at, done) VALUES ", out: &out}
	} else {
		w = inserter{head: "INSERT INTO t.todos(id, list_id, title, created_by, created_at, completed_at, done, priority) VALUES ", out: &out}
	}
	for _, t := range s.todos {
		b := w.row()
		b = strconv.AppendInt(b, int64(t.id), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(t.list), 10)
		b = append(b, ',')
		b = quote(b, t.title)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(t.createdBy), 10)
		b = append(b, ',')
		b = appendTime(b, t.created)
		if p.schema != schemaOld {
			b = append(b, ',')
			if t.completed == 0 {
				b = append(b, "NULL"...)
			} else {
				b = appendTime(b, t.completed)
			}
		}
		b = append(b, ',')
		b = appendBool(b, t.completed != 0)
		if p.schema != schemaOld {
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(t.priority), 10)
		}
		w.end(b)
	}
	w.flush()

	w = inserter{head: "INSERT INTO t.activity(id, member_id, kind, at) VALUES ", out: &out}
	for i, e := range s.activity {
		b := w.row()
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(e.member), 10)
		b = append(b, ',')
		b = quote(b, e.kind)
		b = append(b, ',')
		b = appendTime(b, e.at)
		w.end(b)
	}
	w.flush()

	w = inserter{head: "INSERT INTO t.subscription_events(id, at, status, plan, seats, billing_interval, amount_cents) VALUES ", out: &out}
	for i, e := range s.billing {
		b := w.row()
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, ',')
		b = appendTime(b, e.at)
		b = append(b, ',')
		b = quote(b, e.status)
		b = append(b, ',')
		b = quote(b, e.plan)
		b = append(b, ',')
		if e.seats == 0 {
			b = append(b, "NULL"...)
		} else {
			b = strconv.AppendInt(b, int64(e.seats), 10)
		}
		b = append(b, ',')
		if e.interval == "" {
			b = append(b, "NULL"...)
		} else {
			b = quote(b, e.interval)
		}
		b = append(b, ',')
		b = strconv.AppendInt(b, e.amount, 10)
		w.end(b)
	}
	w.flush()
	return out
}

// inserter batches rows of one table into INSERT statements.
type inserter struct {
	head string
	buf  []byte
	rows int
	out  *[]string
}

// row starts a row and returns the buffer to append its values to.
func (w *inserter) row() []byte {
	if w.rows == 0 {
		w.buf = append(w.buf[:0], w.head...)
	} else {
		w.buf = append(w.buf, ',')
	}
	return append(w.buf, '(')
}

// end closes the row started by row, whose values b now holds.
func (w *inserter) end(b []byte) {
	w.buf = append(b, ')')
	w.rows++
	if w.rows == rowsPerInsert {
		w.flush()
	}
}

func (w *inserter) flush() {
	if w.rows > 0 {
		*w.out = append(*w.out, string(w.buf))
	}
	w.rows = 0
}

// quote appends s as an SQL string literal.
func quote(b []byte, s string) []byte {
	b = append(b, '\'')
	if strings.IndexByte(s, '\'') < 0 {
		b = append(b, s...)
	} else {
		b = append(b, strings.ReplaceAll(s, "'", "''")...)
	}
	return append(b, '\'')
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, '1')
	}
	return append(b, '0')
}

// timeLayout is how every timestamp in a tenant is stored, UTC.
const timeLayout = "2006-01-02 15:04:05"

func formatTime(unix int64) string {
	return time.Unix(unix, 0).UTC().Format(timeLayout)
}

func appendTime(b []byte, unix int64) []byte {
	b = append(b, '\'')
	b = time.Unix(unix, 0).UTC().AppendFormat(b, timeLayout)
	return append(b, '\'')
}
