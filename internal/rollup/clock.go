package rollup

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/attache/attache/internal/sqlite"
)

// SQLite's date and time functions read the clock when called with no time
// value, or with 'now'. The time value is the first argument, or the second
// of strftime (after its format).
var dateFuncs = map[string]int{
	"date": 0, "time": 0, "datetime": 0, "julianday": 0, "unixepoch": 0,
	"strftime": 1, "timediff": 0,
	"current_date": 0, "current_time": 0, "current_timestamp": 0,
}

// clockReasons says why a compiled statement's answer depends on more than
// the data: the date and time functions reading the clock, and the
// functions SQLite marks non-deterministic (nondet, from
// pragma_function_list). ops is what SQLite will run, views included, so
// no spelling in the SQL text is missed. Where the program does not show
// the number of arguments of strftime, it is counted as reading the clock:
// a needless read once per period, never a stale number.
func clockReasons(ops []sqlite.Op, nondet map[string]bool) []string {
	var reasons []string
	seen := map[string]bool{}
	add := func(r string) {
		if !seen[r] {
			seen[r] = true
			reasons = append(reasons, r)
		}
	}
	for i, o := range ops {
		switch o.Opcode {
		case "String8", "String":
			if strings.EqualFold(strings.TrimSpace(o.P4), "now") {
				add("uses 'now'")
			}
		case "Function", "PureFunc":
			name, narg := funcName(o.P4)
			if timeArg, ok := dateFuncs[name]; ok {
				switch {
				case o.P2 == 0:
					add(fmt.Sprintf("calls %s() with no time value", name))
				case timeArg == 1 && o.P1&2 == 0 && !lastArgAfter(ops, i, o.P2):
					add(fmt.Sprintf("calls %s() with only a format", name))
				}
				continue
			}
			if nondet[name+"/"+narg] {
				add(fmt.Sprintf("calls %s(), which SQLite marks non-deterministic", name))
			}
		}
	}
	return reasons
}

// funcName splits a Function's P4, "strftime(-1)", into name and nArg.
func funcName(p4 string) (string, string) {
	name, rest, _ := strings.Cut(p4, "(")
	return strings.ToLower(name), strings.TrimSuffix(rest, ")")
}

// lastArgAfter reports whether the instruction just before the call at i
// computes an argument past the first (register first+1 or later): the
// last argument that is not a constant is computed last. P1 of a call has
// bit k set when argument k is constant, so a constant second argument is
// seen there instead.
func lastArgAfter(ops []sqlite.Op, i int, first int64) bool {
	if i == 0 {
		return false
	}
	d, ok := dest(ops[i-1])
	return ok && d > first && d <= first+127
}

// dest is the register an instruction writes, for the instructions that
// compute an expression's value.
func dest(o sqlite.Op) (int64, bool) {
	switch o.Opcode {
	case "String8", "String", "Integer", "Int64", "Real", "Null", "Blob", "Variable", "SCopy", "Copy", "IntCopy", "Rowid":
		return o.P2, true
	case "Column", "Function", "PureFunc", "Add", "Subtract", "Multiply", "Divide", "Remainder", "Concat", "BitAnd", "BitOr", "ShiftLeft", "ShiftRight":
		return o.P3, true
	case "Cast", "RealAffinity":
		return o.P1, true
	}
	return 0, false
}

// nondeterministic lists SQLite's scalar functions not marked deterministic,
// as "name/nArg", the way a Function instruction names them.
func nondeterministic(ctx context.Context, conn *sql.Conn) (map[string]bool, error) {
	rows, err := conn.QueryContext(ctx, "SELECT name, narg FROM pragma_function_list WHERE type = 's' AND (flags & 0x800) = 0")
	if err != nil {
		return nil, sqlite.Wrap(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		var narg int
		if err := rows.Scan(&name, &narg); err != nil {
			return nil, sqlite.Wrap(err)
		}
		out[strings.ToLower(name)+"/"+fmt.Sprint(narg)] = true
	}
	return out, rows.Err()
}
