package server

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/digest"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/schedule"
)

// withPreview gives the server digest previews, the way serve does.
func withPreview(fx *fixture) func(*config.Config, *Deps) {
	return func(cfg *config.Config, d *Deps) {
		deps := digest.Deps{Metrics: fx.mdb, Panels: fx.panels, Reports: fx.reports}
		d.PreviewDigest = func(ctx context.Context, name string) (*digest.Message, error) {
			dg, err := digest.Find(cfg, name)
			if err != nil {
				return nil, err
			}
			return digest.Render(ctx, cfg, dg, deps)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// testDigests: names quotes the hostile tenant; usage-all wants every
// tenant, and the hostile one failed a query usage reads, so it is held.
func testDigests(cfg *config.Config) {
	cfg.Digests = []config.Digest{
		{Name: "names", Schedule: "0 8 * * MON", Report: "xss", To: []string{"founders@example.com"}, Subject: "Names — {{.Date}}"},
		{Name: "usage-all", Schedule: "0 8 * * *", Report: "usage", To: []string{"a@example.com", "b@example.com"}, MinCoverage: ptr(1.0)},
	}
	cfg.SMTP = config.SMTP{Host: "127.0.0.1", Port: 1, From: "attache <reports@example.com>", TLS: "none"}
}

func TestDigestPreview(t *testing.T) {
	fx := sharedFixture(t)
	s := newServerDeps(t, fx, testDigests, withPreview(fx))
	admin := newClient(t, s)
	admin.signIn("fay", fayPW)

	rec := admin.get("/digests/names/preview")
	if rec.Code != http.StatusOK {
		t.Fatalf("preview: %d %s", rec.Code, rec.Body.String())
	}
	page := rec.Body.String()
	for _, want := range []string{
		"<strong>Names — ", // the subject, rendered
		`<iframe class="mail" sandbox title="The digest email, HTML part" srcdoc="&lt;!DOCTYPE html&gt;`,
		// The tenant called </script><script>...: escaped by the email's
		// template, then again into srcdoc, so it is text inside the frame.
		"&amp;lt;/script&amp;gt;&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;",
		// ... and escaped once in the plain-text part (which cuts it short).
		"\n  &lt;/script&gt;&lt;script&gt;alert(1)",
		`<pre class="card mail-text">`, `action="/jobs/names/run"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("preview lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>alert(1)") || strings.Contains(page, "would be held back") {
		t.Errorf("preview has raw markup from tenant data, or a hold it should not")
	}
	if csp := rec.Header().Get("Content-Security-Policy"); csp != previewCSP || strings.Contains(csp, "script-src 'self' 'unsafe") {
		t.Errorf("preview CSP: %q", csp)
	}

	// A digest that would be held says why, as a warning.
	page = admin.get("/digests/usage-all/preview").Body.String()
	if !strings.Contains(page, "This digest would be held back") || !strings.Contains(page, "coverage") || !strings.Contains(page, "below 100%") {
		t.Errorf("held preview does not say why")
	}

	if rec := admin.get("/digests/nope/preview"); rec.Code != http.StatusNotFound {
		t.Errorf("unknown digest: %d", rec.Code)
	}
	viewer := newClient(t, s)
	viewer.signIn("ana", anaPW)
	if rec := viewer.get("/digests/names/preview"); rec.Code != http.StatusForbidden {
		t.Errorf("viewer preview: %d", rec.Code)
	}
}

// TestDigestProblemsOnTheOverview sends two digests through the scheduler
// and digest.Send: one held for coverage, one to a mail server that is not
// there. Both show on the overview with their reasons: an email never
// disappears silently.
func TestDigestProblemsOnTheOverview(t *testing.T) {
	fx, err := newFixture(3, 30, true, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var sched *schedule.Scheduler
	var cfgUsed *config.Config
	send := func(ctx context.Context, d config.Digest) error {
		_, err := digest.Send(ctx, cfgUsed, d, digest.Deps{Metrics: fx.mdb, Panels: fx.panels, Reports: fx.reports, Attempts: 1, Backoff: time.Millisecond, Timeout: 5 * time.Second})
		return err
	}
	s := newServerDeps(t, fx, func(cfg *config.Config) {
		testDigests(cfg)
		cfg.SMTP.Port = closedPort
		cfgUsed = cfg
	}, func(cfg *config.Config, d *Deps) {
		withScheduler(t, fx, &sched, send)(cfg, d)
		withPreview(fx)(cfg, d)
	})
	admin := newClient(t, s)
	admin.signIn("fay", fayPW)
	page := admin.get("/runs").Body.String()
	for _, want := range []string{`action="/jobs/names/run"`, ">Send now</button>", `href="/digests/names/preview"`, `href="/digests/usage-all/preview"`} {
		if !strings.Contains(page, want) {
			t.Errorf("/runs lacks %q", want)
		}
	}
	for _, name := range []string{"usage-all", "names"} {
		rec := admin.post("/jobs/"+name+"/run", nil)
		if loc := rec.Header().Get("Location"); loc != "/runs?notice=sending" {
			t.Fatalf("Send now %s: %d to %q %s", name, rec.Code, loc, rec.Body.String())
		}
		waitFor(t, "digest "+name+" to end", func() bool {
			st := jobStatus(t, sched, name)
			return !st.Running && st.LastStatus != ""
		})
	}
	if st := jobStatus(t, sched, "usage-all"); st.LastStatus != metrics.OutcomeHeld {
		t.Errorf("usage-all: %+v", st)
	}
	if st := jobStatus(t, sched, "names"); st.LastStatus != metrics.OutcomeFailed {
		t.Errorf("names: %+v", st)
	}

	// Digests that did not go out are operations: on the admin's overview,
	// not the viewer's.
	viewer := newClient(t, s)
	viewer.signIn("ana", anaPW)
	if page = viewer.get("/").Body.String(); strings.Contains(page, "Digests that did not go out") {
		t.Errorf("a viewer's overview shows digest failures")
	}
	page = admin.get("/").Body.String()
	for _, want := range []string{
		"Digests that did not go out",
		`<span class="status s-held">held</span>`, "held: coverage", "below 100%",
		`<span class="status s-failed">failed</span>`, "127.0.0.1:" + itoa(int64(closedPort)),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	// /runs shows the same outcomes per digest.
	page = admin.get("/runs").Body.String()
	if !strings.Contains(page, `<span class="status s-held">held</span>`) || !strings.Contains(page, `<span class="status s-failed">failed</span>`) {
		t.Errorf("/runs lacks the digests' outcomes")
	}
}
