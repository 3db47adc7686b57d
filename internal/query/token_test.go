package query

import (
	"fmt"
	"strings"
	"testing"
)

// tokString renders tokens compactly as kind:text pairs for comparison.
func tokString(toks []token) string {
	var parts []string
	for _, t := range toks {
		parts = append(parts, fmt.Sprintf("%s:%s", kindNames[t.kind], t.text))
	}
	return strings.Join(parts, " ")
}

var kindNames = map[kind]string{
	tkSpace: "sp", tkComment: "com", tkString: "str", tkQuoted: "qid", tkBlob: "blob",
	tkNumber: "num", tkIdent: "id", tkVariable: "var", tkDot: "dot", tkSemi: "semi",
	tkLParen: "lp", tkRParen: "rp", tkOp: "op", tkIllegal: "ILLEGAL",
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", ""},
		{"SELECT 1", "id:SELECT sp:  num:1"},
		{"'it''s'", "str:'it''s'"},
		{"''", "str:''"},
		{"'a'||'b'", "str:'a' op:|| str:'b'"},
		{`"a""b"`, `qid:"a""b"`},
		{"`a``b`", "qid:`a``b`"},
		{"[a b]", "qid:[a b]"},
		{"[a]]", "qid:[a] ILLEGAL:]"},
		{"-- c\nx", "com:-- c sp:\n id:x"},
		{"--", "com:--"},
		{"a--b", "id:a com:--b"},
		{"/* c */x", "com:/* c */ id:x"},
		{"/**/", "com:/**/"},
		{"/*/", "com:/*/"},
		{"x /* open", "id:x sp:  com:/* open"},
		{"/* a /* b */ c", "com:/* a /* b */ sp:  id:c"},
		{"x'00ff'", "blob:x'00ff'"},
		{"X'AB'", "blob:X'AB'"},
		{"x''", "blob:x''"},
		{"x'abc'", "ILLEGAL:x'abc'"},
		{"x'zz' 1", "ILLEGAL:x'zz' sp:  num:1"},
		{"x'0", "ILLEGAL:x'0"},
		{"x 'a'", "id:x sp:  str:'a'"},
		{"xa'b'", "id:xa str:'b'"},
		{"12 1.5 .5 1. 1e5 1E+5 2e-3 0x1F 0XaB 1_000 0x_1", "num:12 sp:  num:1.5 sp:  num:.5 sp:  num:1. sp:  num:1e5 sp:  num:1E+5 sp:  num:2e-3 sp:  num:0x1F sp:  num:0XaB sp:  num:1_000 sp:  ILLEGAL:0x_1"},
		{"12abc", "ILLEGAL:12abc"},
		{"1e", "ILLEGAL:1e"},
		{"1e+", "ILLEGAL:1e op:+"},
		{"1__2", "ILLEGAL:1__2"},
		{"a.b", "id:a dot:. id:b"},
		{"a.5", "id:a num:.5"},
		{"a .b", "id:a sp:  dot:. id:b"},
		{"_x $ y", "id:_x sp:  ILLEGAL:$ sp:  id:y"},
		{"a$b1", "id:a$b1"},
		{"tenant_id", "id:tenant_id"},
		{"café.x", "id:café dot:. id:x"},
		{"?1 ? :n @n $n #n", "var:?1 sp:  var:? sp:  var::n sp:  var:@n sp:  var:$n sp:  var:#n"},
		{"$tenant.x", "var:$tenant dot:. id:x"},
		{"a->>'$.b' -> c", "id:a op:->> str:'$.b' sp:  op:-> sp:  id:c"},
		{"a<=b<>c!=d==e>=f<<g>>h", "id:a op:<= id:b op:<> id:c op:!= id:d op:== id:e op:>= id:f op:<< id:g op:>> id:h"},
		{"-a/b*c%d+e&f|g~h,i", "op:- id:a op:/ id:b op:* id:c op:% id:d op:+ id:e op:& id:f op:| id:g op:~ id:h op:, id:i"},
		{"f(x);", "id:f lp:( id:x rp:) semi:;"},
		{"!", "ILLEGAL:!"},
		{"a\\b", "id:a ILLEGAL:\\ id:b"},
		{"a\x00", "id:a ILLEGAL:\x00"},
		{"\xEF\xBB\xBFx", "sp:\xEF\xBB\xBF id:x"},
		{" \t\r\n\f\v", "sp: \t\r\n\f\v"},
		{"\va", "ILLEGAL:\v id:a"},
		{"'open", "ILLEGAL:'open"},
		{`"open`, `ILLEGAL:"open`},
		{"[open", "ILLEGAL:[open"},
		{"'a''", "ILLEGAL:'a''"},
	}
	for _, tt := range tests {
		toks := tokenize(tt.in)
		if got := tokString(toks); got != tt.want {
			t.Errorf("tokenize(%q)\n got %s\nwant %s", tt.in, got, tt.want)
		}
		var b strings.Builder
		for _, tok := range toks {
			b.WriteString(tok.text)
		}
		if b.String() != tt.in {
			t.Errorf("tokenize(%q) tokens join to %q", tt.in, b.String())
		}
	}
}

func TestUnquote(t *testing.T) {
	tests := map[string]string{
		`"a""b"`: `a"b`, "`a``b`": "a`b", "[a]": "a", "'it''s'": "it's", "x": "x", `""`: "",
	}
	for in, want := range tests {
		if got := unquote(in); got != want {
			t.Errorf("unquote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUpperASCII(t *testing.T) {
	if got := upperASCII("sElect_ı1"); got != "SELECT_ı1" {
		t.Errorf("upperASCII = %q", got)
	}
	if equalFoldASCII("ınsert", "INSERT") {
		t.Error("equalFoldASCII folded a non-ASCII letter")
	}
}
