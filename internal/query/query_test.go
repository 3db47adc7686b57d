package query

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, src string
		want      Query
	}{
		{"todos", "-- description: TODO totals per list\n-- mode: snapshot\nSELECT count(*) AS todos FROM tenant.todos\n",
			Query{Description: "TODO totals per list", Mode: ModeSnapshot, Grain: GrainDay, SQL: "SELECT count(*) AS todos FROM tenant.todos", Line: 3}},
		{"defaults", "SELECT 1", Query{Mode: ModeSnapshot, Grain: GrainDay, SQL: "SELECT 1", Line: 1}},
		{"all_headers", "--description:  a: b \n-- mode: replace\n-- grain: week\n\nSELECT 1;\n",
			Query{Description: "a: b", Mode: ModeReplace, Grain: GrainWeek, SQL: "SELECT 1", Line: 5}},
		{"case", "-- Mode: Replace\r\n-- GRAIN: Hour\r\nSELECT 1\r\n", Query{Mode: ModeReplace, Grain: GrainHour, SQL: "SELECT 1", Line: 3}},
		{"comments", "-- Counts things per day, see docs\n---\n-- grain: month\n--\nWITH x AS (SELECT 1)\n-- mode: replace (not a header here)\nSELECT * FROM x; -- done\n",
			Query{Mode: ModeSnapshot, Grain: GrainMonth, SQL: "WITH x AS (SELECT 1)\n-- mode: replace (not a header here)\nSELECT * FROM x", Line: 5}},
		{"block_comment_ends_header", "/* mode: nope */\n-- colour: red\nSELECT 1", Query{Mode: ModeSnapshot, Grain: GrainDay, SQL: "/* mode: nope */\n-- colour: red\nSELECT 1", Line: 1}},
		{"bom", "\xEF\xBB\xBF-- grain: hour\nSELECT 1", Query{Mode: ModeSnapshot, Grain: GrainHour, SQL: "SELECT 1", Line: 2}},
		{"clock", "-- clock: yes\nSELECT 1", Query{Mode: ModeSnapshot, Grain: GrainDay, SQL: "SELECT 1", Line: 2, Clock: true}},
		{"Mixed_1", "SELECT 1 FROM tenant.t", Query{Mode: ModeSnapshot, Grain: GrainDay, SQL: "SELECT 1 FROM tenant.t", Line: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := Parse(tt.name, []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Name = tt.name
			tt.want.File = "queries/" + tt.name + ".sql"
			if !reflect.DeepEqual(*q, tt.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tt.src, *q, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"activity", "-- mode: daily\nSELECT 1", []string{`queries/activity.sql: mode "daily" is not snapshot or replace`}},
		{"a", "-- grain: year\nSELECT 1", []string{`queries/a.sql: grain "year" is not hour, day, week or month`}},
		{"a", "-- Grian: day\nSELECT 1", []string{`queries/a.sql: unknown header "Grian": headers are description, mode, grain and clock`}},
		{"a", "-- mode: replace\n-- mode: snapshot\nSELECT 1", []string{`queries/a.sql: header "mode" is set twice`}},
		{"a", "-- mode: x\n-- grain: y\nSELECT 1; SELECT 2", []string{`mode "x"`, `grain "y"`, `queries/a.sql: more than one statement: the ";" on line 3`}},
		{"a", "-- description: nothing\n", []string{"queries/a.sql: no SQL statement"}},
		{"a", "", []string{"queries/a.sql: no SQL statement"}},
		{"a", "DELETE FROM tenant.t", []string{`queries/a.sql: a query must be one read-only SELECT, WITH or VALUES statement, not one starting with "DELETE"`}},
		{"a", "WITH x AS (SELECT 1)\nDELETE FROM tenant.t", []string{"queries/a.sql: DELETE on line 2 is not allowed"}},
		{"my-query", "SELECT 1", []string{`queries/my-query.sql: name "my-query" may only hold letters, digits and _, since it becomes the table name rollup_my-query`}},
		{"", "SELECT 1", []string{`queries/.sql: name ""`}},
	}
	for _, tt := range tests {
		q, err := Parse(tt.name, []byte(tt.src))
		if err == nil {
			t.Errorf("Parse(%q, %q) = %+v, want an error", tt.name, tt.src, q)
			continue
		}
		for _, want := range tt.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Parse(%q, %q) error = %q, want it to contain %q", tt.name, tt.src, err, want)
			}
		}
	}
}

func TestLoadDir(t *testing.T) {
	fsys := fstest.MapFS{
		"users.sql":        {Data: []byte("SELECT count(*) FROM tenant.users")},
		"activity.sql":     {Data: []byte("-- grain: week\nSELECT 1")},
		"a_b.sql":          {Data: []byte("SELECT 2")},
		"README.md":        {Data: []byte("not a query")},
		".#users.sql":      {Data: []byte("editor lock file")},
		"sub/nested.sql":   {Data: []byte("SELECT 3")},
		"dir.sql/file.sql": {Data: []byte("SELECT 4")},
	}
	qs, err := LoadDir(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range qs {
		names = append(names, q.Name)
	}
	if got, want := strings.Join(names, ","), "a_b,activity,users"; got != want {
		t.Errorf("names = %s, want %s", got, want)
	}
	if qs[1].Grain != GrainWeek || qs[1].File != "queries/activity.sql" {
		t.Errorf("activity = %+v", qs[1])
	}
}

func TestLoadDirErrors(t *testing.T) {
	fsys := fstest.MapFS{
		"good.sql":     {Data: []byte("SELECT 1")},
		"bad-name.sql": {Data: []byte("SELECT 1")},
		"mode.sql":     {Data: []byte("-- mode: daily\nSELECT 1")},
		"two.sql":      {Data: []byte("SELECT 1; SELECT 2")},
		"Good.sql":     {Data: []byte("SELECT 1")},
	}
	qs, err := LoadDir(fsys)
	if err == nil {
		t.Fatal("LoadDir accepted broken files")
	}
	for _, want := range []string{
		`queries/bad-name.sql: name "bad-name"`,
		`queries/mode.sql: mode "daily"`,
		"queries/two.sql: more than one statement",
		"queries/good.sql: name clashes with queries/Good.sql",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not mention %q", err, want)
		}
	}
	if len(qs) != 1 || qs[0].Name != "Good" {
		t.Errorf("queries that parsed = %v, want only Good", qs)
	}
}

func TestLoadDirEmpty(t *testing.T) {
	qs, err := LoadDir(fstest.MapFS{})
	if err != nil || len(qs) != 0 {
		t.Errorf("LoadDir(empty) = %v, %v", qs, err)
	}
	_, err = LoadDir(os.DirFS(filepath.Join(t.TempDir(), "missing")))
	if err == nil || !strings.HasPrefix(err.Error(), "queries: ") {
		t.Errorf("LoadDir(missing folder) error = %v", err)
	}
}
