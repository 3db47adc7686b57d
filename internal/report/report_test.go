package report

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/roles"
	"github.com/attache/attache/internal/sandbox"
)

// TestMain lets the test binary serve as its own sandbox child.
func TestMain(m *testing.M) {
	if code, ok := roles.Serve(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// fixture builds a real metrics DB with the engine's schema and demo-shaped
// rollups written directly, so these tests do not depend on the engine.
func fixture(t testing.TB, extra ...string) (string, *metrics.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "metrics.db")
	ctx := context.Background()
	mdb, err := metrics.Open(ctx, path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mdb.Close() })
	stmts := []string{
		`CREATE TABLE rollup_activity(tenant_id TEXT, day TEXT, events INTEGER, active_members INTEGER, todos_created INTEGER, todos_completed INTEGER)`,
		`INSERT INTO rollup_activity VALUES
			('acme', '2026-11-20', 5, 2, 3, 1), ('acme', '2026-11-21', 0, 0, 0, 0), ('acme', '2026-11-22', 9, 3, 4, 2),
			('beta', '2026-11-21', 2, 1, 1, 0), ('beta', '2026-11-22', 1, 1, 0, 1),
			('2026-01-01', '2026-11-22', 4, 1, 2, 2)`,
		`CREATE TABLE rollup_tenant_profile(tenant_id TEXT, name TEXT, plan TEXT, signup_at TEXT, signup_month TEXT, schema_version INTEGER, members INTEGER, first_activity_at TEXT, last_activity_at TEXT)`,
		`INSERT INTO rollup_tenant_profile VALUES
			('acme', 'Acme', 'pro', '2025-06-03T10:00:00Z', '2025-06', 3, 12, '2025-06-03T10:05:00Z', '2026-11-22T09:00:00Z'),
			('beta', 'Beta', 'free', '2026-10-11T08:00:00Z', '2026-10', 3, 2, '2026-10-11T08:30:00Z', '2026-11-22T11:00:00Z'),
			('2026-01-01', '=cmd|'' /C calc''!A0', NULL, '2026-01-01T00:00:00Z', '2026-01', 2, 1, NULL, NULL)`,
		`CREATE TABLE rollup_active(tenant_id TEXT, grain TEXT, period TEXT, events INTEGER, active_days INTEGER)`,
		`INSERT INTO rollup_active VALUES ('acme', 'day', '2026-11-22', 9, 1), ('acme', 'week', '2026-11-16', 14, 2), ('acme', 'month', '2026-11', 14, 2)`,
		`CREATE TABLE rollup_mrr(tenant_id TEXT, at TEXT, mrr INTEGER, trial INTEGER)`,
		`INSERT INTO rollup_mrr VALUES ('acme', '2025-06-03 10:00:00', 0, 1), ('acme', '2025-06-17 10:00:00', 4900, 0), ('beta', '2026-10-11 08:00:00', 1250, 0)`,
		`CREATE TABLE rollup_todo_counts(tenant_id TEXT, bucket TEXT, lists INTEGER, todos INTEGER, done INTEGER, open INTEGER, members INTEGER)`,
		`INSERT INTO rollup_todo_counts VALUES ('acme', '2026-11-22', 3, 40, 30, 10, 12), ('beta', '2026-11-22', 1, 5, 1, 4, 2)`,
		`INSERT INTO runs(id, job, started_at, finished_at, status, tenants_total, tenants_ok, tenants_failed, tenants_unchanged, rows_written)
			VALUES (41, 'hourly', '2026-11-22T10:00:00Z', '2026-11-22T10:01:00Z', 'ok', 10000, 9000, 40, 960, 5000),
			       (42, 'hourly', '2026-11-22T11:00:00Z', '2026-11-22T11:00:30Z', 'ok', 10000, 900, 30, 9070, 800)`,
		`INSERT INTO tenants(id, location, size_bytes, modified_at, first_seen, last_seen, last_ok_at, last_error) VALUES
			('acme', '/data/acme.db', 5000000, '2026-11-22T09:00:00Z', '2025-06-03T10:00:00Z', '2026-11-22T11:00:00Z', '2026-11-22T11:00:00Z', ''),
			('beta', '/data/beta.db', 40000, '2026-11-22T11:00:00Z', '2026-10-11T08:00:00Z', '2026-11-22T11:00:00Z', '2026-11-22T11:00:00Z', ''),
			('broken', '/data/broken.db', 0, NULL, '2026-11-01T00:00:00Z', '2026-11-22T11:00:00Z', NULL, 'file is not a database')`,
		`INSERT INTO tenant_errors VALUES (42, 'broken', 'activity', 'file is not a database'), (41, 'broken', 'activity', 'file is not a database')`,
	}
	for _, s := range append(stmts, extra...) {
		if _, err := mdb.W.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return path, mdb
}

func newRunner(t testing.TB, path string) *Runner {
	t.Helper()
	sb := sandbox.NewRunner(2, 20*time.Second, time.Second)
	t.Cleanup(sb.Close)
	return NewRunner(sb, path, 1000)
}

func mustContain(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

const goodReport = `title: Growth
description: Tenants and activity
panels:
  - id: active
    title: Active tenants per day
    chart: line
    sql: SELECT day, count(*) AS tenants FROM rollup_activity WHERE events > 0 GROUP BY day ORDER BY day;
    x: day
    y: tenants
    format: {day: date}
  - id: top
    title: Top
    chart: table
    sql: SELECT tenant_id, sum(events) AS events FROM rollup_activity GROUP BY 1 ORDER BY 2 DESC
`

func TestLoadDirGood(t *testing.T) {
	reps, err := LoadDir(fstest.MapFS{
		"growth.yaml": {Data: []byte(goodReport)},
		"README.md":   {Data: []byte("not a report")},
		"sub/x.yaml":  {Data: []byte("not: read")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 || reps[0].Name != "growth" || reps[0].File != "growth.yaml" || reps[0].Title != "Growth" {
		t.Fatalf("reports %+v", reps)
	}
	p := reps[0].Panel("active")
	if p == nil || p.X != "day" || len(p.Y) != 1 || p.Y[0] != "tenants" || strings.HasSuffix(p.SQL, ";") || p.Format["day"] != FormatDate {
		t.Fatalf("panel %+v", p)
	}
	if reps[0].Panel("missing") != nil || Find(reps, "growth") != reps[0] || Find(reps, "../growth") != nil {
		t.Fatal("lookup by name")
	}
}

func TestLoadDirErrors(t *testing.T) {
	cases := []struct {
		file, body string
		want       []string
	}{
		{"chart.yaml", "title: T\npanels:\n  - id: p1\n    chart: donut\n    sql: SELECT 1 AS a\n", []string{"chart.yaml", "panel p1", `"donut"`, "line, bar"}},
		{"nox.yaml", "title: T\npanels:\n  - id: p2\n    chart: line\n    sql: SELECT 1 AS a\n    y: [a]\n", []string{"nox.yaml", "panel p2", "needs x"}},
		{"noy.yaml", "title: T\npanels:\n  - id: p3\n    chart: bar\n    sql: SELECT 1 AS a\n    x: a\n", []string{"noy.yaml", "panel p3", "needs y"}},
		{"key.yaml", "title: T\npanels:\n  - id: p4\n    chart: table\n    sql: SELECT 1\n    colour: red\n", []string{"key.yaml", "panels[0].colour", "line 6", "not a known key", "the keys here are", "chart"}},
		{"topkey.yaml", "titel: T\npanels:\n  - id: p\n    chart: table\n    sql: SELECT 1\n", []string{"topkey.yaml", "titel (line 1) is not a known key; did you mean title?"}},
		{"bad name.yaml", goodReport, []string{"bad name.yaml", "letters, digits"}},
		{"old.yml", goodReport, []string{"old.yml", "rename it to old.yaml"}},
		{"fmt.yaml", "panels:\n  - id: p5\n    chart: table\n    sql: SELECT 1 AS a\n    format: {a: dollars}\n", []string{"fmt.yaml", "panel p5", `"dollars"`, "percent"}},
		{"dup.yaml", "panels:\n  - {id: a, chart: table, sql: SELECT 1}\n  - {id: a, chart: table, sql: SELECT 2}\n", []string{"dup.yaml", "panel a", "twice"}},
		{"pie.yaml", "panels:\n  - {id: p6, chart: pie, sql: \"SELECT 1 AS a, 2 AS b, 3 AS c\", x: a, y: [b, c]}\n", []string{"pie.yaml", "panel p6", "one series"}},
		{"nosql.yaml", "panels:\n  - {id: p7, chart: table}\n", []string{"nosql.yaml", "panel p7", "sql is missing"}},
		{"badid.yaml", "panels:\n  - {id: ../x, chart: table, sql: SELECT 1}\n", []string{"badid.yaml", `"../x"`, "letters"}},
		{"syntax.yaml", "panels: [\n", []string{"syntax.yaml", "line"}},
		{"empty.yaml", "", []string{"empty.yaml", "empty"}},
		{"nopanels.yaml", "title: T\n", []string{"nopanels.yaml", "no panels"}},
		{"label.yaml", "panels:\n  - {id: p8, chart: table, sql: SELECT 1 AS a, labels: {a: \" \"}}\n", []string{"label.yaml", "panel p8", `column "a" an empty label`}},
		{"period.yaml", "panels:\n  - {id: p9, chart: line, sql: SELECT 1 AS a, x: a, y: [a], period: a}\n", []string{"period.yaml", "panel p9", "period: applies to number panels only"}},
		{"versus.yaml", "panels:\n  - {id: p10, chart: number, sql: SELECT 1 AS a, versus: a}\n", []string{"versus.yaml", "panel p10", "add change: COLUMN"}},
	}
	fsys := fstest.MapFS{"ok.yaml": {Data: []byte(goodReport)}}
	for _, c := range cases {
		fsys[c.file] = &fstest.MapFile{Data: []byte(c.body)}
	}
	reps, err := LoadDir(fsys)
	if len(reps) != 1 || reps[0].Name != "ok" {
		t.Errorf("the good report must still load beside broken ones; got %d reports", len(reps))
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			// Find this file's own message among the joined ones.
			var mine error
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(line, c.file) {
					mine = errors.New(line)
					break
				}
			}
			if mine == nil {
				t.Fatalf("no error for %s in:\n%v", c.file, err)
			}
			mustContain(t, mine, c.want...)
		})
	}
}

func TestValidate(t *testing.T) {
	path, _ := fixture(t)
	r := newRunner(t, path)
	rep, err := Parse("v.yaml", []byte(`title: V
panels:
  - {id: good, chart: line, sql: "SELECT day, count(*) AS n FROM rollup_activity GROUP BY day", x: day, y: [n]}
  - {id: badx, chart: line, sql: "SELECT day AS d, count(*) AS n FROM rollup_activity GROUP BY day", x: day, y: [n]}
  - {id: bady, chart: bar, sql: "SELECT day, count(*) AS n FROM rollup_activity GROUP BY day", x: day, y: [n, missing]}
  - {id: texty, chart: bar, sql: "SELECT tenant_id, name FROM rollup_tenant_profile", x: tenant_id, y: [name]}
  - {id: badsql, chart: table, sql: "SELECT nope FROM rollup_nothing"}
  - {id: badfmt, chart: table, sql: "SELECT 1 AS a", format: {b: percent}}
  - {id: badlabel, chart: table, sql: "SELECT 1 AS a", labels: {b: Bees}}
  - {id: badperiod, chart: number, sql: "SELECT 1 AS a, 'x' AS c", period: p, change: c, versus: v}
`))
	if err != nil {
		t.Fatal(err)
	}
	err = Validate(r, []*Report{rep})
	mustContain(t, err,
		`v.yaml, panel badx: x column "day" is not in the result (columns: d, n)`,
		`v.yaml, panel bady: y column "missing" is not in the result`,
		`v.yaml, panel texty: y column "name" holds text`,
		`v.yaml, panel badsql: no such table: rollup_nothing`, "attache run",
		`v.yaml, panel badfmt: format names column "b"`,
		`v.yaml, panel badlabel: labels names column "b"`,
		`v.yaml, panel badperiod: period column "p" is not in the result`,
		`v.yaml, panel badperiod: versus column "v" is not in the result`,
		`v.yaml, panel badperiod: change column "c" holds text`,
	)
	if strings.Contains(err.Error(), "panel good") {
		t.Errorf("the good panel was reported: %v", err)
	}
}

func TestShippedReportsValidate(t *testing.T) {
	reps, err := LoadDir(os.DirFS("../../reports"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"growth", "retention", "usage", "fleet", "revenue"} {
		if Find(reps, want) == nil {
			t.Errorf("reports/%s.yaml is missing", want)
		}
	}
	path, _ := fixture(t)
	if err := Validate(newRunner(t, path), reps); err != nil {
		t.Fatal(err)
	}
}

func TestRunKeepsPanelErrors(t *testing.T) {
	path, _ := fixture(t)
	rep, err := Parse("mix.yaml", []byte(`panels:
  - {id: broken, chart: table, sql: "SELECT * FROM rollup_missing"}
  - {id: ok, chart: table, sql: "SELECT tenant_id, day, events FROM rollup_activity WHERE tenant_id = 'acme' ORDER BY day"}
  - {id: n, chart: number, sql: "SELECT count(*) AS tenants, 7 AS other FROM tenants", y: [tenants]}
  - {id: slow, chart: table, sql: "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n) SELECT count(*) FROM n"}
`))
	if err != nil {
		t.Fatal(err)
	}
	sb := sandbox.NewRunner(2, time.Second, time.Second)
	defer sb.Close()
	r := NewRunner(sb, path, 2)
	start := time.Now()
	data := r.RunAll(rep)
	if len(data) != 4 {
		t.Fatalf("%d results", len(data))
	}
	mustContain(t, data[0].Err, "mix.yaml, panel broken", "no such table: rollup_missing")
	if data[1].Err != nil || len(data[1].Rows) != 2 || !data[1].Truncated {
		t.Fatalf("ok panel: %+v", data[1])
	}
	if data[1].Rows[0][1] != "2026-11-20" || data[1].Rows[0][2] != int64(5) {
		t.Fatalf("values must keep their SQLite types: %#v", data[1].Rows[0])
	}
	if v := data[2].Value(); v != int64(3) {
		t.Fatalf("number panel value %#v", v)
	}
	mustContain(t, data[3].Err, "panel slow", "query_timeout")
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("RunAll took %s; the slow panel must be stopped at the timeout", el)
	}
	// A missing metrics DB is named, not created.
	missing := filepath.Join(t.TempDir(), "none.db")
	d := NewRunner(sb, missing, 10).Run(rep.Panels[1])
	mustContain(t, d.Err, "does not exist", "attache run")
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("running a panel created the metrics DB")
	}
}

func TestEachStreamsAllRows(t *testing.T) {
	path, _ := fixture(t, `CREATE TABLE rollup_big(tenant_id TEXT, n INTEGER)`,
		`INSERT INTO rollup_big WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 2500) SELECT 't' || i, i FROM c`)
	r := newRunner(t, path)
	p := &Panel{ID: "big", Chart: ChartTable, SQL: "SELECT tenant_id, n FROM rollup_big ORDER BY n"}
	var n int64
	var sum int64
	err := r.Each(p, 1000, func(cols []string, rows [][]any) error {
		if len(cols) != 2 {
			t.Fatalf("cols %v", cols)
		}
		for _, row := range rows {
			n++
			sum += row[1].(int64)
		}
		return nil
	})
	if err != nil || n != 2500 || sum != 2500*2501/2 {
		t.Fatalf("n %d sum %d err %v", n, sum, err)
	}
	// The caller's own error comes back as it is.
	stop := errors.New("client went away")
	if err := r.Each(p, 100, func([]string, [][]any) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("err %v, want the callback's", err)
	}
	err = r.Each(&Panel{ID: "bad", SQL: "SELECT x FROM nowhere"}, 100, func([]string, [][]any) error { return nil })
	mustContain(t, err, "panel bad", "no such table")
}

func TestFreshness(t *testing.T) {
	_, mdb := fixture(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 11, 14, 40, 0, time.UTC)
	f, err := LoadFreshness(ctx, mdb, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.String(), "as of run 42, 14 minutes ago · 9,970 of 10,000 tenants · 30 failed"; got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if f.TenantsKnown != 3 || f.Read() != 9970 || f.Coverage() != 0.997 {
		t.Fatalf("%+v", f)
	}
	if _, err := mdb.W.ExecContext(ctx, `INSERT INTO runs(id, job, started_at, status) VALUES (43, 'hourly', '2026-11-22T11:10:00Z', 'running')`); err != nil {
		t.Fatal(err)
	}
	f, _ = LoadFreshness(ctx, mdb, now)
	mustContain(t, errors.New(f.String()), "as of run 42", "run 43 in progress")

	_, empty := fixtureEmpty(t)
	f, err = LoadFreshness(ctx, empty, now)
	if err != nil || f.Run != nil || !strings.HasPrefix(f.String(), "no run yet") || f.Coverage() != 0 {
		t.Fatalf("%+v %v %q", f, err, f.String())
	}
}

func fixtureEmpty(t *testing.T) (string, *metrics.DB) {
	path := filepath.Join(t.TempDir(), "m.db")
	mdb, err := metrics.Open(context.Background(), path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mdb.Close() })
	return path, mdb
}

func TestTextAndDisplay(t *testing.T) {
	for _, c := range []struct {
		v      any
		format string
		text   string
		disp   string
	}{
		{nil, "", "", ""},
		{int64(-1234567), "", "-1234567", "-1,234,567"},
		{1e21, "", "1000000000000000000000", "1000000000000000000000"},
		{0.25, FormatPercent, "0.25", "25.0%"},
		{int64(1), FormatPercent, "1", "100.0%"},
		{1234.5678, FormatNumber, "1234.5678", "1,234.57"},
		{-0.001, FormatNumber, "-0.001", "0.00"},
		{int64(1500000), FormatBytes, "1500000", "1.5 MB"},
		{"2026-11-22", FormatDate, "2026-11-22", "2026-11-22"},
		{[]byte{0, 0xff}, "", "X'00FF'", "X'00FF'"},
		{[]byte("héllo"), "", "héllo", "héllo"},
	} {
		if got := Text(c.v); got != c.text {
			t.Errorf("Text(%#v) = %q, want %q", c.v, got, c.text)
		}
		if got := Display(c.v, c.format); got != c.disp {
			t.Errorf("Display(%#v, %q) = %q, want %q", c.v, c.format, got, c.disp)
		}
	}
}

func TestFreshnessScopedToReport(t *testing.T) {
	_, mdb := fixture(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 11, 14, 0, 0, time.UTC)
	// Run 42 recorded one tenant failing the activity query only.
	reads := &Report{Name: "a", Panels: []*Panel{{SQL: "SELECT day FROM rollup_activity"}}}
	other := &Report{Name: "b", Panels: []*Panel{{SQL: "SELECT * FROM ROLLUP_todo_counts JOIN rollup_tenant_profile USING (tenant_id)"}}}
	whole, err := LoadFreshness(ctx, mdb, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadReportFreshness(ctx, mdb, now, reads)
	if err != nil {
		t.Fatal(err)
	}
	if got.Read() != whole.Run.TenantsTotal-1 || !strings.Contains(got.String(), "· 1 failed") {
		t.Fatalf("scoped to rollup_activity: read %d, %q; want every tenant but the one that failed activity", got.Read(), got.String())
	}
	got, err = LoadReportFreshness(ctx, mdb, now, other)
	if err != nil {
		t.Fatal(err)
	}
	if got.Read() != whole.Run.TenantsTotal || strings.Contains(got.String(), "failed") {
		t.Fatalf("a report not reading the failed query: read %d, %q; want full coverage", got.Read(), got.String())
	}
	if q := other.Queries(); strings.Join(q, ",") != "tenant_profile,todo_counts" {
		t.Fatalf("Queries() = %v", q)
	}
}

func TestHeadline(t *testing.T) {
	p := &Panel{ID: "active", Title: "Active tenants", Chart: ChartNumber, Y: []string{"active"},
		Format: map[string]string{"active": FormatInteger}, Period: "month", Change: "change", Versus: "before",
		Labels: map[string]string{"active": "Active tenants"}}
	cols := []string{"active", "month", "change", "before"}
	for _, c := range []struct {
		row  []any
		want string
	}{
		{[]any{int64(225), "2026-11", 0.066, "2026-10"}, "November 2026: 225 ▲ 6.6% vs October"},
		{[]any{int64(1225), "2026-01", -0.25, "2025-12"}, "January 2026: 1,225 ▼ 25.0% vs December 2025"},
		{[]any{int64(3), "Q4 2026", nil, "Q3"}, "Q4 2026: 3 n/a vs Q3"},
		{[]any{nil, "2026-11", int64(0), "2026-10"}, "November 2026: n/a no change vs October"},
	} {
		d := &Data{Panel: p, Columns: cols, Rows: [][]any{c.row}}
		if got := d.Headline().String(); got != c.want {
			t.Errorf("headline %v = %q, want %q", c.row, got, c.want)
		}
	}
	plain := &Data{Panel: &Panel{ID: "n", Chart: ChartNumber}, Columns: []string{"n"}, Rows: [][]any{{int64(10000)}}}
	if h := plain.Headline(); h.String() != "10,000" || h.HasChange || h.ChangeText() != "" {
		t.Errorf("a panel without period or change: %+v", h)
	}
	if got := p.Label("active"); got != "Active tenants" {
		t.Errorf("label %q", got)
	}
	if got := p.Label("todos_created"); got != "Todos created" {
		t.Errorf("a column without a label reads as words; got %q", got)
	}
}

func TestMoney(t *testing.T) {
	for _, c := range []struct {
		code string
		v    any
		want string
	}{
		{"USD", int64(123456), "$1,234.56"},
		{"USD", int64(-5), "-$0.05"},
		{"USD", 9278.6, "$92.79"}, // an average, rounded to the cent
		{"EUR", int64(100), "€1.00"},
		{"JPY", int64(1500), "¥1,500"}, // no minor unit
		{"CHF", int64(1200), "CHF 12.00"},
		{"USD", nil, ""},
	} {
		cur, err := ParseCurrency(c.code)
		if err != nil {
			t.Fatal(err)
		}
		rep := &Report{Panels: []*Panel{{Format: map[string]string{"v": FormatMoney}}}}
		UseCurrency([]*Report{rep}, cur)
		if got := Display(c.v, rep.Panels[0].Format["v"]); got != c.want {
			t.Errorf("%s %v = %q, want %q", c.code, c.v, got, c.want)
		}
	}
	if got := Display(int64(4200), FormatMoney); got != "$42.00" {
		t.Errorf("money with no configured currency = %q, want USD", got)
	}
	if _, err := ParseCurrency("DOLLARS"); err == nil || !strings.Contains(err.Error(), "ISO 4217") {
		t.Errorf("bad code: %v", err)
	}
}
