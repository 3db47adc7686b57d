package tursofleet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/replica"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/rollup"
	"github.com/attache/attache/internal/sqldtest"
)

func fixedClock() func() time.Time {
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	return func() time.Time { return at }
}

// TestRemoteFleetGivesTheLocalNumbers: 12 remote tenants and 3 local ones
// in one catalog on sqld give exactly what the same 15 tenants give as
// local files; rows written on a primary after a run appear in the next
// run, and untouched tenants are unchanged.
func TestRemoteFleetGivesTheLocalNumbers(t *testing.T) {
	f := newFleet(t, 12, 3, "")
	now := fixedClock()
	sum := f.run(rollup.Options{Now: now})
	if sum.Total != 15 || sum.OK != 15 || sum.Failed != 0 || sum.Stale != 0 {
		t.Fatalf("first run: %+v\nlog:\n%s", sum, f.log)
	}
	if got, want := rollups(t, f.mdb), f.localRun(now); got != want {
		t.Fatalf("remote fleet rollups differ from local files:\n--- remote\n%s\n--- local\n%s", got, want)
	}

	// Nothing changed anywhere: every tenant, remote or local, is unchanged.
	sum = f.run(rollup.Options{Now: now})
	if sum.Unchanged != 15 || sum.Read != 0 {
		t.Fatalf("rerun with nothing changed: %+v", sum)
	}

	// Rows written on one primary appear in the next run; only that tenant
	// is read.
	f.srv.Exec(t, "org-03", "INSERT INTO todos (title, done) VALUES ('written on the primary', 1), ('another', 1)")
	sum = f.run(rollup.Options{Now: now})
	if sum.Read != 1 || sum.Unchanged != 14 || sum.OK != 1 {
		t.Fatalf("after one primary write: %+v", sum)
	}
	var todos, done int64
	if err := f.mdb.R.QueryRow("SELECT todos, done FROM rollup_todo_counts WHERE tenant_id = 'org-03'").Scan(&todos, &done); err != nil {
		t.Fatal(err)
	}
	if want := int64(3 + 3%5 + 2); todos != want {
		t.Fatalf("org-03 todos = %d after the write, want %d", todos, want)
	}

	// The tenants table says where each lives, without any token.
	ts, err := f.mdb.Tenants(context.Background(), "id", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range ts {
		want := "remote"
		if tr.ID >= "org-12" {
			want = "local"
		}
		if tr.Kind != want || (want == "remote" && (tr.ReplicaBytes == 0 || tr.LastSyncAt.IsZero() || tr.SyncError != "" || !strings.HasPrefix(tr.Location, "http://127.0.0.1:"))) {
			t.Fatalf("tenant row %+v, want kind %s with a replica", tr, want)
		}
	}

	// A tenant the catalog stops listing loses its replica after the run.
	gone := replica.PathFor(f.cfg.Tenants.Replicas, "org-00")
	if _, err := os.Stat(gone); err != nil {
		t.Fatal(err)
	}
	f.catalog = f.catalog[1:]
	f.setCatalog()
	f.run(rollup.Options{Now: now})
	if left, _ := filepath.Glob(gone + "*"); len(left) != 0 {
		t.Fatalf("the unlisted tenant's replica files stay: %v", left)
	}
	if _, err := os.Stat(replica.PathFor(f.cfg.Tenants.Replicas, "org-01")); err != nil {
		t.Fatalf("a listed tenant's replica went: %v", err)
	}
	f.noSecrets()
}

// TestFailuresAreRecordedWhileTheRestComplete: a wrong token, a stopped
// server and a database deleted on the server are each recorded; tenants
// with an older replica count as stale, never fresh; the rest complete.
func TestFailuresAreRecordedWhileTheRestComplete(t *testing.T) {
	f := newFleet(t, 5, 1, "")
	// A second server for one tenant, stopped after the first run.
	away := sqldtest.Start(t)
	u := away.CreateDB(t, "org-away")
	away.Exec(t, "org-away", tenantSQL(7, "")...)
	awayTok := away.Token(true)
	// A tenant whose token (from the catalog's token column) the server
	// refuses, from the start: it never had a replica.
	badTok := sqldtest.ForeignToken()
	f.tokens = append(f.tokens, awayTok, badTok)
	bad := f.srv.CreateDB(t, "org-badtoken")
	f.srv.Exec(t, "org-badtoken", tenantSQL(8, "")...)
	f.catalog = append(f.catalog,
		fmt.Sprintf("('org-away', '%s', '%s')", u, awayTok),
		fmt.Sprintf("('org-badtoken', '%s', '%s')", bad, badTok))
	f.setCatalog()
	now := fixedClock()

	sum := f.run(rollup.Options{Now: now})
	if sum.Total != 8 || sum.OK != 7 || sum.Failed != 1 || sum.Stale != 0 {
		t.Fatalf("first run: %+v\n%s", sum, f.log)
	}
	before := rollupOf(t, f.mdb, "org-02")

	away.Stop()
	f.srv.DeleteDB(t, "org-02")
	f.srv.Exec(t, "org-01", "INSERT INTO todos (title) VALUES ('new on the primary')")
	sum = f.run(rollup.Options{Now: now})
	if sum.Total != 8 || sum.Stale != 2 || sum.Failed != 1 || sum.OK+sum.Unchanged != 5 || !strings.Contains(sum.String(), "2 stale") {
		t.Fatalf("second run: %+v %s", sum, sum)
	}
	errs := map[string]string{}
	for _, fe := range sum.Failures {
		errs[fe.TenantID] += fe.Query + ": " + fe.Error + "\n"
	}
	for id, want := range map[string]string{
		"org-away":     "(sync): sync from http://127.0.0.1",
		"org-02":       "does not exist on the server",
		"org-badtoken": "token is wrong",
	} {
		if !strings.Contains(errs[id], want) {
			t.Fatalf("%s: errors %q, want %q", id, errs[id], want)
		}
	}
	if !strings.Contains(errs["org-away"], "unreachable") {
		t.Fatalf("stopped server: %q", errs["org-away"])
	}
	if len(errs) != 3 {
		t.Fatalf("only the three broken tenants fail: %v", errs)
	}
	// The deleted database's last rows stay, carried as they were.
	if after := rollupOf(t, f.mdb, "org-02"); after != before {
		t.Fatalf("stale tenant's rows changed: %s -> %s", before, after)
	}
	var n int64
	f.mdb.R.QueryRow("SELECT todos FROM rollup_todo_counts WHERE tenant_id = 'org-01'").Scan(&n)
	if n != int64(3+1%5+1) {
		t.Fatalf("the rest completes: org-01 has %d todos", n)
	}
	// Recorded like every other failure, and coverage says stale.
	tr, err := f.mdb.Tenant(context.Background(), "org-02")
	if err != nil || tr == nil || !strings.Contains(tr.SyncError, "does not exist") || !strings.Contains(tr.LastError, "does not exist") {
		t.Fatalf("tenants row: %+v %v", tr, err)
	}
	fr, err := report.LoadFreshness(context.Background(), f.mdb, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if s := fr.String(); !strings.Contains(s, "5 of 8 tenants · 1 failed · 2 stale") {
		t.Fatalf("freshness: %s", s)
	}
	last, err := f.mdb.LastRun(context.Background())
	if err != nil || last.TenantsStale != 2 || last.TenantsTotal != 8 {
		t.Fatalf("runs row: %+v %v", last, err)
	}
	f.noSecrets()
}

func rollupOf(t *testing.T, mdb *metrics.DB, id string) string {
	t.Helper()
	var todos, done int64
	var bucket string
	if err := mdb.R.QueryRow("SELECT todos, done, bucket FROM rollup_todo_counts WHERE tenant_id = ? ORDER BY bucket DESC LIMIT 1", id).Scan(&todos, &done, &bucket); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return fmt.Sprint(todos, done, bucket)
}

// TestEncryptedReplicas: with replicas_encryption_key_env the replica files
// hold no plain text, and the numbers are the same.
func TestEncryptedReplicas(t *testing.T) {
	t.Setenv("ATTACHE_REPLICA_KEY", "a long random key for the replicas")
	f := newFleet(t, 3, 0, "  replicas_encryption_key_env: ATTACHE_REPLICA_KEY")
	f.tokens = append(f.tokens, "a long random key for the replicas")
	now := fixedClock()
	if sum := f.run(rollup.Options{Now: now}); sum.OK != 3 {
		t.Fatalf("%+v\n%s", sum, f.log)
	}
	if got, want := rollups(t, f.mdb), f.localRun(now); got != want {
		t.Fatalf("encrypted replicas give other numbers:\n%s\n%s", got, want)
	}
	files, _ := filepath.Glob(filepath.Join(f.cfg.Tenants.Replicas, "*"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "todo 1 of tenant") || strings.Contains(string(b), "CREATE TABLE") {
			t.Fatalf("plain text in %s", filepath.Base(p))
		}
	}
	f.noSecrets()
}

// noSecrets checks that no token or key reached the log, the metrics DB or
// the files beside the replicas.
func (f *fleet) noSecrets() {
	f.t.Helper()
	f.logMu.Lock()
	logText := f.log.String()
	f.logMu.Unlock()
	var hay []string
	hay = append(hay, logText)
	files, _ := filepath.Glob(f.cfg.Metrics + "*")
	more, _ := filepath.Glob(filepath.Join(f.cfg.Tenants.Replicas, "*.source"))
	for _, p := range append(files, more...) {
		b, err := os.ReadFile(p)
		if err == nil {
			hay = append(hay, string(b))
		}
	}
	for _, tok := range f.tokens {
		for i, h := range hay {
			if strings.Contains(h, tok) || strings.Contains(h, tok[len(tok)-20:]) {
				f.t.Fatalf("a secret appears in %d (log, metrics DB files, replica markers)", i)
			}
		}
	}
	if !strings.Contains(logText, "replicas synced") {
		f.t.Fatalf("the log is not the run's log:\n%s", logText)
	}
}
