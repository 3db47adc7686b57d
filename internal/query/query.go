// Package query holds what a query file is (queries/NAME.sql: header lines,
// then one read-only SELECT written for one tenant) and how its SQL is
// checked and rewritten to read many tenants attached side by side.
package query

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	"github.com/attache/attache/internal/names"
)

// Modes say how a query's rows are kept in its rollup table.
const (
	// ModeSnapshot keeps one set of rows per tenant per period (bucket), so
	// history builds up as a time series.
	ModeSnapshot = "snapshot"
	// ModeReplace replaces a tenant's rows on every run: the query computes
	// its own history from tenant data.
	ModeReplace = "replace"
)

// Grains are the periods a snapshot bucket can span.
const (
	GrainHour  = "hour"
	GrainDay   = "day"
	GrainWeek  = "week"
	GrainMonth = "month"
)

// Query is one parsed query file.
type Query struct {
	Name        string // file name without .sql; the rollup table is rollup_NAME
	Description string
	Mode        string // ModeSnapshot or ModeReplace
	Grain       string // GrainHour, GrainDay, GrainWeek or GrainMonth
	SQL         string // the statement, headers and a trailing ';' removed
	File        string // "queries/NAME.sql", for messages
	Line        int    // the file's line where SQL starts, for positions in messages
	// Clock declares that the answer depends on time, not only on data
	// ("-- clock: yes"), for what no analysis of the statement can see.
	Clock bool
	// ReadsClock says why the engine found the answer depends on time (set
	// when the engine checks the compiled statement); empty when it does not.
	ReadsClock []string
}

// DependsOnTime reports whether the answer can change with time alone.
func (q *Query) DependsOnTime() bool { return q.Clock || len(q.ReadsClock) > 0 }

// FileError is a query file that cannot be used; it costs only itself.
type FileError struct {
	Name string // the query's name
	File string // "queries/NAME.sql"
	Err  error  // says the file already
}

func (e *FileError) Error() string { return e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// LineOf is the file line of offset off in q.SQL.
func (q *Query) LineOf(off int) int {
	return q.Line + strings.Count(q.SQL[:min(max(off, 0), len(q.SQL))], "\n")
}

// A header line is "-- key: value"; key is one word so that ordinary
// comments ("-- counts todos, see the docs") are not mistaken for one.
var headerRe = regexp.MustCompile(`^--\s*([A-Za-z][A-Za-z0-9_-]*)\s*:(.*)$`)

// Parse reads a query file's source. Header lines "-- key: value" before the
// SQL set description, mode (default snapshot) and grain (default day); other
// comments are fine. The SQL must be one read-only statement (see
// CheckReadOnly). All problems found are returned together.
func Parse(name string, src []byte) (*Query, error) {
	q := &Query{Name: name, Mode: ModeSnapshot, Grain: GrainDay, File: "queries/" + name + ".sql"}
	if err := names.Query(name); err != nil {
		return nil, fmt.Errorf("%s: %w", q.File, err)
	}
	text := strings.TrimPrefix(string(src), bom)
	bodyStart, errs := q.parseHeader(text)
	if err := CheckReadOnly(text); err != nil {
		errs = append(errs, err)
	} else {
		sql, _ := Single(text) // cannot fail once CheckReadOnly passed
		body := sql[bodyStart:]
		lead := len(body) - len(strings.TrimLeft(body, " \t\r\n"))
		q.Line = 1 + strings.Count(text[:bodyStart+lead], "\n")
		q.SQL = strings.TrimSpace(body)
	}
	for i, err := range errs {
		errs[i] = fmt.Errorf("%s: %w", q.File, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return q, nil
}

// parseHeader applies the header lines, which end at the first line that is
// neither blank nor a "--" comment, and returns where that line starts.
func (q *Query) parseHeader(text string) (int, []error) {
	var errs []error
	seen := map[string]bool{}
	off := 0
	for off < len(text) {
		line, _, found := strings.Cut(text[off:], "\n")
		trimmed := strings.TrimSpace(line)
		if trimmed != "" && !strings.HasPrefix(trimmed, "--") {
			break
		}
		if m := headerRe.FindStringSubmatch(trimmed); m != nil {
			key := strings.ToLower(m[1])
			if seen[key] {
				errs = append(errs, fmt.Errorf("header %q is set twice", m[1]))
			} else if err := q.setHeader(m[1], strings.TrimSpace(m[2])); err != nil {
				errs = append(errs, err)
			}
			seen[key] = true
		}
		off += len(line)
		if found {
			off++
		}
	}
	return off, errs
}

// setHeader applies one header; key matches in any case.
func (q *Query) setHeader(key, value string) error {
	switch strings.ToLower(key) {
	case "description":
		q.Description = value
	case "mode":
		v := strings.ToLower(value)
		if v != ModeSnapshot && v != ModeReplace {
			return fmt.Errorf("mode %q is not snapshot or replace", value)
		}
		q.Mode = v
	case "grain":
		v := strings.ToLower(value)
		if v != GrainHour && v != GrainDay && v != GrainWeek && v != GrainMonth {
			return fmt.Errorf("grain %q is not hour, day, week or month", value)
		}
		q.Grain = v
	case "clock":
		switch strings.ToLower(value) {
		case "yes", "true":
			q.Clock = true
		case "no", "false":
			q.Clock = false
		default:
			return fmt.Errorf("clock %q is not yes or no", value)
		}
	default:
		return fmt.Errorf("unknown header %q: headers are description, mode, grain and clock (write other comments without \"word:\" at the start)", key)
	}
	return nil
}

// LoadDir parses every *.sql file directly in fsys, sorted by name. Files whose
// name starts with "." (editor leftovers) are skipped. Errors from all files
// are joined so every broken file shows at once, each a *FileError; the
// queries that did parse are returned alongside them.
func LoadDir(fsys fs.FS) ([]*Query, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("queries: %w", err)
	}
	var qs []*Query
	var errs []error
	byTable := map[string]string{} // lower-case name -> name
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".sql")
		if !ok || e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		file := "queries/" + e.Name()
		src, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			errs = append(errs, &FileError{Name: name, File: file, Err: fmt.Errorf("%s: %w", file, err)})
			continue
		}
		q, err := Parse(name, src)
		if err != nil {
			errs = append(errs, &FileError{Name: name, File: file, Err: err})
			continue
		}
		// SQLite table names ignore case, so Foo and foo would share a rollup.
		if other, dup := byTable[strings.ToLower(name)]; dup {
			errs = append(errs, &FileError{Name: name, File: file, Err: fmt.Errorf("%s: name clashes with queries/%s.sql (table names ignore case)", q.File, other)})
			continue
		}
		byTable[strings.ToLower(name)] = name
		qs = append(qs, q)
	}
	slices.SortFunc(qs, func(a, b *Query) int { return strings.Compare(a.Name, b.Name) })
	return qs, errors.Join(errs...)
}
