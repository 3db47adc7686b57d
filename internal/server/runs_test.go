package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/metrics"
)

func TestAdminStartsARun(t *testing.T) {
	fx, err := newFixture(3, 60, false, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, fx, nil)
	admin := newClient(t, s)
	admin.signIn("fay", fayPW)
	page := admin.get("/runs").Body.String()
	if !strings.Contains(page, `action="/runs"`) {
		t.Fatalf("runs page has no start form")
	}
	viewer := newClient(t, s)
	viewer.signIn("ana", anaPW)
	if rec := viewer.post("/runs", nil); rec.Code != http.StatusForbidden {
		t.Errorf("viewer starting a run: %d", rec.Code)
	}
	if rec := admin.post("/runs", url.Values{"job": {"no-such-job"}}); rec.Code != http.StatusBadRequest {
		t.Errorf("unknown job: %d", rec.Code)
	}

	rec := admin.post("/runs", url.Values{"full": {"1"}})
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/runs?notice=") {
		t.Fatalf("start: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	s.runs.Wait()
	runs, err := fx.mdb.Runs(t.Context(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Job != "dashboard" || runs[0].Status != "ok" || !runs[0].Full || runs[0].TenantsOK != 3 {
		t.Fatalf("runs after starting one: %+v", runs)
	}
	// The report sees the new run at once: the panel cache follows the data.
	if body := admin.get("/reports/growth").Body.String(); !strings.Contains(body, "as of run 2") {
		t.Errorf("report still shows the old run")
	}

	// While another run holds the lock, the admin is told so.
	unlock, err := metrics.Lock(fx.mdb.Path)
	if err != nil {
		t.Fatal(err)
	}
	rec = admin.post("/runs", nil)
	unlock()
	if loc := rec.Header().Get("Location"); loc != "/runs?notice=busy" {
		t.Errorf("start during another run: %d to %q", rec.Code, loc)
	}
	s.runs.Wait()
	if body := admin.get("/runs?notice=busy").Body.String(); !strings.Contains(body, "Another run is in progress") {
		t.Errorf("busy notice missing")
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	s := newServer(t, sharedFixture(t), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz over TCP: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

// A run in progress shows how far it is on its page and on the overview:
// tenants done of total, the rate, the time left, and how fresh that is.
func TestRunningRunShowsItsProgress(t *testing.T) {
	fx, err := newFixture(3, 30, false, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, fx, nil)
	at := time.Now().Add(-2 * time.Second)
	res, err := fx.mdb.W.ExecContext(t.Context(), `INSERT INTO runs (job, started_at, status, progress_phase, progress_done, progress_total, progress_rate, progress_left_s, progress_at)
		VALUES ('manual', ?, 'running', 'reading', 45000, 100000, 850.4, 65, ?)`, metrics.Format(at.Add(-time.Minute)), metrics.Format(at))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	admin := newClient(t, s)
	admin.signIn("fay", fayPW)
	want := "Reading 45,000 of 100,000 tenants · 850/s · about 1m 05s left (as of "
	page := admin.get(fmt.Sprintf("/runs/%d", id)).Body.String()
	if !strings.Contains(page, want) {
		t.Fatalf("run page does not say %q:\n%s", want, page)
	}
	if page := admin.get("/").Body.String(); !strings.Contains(page, fmt.Sprintf("Run %d</a> is in progress: %s", id, want)) {
		t.Fatalf("overview does not show the run in progress:\n%s", page)
	}
	// A run whose coordinator went quiet says so.
	if _, err := fx.mdb.W.ExecContext(t.Context(), "UPDATE runs SET progress_at = ? WHERE id = ?", metrics.Format(time.Now().Add(-5*time.Minute)), id); err != nil {
		t.Fatal(err)
	}
	if page := admin.get(fmt.Sprintf("/runs/%d", id)).Body.String(); !strings.Contains(page, "its process may have stopped") {
		t.Fatalf("a silent run is not flagged:\n%s", page)
	}
}

// /tenants reads one page of the fleet from SQL, searched and counted
// there: 450 listed tenants are three pages, the last one holding 50.
func TestTenantsPageIsPagedInSQL(t *testing.T) {
	fx, err := newFixture(3, 30, false, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, fx, nil)
	if _, err := fx.mdb.W.ExecContext(t.Context(), `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 447)
		INSERT INTO tenants (id, location, first_seen, last_seen, last_error) SELECT printf('zz-%03d', i), 'x.db', '2026-01-01', '2026-01-01',
		CASE WHEN i % 100 = 0 THEN 'no such table: Deals' ELSE '' END FROM n`); err != nil {
		t.Fatal(err)
	}
	admin := newClient(t, s)
	admin.signIn("fay", fayPW)
	page := admin.get("/tenants?page=3").Body.String()
	if !strings.Contains(page, "450 tenants") || !strings.Contains(page, "Page 3 of 3") || strings.Count(page, `href="/tenants/zz-`) != 50 || !strings.Contains(page, "zz-447") {
		t.Fatalf("page 3 of 450 tenants is not the last 50:\n%s", page)
	}
	// Past the end shows the last page; the search runs in SQL, ignoring case.
	if page := admin.get("/tenants?page=9").Body.String(); !strings.Contains(page, "Page 3 of 3") {
		t.Fatalf("page 9 does not show the last page")
	}
	page = admin.get("/tenants?q=DEALS").Body.String()
	if !strings.Contains(page, "4 tenants") || strings.Count(page, `href="/tenants/zz-`) != 4 {
		t.Fatalf("search for an error finds the wrong tenants:\n%s", page)
	}
}
