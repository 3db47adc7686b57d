package rollup

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Issue 14: every way SQLite reads the clock is found in what SQLite will
// run, so an unchanged tenant is read again in the next period instead of
// carrying a number a fresh read would not give.
func TestEveryClockFormIsReadAgainNextPeriod(t *testing.T) {
	forms := map[string]string{
		"now_literal":      "SELECT count(*) AS n FROM tenant.t WHERE day <= date('now')",
		"now_upper":        "SELECT count(*) AS n FROM tenant.t WHERE day <= date('NOW', '+1 day')",
		"current_date":     "SELECT count(*) AS n FROM tenant.t WHERE day <= CURRENT_DATE",
		"current_time":     "SELECT count(*) AS n, CURRENT_TIME AS at FROM tenant.t",
		"current_stamp":    "SELECT count(*) AS n FROM tenant.t WHERE day <= CURRENT_TIMESTAMP",
		"date_noarg":       "SELECT count(*) AS n FROM tenant.t WHERE day <= date()",
		"time_noarg":       "SELECT count(*) AS n, time() AS at FROM tenant.t",
		"datetime_noarg":   "SELECT count(*) AS n FROM tenant.t WHERE day <= datetime()",
		"julianday_noarg":  "SELECT count(*) AS n FROM tenant.t WHERE julianday(day) <= julianday()",
		"unixepoch_noarg":  "SELECT count(*) AS n FROM tenant.t WHERE secs > unixepoch() - 7*86400",
		"strftime_format":  "SELECT count(*) AS n FROM tenant.t WHERE substr(day, 1, 7) = strftime('%Y-%m')",
		"strftime_colfmt":  "SELECT count(*) AS n FROM tenant.t WHERE strftime(fmt) > ''",
		"random":           "SELECT count(*) AS n FROM tenant.t WHERE random() > 0",
		"view_reads_now":   "SELECT count(*) AS n FROM tenant.recent",
		"header_clock_yes": "-- clock: yes\nSELECT count(*) AS n FROM tenant.t",
	}
	plain := map[string]string{
		"plain":            "SELECT count(*) AS n FROM tenant.t",
		"date_of_column":   "SELECT count(*) AS n, max(date(day, '+1 day')) AS d, max(julianday(day)) AS j FROM tenant.t",
		"strftime_column":  "SELECT strftime('%Y-%m', day) AS m, count(*) AS n FROM tenant.t GROUP BY 1",
		"strftime_const2":  "SELECT strftime('%Y', '2026-01-01') AS y, count(*) AS n FROM tenant.t",
		"unixepoch_column": "SELECT max(unixepoch(day)) AS s FROM tenant.t",
	}
	all := map[string]string{}
	for k, v := range forms {
		all[k] = v
	}
	for k, v := range plain {
		all[k] = v
	}
	e := setup(t, all)
	makeTenant(t, filepath.Join(e.dir, "a.db"),
		"CREATE TABLE tenant.t (day TEXT, secs INTEGER, fmt TEXT)",
		"INSERT INTO tenant.t VALUES (date('now', '-3 days'), unixepoch() - 3*86400, '%Y')",
		"CREATE VIEW tenant.recent AS SELECT * FROM t WHERE day >= date('now', '-30 days')")

	qs, broken, err := LoadQueries(e.cfg, nil)
	if err != nil || len(broken) > 0 {
		t.Fatal(err, broken)
	}
	rep, err := Check(t.Context(), e.cfg, nil, qs, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range rep.Queries {
		_, isClock := forms[q.Name]
		if q.DependsOnTime() != isClock {
			t.Errorf("%s: reads the clock = %v %q, want %v", q.Name, q.DependsOnTime(), q.ReadsClock, isClock)
		}
	}

	day := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for name := range all {
		opt := func(at time.Time) Options {
			return Options{Queries: []string{name}, Now: func() time.Time { return at }}
		}
		e.run(t, opt(day))
		if sum := e.run(t, opt(day.Add(time.Hour))); sum.Read != 0 {
			t.Errorf("%s: same period, unchanged tenant read %d times, want 0", name, sum.Read)
		}
		sum := e.run(t, opt(day.Add(24*time.Hour)))
		if _, isClock := forms[name]; isClock && sum.Read != 1 {
			t.Errorf("%s reads the clock: next period read %d, want 1", name, sum.Read)
		} else if !isClock && sum.Unchanged != 1 {
			t.Errorf("%s: next period carried %d, want 1 (its answer depends on data alone)", name, sum.Unchanged)
		}
	}
}

// A carried number must be the one a fresh read gives: a "last 3 seconds"
// count reads 1, then, with the tenant unchanged and the period over, 0.
func TestClockQueryGivesTheFreshValueNextPeriod(t *testing.T) {
	e := setup(t, map[string]string{"last3s": "-- grain: hour\nSELECT count(*) AS n FROM tenant.t WHERE secs > unixepoch() - 3"})
	makeTenant(t, filepath.Join(e.dir, "a.db"), "CREATE TABLE tenant.t (secs INTEGER)", "INSERT INTO tenant.t VALUES (unixepoch())")
	hour := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	e.run(t, Options{Now: func() time.Time { return hour }})
	if got := e.rows(t, "SELECT n FROM rollup_last3s"); got[0][0] != int64(1) {
		t.Skip("the first run came more than 3 s after the row was written (a loaded machine); nothing to compare")
	}
	time.Sleep(3500 * time.Millisecond)
	e.run(t, Options{Now: func() time.Time { return hour.Add(time.Hour) }})
	got := e.rows(t, "SELECT bucket, n FROM rollup_last3s ORDER BY bucket")
	want := [][]any{{"2026-11-22T10", int64(1)}, {"2026-11-22T11", int64(0)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rows %v, want %v: the second hour must hold a fresh read", got, want)
	}
}

// attache check says which queries read the clock and why.
func TestCheckSaysWhichQueriesReadTheClock(t *testing.T) {
	e := setup(t, map[string]string{"recent": "SELECT count(*) AS n FROM tenant.t WHERE secs > unixepoch() - 86400"})
	makeTenant(t, filepath.Join(e.dir, "a.db"), "CREATE TABLE tenant.t (secs INTEGER)")
	qs, _, _ := LoadQueries(e.cfg, nil)
	rep, err := Check(t.Context(), e.cfg, nil, qs, nil, nil, nil)
	if err != nil || len(rep.Queries) != 1 || strings.Join(rep.Queries[0].ReadsClock, ";") != "calls unixepoch() with no time value" {
		t.Fatalf("check: %+v %v", rep, err)
	}
}

// copyFile copies src to dst and gives dst src's mtime, as cp -p does.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(src)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(dst, st.ModTime(), st.ModTime())
}

// Issue 14: a rollback-mode tenant changed in place with the same size and
// its mtime set back, then replaced by an older copy with the newer file's
// mtime, is read again each time: SQLite's file change counter says so.
func TestFingerprintSeesSameSizeChangesAndRestores(t *testing.T) {
	e := setup(t, map[string]string{"v": "SELECT v FROM tenant.t"})
	path := filepath.Join(e.dir, "a.db")
	makeTenant(t, path, "CREATE TABLE tenant.t (v INTEGER)", "INSERT INTO tenant.t VALUES (1)")
	backup := filepath.Join(t.TempDir(), "a.db")
	copyFile(t, path, backup)
	e.run(t, Options{})
	st, _ := os.Stat(path)

	makeTenant(t, path, "UPDATE tenant.t SET v = 2")
	os.Chtimes(path, st.ModTime(), st.ModTime())
	if now, _ := os.Stat(path); now.Size() != st.Size() || !now.ModTime().Equal(st.ModTime()) {
		t.Fatal("test setup: size and mtime must look unchanged")
	}
	if sum := e.run(t, Options{}); sum.Read != 1 {
		t.Fatalf("changed in place, same size and mtime: read %d, want 1", sum.Read)
	}
	if got := e.rows(t, "SELECT v FROM rollup_v"); got[0][0] != int64(2) {
		t.Fatalf("v = %v, want 2", got[0][0])
	}

	// A restore of the older copy, given the current file's mtime.
	copyFile(t, backup, path)
	os.Chtimes(path, st.ModTime(), st.ModTime())
	if sum := e.run(t, Options{}); sum.Read != 1 {
		t.Fatalf("older copy with the same size and mtime: read %d, want 1", sum.Read)
	}
	if got := e.rows(t, "SELECT v FROM rollup_v"); got[0][0] != int64(1) {
		t.Fatalf("v = %v, want 1 (the restored copy)", got[0][0])
	}
}

// Issue 14: in WAL mode, new frames written over an earlier generation's
// (after a checkpoint, the WAL restarts at its start with new salts) keep
// both files' sizes; with the mtimes set back, the salts still say so.
func TestFingerprintSeesAWALRestart(t *testing.T) {
	e := setup(t, map[string]string{"v": "SELECT sum(v) AS v FROM tenant.t"})
	path := filepath.Join(e.dir, "wal.db")
	makeTenant(t, path, "CREATE TABLE tenant.t (v INTEGER)", "INSERT INTO tenant.t VALUES (1)")
	ctx := t.Context()
	conn := liveWALApp(t, path)
	exec := func(s string) {
		t.Helper()
		rows, err := conn.QueryContext(ctx, s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		rows.Close()
	}
	for i := 0; i < 5; i++ {
		exec("INSERT INTO t VALUES (0)")
	}
	exec("PRAGMA wal_checkpoint(PASSIVE)")
	exec("UPDATE t SET v = 10 WHERE v = 1") // restarts the WAL at frame 0
	e.run(t, Options{})
	if got := e.rows(t, "SELECT v FROM rollup_v"); got[0][0] != int64(10) {
		t.Fatalf("v = %v, want 10", got[0][0])
	}
	db0, _ := os.Stat(path)
	wal0, _ := os.Stat(path + "-wal")

	exec("PRAGMA wal_checkpoint(PASSIVE)")
	exec("UPDATE t SET v = 20 WHERE v = 10") // a new generation over frame 0
	os.Chtimes(path, db0.ModTime(), db0.ModTime())
	os.Chtimes(path+"-wal", wal0.ModTime(), wal0.ModTime())
	db1, _ := os.Stat(path)
	wal1, _ := os.Stat(path + "-wal")
	if db1.Size() != db0.Size() || wal1.Size() != wal0.Size() {
		t.Fatalf("test setup: sizes changed (%d→%d, %d→%d)", db0.Size(), db1.Size(), wal0.Size(), wal1.Size())
	}
	if sum := e.run(t, Options{}); sum.Read != 1 {
		t.Fatalf("a WAL restart with the same sizes and mtimes: read %d, want 1", sum.Read)
	}
	if got := e.rows(t, "SELECT v FROM rollup_v"); got[0][0] != int64(20) {
		t.Fatalf("v = %v, want 20", got[0][0])
	}
}

// A tenant whose latest answer is no rows carries no rows: an older
// period's rows are not its answer any more (found by the month test).
func TestAnEmptyAnswerIsCarriedAsEmpty(t *testing.T) {
	e := setup(t, map[string]string{"open": "SELECT title FROM tenant.todos WHERE done = 0"})
	todoTenant(t, e.dir, "a", 1) // one open todo
	day := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	at := func(d int) Options {
		return Options{Now: func() time.Time { return day.Add(time.Duration(d) * 24 * time.Hour) }}
	}
	e.run(t, at(0))
	makeTenant(t, filepath.Join(e.dir, "a.db"), "UPDATE tenant.todos SET done = 1")
	e.run(t, at(1))
	if sum := e.run(t, at(2)); sum.Unchanged != 1 {
		t.Fatalf("day 2: %+v, want the tenant carried", sum)
	}
	got := e.rows(t, "SELECT bucket, count(*) FROM rollup_open GROUP BY bucket ORDER BY bucket")
	if want := [][]any{{"2026-11-20", int64(1)}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rows per day %v, want %v: days 21 and 22 have no open todos", got, want)
	}
}
