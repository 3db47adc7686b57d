package query

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Schema is the schema name query files use for the tenant's tables.
const Schema = "tenant"

var schemaRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// statement tokenizes sql, which must hold exactly one statement, and returns
// the statement's tokens without what trails it: whitespace and comments, at
// most one ';', and whitespace and comments after that. The engine embeds the
// SQL in a subquery, where a trailing ';' is a syntax error and a trailing
// "-- comment" would swallow the closing parenthesis.
func statement(sql string) ([]token, error) {
	toks := tokenize(sql)
	for _, t := range toks {
		if t.kind == tkIllegal {
			return nil, illegal(sql, t)
		}
	}
	n := trimTrailing(toks)
	if n > 0 && toks[n-1].kind == tkSemi {
		n = trimTrailing(toks[:n-1])
	}
	toks = toks[:n]
	if n == 0 || len(significant(toks)) == 0 {
		return nil, errors.New("no SQL statement")
	}
	for _, t := range toks {
		if t.kind == tkSemi {
			return nil, fmt.Errorf("more than one statement: the %q on line %d is not at the end (write one statement)", ";", lineOf(sql, t.pos))
		}
	}
	return toks, nil
}

// trimTrailing is the number of tokens left once trailing whitespace and
// comments are dropped.
func trimTrailing(toks []token) int {
	n := len(toks)
	for n > 0 && (toks[n-1].kind == tkSpace || toks[n-1].kind == tkComment) {
		n--
	}
	return n
}

// illegal explains a token SQLite would reject.
func illegal(sql string, t token) error {
	line := lineOf(sql, t.pos)
	switch t.text[0] {
	case '\'':
		return fmt.Errorf("unterminated string literal on line %d", line)
	case '"', '`', '[':
		return fmt.Errorf("unterminated quoted identifier on line %d", line)
	}
	text := t.text
	if len(text) > 20 {
		text = text[:20] + "..."
	}
	return fmt.Errorf("unrecognized token %q on line %d", text, line)
}

// end is the offset just past the last token.
func end(toks []token) int { return toks[len(toks)-1].end() }

// Single checks that sql is one statement and returns it without a trailing
// ';' and the whitespace and comments around that, so it can run as it is
// against one database attached as "tenant", or be embedded in a subquery.
func Single(sql string) (string, error) {
	toks, err := statement(sql)
	if err != nil {
		return "", err
	}
	return sql[:end(toks)], nil
}

// Rewrite returns sql with the schema name "tenant" replaced by schema (such
// as "t3", the name a batch attached one tenant under), and without a trailing
// ';' (see Single). Only a real schema qualifier is replaced: the bare token
// tenant, in any case, directly followed by "." (whitespace and comments may
// come between) and not itself following a "." (x.tenant.y names a table or
// column). String literals, comments and a column, alias or CTE named tenant
// are left alone, and so is a quoted "tenant", [tenant] or `tenant`, on
// purpose: quoting is how a query names a table or column called tenant.
// A schema named inside a string is not rewritten either: write
// tenant.pragma_table_info('t'), not pragma_table_info('t', 'tenant').
// Every other byte is kept as it was. Because every bare tenant.x is
// rewritten, a query should not use tenant as a table alias or CTE name that
// it then qualifies columns with.
func Rewrite(sql, schema string) (string, error) {
	if !schemaRe.MatchString(schema) {
		return "", fmt.Errorf("schema %q is not a plain SQL name", schema)
	}
	toks, err := statement(sql)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	last := 0
	sig := significant(toks)
	for i, t := range sig {
		// A name that already matches is left in its own case, so that
		// Rewrite(sql, "tenant") is exactly Single(sql).
		if isQualifier(sig, i) && !equalFoldASCII(t.text, schema) {
			b.WriteString(sql[last:t.pos])
			b.WriteString(schema)
			last = t.end()
		}
	}
	b.WriteString(sql[last:end(toks)])
	return b.String(), nil
}

// isQualifier reports whether sig[i] is the schema name tenant in tenant.x.
func isQualifier(sig []token, i int) bool {
	t := sig[i]
	return t.kind == tkIdent && equalFoldASCII(t.text, Schema) &&
		i+1 < len(sig) && sig[i+1].kind == tkDot &&
		(i == 0 || sig[i-1].kind != tkDot)
}

// Keywords a read-only statement may start with.
var readKeywords = map[string]bool{"SELECT": true, "WITH": true, "VALUES": true}

// Keywords that write, or reach outside the tenant: a WITH can end in an
// INSERT, UPDATE or DELETE, so they are rejected anywhere. REPLACE is also the
// replace() function, so it is only rejected when not called.
var writeKeywords = map[string]bool{
	"ATTACH": true, "DETACH": true, "PRAGMA": true, "VACUUM": true,
	"INSERT": true, "UPDATE": true, "DELETE": true, "REPLACE": true,
	"CREATE": true, "DROP": true, "ALTER": true,
}

// Functions that read or write files, load code or poke at internals.
var unsafeFuncs = map[string]bool{
	"LOAD_EXTENSION": true, "READFILE": true, "WRITEFILE": true, "EDIT": true, "FTS3_TOKENIZER": true,
}

// Virtual tables that read the raw pages of any attached database, named by
// a string argument: they would read other tenants of a batch, and nothing
// in the compiled statement says which.
var rawPageTables = map[string]bool{"SQLITE_DBPAGE": true, "DBSTAT": true}

// CheckReadOnly accepts one SELECT, WITH or VALUES statement that uses none of
// the keywords that write or attach (INSERT, UPDATE, DELETE, REPLACE, CREATE,
// DROP, ALTER, ATTACH, DETACH, PRAGMA, VACUUM) and calls none of
// load_extension, readfile, writefile, edit or fts3_tokenizer, outside string
// literals and comments. Tenants are opened read-only anyway; this is defense
// in depth with a clear message for the ad-hoc query page and CLI.
func CheckReadOnly(sql string) error {
	toks, err := statement(sql)
	if err != nil {
		return err
	}
	sig := significant(toks)
	if first := sig[0]; first.kind != tkIdent || !readKeywords[upperASCII(first.text)] {
		return fmt.Errorf("a query must be one read-only SELECT, WITH or VALUES statement, not one starting with %q", first.text)
	}
	for i, t := range sig {
		called := i+1 < len(sig) && sig[i+1].kind == tkLParen
		word := upperASCII(t.text)
		if t.kind == tkQuoted {
			word = upperASCII(unquote(t.text))
		}
		switch {
		case t.kind == tkIdent && writeKeywords[word] && !(word == "REPLACE" && called):
			return fmt.Errorf("%s on line %d is not allowed: a query must be one read-only SELECT, WITH or VALUES statement (quote it, \"%s\", if it is a column name)",
				word, lineOf(sql, t.pos), t.text)
		case (t.kind == tkIdent || t.kind == tkQuoted) && called && unsafeFuncs[word]:
			return fmt.Errorf("%s() on line %d is not allowed: it reaches outside the database", strings.ToLower(word), lineOf(sql, t.pos))
		case (t.kind == tkIdent || t.kind == tkQuoted) && rawPageTables[word]:
			return fmt.Errorf("%s on line %d is not allowed: it reads raw pages of any attached database, not only the tenant's", strings.ToLower(word), lineOf(sql, t.pos))
		}
	}
	return nil
}
