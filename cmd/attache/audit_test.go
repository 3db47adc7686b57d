package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/metrics"
)

// `attache query`, `run` and `export` leave entries in the audit trail, as
// the dashboard's query page does.
func TestCLIActionsAreAudited(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	root := filepath.Join(wd, "..", "..")
	writeConfig(t, dir, "metrics: data/metrics.db\ntenants: {dir: data/tenants}\nqueries: "+filepath.Join(root, "queries")+"\nreports: "+filepath.Join(root, "reports")+"\n")
	runCLI(t, dir, "demo", "--tenants", "5", "--days", "30")
	runCLI(t, dir, "run")
	_, out, _ := runCLI(t, dir, "tenants")
	lines := strings.Split(out, "\n")
	if len(lines) < 2 {
		t.Fatalf("tenants: %s", out)
	}
	id := strings.Fields(lines[1])[0]
	for _, args := range [][]string{
		{"query", "--tenant", id, "SELECT count(*) AS n FROM tenant.todos"},
		{"query", "DELETE FROM tenant.todos"},
		{"export", "--out", filepath.Join(dir, "g.xlsx"), "growth"},
	} {
		runCLI(t, dir, args...)
	}
	mdb, err := metrics.Open(context.Background(), filepath.Join(dir, "data", "metrics.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer mdb.Close()
	entries, err := audit.List(context.Background(), mdb.R, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if !strings.HasPrefix(e.Actor, "cli") {
			t.Errorf("CLI entry by %q, want cli:LOGIN", e.Actor)
		}
		got = append(got, e.Action+" "+e.Target+" "+e.Tenants+" "+strings.SplitN(e.Detail, "\n", 2)[0])
	}
	want := []string{
		"run cli  full=false queries=[]",
		"query attache query " + id + " SELECT count(*) AS n FROM tenant.todos",
		"query attache query all DELETE FROM tenant.todos",
		"export growth.xlsx  to " + filepath.Join(dir, "g.xlsx"),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail of the CLI:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(entries) == 4 && (!entries[1].Failed || entries[2].Failed || entries[2].Rows != 1) {
		t.Errorf("query entries: refused one failed=%v, answered one failed=%v rows=%d", entries[1].Failed, entries[2].Failed, entries[2].Rows)
	}
}
