package query

import "strings"

// kind is the class of a SQL token. It follows SQLite's own tokenizer
// (tokenize.c) closely enough that a token boundary here is one there, which
// is what lets Rewrite change a schema name without ever touching a string
// literal, a quoted identifier or a comment.
type kind uint8

const (
	tkSpace    kind = iota // whitespace (and a UTF-8 byte order mark)
	tkComment              // -- to end of line, or /* */ (unterminated runs to the end, as in SQLite)
	tkString               // 'it''s'
	tkQuoted               // "a""b", `a`, [a]: quoted identifiers
	tkBlob                 // x'00ff'
	tkNumber               // 12, 1.5e3, .5, 0x1F, 1_000
	tkIdent                // bare identifiers and keywords
	tkVariable             // ?1, :name, @name, $name, #name
	tkDot                  // .
	tkSemi                 // ;
	tkLParen               // (
	tkRParen               // )
	tkOp                   // other operators and punctuation
	tkIllegal              // what SQLite would reject: unterminated literal, stray byte, 12abc
)

// token is one token of a SQL text; text is a slice of the source at pos.
type token struct {
	kind kind
	pos  int
	text string
}

// end is the offset just past the token.
func (t token) end() int { return t.pos + len(t.text) }

// tokenize splits s into tokens that, concatenated, give back s exactly.
func tokenize(s string) []token {
	var toks []token
	for i := 0; i < len(s); {
		k, end := scan(s, i)
		toks = append(toks, token{kind: k, pos: i, text: s[i:end]})
		i = end
	}
	return toks
}

// bom is the UTF-8 byte order mark, which SQLite reads as whitespace.
const bom = "\xEF\xBB\xBF"

// operators longer than one byte, longest first so "->>" wins over "->".
var longOps = []string{"->>", "||", "<=", "<>", "<<", ">=", ">>", "==", "!=", "->"}

// scan reads the token starting at s[i] and returns its kind and end offset.
func scan(s string, i int) (kind, int) {
	c, next := s[i], byteAt(s, i+1)
	switch {
	case isSpace(c):
		return tkSpace, span(s, i+1, isSpaceMore)
	case c == '-' && next == '-':
		if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
			return tkComment, i + j
		}
		return tkComment, len(s)
	case c == '/' && next == '*':
		if j := strings.Index(s[i+2:], "*/"); j >= 0 {
			return tkComment, i + 2 + j + 2
		}
		return tkComment, len(s)
	case c == '\'':
		return quoted(s, i, tkString)
	case c == '"' || c == '`':
		return quoted(s, i, tkQuoted)
	case c == '[':
		if j := strings.IndexByte(s[i:], ']'); j >= 0 {
			return tkQuoted, i + j + 1
		}
		return tkIllegal, len(s)
	case (c == 'x' || c == 'X') && next == '\'':
		return blob(s, i)
	case isDigit(c) || c == '.' && isDigit(next):
		return number(s, i)
	case c == '.':
		return tkDot, i + 1
	case c == ';':
		return tkSemi, i + 1
	case c == '(':
		return tkLParen, i + 1
	case c == ')':
		return tkRParen, i + 1
	case strings.HasPrefix(s[i:], bom):
		return tkSpace, i + len(bom)
	case isIDStart(c):
		return tkIdent, span(s, i+1, isIDChar)
	case c == '?':
		return tkVariable, span(s, i+1, isDigit)
	case c == ':' || c == '@' || c == '#' || c == '$':
		if j := span(s, i+1, isIDChar); j > i+1 {
			return tkVariable, j
		}
		return tkIllegal, i + 1
	}
	for _, op := range longOps {
		if strings.HasPrefix(s[i:], op) {
			return tkOp, i + len(op)
		}
	}
	if strings.IndexByte("+-*/%<>=,&|~", c) >= 0 {
		return tkOp, i + 1
	}
	return tkIllegal, i + 1
}

// quoted reads a literal delimited by s[i], in which two delimiters in a row
// stand for one.
func quoted(s string, i int, k kind) (kind, int) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		if s[j] != q {
			continue
		}
		if byteAt(s, j+1) != q {
			return k, j + 1
		}
		j++
	}
	return tkIllegal, len(s)
}

// blob reads x'..': an even number of hex digits. Like SQLite, a malformed
// one is a single illegal token up to its closing quote.
func blob(s string, i int) (kind, int) {
	j := span(s, i+2, isHex)
	if byteAt(s, j) == '\'' && (j-i-2)%2 == 0 {
		return tkBlob, j + 1
	}
	if k := strings.IndexByte(s[j:], '\''); k >= 0 {
		return tkIllegal, j + k + 1
	}
	return tkIllegal, len(s)
}

// number reads an integer, real or hex literal, with _ digit separators as in
// SQLite 3.46+. Identifier characters glued to a number make it illegal
// ("12abc"), as in SQLite.
func number(s string, i int) (kind, int) {
	var j int
	if s[i] == '0' && (byteAt(s, i+1) == 'x' || byteAt(s, i+1) == 'X') && isHex(byteAt(s, i+2)) {
		j = digits(s, i+2, isHex)
	} else {
		j = digits(s, i, isDigit)
		if byteAt(s, j) == '.' {
			j = digits(s, j+1, isDigit)
		}
		if e := byteAt(s, j); e == 'e' || e == 'E' {
			d := byteAt(s, j+1)
			if isDigit(d) {
				j = digits(s, j+1, isDigit)
			} else if (d == '+' || d == '-') && isDigit(byteAt(s, j+2)) {
				j = digits(s, j+2, isDigit)
			}
		}
	}
	if isIDChar(byteAt(s, j)) {
		return tkIllegal, span(s, j, isIDChar)
	}
	return tkNumber, j
}

// digits skips digits of class ok, allowing a single _ between two of them.
func digits(s string, j int, ok func(byte) bool) int {
	for j < len(s) {
		switch {
		case ok(s[j]):
			j++
		case s[j] == '_' && ok(byteAt(s, j+1)):
			j += 2
		default:
			return j
		}
	}
	return j
}

// span skips bytes matching ok from j.
func span(s string, j int, ok func(byte) bool) int {
	for j < len(s) && ok(s[j]) {
		j++
	}
	return j
}

// byteAt is s[i], or 0 past the end (0 is in no class below).
func byteAt(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// isSpace is what starts whitespace in SQLite; isSpaceMore what continues it
// (SQLite's isspace also takes \v, which cannot start a token).
func isSpace(c byte) bool     { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }
func isSpaceMore(c byte) bool { return isSpace(c) || c == '\v' }
func isDigit(c byte) bool     { return '0' <= c && c <= '9' }
func isHex(c byte) bool       { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// isIDStart: letters, _ and every byte of a non-ASCII UTF-8 character.
func isIDStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c >= 0x80
}

// isIDChar: SQLite also continues identifiers with digits and $.
func isIDChar(c byte) bool { return isIDStart(c) || isDigit(c) || c == '$' }

// significant drops whitespace and comments, which SQL's grammar ignores.
func significant(toks []token) []token {
	var out []token
	for _, t := range toks {
		if t.kind != tkSpace && t.kind != tkComment {
			out = append(out, t)
		}
	}
	return out
}

// equalFoldASCII compares like SQLite does names and keywords: ASCII letters
// without case, every other byte exactly.
func equalFoldASCII(a, b string) bool {
	return len(a) == len(b) && upperASCII(a) == upperASCII(b)
}

// upperASCII upper-cases ASCII letters only (strings.ToUpper would turn the
// Turkish ı into I, which SQLite does not).
func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// unquote returns the name a quoted identifier stands for.
func unquote(s string) string {
	if len(s) < 2 {
		return s
	}
	switch s[0] {
	case '[':
		return s[1 : len(s)-1]
	case '"', '`', '\'':
		q := s[:1]
		return strings.ReplaceAll(s[1:len(s)-1], q+q, q)
	}
	return s
}

// lineOf is the 1-based line of offset off in s, for error messages.
func lineOf(s string, off int) int { return 1 + strings.Count(s[:off], "\n") }
