package query

import (
	"strings"
	"testing"
)

// fuzzSeeds are tricky inputs for FuzzRewrite: every quoting and comment form
// next to a tenant qualifier.
var fuzzSeeds = []string{
	"SELECT count(*) FROM tenant.todos",
	"SELECT 'tenant.x', \"tenant\".x, [tenant].x, `tenant`.x, TENANT.x FROM tenant.t;",
	"SELECT tenant /* c */ . x, tenant -- c\n.y FROM tenant . t ; -- end",
	"WITH tenant AS (SELECT tenant FROM tenant.t) SELECT tenant_id, mytenant.x, x.tenant.y FROM tenant",
	"SELECT 'it''s tenant.x', x'00ff', 1.5e3, .5, 0x1F, 1_000, $tenant.x, :a, ?1 FROM tenant.t",
	"SELECT j.value FROM tenant.docs, json_each(tenant.docs.body, '$.tenant') AS j",
	"SELECT name FROM pragma_table_info('todos', 'tenant')",
	"SELECT * FROM tenant.t /* tenant.x",
	"SELECT 1; SELECT 2",
	"SELECT 'open",
	"SELECT \"a\"\"b\" FROM [x y].tenant.z -- tenant.\n",
	"SELECT a->>'$.b', a||b, a<>b FROM tenant.t WHERE x IN (SELECT y FROM tenant.u)",
	"\xEF\xBB\xBFSELECT tenant.5, tenant.\"x\", tenant.[y] FROM tenant.t",
	"VALUES (1), (2);;",
	"SELECT café, 'é' FROM tenant.t\r\n",
	"x'74656e616e74'tenant.t",
	"SELECT 12abc, x'abc', tenant$.x",
	"--",
	"/*",
	"tenant.",
	".tenant.",
}

// FuzzRewrite checks Rewrite's promises on any input: it never panics, the
// schema "tenant" gives the statement back unchanged, and another schema only
// ever changes the text of bare tenant tokens that qualify a name, so string
// literals, quoted identifiers and comments come out exactly as they went in.
func FuzzRewrite(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		checkTokens(t, sql)
		_ = CheckReadOnly(sql) // must not panic

		base, errSingle := Single(sql)
		same, err := Rewrite(sql, Schema)
		if (err == nil) != (errSingle == nil) {
			t.Fatalf("Rewrite(%q, tenant) error %v, Single error %v", sql, err, errSingle)
		}
		if err != nil {
			return
		}
		if same != base {
			t.Fatalf("Rewrite(%q, tenant) = %q, want %q", sql, same, base)
		}
		if !strings.HasPrefix(sql, base) {
			t.Fatalf("Single(%q) = %q, not a prefix of its input", sql, base)
		}
		baseToks := tokenize(base)
		if got, want := tokString(baseToks), tokString(tokenize(sql)[:len(baseToks)]); got != want {
			t.Fatalf("tokens of the statement differ from those of the input:\n got %s\nwant %s", got, want)
		}

		const schema = "t3"
		out, err := Rewrite(sql, schema)
		if err != nil {
			t.Fatalf("Rewrite(%q, %s): %v", sql, schema, err)
		}
		outToks := tokenize(out)
		if len(outToks) != len(baseToks) {
			t.Fatalf("Rewrite(%q) = %q: %d tokens, want %d", sql, out, len(outToks), len(baseToks))
		}
		qualifiers := map[int]bool{} // positions in base
		sig := significant(baseToks)
		for i, tok := range sig {
			if isQualifier(sig, i) {
				qualifiers[tok.pos] = true
			}
		}
		for i, o := range outToks {
			b := baseToks[i]
			if o.kind != b.kind {
				t.Fatalf("Rewrite(%q) = %q: token %d is %q, was %q", sql, out, i, o.text, b.text)
			}
			switch {
			case qualifiers[b.pos] && o.text != schema:
				t.Fatalf("Rewrite(%q) = %q: kept qualifier %q at %d", sql, out, b.text, b.pos)
			case !qualifiers[b.pos] && o.text != b.text:
				t.Fatalf("Rewrite(%q) = %q: changed %q to %q", sql, out, b.text, o.text)
			}
		}
		if got, want := untouchable(outToks), untouchable(baseToks); got != want {
			t.Fatalf("Rewrite(%q) = %q changed literals or comments:\n got %s\nwant %s", sql, out, got, want)
		}
		if again, err := Rewrite(out, schema); err != nil || again != out {
			t.Fatalf("Rewrite(Rewrite(%q)) = %q, %v; want %q", sql, again, err, out)
		}
	})
}

// checkTokens checks that tokenize covers s with non-empty, adjacent tokens.
func checkTokens(t *testing.T, s string) {
	t.Helper()
	pos := 0
	for _, tok := range tokenize(s) {
		if tok.pos != pos || tok.text == "" || s[tok.pos:tok.end()] != tok.text {
			t.Fatalf("tokenize(%q): bad token %+v at %d", s, tok, pos)
		}
		pos = tok.end()
	}
	if pos != len(s) {
		t.Fatalf("tokenize(%q) stops at %d", s, pos)
	}
}

// untouchable lists the tokens Rewrite must never change.
func untouchable(toks []token) string {
	var keep []token
	for _, t := range toks {
		if t.kind == tkString || t.kind == tkQuoted || t.kind == tkComment || t.kind == tkBlob {
			keep = append(keep, t)
		}
	}
	return tokString(keep)
}

func TestFuzzSeeds(t *testing.T) {
	// The seeds run as part of FuzzRewrite under plain go test; this checks
	// that enough of them are valid statements to exercise the rewrite.
	valid := 0
	for _, s := range fuzzSeeds {
		if _, err := Single(s); err == nil {
			valid++
		}
	}
	if valid < len(fuzzSeeds)/2 {
		t.Errorf("only %d of %d seeds are valid statements", valid, len(fuzzSeeds))
	}
}
