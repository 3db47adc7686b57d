package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/sandbox"
)

func TestWrongPassword(t *testing.T) {
	s := newServer(t, sharedFixture(t), nil)
	for _, cred := range [][2]string{{"ana", "wrong"}, {"nobody", anaPW}, {"ana", ""}, {"", ""}} {
		c := newClient(t, s)
		rec := c.post("/login", url.Values{"name": {cred[0]}, "password": {cred[1]}})
		if rec.Code != http.StatusUnauthorized || c.cookies[sessionCookie] != nil {
			t.Errorf("form %q: status %d, session %v", cred, rec.Code, c.cookies[sessionCookie])
		}
		if !strings.Contains(rec.Body.String(), "Wrong name or password") {
			t.Errorf("form %q: no message", cred)
		}
		c.basic = cred
		if rec := c.get("/reports/growth.xlsx"); rec.Code != http.StatusUnauthorized {
			t.Errorf("basic %q: status %d", cred, rec.Code)
		}
	}
}

func TestSessionCannotBeForgedOrKeptPastExpiry(t *testing.T) {
	fx := sharedFixture(t)
	now := time.Now()
	clock := func() time.Time { return now }
	s := newServer(t, fx, nil)
	s.sessions.now = clock
	c := newClient(t, s)
	c.signIn("ana", anaPW)
	good := c.cookies[sessionCookie].Value

	// Tampering with the payload (claiming to be fay) breaks the MAC.
	payload, sig, _ := strings.Cut(good, ".")
	forged := strings.Replace(payload, "YW5h", "ZmF5", 1) + "." + sig
	for _, v := range []string{forged, "garbage", good + "x", ""} {
		c.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: v}
		if rec := c.get("/"); rec.Code != http.StatusUnauthorized {
			t.Errorf("cookie %q: status %d", v, rec.Code)
		}
	}
	// An expired session is refused.
	c.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: good}
	if rec := c.get("/"); rec.Code != http.StatusOK {
		t.Fatalf("good session: %d", rec.Code)
	}
	now = now.Add(sessionTTL + time.Second)
	if rec := c.get("/"); rec.Code != http.StatusUnauthorized {
		t.Errorf("expired session: %d", rec.Code)
	}
	// The signing key lives in the metrics DB: a restarted server accepts
	// the session, unless the user's password changed.
	now = time.Now()
	s2 := newServer(t, fx, nil)
	c2 := newClient(t, s2)
	c2.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: good}
	if rec := c2.get("/"); rec.Code != http.StatusOK {
		t.Errorf("after restart: %d", rec.Code)
	}
	s3 := newServer(t, fx, func(cfg *config.Config) {
		cfg.Auth.Users = append([]config.User(nil), cfg.Auth.Users...)
		cfg.Auth.Users[0].PasswordHash = cfg.Auth.Users[1].PasswordHash
	})
	c3 := newClient(t, s3)
	c3.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: good}
	if rec := c3.get("/"); rec.Code != http.StatusUnauthorized {
		t.Errorf("after a password change: %d", rec.Code)
	}
}

func TestSecureCookiesBehindHTTPS(t *testing.T) {
	s := newServer(t, sharedFixture(t), func(cfg *config.Config) { cfg.BaseURL = "https://attache.example.com" })
	c := newClient(t, s)
	c.signIn("ana", anaPW)
	if !c.cookies[sessionCookie].Secure || !c.cookies["attache_csrf"].Secure {
		t.Errorf("cookies not Secure with an https base_url: %+v", c.cookies)
	}
	c.ip = "127.0.0.1" // the TLS-terminating proxy
	if h := c.get("/", "X-Forwarded-Proto", "https").Header().Get("Strict-Transport-Security"); h == "" {
		t.Errorf("no HSTS with an https base_url")
	}
}

func TestSignInRateLimitedPerClientIP(t *testing.T) {
	s := newServer(t, sharedFixture(t), nil)
	c := newClient(t, s)
	c.ip = "198.51.100.7"
	for i := 0; i < 10; i++ {
		if rec := c.post("/login", url.Values{"name": {"ana"}, "password": {"guess"}}); rec.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, rec.Code)
		}
	}
	rec := c.post("/login", url.Values{"name": {"ana"}, "password": {anaPW}})
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("11th attempt: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	// A spoofed forwarding header does not make a new client.
	for _, h := range []string{"X-Forwarded-For", "X-Real-Ip"} {
		rec := c.post("/login", url.Values{"name": {"ana"}, "password": {anaPW}}, h, "203.0.113.99")
		if rec.Code != http.StatusTooManyRequests {
			t.Errorf("with %s spoofed: %d, want 429", h, rec.Code)
		}
	}
	// Basic credentials are limited from the same allowance.
	c.basic = [2]string{"ana", anaPW}
	if rec := c.get("/reports/growth.xlsx"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("basic while limited: %d", rec.Code)
	}
	// Another client is not affected.
	other := newClient(t, s)
	other.ip = "198.51.100.8"
	other.signIn("ana", anaPW)
}

func TestBasicFailuresAreRateLimited(t *testing.T) {
	s := newServer(t, sharedFixture(t), nil)
	c := newClient(t, s)
	c.basic = [2]string{"fay", "nope"}
	codes := map[int]int{}
	for i := 0; i < 15; i++ {
		codes[c.get("/api/reports/growth", "X-Forwarded-For", "10.0.0."+string(rune('1'+i%9))).Code]++
	}
	if codes[http.StatusUnauthorized] != 10 || codes[http.StatusTooManyRequests] != 5 {
		t.Errorf("codes %v, want 10×401 then 429s", codes)
	}
}

func TestCSRF(t *testing.T) {
	fx := sharedFixture(t)
	s := newServer(t, fx, nil)
	admin := newClient(t, s)
	admin.signIn("fay", fayPW)
	cases := []struct {
		name  string
		path  string
		token string
		hdr   []string
	}{
		{"no token", "/query", "", nil},
		{"wrong token", "/query", "forged-token", nil},
		{"no token, start a run", "/runs", "", nil},
		{"no token, sign out", "/logout", "", nil},
		{"cross-site with a token", "/query", "<good>", []string{"Sec-Fetch-Site", "cross-site"}},
	}
	for _, tc := range cases {
		form := url.Values{"sql": {"SELECT 1 AS one FROM tenant.todos"}}
		if tc.token == "<good>" {
			form.Set(csrfField, admin.csrf())
		} else if tc.token != "" {
			form.Set(csrfField, tc.token)
		}
		rec := admin.do(http.MethodPost, tc.path, form, tc.hdr...)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.name, rec.Code)
		}
	}
	// The sign-in form is protected too (login CSRF).
	anon := newClient(t, s)
	if rec := anon.do(http.MethodPost, "/login", url.Values{"name": {"ana"}, "password": {anaPW}}); rec.Code != http.StatusForbidden {
		t.Errorf("sign-in without token: %d", rec.Code)
	}
	// Still signed in: the forged sign-out did nothing.
	if rec := admin.get("/tenants"); rec.Code != http.StatusOK {
		t.Errorf("after forged sign-out: %d", rec.Code)
	}
	// A same-origin browser request passes on Fetch Metadata alone.
	form := url.Values{"sql": {"SELECT 1 AS one FROM tenant.todos"}}
	if rec := admin.do(http.MethodPost, "/query", form, "Sec-Fetch-Site", "same-origin"); rec.Code != http.StatusOK {
		t.Errorf("same-origin POST: %d", rec.Code)
	}
}

func TestXSSEscapedEverywhere(t *testing.T) {
	fx := sharedFixture(t)
	c := newClient(t, newServer(t, fx, nil))
	c.signIn("fay", fayPW)
	pages := []string{"/tenants", "/tenants?sort=error", "/tenants/" + url.PathEscape(xss), "/runs/1", "/reports/xss", "/reports/fleet"}
	for _, p := range pages {
		rec := c.get(p)
		body := rec.Body.String()
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d", p, rec.Code)
			continue
		}
		if strings.Contains(body, "<script>alert(1)") || strings.Contains(body, "</script><script>") {
			t.Errorf("%s: the hostile value appears unescaped", p)
		}
		if !strings.Contains(body, "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;") && !strings.Contains(body, `\u003c/script\u003e`) {
			t.Errorf("%s: the hostile value is missing altogether", p)
		}
	}
	// In a chart the label travels as escaped JSON and decodes back intact.
	page := c.get("/reports/xss").Body.String()
	if !strings.Contains(page, `\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e`) {
		t.Errorf("chart data block does not hold the escaped label")
	}
	opt := chartJSON(t, page, "opt-plans")
	b, _ := json.Marshal(opt["xAxis"])
	var axes []struct{ Data []string }
	json.Unmarshal(b, &axes)
	found := false
	for _, d := range axes[0].Data {
		found = found || d == xss
	}
	if !found {
		t.Errorf("chart labels %v lack the hostile label", axes[0].Data)
	}
	// The tenant page of the hostile id works and links back correctly.
	if !strings.Contains(c.get("/runs/1").Body.String(), `href="/tenants/`+url.PathEscape(xss)+`"`) {
		t.Errorf("run page does not link to the hostile tenant by its escaped id")
	}
}

func TestPathTraversalIs404(t *testing.T) {
	c := newClient(t, newServer(t, sharedFixture(t), nil))
	c.signIn("fay", fayPW)
	for _, p := range []string{
		"/reports/..%2f..%2fetc%2fpasswd",
		"/reports/..%2F..%2Fetc%2Fpasswd.xlsx",
		"/reports/../../etc/passwd",
		"/reports/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
		"/reports/growth/..%2f..%2fetc%2fpasswd.csv",
		"/api/reports/..%2fgrowth",
		"/reports/growth%00",
		"/static/..%2f..%2fgo.mod",
		"/static/../templates/layout.html",
		"/tenants/..%2f..%2fetc%2fpasswd",
		"/reports/growth.yaml",
		"/reports/GROWTH",
	} {
		if rec := c.get(p); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, rec.Code)
		}
	}
}

func TestQueryPage(t *testing.T) {
	fx := sharedFixture(t)
	c := newClient(t, newServer(t, fx, nil))
	c.signIn("fay", fayPW)
	rec := c.post("/query", url.Values{"sql": {"SELECT count(*) AS todos FROM tenant.todos"}})
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, "<th>tenant_id</th>") || !strings.Contains(body, "12 rows from 12 tenants") {
		t.Fatalf("query: %d\n%s", rec.Code, body)
	}
	for _, bad := range []string{
		"DELETE FROM tenant.todos",
		"ATTACH 'x.db' AS x",
		"PRAGMA tenant.user_version",
		"SELECT 1; DROP TABLE tenant.todos",
		"VACUUM INTO '/tmp/x.db'",
		"SELECT load_extension('x')",
	} {
		rec := c.post("/query", url.Values{"sql": {bad}})
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "The query did not run") {
			t.Errorf("%q: %d", bad, rec.Code)
		}
	}
	// Restrict to named tenants; the CSV neutralises formulas.
	ts, err := fx.mdb.Tenants(t.Context(), "id", 3)
	if err != nil {
		t.Fatal(err)
	}
	rec = c.post("/query.csv", url.Values{"sql": {"SELECT '=HYPERLINK(\"http://x\")' AS f, -5 AS n FROM tenant.meta LIMIT 1"}, "tenants": {ts[1].ID + ",\n" + ts[2].ID}})
	if rec.Code != http.StatusOK {
		t.Fatalf("csv: %d %s", rec.Code, rec.Body.String())
	}
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\r\n")
	if len(lines) != 3 || lines[0] != "tenant_id,f,n" || !strings.Contains(lines[1], `"'=HYPERLINK(""http://x"")",-5`) {
		t.Errorf("csv:\n%s", rec.Body.String())
	}
}

func TestSlowQueryDoesNotBlockTheDashboard(t *testing.T) {
	fx := sharedFixture(t)
	s := newServer(t, fx, func(cfg *config.Config) { cfg.QueryTimeout = config.Duration(time.Second) })
	// Ad-hoc queries get a sandbox with a short limit.
	s.sandbox = sandbox.NewRunner(2, time.Second, time.Second)
	defer func() {
		// Wait for the engine to let go of its slot, then end its children.
		for i := 0; i < cap(s.adhoc); i++ {
			s.adhoc <- struct{}{}
		}
		s.sandbox.Close()
	}()
	admin := newClient(t, s)
	admin.signIn("fay", fayPW)
	viewer := newClient(t, s)
	viewer.signIn("ana", anaPW)
	token := admin.csrf()
	ts, err := fx.mdb.Tenants(t.Context(), "id", 2)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		code int
		body string
		took time.Duration
	}
	done := make(chan result)
	go func() {
		// A runaway query: stopped at query_timeout by killing its child.
		start := time.Now()
		form := url.Values{"sql": {"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n) SELECT count(*) FROM n, tenant.todos"}, "tenants": {ts[1].ID}, csrfField: {token}}
		rec := admin.do(http.MethodPost, "/query", form)
		done <- result{rec.Code, rec.Body.String(), time.Since(start)}
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	for _, p := range []string{"/", "/reports/growth", "/api/reports/fleet"} {
		if rec := viewer.get(p); rec.Code != http.StatusOK {
			t.Errorf("%s during a slow query: %d", p, rec.Code)
		}
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("pages took %s while an ad-hoc query ran", el)
	}
	r := <-done
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, "query_timeout") {
		t.Errorf("runaway query: %d\n%.400s", r.code, r.body)
	}
	if r.took > 6*time.Second {
		t.Errorf("runaway query answered after %s; want about query_timeout", r.took)
	}
}

func TestOpenModeLoopbackOnly(t *testing.T) {
	fx := sharedFixture(t)
	noUsers := func(listen string) func(*config.Config) {
		return func(cfg *config.Config) { cfg.Auth.Users = nil; cfg.Listen = listen }
	}
	cfg := *fx.cfg
	noUsers("0.0.0.0:8080")(&cfg)
	_, err := New(&cfg, Deps{Metrics: fx.mdb, Reports: fx.reports, Panels: fx.panels, Sandbox: fx.adhoc, Web: webFS(t)})
	if err == nil || !strings.Contains(err.Error(), "auth.users") {
		t.Fatalf("listening on 0.0.0.0 without users: err = %v, want a refusal naming auth.users", err)
	}
	s := newServer(t, fx, noUsers("127.0.0.1:8080"))
	c := newClient(t, s)
	c.html = true
	rec := c.get("/tenants")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Sign-in is off") {
		t.Fatalf("open mode /tenants: %d", rec.Code)
	}
	// DNS rebinding: a foreign Host name is refused.
	req, _ := http.NewRequest(http.MethodGet, "/tenants", nil)
	req.Host = "evil.example:8080"
	req.RemoteAddr = "127.0.0.1:5000"
	rr := httptest.NewRecorder()
	s.Handler().ServeHTTP(rr, req)
	if rr.Code != http.StatusForbidden {
		t.Errorf("foreign Host in open mode: %d", rr.Code)
	}
}
