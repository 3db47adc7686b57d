package server

import (
	"context"
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
