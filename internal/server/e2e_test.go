package server

import (
	"context"
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

	"github.com/attache/attache/internal/report"
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

// TestBrowserSignInAndCharts signs in through the form in a real browser,
// opens a report and waits for its charts to be drawn. With
// ATTACHE_SCREENSHOTS=1 it also writes docs/screenshot-report.png and
// docs/screenshot-overview.png from a larger fleet.
func TestBrowserSignInAndCharts(t *testing.T) {
	bin := chromium(t)
	shots := os.Getenv("ATTACHE_SCREENSHOTS") == "1"
	fx := sharedFixture(t)
	if shots {
		var err error
		if fx, err = newFixture(160, 365, false, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		// The pictures show the shipped reports only.
		var shipped []*report.Report
		for _, r := range fx.reports {
			if r.Name != "broken" && r.Name != "xss" {
				shipped = append(shipped, r)
			}
		}
		fx.reports = shipped
	}
	s := newServer(t, fx, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stop := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(srvCtx, ln) }()
	defer func() {
		stop()
		<-served
	}()
	base := "http://" + ln.Addr().String()

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
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	// Collect the page's errors: a CSP violation or a script error fails the test.
	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError {
				problems = append(problems, e.Entry.Text)
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, e.ExceptionDetails.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
	enableLog := chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
		return chromedp.Void{}, err
	})

	err = chromedp.Do(ctx,
		enableLog,
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
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join("..", "..", "docs", "screenshot-report.png")
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", out, len(png))
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
	if shots {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`.tiles`))); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join("..", "..", "docs", "screenshot-overview.png")
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		if !strings.Contains(p, "favicon") {
			t.Errorf("browser reported: %s", p)
		}
	}
}
