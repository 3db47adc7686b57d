package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/rollup"
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

	// A changed or made-up token is no session.
	forged := good[:len(good)-2] + "AA"
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
	// Sessions live in the metrics DB: a restarted server accepts the
	// session, unless the user's password changed.
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
	// A table that does not say tenant. is refused, with the fix (issue 9).
	if rec := c.post("/query", url.Values{"sql": {"SELECT count(*) FROM todos"}}); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "write tenant.todos") {
		t.Errorf("unqualified table: %d %s", rec.Code, rec.Body.String())
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
	// Panels are computed once first: a cold panel on a busy machine is
	// slow for its own reasons, not because a query blocks it.
	for _, p := range []string{"/", "/reports/growth", "/api/reports/fleet"} {
		viewer.get(p)
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
	if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "query_timeout") {
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

// live serves s on a loopback port until the test ends and returns its
// base URL: the findings below are about real HTTP, not a handler call.
func live(t testing.TB, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// browser is an HTTP client on a live server that keeps cookies and does
// not follow redirects, so Location can be checked.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, hc: &http.Client{
		Jar:           jar,
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.base)
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) get(path string) *http.Response {
	b.t.Helper()
	resp, err := b.hc.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// post sends a form with the CSRF token of the browser's cookie.
func (b *browser) post(path string, form url.Values) *http.Response {
	b.t.Helper()
	if b.cookie("attache_csrf") == "" {
		b.get("/login")
	}
	form.Set(csrfField, b.cookie("attache_csrf"))
	resp, err := b.hc.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (b *browser) signIn(name, pw string) {
	b.t.Helper()
	if resp := b.post("/login", url.Values{"name": {name}, "password": {pw}}); resp.StatusCode != http.StatusSeeOther || b.cookie(sessionCookie) == "" {
		b.t.Fatalf("sign-in as %s: %d", name, resp.StatusCode)
	}
}

// Finding 1: a multipart POST, even a refused one, left its upload in the
// temp folder. Nothing may be parsed as multipart, and nothing is left.
func TestMultipartUploadsLeaveNothingBehind(t *testing.T) {
	fx := sharedFixture(t) // made first: it lives in the usual temp folder
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	base := live(t, newServer(t, fx, nil))
	b := newBrowser(t, base)
	b.get("/login")
	for _, path := range []string{"/login", "/query", "/logout", "/runs"} {
		// 40 MB: above the 32 MB Go keeps in memory, so a parse spills to disk.
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			mw.WriteField(csrfField, b.cookie("attache_csrf"))
			f, _ := mw.CreateFormFile("file", "big.bin")
			chunk := bytes.Repeat([]byte("x"), 1<<20)
			for i := 0; i < 40; i++ {
				if _, err := f.Write(chunk); err != nil {
					break
				}
			}
			mw.Close()
			pw.Close()
		}()
		req, _ := http.NewRequest(http.MethodPost, base+path, pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := b.hc.Do(req)
		pr.CloseWithError(io.EOF)
		// The server may close the connection before the upload ends; then
		// the client sees a write error instead of the 415. Both are fine.
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnsupportedMediaType {
				t.Errorf("multipart POST %s: %d, want 415", path, resp.StatusCode)
			}
		}
	}
	// An oversized urlencoded body is refused before it is parsed.
	resp, err := b.hc.Post(base+"/login", "application/x-www-form-urlencoded", strings.NewReader("name=a&password="+strings.Repeat("p", 3<<20)))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("3 MB form: %d, want 413", resp.StatusCode)
		}
	}
	time.Sleep(200 * time.Millisecond) // handlers finish after the response
	var left []string
	var size int64
	filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if st, err := d.Info(); err == nil {
				left, size = append(left, d.Name()), size+st.Size()
			}
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("the temp folder holds %d bytes after the uploads: %v", size, left)
	}
	// Forms still work.
	b.signIn("ana", anaPW)
}

// Finding 2: parallel wrong passwords all ran bcrypt before any was
// counted. Attempts are reserved first: at most the burst is checked.
func TestParallelGuessesAreCountedBeforeChecking(t *testing.T) {
	s := newServer(t, sharedFixture(t), nil)
	base := live(t, s)
	count := func(do func() (int, error)) map[int]int {
		codes := map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, err := do()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return codes
	}
	hc := &http.Client{Timeout: time.Minute}
	codes := count(func() (int, error) {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/reports/growth", nil)
		req.SetBasicAuth("ana", "guess")
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	})
	if codes[http.StatusUnauthorized] > 10 || codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests] != 50 {
		t.Errorf("50 parallel Basic guesses: %v; at most 10 may be checked (401), the rest 429", codes)
	}

	// The form on a fresh server (fresh allowance), from one browser.
	base = live(t, newServer(t, sharedFixture(t), nil))
	b := newBrowser(t, base)
	b.get("/login")
	token := b.cookie("attache_csrf")
	codes = count(func() (int, error) {
		resp, err := b.hc.PostForm(base+"/login", url.Values{"name": {"ana"}, "password": {"guess"}, csrfField: {token}})
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	})
	if codes[http.StatusUnauthorized] > 10 || codes[http.StatusTooManyRequests] < 40 {
		t.Errorf("50 parallel form guesses: %v; at most 10 may be checked", codes)
	}

	// Scripts with the right password are not limited by their own use.
	base = live(t, newServer(t, sharedFixture(t), nil))
	for i := 0; i < 30; i++ {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/reports/fleet", nil)
		req.SetBasicAuth("ana", anaPW)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("right Basic password, request %d: %d", i+1, resp.StatusCode)
		}
	}
}

// Finding 3: next=/%09/evil.example/ sent the browser to another host
// (browsers drop the tab and read //evil.example/).
func TestSignInRedirectStaysOnThisSite(t *testing.T) {
	base := live(t, newServer(t, sharedFixture(t), nil))
	baseURL, _ := url.Parse(base)
	for _, next := range []string{
		"/\t/evil.example/", "/\n/evil.example/", "/\r\n/evil.example", "\t//evil.example", "/\\evil.example",
		"/\t\\evil.example", "//evil.example", "https://evil.example/", "/%09/evil.example/", "javascript:alert(1)",
		"/\x00/evil.example", " //evil.example",
	} {
		b := newBrowser(t, base)
		resp := b.post("/login", url.Values{"name": {"ana"}, "password": {anaPW}, "next": {next}})
		loc, err := resp.Location()
		if resp.StatusCode != http.StatusSeeOther || err != nil {
			t.Fatalf("next %q: %d %v", next, resp.StatusCode, err)
		}
		// What a browser does with Location: tabs and newlines gone, then
		// resolved against the page.
		raw := strings.NewReplacer("\t", "", "\r", "", "\n", "", "\\", "/").Replace(resp.Header.Get("Location"))
		dest, err := baseURL.Parse(raw)
		if err != nil || dest.Host != baseURL.Host || loc.Host != baseURL.Host {
			t.Errorf("next %q sent the browser to %q", next, resp.Header.Get("Location"))
		}
	}
	// A real path keeps its query.
	b := newBrowser(t, base)
	resp := b.post("/login", url.Values{"name": {"ana"}, "password": {anaPW}, "next": {"/reports/growth?x=1"}})
	if got := resp.Header.Get("Location"); got != "/reports/growth?x=1" {
		t.Errorf("next /reports/growth?x=1: Location %q", got)
	}
}

// Finding 4: sign-out did not end a session, and a session could be minted
// from the metrics DB and config.yaml.
func TestSessionsAreRevocableAndCannotBeMinted(t *testing.T) {
	fx := sharedFixture(t)
	s := newServer(t, fx, nil)
	base := live(t, s)
	seen := func(cookie string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/reports/fleet", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// A cookie captured before sign-out no longer works after it.
	b := newBrowser(t, base)
	b.signIn("ana", anaPW)
	captured := b.cookie(sessionCookie)
	if seen(captured) != http.StatusOK {
		t.Fatal("a fresh session is refused")
	}
	b.post("/logout", url.Values{})
	if code := seen(captured); code != http.StatusUnauthorized {
		t.Errorf("a session cookie kept past sign-out: %d, want 401", code)
	}

	// Sign out everywhere ends the user's other sessions, not other users'.
	laptop, phone, other := newBrowser(t, base), newBrowser(t, base), newBrowser(t, base)
	laptop.signIn("ana", anaPW)
	phone.signIn("ana", anaPW)
	other.signIn("fay", fayPW)
	phoneCookie, otherCookie := phone.cookie(sessionCookie), other.cookie(sessionCookie)
	laptop.post("/logout", url.Values{"everywhere": {"1"}})
	if seen(phoneCookie) != http.StatusUnauthorized || seen(otherCookie) != http.StatusOK {
		t.Errorf("sign out everywhere: ana's phone %d (want 401), fay %d (want 200)", seen(phoneCookie), seen(otherCookie))
	}

	// A password change and a removed user end sessions, here after a restart.
	phone.signIn("ana", anaPW)
	anaCookie := phone.cookie(sessionCookie)
	changed := live(t, newServer(t, fx, func(cfg *config.Config) {
		cfg.Auth.Users = append([]config.User(nil), cfg.Auth.Users...)
		cfg.Auth.Users[0].PasswordHash = cfg.Auth.Users[1].PasswordHash
	}))
	removed := live(t, newServer(t, fx, func(cfg *config.Config) { cfg.Auth.Users = cfg.Auth.Users[1:] }))
	restarted := live(t, newServer(t, fx, nil))
	for name, srv := range map[string]string{"password changed": changed, "user removed": removed, "restarted": restarted} {
		req, _ := http.NewRequest(http.MethodGet, srv+"/api/reports/fleet", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: anaCookie})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusUnauthorized
		if name == "restarted" {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, want)
		}
	}

	// The server caps the expiry, whatever the cookie's own.
	real := s.sessions.now
	s.sessions.now = func() time.Time { return real().Add(sessionTTL + time.Minute) }
	if code := seen(anaCookie); code != http.StatusUnauthorized {
		t.Errorf("a session past its 12 hours: %d", code)
	}
	s.sessions.now = real

	// A stolen metrics DB holds no signing key and no usable token: only
	// hashes, which are refused as cookies.
	var keys int
	fx.mdb.R.QueryRow("SELECT count(*) FROM server_keys WHERE name = 'session'").Scan(&keys)
	if keys != 0 {
		t.Error("the metrics DB still holds a session signing key")
	}
	rows, err := fx.mdb.R.Query("SELECT id, user, tag FROM sessions")
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for rows.Next() {
		var id, u, tag string
		rows.Scan(&id, &u, &tag)
		stored = append(stored, id, tag)
	}
	rows.Close()
	if len(stored) == 0 {
		t.Fatal("no sessions stored")
	}
	for _, v := range stored {
		if v == anaCookie {
			t.Fatal("the metrics DB holds a session token as it is")
		}
		if code := seen(v); code != http.StatusUnauthorized {
			t.Errorf("a value from the sessions table used as a cookie: %d", code)
		}
	}
}

// Finding 7: behind a reverse proxy every client shared one sign-in limit.
// With trusted_proxies the forwarded address counts; without, it is ignored.
func TestTrustedProxiesGiveEachClientItsOwnLimit(t *testing.T) {
	fx := sharedFixture(t)
	guess := func(base, forwardedFor string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/reports/fleet", nil)
		req.SetBasicAuth("ana", "guess")
		req.Header.Set("X-Forwarded-For", forwardedFor)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	proxied := live(t, newServer(t, fx, func(cfg *config.Config) { cfg.TrustedProxies = []string{"127.0.0.1/32"} }))
	for i := 0; i < 10; i++ {
		guess(proxied, "203.0.113.1")
	}
	if code := guess(proxied, "203.0.113.1"); code != http.StatusTooManyRequests {
		t.Errorf("11th guess of one client behind the proxy: %d, want 429", code)
	}
	if code := guess(proxied, "203.0.113.2"); code != http.StatusUnauthorized {
		t.Errorf("another client behind the same proxy: %d, want 401 (its own allowance)", code)
	}
	// A client cannot prepend its way to a fresh allowance: the proxy
	// appends the real peer, and that is the address used.
	if code := guess(proxied, "198.51.100.9, 203.0.113.1"); code != http.StatusTooManyRequests {
		t.Errorf("spoofed first hop: %d, want 429", code)
	}
	direct := live(t, newServer(t, fx, nil))
	for i := 0; i < 10; i++ {
		guess(direct, fmt.Sprintf("203.0.113.%d", i+10))
	}
	if code := guess(direct, "203.0.113.99"); code != http.StatusTooManyRequests {
		t.Errorf("without trusted_proxies X-Forwarded-For must be ignored: %d, want 429", code)
	}
}

// Finding 5: ad-hoc results were bounded in rows only (10,000 rows of 10 KB
// took the server up by 140 MB) and children had no memory limit.
func TestQueryResultsAndChildrenAreBounded(t *testing.T) {
	fx := sharedFixture(t)
	sb := sandbox.NewRunner(2, 30*time.Second, time.Second)
	defer sb.Close()
	s := newServerDeps(t, fx, func(cfg *config.Config) { cfg.ResultMaxMB = 2 }, func(_ *config.Config, d *Deps) { d.Sandbox = sb })
	base := live(t, s)
	b := newBrowser(t, base)
	b.signIn("fay", fayPW)
	run := func(sql string) string {
		t.Helper()
		resp, err := b.hc.PostForm(base+"/query", url.Values{"sql": {sql}, csrfField: {b.cookie("attache_csrf")}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	// 12 tenants x 1,000 rows of 10 KB = 120 MB asked for, 2 MB allowed.
	before := rss()
	page := run("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1000) SELECT i, hex(randomblob(5000)) AS blob FROM n, tenant.meta")
	if !strings.Contains(page, "truncated at 2 MB") {
		t.Errorf("a 120 MB result under result_max_mb 2: the page does not say it was truncated\n%.2000s", page)
	}
	if n := strings.Count(page, "<tr"); n > 1000/5+20 {
		t.Errorf("the page shows %d rows; 2 MB of 10 KB rows is about 200", n)
	}
	t.Logf("server RSS before %d MB, after %d MB", before>>20, rss()>>20)

	// A query that wants a gigabyte fails alone at the child's limit.
	page = run("SELECT length(randomblob(900000000)) AS n FROM tenant.meta")
	if !strings.Contains(page, "out of memory") {
		t.Errorf("a 900 MB blob: the page does not say out of memory\n%.2000s", page)
	}
	if page := run("SELECT count(*) AS todos FROM tenant.todos"); !strings.Contains(page, "12 rows from 12 tenants") {
		t.Errorf("the next query after an out-of-memory one:\n%.2000s", page)
	}
}

// rss is this process's resident memory now.
func rss() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// The audit trail records each audited action with who, what and from
// where; admins read it at /audit and download it, viewers cannot.
func TestAuditTrailOfEveryAction(t *testing.T) {
	fx := sharedFixture(t)
	var since int64
	fx.mdb.R.QueryRow("SELECT coalesce(max(id), 0) FROM audit").Scan(&since)
	s := newServerDeps(t, fx, nil, func(_ *config.Config, d *Deps) {
		d.StartRun = func(context.Context, rollup.Options) (*rollup.Summary, error) { return &rollup.Summary{}, nil }
	})
	base := live(t, s)
	b := newBrowser(t, base)
	b.post("/login", url.Values{"name": {"fay"}, "password": {"wrong"}})
	b.signIn("fay", fayPW)
	all, err := fx.mdb.Tenants(t.Context(), "id", 100)
	if err != nil {
		t.Fatal(err)
	}
	var ts []metrics.TenantRow
	for _, tr := range all {
		if !strings.ContainsAny(tr.ID, "<,") {
			ts = append(ts, tr)
		}
	}
	b.post("/query", url.Values{"sql": {"SELECT count(*) AS todos FROM tenant.todos"}})
	b.post("/query", url.Values{"sql": {"SELECT count(*) AS todos FROM tenant.todos"}, "tenants": {ts[0].ID + "," + ts[1].ID}})
	b.post("/query.csv", url.Values{"sql": {"DELETE FROM tenant.todos"}})
	b.get("/reports/growth.xlsx")
	b.get("/reports/fleet/" + fx.reports[0].Panels[0].ID + ".csv")
	b.post("/runs", url.Values{"full": {"1"}})
	req, _ := http.NewRequest(http.MethodGet, base+"/api/reports/fleet", nil)
	req.SetBasicAuth("ana", "nope")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	b.post("/logout", url.Values{})

	entries, err := audit.List(t.Context(), fx.mdb.R, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.ID <= since {
			continue
		}
		if e.Remote != "127.0.0.1" {
			t.Errorf("entry %s without the client's address: %q", e.Action, e.Remote)
		}
		ok := "ok"
		if e.Failed {
			ok = "failed"
		}
		got = append(got, fmt.Sprintf("%s %s %s %s tenants=%s rows=%d %s", e.Actor, e.Action, e.Target, strings.SplitN(e.Detail, "\n", 2)[0], e.Tenants, e.Rows, ok))
	}
	want := []string{
		"fay signin.failed  form tenants= rows=0 failed",
		"fay signin  form tenants= rows=0 ok",
		"fay query /query SELECT count(*) AS todos FROM tenant.todos tenants=all rows=12 ok",
		"fay query /query SELECT count(*) AS todos FROM tenant.todos tenants=" + ts[0].ID + "," + ts[1].ID + " rows=2 ok",
		"fay query /query.csv DELETE FROM tenant.todos tenants=all rows=0 failed",
		"fay export growth.xlsx  tenants= rows=0 ok",
		"fay export fleet/" + fx.reports[0].Panels[0].ID + ".csv  tenants= rows=0 ok",
		"fay run dashboard full=true queries=[] tenants= rows=0 ok",
		"ana signin.failed  HTTP Basic tenants= rows=0 failed",
		"fay signout   tenants= rows=0 ok",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Admins read it and download it; the download is audited too.
	b.signIn("fay", fayPW)
	resp, err := b.hc.Get(base + "/audit?action=query")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "DELETE FROM tenant.todos") || strings.Contains(string(page), "signin.failed") {
		t.Errorf("/audit?action=query: %d\n%.3000s", resp.StatusCode, page)
	}
	resp, err = b.hc.Get(base + "/audit.csv?actor=fay")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || len(recs) < 10 || strings.Join(recs[0], ",") != "id,at,actor,action,target,detail,tenants,rows,remote,ok" {
		t.Fatalf("/audit.csv: %v %q", err, recs)
	}
	if last, _ := audit.List(t.Context(), fx.mdb.R, audit.Filter{Limit: 1}); len(last) != 1 || last[0].Action != audit.AuditExport {
		t.Errorf("downloading the audit log is not audited: %+v", last)
	}
	viewer := newBrowser(t, base)
	viewer.signIn("ana", anaPW)
	if r := viewer.get("/audit"); r.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer on /audit: %d", r.StatusCode)
	}
}
