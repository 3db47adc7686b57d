package audit_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/metrics"
)

func open(t *testing.T) (*metrics.DB, context.Context) {
	t.Helper()
	ctx := context.Background()
	mdb, err := metrics.Open(ctx, filepath.Join(t.TempDir(), "metrics.db"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mdb.Close() })
	return mdb, ctx
}

func TestRecordListAppendOnlyPrune(t *testing.T) {
	mdb, ctx := open(t)
	db, err := audit.Open(mdb.Path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Second)
	old := now.Add(-500 * 24 * time.Hour)
	for _, e := range []audit.Entry{
		{At: old, Actor: "ann", Action: audit.SignIn, Remote: "10.0.0.1"},
		{At: now, Actor: "bob", Action: audit.SignInFailed, Remote: "10.0.0.2", Failed: true},
		{At: now, Actor: "ann", Action: audit.Query, Detail: "SELECT 1", Tenants: "all", Rows: 1},
		{Actor: "ann", Action: audit.ShareCreate, Target: "growth"},
	} {
		if err := audit.Record(ctx, db, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := audit.List(ctx, mdb.R, audit.Filter{Actor: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Action != audit.ShareCreate || got[1].Detail != "SELECT 1" || got[1].Rows != 1 || got[2].Remote != "10.0.0.1" {
		t.Fatalf("ann's entries, newest first: %+v", got)
	}
	if got[0].At.IsZero() || now.Sub(got[0].At) > time.Minute {
		t.Errorf("an entry without At gets now, got %v", got[0].At)
	}
	failed, _ := audit.List(ctx, mdb.R, audit.Filter{Action: "signin."})
	if len(failed) != 1 || !failed[0].Failed || failed[0].Actor != "bob" {
		t.Errorf("prefix filter signin.: %+v", failed)
	}

	// Append-only: no update, and no delete of young entries, even by hand.
	if _, err := db.ExecContext(ctx, "UPDATE audit SET actor = 'mallory'"); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("update of the audit trail: %v", err)
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM audit"); err == nil || !strings.Contains(err.Error(), "younger than a day") {
		t.Errorf("delete of the whole audit trail: %v", err)
	}
	if _, err := audit.Prune(ctx, db, time.Hour, now); err == nil {
		t.Error("a retention under a day must be refused")
	}
	n, err := audit.Prune(ctx, db, 400*24*time.Hour, now)
	if err != nil || n != 1 {
		t.Fatalf("prune at 400d: %d, %v", n, err)
	}
	all, _ := audit.List(ctx, mdb.R, audit.Filter{})
	if len(all) != 3 {
		t.Errorf("after pruning the 500-day-old entry, 3 remain; got %d", len(all))
	}
}
