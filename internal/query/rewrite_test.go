package query

import (
	"strings"
	"testing"
)

func TestRewrite(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"simple", "SELECT count(*) FROM tenant.todos", "SELECT count(*) FROM t3.todos"},
		{"upper case", "SELECT * FROM TENANT.todos", "SELECT * FROM t3.todos"},
		{"mixed case", "select * from Tenant.todos", "select * from t3.todos"},
		{"schema.table.column", "SELECT tenant.todos.id FROM tenant.todos", "SELECT t3.todos.id FROM t3.todos"},
		{"space before dot", "SELECT * FROM tenant .todos", "SELECT * FROM t3 .todos"},
		{"spaces around dot", "SELECT * FROM tenant \n . \t todos", "SELECT * FROM t3 \n . \t todos"},
		{"comment before dot", "SELECT * FROM tenant/* x */.todos", "SELECT * FROM t3/* x */.todos"},
		{"line comment before dot", "SELECT * FROM tenant -- x\n.todos", "SELECT * FROM t3 -- x\n.todos"},
		{"string literal", "SELECT 'tenant.x' FROM tenant.t", "SELECT 'tenant.x' FROM t3.t"},
		{"escaped quotes in string", "SELECT 'it''s tenant.x', '''' || 'tenant.y''' FROM tenant.t", "SELECT 'it''s tenant.x', '''' || 'tenant.y''' FROM t3.t"},
		{"line comment", "SELECT 1 -- from tenant.x\nFROM tenant.t", "SELECT 1 -- from tenant.x\nFROM t3.t"},
		{"block comment", "SELECT /* tenant.x */ 1 FROM tenant.t", "SELECT /* tenant.x */ 1 FROM t3.t"},
		{"double-quoted schema", `SELECT "tenant".x FROM "tenant".t`, `SELECT "tenant".x FROM "tenant".t`},
		{"bracket schema", "SELECT [tenant].x FROM [tenant].t", "SELECT [tenant].x FROM [tenant].t"},
		{"backtick schema", "SELECT `tenant`.x FROM `tenant`.t", "SELECT `tenant`.x FROM `tenant`.t"},
		{"quoted table after schema", `SELECT * FROM tenant."my table"`, `SELECT * FROM t3."my table"`},
		{"column named tenant", "SELECT tenant FROM tenant.t", "SELECT tenant FROM t3.t"},
		{"column named tenant qualified", "SELECT t.tenant, x.tenant.y FROM tenant.t AS t", "SELECT t.tenant, x.tenant.y FROM t3.t AS t"},
		{"tenant.tenant.tenant", "SELECT tenant.tenant.tenant FROM tenant.tenant", "SELECT t3.tenant.tenant FROM t3.tenant"},
		{"CTE named tenant", "WITH tenant AS (SELECT id FROM tenant.users) SELECT count(*) FROM tenant", "WITH tenant AS (SELECT id FROM t3.users) SELECT count(*) FROM tenant"},
		{"tenant_id and mytenant", "SELECT tenant_id, mytenant.x, tenants.y FROM tenant.t", "SELECT tenant_id, mytenant.x, tenants.y FROM t3.t"},
		{"identifier with dollar", "SELECT tenant$.x FROM tenant.t", "SELECT tenant$.x FROM t3.t"},
		{"variable", "SELECT $tenant.x FROM tenant.t", "SELECT $tenant.x FROM t3.t"},
		{"tenant then number", "SELECT tenant.5 FROM tenant.t", "SELECT tenant.5 FROM t3.t"},
		{"nested subqueries", "SELECT (SELECT max(x) FROM (SELECT x FROM tenant.a WHERE x IN (SELECT y FROM tenant.b))) FROM tenant.c",
			"SELECT (SELECT max(x) FROM (SELECT x FROM t3.a WHERE x IN (SELECT y FROM t3.b))) FROM t3.c"},
		{"json_each", "SELECT j.value FROM tenant.docs, json_each(tenant.docs.body, '$.tenant') AS j", "SELECT j.value FROM t3.docs, json_each(t3.docs.body, '$.tenant') AS j"},
		{"pragma function strings", "SELECT name FROM pragma_table_info('todos', 'tenant')", "SELECT name FROM pragma_table_info('todos', 'tenant')"},
		{"schema-qualified pragma function", "SELECT name FROM tenant.pragma_table_info('todos')", "SELECT name FROM t3.pragma_table_info('todos')"},
		{"blob literal", "SELECT x'74656e616e74' FROM tenant.t", "SELECT x'74656e616e74' FROM t3.t"},
		{"unterminated block comment", "SELECT * FROM tenant.t /* tenant.x", "SELECT * FROM t3.t"},
		{"trailing semicolon", "SELECT 1 FROM tenant.t;", "SELECT 1 FROM t3.t"},
		{"trailing semicolon and comment", "SELECT 1 FROM tenant.t ; -- done\n\n", "SELECT 1 FROM t3.t"},
		{"trailing comment without semicolon", "SELECT 1 FROM tenant.t -- done", "SELECT 1 FROM t3.t"},
		{"leading comment kept", "-- tenant.x\nSELECT 1 FROM tenant.t", "-- tenant.x\nSELECT 1 FROM t3.t"},
		{"first token", "tenant.t", "t3.t"},
		{"no tenant", "VALUES (1), (2)", "VALUES (1), (2)"},
		{"utf8 around", "SELECT 'é', café FROM tenant.t", "SELECT 'é', café FROM t3.t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Rewrite(tt.in, "t3")
			if err != nil {
				t.Fatalf("Rewrite(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Rewrite(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			// The schema tenant itself changes nothing, not even case
			// (FuzzRewrite found TENANT.x coming back as tenant.x).
			same, err := Rewrite(tt.in, Schema)
			single, _ := Single(tt.in)
			if err != nil || same != single {
				t.Errorf("Rewrite(%q, tenant) = %q, %v; want %q", tt.in, same, err, single)
			}
		})
	}
}

func TestRewriteErrors(t *testing.T) {
	tests := []struct {
		in, schema, want string
	}{
		{"SELECT 1; SELECT 2", "t0", `";" on line 1 is not at the end`},
		{"SELECT 1;\n;", "t0", `";" on line 1 is not at the end`},
		{"SELECT 1;\n\nDROP TABLE tenant.x;", "t0", "more than one statement"},
		{"", "t0", "no SQL statement"},
		{" -- only a comment\n", "t0", "no SQL statement"},
		{";", "t0", "no SQL statement"},
		{"SELECT 'open", "t0", "unterminated string literal on line 1"},
		{"SELECT 1,\n\"open", "t0", "unterminated quoted identifier on line 2"},
		{"SELECT 12abc", "t0", `unrecognized token "12abc" on line 1`},
		{"SELECT 1 FROM tenant.t", "t 0", `schema "t 0" is not a plain SQL name`},
		{"SELECT 1 FROM tenant.t", "", "not a plain SQL name"},
	}
	for _, tt := range tests {
		_, err := Rewrite(tt.in, tt.schema)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Rewrite(%q, %q) error = %v, want it to contain %q", tt.in, tt.schema, err, tt.want)
		}
	}
}

func TestSingle(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT 1;", "SELECT 1"},
		{"  SELECT tenant.x FROM tenant.t ; /* end */ -- end\n", "  SELECT tenant.x FROM tenant.t"},
		{"SELECT ';' -- ;\n", "SELECT ';'"},
	}
	for _, tt := range tests {
		got, err := Single(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Single(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := Single("SELECT 1; SELECT 2;"); err == nil {
		t.Error("Single accepted two statements")
	}
}

func TestCheckReadOnly(t *testing.T) {
	allowed := []string{
		"SELECT 1",
		"select * from tenant.t;",
		"WITH x AS (SELECT 1) SELECT * FROM x",
		"VALUES (1, 'a')",
		"SELECT 'attach' AS a, 'insert into x' AS b",
		"SELECT 1 -- DROP TABLE x\n",
		"SELECT /* delete */ 1",
		`SELECT "update", [delete], ` + "`pragma`" + ` FROM t`,
		"SELECT replace(name, 'a', 'b') FROM t",
		"SELECT REPLACE (name, 'a', 'b') FROM t",
		"SELECT edit, readfile FROM t",
		"SELECT name FROM pragma_table_info('t')",
		"SELECT created_at, updated_at, deleted FROM t",
		"WITH RECURSIVE n(i) AS (VALUES (1) UNION ALL SELECT i+1 FROM n WHERE i < 5) SELECT i FROM n",
	}
	for _, sql := range allowed {
		if err := CheckReadOnly(sql); err != nil {
			t.Errorf("CheckReadOnly(%q) = %v, want nil", sql, err)
		}
	}
	rejected := []struct{ in, want string }{
		{"INSERT INTO t VALUES (1)", `not one starting with "INSERT"`},
		{"DELETE FROM t", "a query must be one read-only SELECT, WITH or VALUES statement"},
		{"ATTACH 'x.db' AS x", `starting with "ATTACH"`},
		{"PRAGMA writable_schema = 1", `starting with "PRAGMA"`},
		{"(SELECT 1)", `starting with "("`},
		{"EXPLAIN SELECT 1", `starting with "EXPLAIN"`},
		{"SELECT 1; DELETE FROM t", "more than one statement"},
		{"WITH x AS (SELECT 1) DELETE FROM t", "DELETE on line 1 is not allowed"},
		{"WITH x AS (SELECT 1)\nINSERT INTO t SELECT * FROM x", "INSERT on line 2 is not allowed"},
		{"WITH x AS (SELECT 1) UPDATE t SET a = 1", "UPDATE on line 1"},
		{"WITH x AS (SELECT 1) replace INTO t SELECT * FROM x", `REPLACE on line 1 is not allowed: a query must be one read-only SELECT, WITH or VALUES statement (quote it, "replace", if it is a column name)`},
		{"SELECT pragma FROM t", "PRAGMA on line 1"},
		{"SELECT 1 FROM t WHERE x IN (SELECT 1) AND vacuum", "VACUUM"},
		{"SELECT attach FROM t", "ATTACH"},
		{"SELECT detach FROM t", "DETACH"},
		{"SELECT create, drop, alter FROM t", "CREATE"},
		{"SELECT load_extension('x')", "load_extension() on line 1 is not allowed"},
		{"SELECT LOAD_EXTENSION ('x')", "load_extension()"},
		{`SELECT "load_extension"('x')`, "load_extension()"},
		{"SELECT [readfile]('/etc/passwd')", "readfile()"},
		{"SELECT writefile('x', 'y')", "writefile()"},
		{"SELECT edit('x')", "edit()"},
		{"SELECT fts3_tokenizer('simple')", "fts3_tokenizer()"},
		{"SELECT readfile /* c */ ('x')", "readfile()"},
		{"SELECT 'ok", "unterminated string literal"},
		{"", "no SQL statement"},
	}
	for _, tt := range rejected {
		err := CheckReadOnly(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckReadOnly(%q) = %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
}
