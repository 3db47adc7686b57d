package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/schedule"
)

// overflowJS lists what sticks out past the right edge of the window: the
// page itself scrolling sideways, and any element whose box ends past the
// edge outside a container made to scroll (a wide table scrolls inside its
// card; that is fine, the page must not).
const overflowJS = `(() => {
	const w = document.documentElement.clientWidth;
	const out = [];
	const sw = document.documentElement.scrollWidth;
	if (sw > w) out.push('the page is ' + sw + ' px wide');
	for (const el of document.querySelectorAll('body *')) {
		const r = el.getBoundingClientRect();
		if (r.width === 0 || r.right <= w + 1) continue;
		if (el.closest('.scroll, .chart, .mail-text, iframe')) continue;
		const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (typeof el.className === 'string' && el.className ? '.' + el.className.trim().replace(/\s+/g, '.') : '');
		out.push(name + ' ends at ' + Math.round(r.right) + ' px: "' + (el.textContent || '').trim().slice(0, 40) + '"');
		if (out.length >= 8) break;
	}
	return out;
})()`

// TestBrowserNothingOverflowsAPhone opens every page an admin can reach in
// a 390 px wide window (a phone) and fails on anything that makes the page
// scroll sideways. The fixture's tenants carry long hostile names.
func TestBrowserNothingOverflowsAPhone(t *testing.T) {
	chromium(t)
	fx := sharedFixture(t)
	s := newServerDeps(t, fx, func(cfg *config.Config) {
		cfg.Jobs = []config.Job{{Name: "hourly", Schedule: "@hourly"}}
		cfg.Digests = []config.Digest{{Name: "weekly-founders", Schedule: "0 8 * * MON", Report: "growth", To: []string{"founders@example.com"}, Subject: "Weekly growth — {{.Date}}"}}
		cfg.SMTP = config.SMTP{Host: "localhost", Port: 587, From: "attache <reports@example.com>", TLS: "starttls"}
	}, func(cfg *config.Config, d *Deps) {
		never := func(context.Context, config.Digest) error { return errors.New("this test sends no mail") }
		var sched *schedule.Scheduler
		withScheduler(t, fx, &sched, never)(cfg, d)
		withPreview(fx)(cfg, d)
	})
	ctx, base, problems := browse(t, s)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	// The sign-in page first, then signed in as an admin.
	pages := []string{"/login"}
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="name"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	check := func(path string) {
		t.Helper()
		if path != "/login" {
			if err := chromedp.Do(ctx, chromedp.Navigate(base+path), chromedp.WaitReady(chromedp.CSS(`footer`))); err != nil {
				t.Errorf("%s: %v", path, err)
				return
			}
		}
		// Charts draw after load and take their size then: on a busy
		// machine that can take a while, so what overflows is asked again
		// until it settles; an overflow that lasts 5 s is a real one.
		var over []string
		for deadline := time.Now().Add(5 * time.Second); ; {
			time.Sleep(300 * time.Millisecond)
			var err error
			if over, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](overflowJS)); err != nil {
				t.Errorf("%s: %v", path, err)
				return
			}
			if len(over) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(over) > 0 {
			t.Errorf("%s overflows a 390 px window:\n  %s", path, strings.Join(over, "\n  "))
		}
	}
	check("/login")
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "fay"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), fayPW),
		chromedp.Submit(chromedp.CSS(`form[action="/login"]`)),
		// Signed in: the login page has a <main> too, and navigating
		// before its form's own navigation lands aborted one of the two.
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	pages = []string{"/", "/tenants", "/tenants?sort=error", "/runs", "/query", "/shares", "/audit", "/digests/weekly-founders/preview", "/reports/nosuch"}
	for _, r := range s.reports {
		pages = append(pages, "/reports/"+r.Name)
	}
	// A run's page and a tenant's page, found through the lists.
	for _, list := range []struct{ page, link string }{{"/runs", `a[href^="/runs/"]`}, {"/tenants?sort=error", `a[href^="/tenants/"]`}} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+list.page), chromedp.WaitReady(chromedp.CSS(`footer`))); err != nil {
			t.Fatal(err)
		}
		href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('`+list.link+`') || {getAttribute: () => ''}).getAttribute('href')`))
		if err != nil || href == "" {
			t.Fatalf("no link %s on %s: %v", list.link, list.page, err)
		}
		pages = append(pages, href)
	}
	for _, p := range pages {
		check(p)
	}
	for _, p := range problems() {
		if !strings.Contains(p, "404") {
			t.Errorf("browser reported: %s", p)
		}
	}
}
