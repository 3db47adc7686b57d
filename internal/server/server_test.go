package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/attache/attache/internal/report"
)

// TestRoutesByRole checks every route for an anonymous script, a viewer and
// an admin, signed in by form (session cookie) and by HTTP Basic.
func TestRoutesByRole(t *testing.T) {
	fx := sharedFixture(t)
	s := newServer(t, fx, nil)
	hostile := "/tenants/" + url.PathEscape(xss)
	type want struct{ anon, viewer, admin int }
	const (
		ok     = http.StatusOK
		seeOth = http.StatusSeeOther
		unauth = http.StatusUnauthorized
		forbid = http.StatusForbidden
		nf     = http.StatusNotFound
	)
	routes := []struct {
		method, path string
		form         url.Values
		want         want
	}{
		{"GET", "/healthz", nil, want{ok, ok, ok}},
		{"GET", "/static/style.css", nil, want{ok, ok, ok}},
		{"GET", "/static/echarts.min.js", nil, want{ok, ok, ok}},
		{"GET", "/login", nil, want{ok, seeOth, seeOth}},
		{"GET", "/", nil, want{unauth, ok, ok}},
		{"GET", "/reports/growth", nil, want{unauth, ok, ok}},
		{"GET", "/reports/fleet", nil, want{unauth, ok, ok}},
		{"GET", "/reports/growth.xlsx", nil, want{unauth, ok, ok}},
		{"GET", "/reports/growth/active_tenants.csv", nil, want{unauth, ok, ok}},
		{"GET", "/api/reports/growth", nil, want{unauth, ok, ok}},
		{"GET", "/metrics", nil, want{unauth, ok, ok}},
		{"GET", "/reports/nope", nil, want{unauth, nf, nf}},
		{"GET", "/reports/growth/nope.csv", nil, want{unauth, nf, nf}},
		{"GET", "/tenants", nil, want{unauth, forbid, ok}},
		{"GET", "/tenants?sort=size&q=a&page=1", nil, want{unauth, forbid, ok}},
		{"GET", hostile, nil, want{unauth, forbid, ok}},
		{"GET", "/tenants/no-such-tenant", nil, want{unauth, forbid, nf}},
		{"GET", "/runs", nil, want{unauth, forbid, ok}},
		{"GET", "/runs/1", nil, want{unauth, forbid, ok}},
		{"GET", "/runs/999", nil, want{unauth, forbid, nf}},
		{"GET", "/query", nil, want{unauth, forbid, ok}},
		{"POST", "/query", url.Values{"sql": {"SELECT count(*) AS todos FROM tenant.todos"}}, want{unauth, forbid, ok}},
		{"POST", "/query.csv", url.Values{"sql": {"SELECT count(*) AS todos FROM tenant.todos"}}, want{unauth, forbid, ok}},
		{"GET", "/no/such/page", nil, want{nf, nf, nf}},
	}
	type role struct {
		name string
		make func() *client
		pick func(want) int
	}
	roles := []role{
		{"anonymous", func() *client { return newClient(t, s) }, func(w want) int { return w.anon }},
		{"viewer form", func() *client { c := newClient(t, s); c.signIn("ana", anaPW); return c }, func(w want) int { return w.viewer }},
		{"admin form", func() *client { c := newClient(t, s); c.signIn("fay", fayPW); return c }, func(w want) int { return w.admin }},
		{"viewer basic", func() *client { c := newClient(t, s); c.basic = [2]string{"ana", anaPW}; return c }, func(w want) int { return w.viewer }},
		{"admin basic", func() *client { c := newClient(t, s); c.basic = [2]string{"fay", fayPW}; return c }, func(w want) int { return w.admin }},
	}
	for _, r := range roles {
		c := r.make()
		for _, rt := range routes {
			t.Run(r.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				c.t = t
				var rec = c.get(rt.path)
				if rt.method == http.MethodPost {
					form := url.Values{}
					for k, v := range rt.form {
						form[k] = v
					}
					rec = c.post(rt.path, form)
				}
				if got, want := rec.Code, r.pick(rt.want); got != want {
					t.Fatalf("status %d, want %d; body: %.300s", got, want, rec.Body.String())
				}
				if rec.Code == unauth && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic") {
					t.Errorf("401 without a Basic challenge")
				}
			})
		}
	}
}

func TestBrowserIsSentToSignIn(t *testing.T) {
	s := newServer(t, sharedFixture(t), nil)
	c := newClient(t, s)
	c.html = true
	rec := c.get("/reports/growth?x=1")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login?next="+url.QueryEscape("/reports/growth?x=1") {
		t.Fatalf("got %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	page := c.get("/login?next=/reports/growth").Body.String()
	if !strings.Contains(page, `name="next" value="/reports/growth"`) || !strings.Contains(page, `name="_csrf"`) {
		t.Fatalf("sign-in form lacks next or CSRF field:\n%s", page)
	}
	rec = c.post("/login", url.Values{"name": {"ana"}, "password": {anaPW}, "next": {"/reports/growth"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/reports/growth" {
		t.Fatalf("sign-in: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	ck := c.cookies[sessionCookie]
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.MaxAge <= 0 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, an expiry", ck)
	}
	if ck.Secure {
		t.Errorf("session cookie is Secure on plain http with an http base_url")
	}
	if rec := c.get("/reports/growth"); rec.Code != http.StatusOK {
		t.Fatalf("report after sign-in: %d", rec.Code)
	}
	// Viewers do not see admin links.
	if body := c.get("/").Body.String(); strings.Contains(body, `href="/tenants"`) {
		t.Errorf("viewer's overview links to /tenants")
	}
	// Signing out ends the session.
	if rec := c.post("/logout", nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("sign out: %d", rec.Code)
	}
	if rec := c.get("/reports/growth"); rec.Code != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d, want a redirect to sign in", rec.Code)
	}
}

func TestOpenRedirectRefused(t *testing.T) {
	for _, next := range []string{"//evil.example/", "/\\evil.example", "https://evil.example/", "javascript:alert(1)"} {
		if got := safeNext(next); got != "/" {
			t.Errorf("safeNext(%q) = %q, want /", next, got)
		}
	}
	if got := safeNext("/reports/growth?x=1"); got != "/reports/growth?x=1" {
		t.Errorf("a local path was not kept: %q", got)
	}
}

func TestReportPage(t *testing.T) {
	fx := sharedFixture(t)
	c := newClient(t, newServer(t, fx, nil))
	c.signIn("ana", anaPW)
	body := c.get("/reports/growth").Body.String()
	for _, want := range []string{
		"Active tenants per day", "as of run 1", "of 12 tenants", // freshness and coverage
		`href="/reports/growth.xlsx"`, `href="/reports/growth/active_tenants.csv"`,
		`data-chart="opt-active_tenants"`, `<script type="application/json" id="opt-active_tenants">`,
		"/static/echarts.min.js?v=", "/static/charts.js?v=",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("report page lacks %q", want)
		}
	}
	// Each chart's data block is JSON that ECharts can take.
	charts := 0
	for _, p := range report.Find(fx.reports, "growth").Panels {
		if !report.Charted(p.Chart) || strings.Contains(body, `id="panel-`+p.ID+`"`) && !strings.Contains(body, `data-chart="opt-`+p.ID+`"`) {
			continue // not a chart, or a chart with no rows yet
		}
		charts++
		opt := chartJSON(t, body, "opt-"+p.ID)
		if _, ok := opt["series"]; !ok {
			t.Errorf("chart %s has no series: %v", p.ID, opt)
		}
	}
	if charts < 3 {
		t.Errorf("only %d charts drawn", charts)
	}
	if strings.Contains(body, "This panel failed") {
		t.Errorf("a shipped panel failed on the demo fleet")
	}
	// No page loads anything from another host.
	for _, bad := range []string{"http://", "https://"} {
		if i := strings.Index(body, bad); i >= 0 {
			t.Errorf("report page refers to another host: %q", body[max(0, i-40):min(len(body), i+60)])
		}
	}
}

// chartJSON decodes the JSON data block with the given id from a page.
func chartJSON(t *testing.T, page, id string) map[string]any {
	t.Helper()
	open := `<script type="application/json" id="` + id + `">`
	i := strings.Index(page, open)
	if i < 0 {
		t.Fatalf("no data block %s", id)
	}
	rest := page[i+len(open):]
	j := strings.Index(rest, "</script>")
	var opt map[string]any
	if err := json.Unmarshal([]byte(rest[:j]), &opt); err != nil {
		t.Fatalf("data block %s is not JSON: %v\n%.500s", id, err, rest[:j])
	}
	return opt
}

func TestBrokenPanelShowsItsErrorInPlace(t *testing.T) {
	c := newClient(t, newServer(t, sharedFixture(t), nil))
	c.signIn("ana", anaPW)
	rec := c.get("/reports/broken")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	body := rec.Body.String()
	if !strings.Contains(body, "This panel failed") || !strings.Contains(body, "no such table: no_such_table") {
		t.Errorf("broken panel's error is not shown")
	}
	if !strings.Contains(body, `<p class="number" title="13">13</p>`) {
		t.Errorf("the working panel is not shown beside the broken one")
	}
	var api struct {
		Panels []struct {
			ID, Error string
			Rows      [][]any
		}
	}
	if err := json.Unmarshal(c.get("/api/reports/broken").Body.Bytes(), &api); err != nil {
		t.Fatal(err)
	}
	if len(api.Panels) != 2 || api.Panels[0].Error != "" || api.Panels[1].Error == "" || api.Panels[0].Rows[0][0] != float64(13) {
		t.Errorf("API: %+v", api.Panels)
	}
}

func TestReportJSON(t *testing.T) {
	c := newClient(t, newServer(t, sharedFixture(t), nil))
	c.basic = [2]string{"ana", anaPW}
	rec := c.get("/api/reports/growth")
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content type %q", ct)
	}
	var out struct {
		Name, Freshness string
		RunID           int64   `json:"run_id"`
		Coverage        float64 `json:"coverage"`
		Panels          []struct {
			ID      string
			Columns []string
			Rows    [][]any
			Error   string
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Name != "growth" || out.RunID != 1 || out.Coverage <= 0 || !strings.Contains(out.Freshness, "as of run 1") {
		t.Errorf("report header: %+v", out)
	}
	rep := report.Find(sharedFixture(t).reports, "growth")
	if len(out.Panels) != len(rep.Panels) {
		t.Fatalf("%d panels, want %d", len(out.Panels), len(rep.Panels))
	}
	for _, p := range out.Panels {
		if p.Error != "" || p.Columns == nil {
			t.Errorf("panel %s: error %q", p.ID, p.Error)
		}
		// Dates stay the text SQLite holds.
		if p.ID == "active_tenants" {
			if day, ok := p.Rows[0][0].(string); !ok || len(day) != 10 {
				t.Errorf("first day of active_tenants: %#v", p.Rows[0][0])
			}
		}
	}
}

func TestExports(t *testing.T) {
	c := newClient(t, newServer(t, sharedFixture(t), nil))
	c.basic = [2]string{"ana", anaPW}
	rec := c.get("/reports/growth.xlsx")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), "PK") {
		t.Fatalf("xlsx: %d %.100q", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
		t.Errorf("xlsx content type %q", ct)
	}
	if cd := rec.Header().Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename=growth-`) {
		t.Errorf("xlsx disposition %q", cd)
	}
	rec = c.get("/reports/growth/active_tenants.csv")
	lines := strings.Split(rec.Body.String(), "\r\n")
	if rec.Code != http.StatusOK || lines[0] != "day,active_tenants" || len(lines) < 10 {
		t.Fatalf("csv: %d %.200q", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("csv content type %q", ct)
	}
	// A hostile value in CSV is text, never a formula, and never cut.
	body := c.get("/reports/xss/names.csv").Body.String()
	if !strings.Contains(body, xss) {
		t.Errorf("csv lost the hostile value:\n%s", body)
	}
}

func TestMetricsExposeRuns(t *testing.T) {
	c := newClient(t, newServer(t, sharedFixture(t), nil))
	c.basic = [2]string{"ana", anaPW}
	c.get("/reports/growth")
	body := c.get("/metrics").Body.String()
	for _, want := range []string{
		`attache_last_run_tenants{state="ok"} 12`,
		`attache_last_run_tenants{state="failed"} 0`,
		`attache_last_run_tenants{state="unchanged"} 0`,
		`attache_last_run_id 1`,
		`attache_run_duration_seconds_count 1`,
		`attache_runs_total{status="ok"} 1`,
		`attache_http_requests_total{code="200",method="GET",route="/reports/:name"} 1`,
		`attache_http_request_duration_seconds_bucket{method="GET",route="/reports/:name"`,
		`attache_tenants 13`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestHealthz(t *testing.T) {
	rec := newClient(t, newServer(t, sharedFixture(t), nil)).get("/healthz")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
}

func TestSecurityHeaders(t *testing.T) {
	c := newClient(t, newServer(t, sharedFixture(t), nil))
	c.signIn("ana", anaPW)
	h := c.get("/reports/growth").Header()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "default-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline: %q", csp)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers: %v", h)
	}
	if h.Get("Cache-Control") != "private, no-store" {
		t.Errorf("signed-in page Cache-Control %q", h.Get("Cache-Control"))
	}
}

func TestStaticFiles(t *testing.T) {
	s := newServer(t, sharedFixture(t), nil)
	c := newClient(t, s)
	rec := c.get("/static/echarts.min.js", "Accept-Encoding", "gzip")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != "gzip" || rec.Body.Len() > 500_000 {
		t.Fatalf("echarts: %d %q %d bytes", rec.Code, rec.Header().Get("Content-Encoding"), rec.Body.Len())
	}
	etag := rec.Header().Get("ETag")
	if rec := c.get("/static/echarts.min.js", "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", rec.Code)
	}
	if rec := c.get("/static/nope.js"); rec.Code != http.StatusNotFound {
		t.Errorf("missing static file: %d", rec.Code)
	}
}
