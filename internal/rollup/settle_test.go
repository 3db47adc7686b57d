package rollup

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// A rerun judges settled files by their stat alone and reads no header;
// a tenant changed in place, or replaced by other content at the same size
// and mtime, still has its header read and is read again; after a run that
// read most tenants, headers are read while listing; a tenant read while
// unsettled is not read again for having settled since.
func TestSettledTenantsAreJudgedWithoutTheirHeader(t *testing.T) {
	e := setup(t, map[string]string{"todo_counts": todoCounts})
	for _, id := range []string{"a", "b", "c"} {
		todoTenant(t, e.dir, id, 4)
	}
	// The run's clock is an hour ahead: files written now are settled.
	at := time.Now().Add(time.Hour)
	var logs bytes.Buffer
	run := func(now time.Time) (*Summary, int) {
		t.Helper()
		logs.Reset()
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		sum := e.run(t, Options{Now: func() time.Time { return now }, Log: log})
		m := regexp.MustCompile(`msg="run planned".* headers_read=(\d+)`).FindSubmatch(logs.Bytes())
		if m == nil {
			t.Fatalf("no headers_read in the log:\n%s", logs.String())
		}
		n, _ := strconv.Atoi(string(m[1]))
		return sum, n
	}
	todos := func() [][]any {
		return e.rows(t, "SELECT tenant_id, todos, done FROM rollup_todo_counts WHERE bucket = ? ORDER BY tenant_id", at.UTC().Format("2006-01-02"))
	}

	if sum, _ := run(at); sum.OK != 3 {
		t.Fatalf("first run: %+v, want 3 read", sum)
	}
	if sum, headers := run(at.Add(time.Minute)); sum.Unchanged != 3 || headers != 0 {
		t.Fatalf("rerun: %+v with %d headers read; want 3 unchanged and no header read", sum, headers)
	}

	// b changes in place, as its app would.
	makeTenant(t, filepath.Join(e.dir, "b.db"), "INSERT INTO tenant.todos (title, done) VALUES ('new', 1)")
	// c is replaced by a copy of other content at the same size, with its
	// old mtime put back (cp -p, a restore).
	c := filepath.Join(e.dir, "c.db")
	st, err := os.Stat(c)
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	todoTenant(t, other, "c", 4)
	makeTenant(t, filepath.Join(other, "c.db"), "UPDATE tenant.todos SET done = 1")
	copyFile(t, filepath.Join(other, "c.db"), c)
	if err := os.Chtimes(c, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(c); st2.Size() != st.Size() || !st2.ModTime().Equal(st.ModTime()) {
		t.Fatalf("the copy changed size or mtime (%d, %v): the test would prove nothing", st2.Size(), st2.ModTime())
	}
	later := time.Now().Add(2 * time.Hour)
	if sum, headers := run(later); sum.OK != 2 || sum.Unchanged != 1 || headers != 2 {
		t.Fatalf("after b and c changed: %+v with %d headers read; want b and c read (their headers first), a unchanged", sum, headers)
	}
	at = later
	want := [][]any{{"a", int64(4), int64(2)}, {"b", int64(5), int64(3)}, {"c", int64(4), int64(4)}}
	if got := todos(); !reflect.DeepEqual(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}

	// That run read most of the fleet, so the next one reads headers as it
	// lists (a second pass for each tenant to read would cost more): a
	// tenant changed since is read, with no header left to read after.
	makeTenant(t, filepath.Join(e.dir, "a.db"), "INSERT INTO tenant.todos (title, done) VALUES ('new', 0)")
	if sum, headers := run(later.Add(time.Minute)); sum.OK != 1 || sum.Unchanged != 2 || headers != 0 {
		t.Fatalf("after a run that read most tenants: %+v with %d headers read after listing; want a read, 2 unchanged, 0", sum, headers)
	}

	// d is read while unsettled (the clock is now): the next, settled
	// run reads its header once, finds it as it was, and leaves it be.
	todoTenant(t, e.dir, "d", 1)
	if sum, _ := run(time.Now()); sum.OK != 1 || sum.Unchanged != 3 {
		t.Fatalf("d added: %+v, want d read and 3 unchanged", sum)
	}
	if sum, headers := run(time.Now().Add(3 * time.Hour)); sum.Unchanged != 4 || headers != 1 {
		t.Fatalf("d settled: %+v with %d headers read; want 4 unchanged, d's header read", sum, headers)
	}
}
