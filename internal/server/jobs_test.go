package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/schedule"
)

// withScheduler starts a scheduler on the server's config, hands it to the
// server and stops it at the end of the test. send sends digests (none
// are scheduled when nil).
func withScheduler(t testing.TB, fx *fixture, sched **schedule.Scheduler, send func(context.Context, config.Digest) error) func(*config.Config, *Deps) {
	return func(cfg *config.Config, d *Deps) {
		s := schedule.New(cfg, schedule.Deps{Metrics: fx.mdb, Log: testLogger(t), Send: send, DigestWait: -1})
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		d.Schedule, *sched = s, s
	}
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func jobStatus(t testing.TB, s *schedule.Scheduler, name string) schedule.JobStatus {
	t.Helper()
	for _, j := range s.Jobs() {
		if j.Name == name {
			return j
		}
	}
	t.Fatalf("no job %s", name)
	return schedule.JobStatus{}
}

// TestScheduledJobs: /runs lists the jobs with their next run in the
// config's timezone, a stale job is flagged on the overview and in
// /metrics, and an admin's Run now goes through the scheduler.
func TestScheduledJobs(t *testing.T) {
	fx, err := newFixture(3, 30, false, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	// The hourly job has failed since five hours ago: three ticks without a
	// success make it stale. Its error holds markup that must stay text.
	j, err := metrics.OpenJournal(fx.cfg.Metrics, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	err = j.AddJobEvent(t.Context(), metrics.JobEvent{Name: "hourly", Kind: metrics.KindJob, At: time.Now().Add(-5 * time.Hour), Via: schedule.ViaSchedule, Event: metrics.EventFailed, Detail: "boom " + xss})
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	var sched *schedule.Scheduler
	s := newServerDeps(t, fx, func(cfg *config.Config) {
		cfg.Location = berlin
		cfg.Jobs = []config.Job{
			// @every ticks an hour after the start: never during the test.
			{Name: "hourly", Schedule: "@every 1h"},
			{Name: "nightly", Schedule: "30 2 * * *", Queries: []string{"activity", "tenant_profile"}},
		}
	}, withScheduler(t, fx, &sched, nil))

	admin := newClient(t, s)
	admin.signIn("fay", fayPW)
	viewer := newClient(t, s)
	viewer.signIn("ana", anaPW)

	// /runs: every job with its schedule, next run (Berlin time), last
	// outcome and a Run now form.
	page := admin.get("/runs").Body.String()
	nightly := jobStatus(t, sched, "nightly")
	if nightly.Next.IsZero() || nightly.Stale {
		t.Fatalf("nightly: %+v", nightly)
	}
	for _, want := range []string{
		`<h2 id="jobs">Schedules</h2>`, "<strong>hourly</strong>", "<code>@every 1h</code>", "<code>30 2 * * *</code>",
		formatWhen(nightly.Next, berlin), "queries: activity, tenant_profile",
		`action="/jobs/hourly/run"`, `action="/jobs/nightly/run"`, `title="No success for more than three of its intervals">stale</span>`,
		"boom &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/runs lacks %q", want)
		}
	}
	if !strings.Contains(formatWhen(nightly.Next, berlin), "CE") {
		t.Errorf("next run not in the config's timezone: %s", formatWhen(nightly.Next, berlin))
	}
	if strings.Contains(page, "<script>alert(1)") {
		t.Errorf("a job's error reached /runs unescaped")
	}

	// The overview flags the stale job for everyone (the figures may be
	// old), and only that one; the schedules are for admins.
	page = viewer.get("/").Body.String()
	if !strings.Contains(page, "Job hourly has stopped succeeding.") || strings.Contains(page, "Job nightly has stopped") {
		t.Errorf("overview does not flag exactly the stale job")
	}
	if strings.Contains(page, "<h3>Schedules</h3>") {
		t.Errorf("a viewer's overview shows the schedules")
	}
	page = admin.get("/").Body.String()
	if !strings.Contains(page, "<h3>Schedules</h3>") || !strings.Contains(page, formatWhen(nightly.Next, berlin)) {
		t.Errorf("the admin's overview lacks the schedules with their next run")
	}
	// ... and so does /metrics, the dead-man's switch for alerting.
	metricsBody := viewer.get("/metrics").Body.String()
	for _, want := range []string{`attache_job_stale{kind="job",name="hourly"} 1`, `attache_job_stale{kind="job",name="nightly"} 0`, `attache_job_events_total{event="failed",kind="job",name="hourly"} 1`} {
		if !strings.Contains(metricsBody, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Run now: admins only, with a CSRF token, and only configured names.
	if rec := viewer.post("/jobs/nightly/run", nil); rec.Code != http.StatusForbidden {
		t.Errorf("viewer Run now: %d", rec.Code)
	}
	if rec := admin.do(http.MethodPost, "/jobs/nightly/run", url.Values{}); rec.Code != http.StatusForbidden {
		t.Errorf("Run now without a CSRF token: %d", rec.Code)
	}
	if rec := admin.post("/jobs/nope/run", nil); rec.Code != http.StatusNotFound {
		t.Errorf("Run now of an unknown job: %d", rec.Code)
	}
	// While another run holds the metrics DB, the admin hears so at once.
	unlock, err := metrics.Lock(fx.mdb.Path)
	if err != nil {
		t.Fatal(err)
	}
	rec := admin.post("/jobs/nightly/run", nil)
	unlock()
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || loc != "/runs?notice=busy" {
		t.Errorf("Run now during another run: %d to %q", rec.Code, loc)
	}

	rec = admin.post("/jobs/nightly/run", nil)
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || loc != "/runs?notice=started" {
		t.Fatalf("Run now: %d to %q: %s", rec.Code, loc, rec.Body.String())
	}
	var runID int64
	waitFor(t, "the nightly job to finish", func() bool {
		st := jobStatus(t, sched, "nightly")
		runID = st.LastRunID
		return !st.Running && st.LastStatus == "ok"
	})
	runs, err := fx.mdb.Runs(t.Context(), "nightly", 1)
	if err != nil || len(runs) != 1 || runs[0].ID != runID || !strings.Contains(runs[0].Queries, "activity") || strings.Contains(runs[0].Queries, "todo_counts") {
		t.Fatalf("nightly's run: %+v (%v)", runs, err)
	}
	events, err := fx.mdb.JobEvents(t.Context(), metrics.KindJob, "nightly", 5)
	if err != nil || len(events) != 1 || events[0].Via != schedule.ViaManual || events[0].Event != metrics.EventOK {
		t.Errorf("Run now was not recorded as a manual tick: %+v (%v)", events, err)
	}
	page = admin.get("/runs?notice=started").Body.String()
	if !strings.Contains(page, "Run started") || !strings.Contains(page, `<a href="/runs/`+itoa(runID)+`">run `+itoa(runID)+`</a>`) {
		t.Errorf("/runs does not link nightly's last run %d", runID)
	}
	// With a scheduler, the manual form is for ad-hoc runs; a job named
	// there still goes through the scheduler.
	if strings.Contains(page, `<select name="job">`) {
		t.Errorf("the manual form still offers configured jobs")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestNoScheduler: without a scheduler the pages work and show no jobs.
func TestNoScheduler(t *testing.T) {
	s := newServer(t, sharedFixture(t), func(cfg *config.Config) {
		cfg.Jobs = []config.Job{{Name: "hourly", Schedule: "@hourly"}}
	})
	admin := newClient(t, s)
	admin.signIn("fay", fayPW)
	for _, p := range []string{"/", "/runs", "/metrics"} {
		rec := admin.get(p)
		if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "Schedules</h2>") {
			t.Errorf("%s without a scheduler: %d", p, rec.Code)
		}
	}
	if rec := admin.post("/jobs/hourly/run", nil); rec.Code != http.StatusNotImplemented {
		t.Errorf("Run now without a scheduler: %d", rec.Code)
	}
}
