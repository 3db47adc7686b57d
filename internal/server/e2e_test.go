package server

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/schedule"
)

// chromium finds Debian's chromium. Without it the browser test skips,
// except under CI=true, where it must run.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; CI must install it (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium)")
	return ""
}

// shotsFixture is the larger fleet the pictures show, built once.
var (
	shotsOnce sync.Once
	shotsFx   *fixture
	shotsErr  error
)

// browserFixture is the shared fixture, or with ATTACHE_SCREENSHOTS=1 a
// year of a larger fleet with the shipped reports only.
func browserFixture(t *testing.T) (fx *fixture, shots bool) {
	t.Helper()
	if os.Getenv("ATTACHE_SCREENSHOTS") != "1" {
		return sharedFixture(t), false
	}
	shotsOnce.Do(func() {
		shotsFx, shotsErr = newFixture(160, 365, false, time.Now().UTC())
		if shotsErr != nil {
			return
		}
		var shipped []*report.Report
		for _, r := range shotsFx.reports {
			if r.Name != "broken" && r.Name != "xss" {
				shipped = append(shipped, r)
			}
		}
		shotsFx.reports = shipped
	})
	if shotsErr != nil {
		t.Fatal(shotsErr)
	}
	return shotsFx, true
}

// TestBrowserSignInAndCharts signs in through the form in a real browser,
// opens a report and waits for its charts to be drawn. With
// ATTACHE_SCREENSHOTS=1 it also writes docs/screenshot-growth.png,
// -retention.png and -revenue.png from a larger fleet.
func TestBrowserSignInAndCharts(t *testing.T) {
	chromium(t)
	fx, shots := browserFixture(t)
	s := newServer(t, fx, nil)
	ctx, base, problems := browse(t, s)

	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/reports/growth"),
		// Sent to the sign-in form, which returns to the report.
		chromedp.WaitVisible(chromedp.CSS(`input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "ana"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), anaPW),
		chromedp.Submit(chromedp.CSS(`form[action="/login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#panel-active_tenants`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.HasSuffix(loc, "/reports/growth") {
		t.Fatalf("after sign-in at %q (%v), want the report", loc, err)
	}
	// Every chart container gets a canvas with a real size.
	drawn, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => {
		const boxes = document.querySelectorAll('[data-chart]');
		if (boxes.length < 4) return false;
		for (const b of boxes) {
			const c = b.querySelector('canvas');
			if (!c || c.width === 0 || c.height === 0 || b.getAttribute('data-drawn') !== 'true') return false;
		}
		return true;
	})()`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil || !drawn {
		t.Fatalf("charts not drawn: %v", err)
	}
	count, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-chart] canvas').length`))
	if err != nil || count < 4 {
		t.Fatalf("%d chart canvases (%v)", count, err)
	}
	if shots {
		// Let the entry animation finish before the picture.
		time.Sleep(1500 * time.Millisecond)
		screenshot(t, ctx, "screenshot-growth.png")
		for _, name := range []string{"retention", "revenue"} {
			if report.Find(fx.reports, name) == nil {
				continue
			}
			if err := chromedp.Do(ctx, chromedp.Navigate(base+"/reports/"+name), chromedp.WaitVisible(chromedp.CSS(`.panels`))); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond)
			screenshot(t, ctx, "screenshot-"+name+".png")
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/reports/growth")); err != nil {
			t.Fatal(err)
		}
	}
	// A chart's tooltip shows (drawn on the canvas, so the strict CSP has
	// no inline style to refuse; a refusal would be reported below).
	err = chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		const el = document.querySelector('[data-chart="opt-active_tenants"]');
		echarts.getInstanceByDom(el).dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 10});
	})()`))
	if err != nil {
		t.Errorf("show a tooltip: %v", err)
	}
	for _, p := range problems() {
		t.Errorf("browser reported: %s", p)
	}
}

// TestBrowserSchedulesAndDigestPreview signs in as an admin, starts a job
// from /runs, and opens a digest's preview, whose email in a sandboxed
// srcdoc frame must render under the page's policy. With
// ATTACHE_SCREENSHOTS=1 it writes docs/screenshot-runs.png and
// docs/screenshot-overview.png.
func TestBrowserSchedulesAndDigestPreview(t *testing.T) {
	chromium(t)
	fx, shots := browserFixture(t)
	if !shots {
		// Starting a job writes a run: not on the shared fixture.
		var err error
		if fx, err = newFixture(12, 60, true, fixedNow); err != nil {
			t.Fatal(err)
		}
	}
	var sched *schedule.Scheduler
	s := newServerDeps(t, fx, func(cfg *config.Config) {
		cfg.Jobs = []config.Job{
			{Name: "hourly", Schedule: "@hourly", Queries: []string{"active", "activity"}},
			{Name: "nightly", Schedule: "30 2 * * *"},
		}
		cfg.Digests = []config.Digest{{Name: "weekly-founders", Schedule: "0 8 * * MON", Report: "growth", To: []string{"founders@example.com"}, Subject: "Weekly growth — {{.Date}}"}}
		cfg.SMTP = config.SMTP{Host: "localhost", Port: 587, From: "attache <reports@example.com>", TLS: "starttls"}
	}, func(cfg *config.Config, d *Deps) {
		never := func(context.Context, config.Digest) error { return errors.New("this test sends no mail") }
		withScheduler(t, fx, &sched, never)(cfg, d)
		withPreview(fx)(cfg, d)
	})
	ctx, base, problems := browse(t, s)
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/runs"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "fay"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), fayPW),
		chromedp.Submit(chromedp.CSS(`form[action="/login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#jobs`)),
		// Run now, through the page's own form and its CSRF token.
		chromedp.Click(chromedp.CSS(`form[action="/jobs/hourly/run"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`.alert.ok`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the hourly job to finish", func() bool {
		st := jobStatus(t, sched, "hourly")
		return !st.Running && st.LastStatus == "ok"
	})
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/runs"), chromedp.WaitVisible(chromedp.CSS(`#jobs`))); err != nil {
		t.Fatal(err)
	}
	if shots {
		screenshot(t, ctx, "screenshot-runs.png")
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`.tiles`))); err != nil {
			t.Fatal(err)
		}
		screenshot(t, ctx, "screenshot-overview.png")
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/digests/weekly-founders/preview"),
		chromedp.WaitVisible(chromedp.CSS(`iframe.mail`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	// The frame is sandboxed (its own origin), so the page cannot look
	// inside; its load event says the srcdoc was not refused.
	loaded, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => {
		const f = document.querySelector('iframe.mail');
		return !!f && f.hasAttribute('sandbox') && f.getAttribute('sandbox') === '' && f.srcdoc.startsWith('<!DOCTYPE html>');
	})()`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || !loaded {
		t.Fatalf("preview frame: %v", err)
	}
	if out := os.Getenv("ATTACHE_PREVIEW_SHOT"); out != "" {
		time.Sleep(500 * time.Millisecond)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(out, png, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range problems() {
		t.Errorf("browser reported: %s", p)
	}
}

// browse serves s on a loopback port for the test and opens a headless
// chromium on it. problems returns what the pages reported as errors (a
// CSP violation, a script error) so far.
func browse(t *testing.T, s *Server) (ctx context.Context, base string, problems func() []string) {
	t.Helper()
	bin := chromium(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stop := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(srvCtx, ln) }()
	t.Cleanup(func() {
		stop()
		<-served
	})
	base = "http://" + ln.Addr().String()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)

	// Collect the page's errors: a CSP violation or a script error fails the test.
	var mu sync.Mutex
	var seen []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError {
				seen = append(seen, e.Entry.Text)
			}
		case *runtime.EventExceptionThrown:
			seen = append(seen, e.ExceptionDetails.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
	enableLog := chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
		return chromedp.Void{}, err
	})
	if err := chromedp.Do(ctx, enableLog); err != nil {
		t.Fatal(err)
	}
	return ctx, base, func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, p := range seen {
			if !strings.Contains(p, "favicon") {
				out = append(out, p)
			}
		}
		return out
	}
}

// screenshot writes the whole page to docs/NAME.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join("..", "..", "docs", name)
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", out, len(png))
}
