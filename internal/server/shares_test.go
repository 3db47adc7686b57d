package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/privacy"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/sandbox"
)

// customersReport has what issue 16 asks to test: a per-tenant table, a
// breakdown with groups of 3 and 12 tenants, a fleet total, a per-tenant
// list left out for aggregate audiences and a panel with no rule that shows
// tenant ids.
const customersReport = `title: Customers
panels:
  - id: busiest
    title: Busiest customer
    chart: number
    sql: SELECT tenant_id FROM rollup_usage ORDER BY events DESC LIMIT 1
  - id: total
    title: Events, whole fleet
    chart: number
    sql: SELECT sum(events) AS events FROM rollup_usage
    privacy: {shows: totals}
  - id: by_plan
    title: Events by plan
    chart: table
    sql: SELECT plan, count(*) AS tenants, sum(events) AS events FROM rollup_usage GROUP BY plan ORDER BY plan
    privacy: {shows: groups, count: tenants}
  - id: top
    title: Customers by events
    chart: table
    sql: SELECT tenant_id, name, events FROM rollup_usage ORDER BY events DESC, tenant_id
    privacy: {shows: tenants, tenant: tenant_id, identifying: [name], aggregate: pseudonym}
  - id: list
    title: Customer list
    chart: table
    sql: SELECT tenant_id, name, plan FROM rollup_usage ORDER BY tenant_id
    privacy: {shows: tenants, tenant: tenant_id, identifying: [name]}
  - id: files
    title: Largest files
    chart: table
    sql: SELECT id AS database, size_bytes FROM tenants ORDER BY size_bytes DESC
`

type customer struct {
	id, name, plan string
	events         int64
}

// customers: 3 on enterprise, 12 on team; ids and names that cannot be
// mistaken for anything else in a page.
func customers() []customer {
	var out []customer
	for i := 1; i <= 15; i++ {
		plan := "team"
		if i <= 3 {
			plan = "enterprise"
		}
		out = append(out, customer{id: fmt.Sprintf("cust-zeta-%02d", i), name: fmt.Sprintf("Zeta Holdings %02d", i), plan: plan, events: int64(100*i + 7)})
	}
	return out
}

var (
	privacyOnce sync.Once
	privacyFx   *fixture
	privacyErr  error
)

// privacyFixture is a metrics DB written by hand (the rows matter, not the
// engine) with privacy: {viewers: aggregate} in the config.
func privacyFixture(t testing.TB) *fixture {
	t.Helper()
	privacyOnce.Do(func() { privacyFx, privacyErr = newPrivacyFixture() })
	if privacyErr != nil {
		t.Fatal(privacyErr)
	}
	return privacyFx
}

func newPrivacyFixture() (*fixture, error) {
	ctx := context.Background()
	root, err := osMkdirTemp()
	if err != nil {
		return nil, err
	}
	ana, _ := bcrypt.GenerateFromPassword([]byte(anaPW), bcrypt.MinCost)
	fay, _ := bcrypt.GenerateFromPassword([]byte(fayPW), bcrypt.MinCost)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`metrics: metrics.db
tenants: {dir: tenants}
base_url: https://attache.example.com
privacy: {viewers: aggregate, min_group: 5}
auth:
  users:
    - {name: ana, password_hash: %q, role: viewer}
    - {name: fay, password_hash: %q, role: admin}
`, ana, fay)), root)
	if err != nil {
		return nil, err
	}
	mdb, err := metrics.Open(ctx, cfg.Metrics, time.Second)
	if err != nil {
		return nil, err
	}
	stmts := []string{
		"CREATE TABLE rollup_usage (tenant_id TEXT, name TEXT, plan TEXT, events INTEGER)",
		"INSERT INTO runs (job, started_at, finished_at, status, tenants_total, tenants_ok) VALUES ('test', '2026-03-01T00:00:00Z', '2026-03-01T00:00:01Z', 'ok', 15, 15)",
	}
	for _, s := range stmts {
		if _, err := mdb.W.ExecContext(ctx, s); err != nil {
			return nil, err
		}
	}
	for i, c := range customers() {
		if _, err := mdb.W.ExecContext(ctx, "INSERT INTO rollup_usage VALUES (?, ?, ?, ?)", c.id, c.name, c.plan, c.events); err != nil {
			return nil, err
		}
		if _, err := mdb.W.ExecContext(ctx, "INSERT INTO tenants (id, location, size_bytes, first_seen, last_seen) VALUES (?, ?, ?, '2026-01-01T00:00:00Z', '2026-03-01T00:00:00Z')",
			c.id, "/fleet/"+c.id+".db", 1000+i); err != nil {
			return nil, err
		}
	}
	rep, err := report.Parse("customers.yaml", []byte(customersReport))
	if err != nil {
		return nil, err
	}
	sb := sandbox.NewRunner(2, 20*time.Second, time.Second)
	f := &fixture{root: root, cfg: cfg, mdb: mdb, reports: []*report.Report{rep}, sb: sb,
		panels: report.NewRunner(sb, cfg.Metrics, cfg.RowLimit), adhoc: sandbox.NewRunner(1, 20*time.Second, time.Second)}
	fixturesMu.Lock()
	fixtures = append(fixtures, f)
	fixturesMu.Unlock()
	return f, nil
}

// leaks lists every real tenant id, name or location found in body.
func leaks(body string) []string {
	var found []string
	for _, c := range customers() {
		for _, s := range []string{c.id, c.name} {
			if strings.Contains(body, s) {
				found = append(found, s)
			}
		}
	}
	return found
}

// xlsxText is every cell of every sheet of a workbook, one per line.
func xlsxText(t *testing.T, b []byte) string {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a workbook: %v (%.200s)", err, b)
	}
	defer f.Close()
	var sb strings.Builder
	for _, sh := range f.GetSheetList() {
		rows, err := f.GetRows(sh)
		if err != nil {
			t.Fatal(err)
		}
		sb.WriteString("== " + sh + "\n")
		for _, r := range rows {
			sb.WriteString(strings.Join(r, "\t") + "\n")
		}
	}
	return sb.String()
}

func totalEvents() int64 {
	var n int64
	for _, c := range customers() {
		n += c.events
	}
	return n
}

// TestPrivacyAudiences looks at one report as an admin, as a viewer under
// privacy.viewers: aggregate, and through share links, in every format.
func TestPrivacyAudiences(t *testing.T) {
	fx := privacyFixture(t)
	srv := newServer(t, fx, nil)
	key, err := privacy.LoadKey(fx.cfg.Privacy.KeyPath(fx.cfg.Metrics))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(fx.cfg.Privacy.KeyPath(fx.cfg.Metrics)) != filepath.Dir(fx.cfg.Metrics) || strings.HasSuffix(fx.cfg.Privacy.KeyPath(fx.cfg.Metrics), ".db") {
		t.Fatalf("key path %s", fx.cfg.Privacy.KeyPath(fx.cfg.Metrics))
	}
	total := report.Text(totalEvents())

	admin := newClient(t, srv)
	admin.signIn("fay", fayPW)
	page := admin.get("/reports/customers").Body.String()
	if l := leaks(page); len(l) != 30 {
		t.Errorf("admin page shows %d of 30 tenant ids and names, want all (admins see tenants)", len(l))
	}

	// aggregate checks one audience's page, JSON, workbook and CSVs.
	aggregate := func(t *testing.T, name, page, json string, xlsx []byte, csv func(panel string) (int, string)) {
		t.Helper()
		wb := xlsxText(t, xlsx)
		for what, body := range map[string]string{"page": page, "JSON": json, "workbook": wb} {
			if l := leaks(body); len(l) > 0 {
				t.Errorf("%s: the %s shows real tenants: %v", name, what, l)
			}
			if !strings.Contains(body, "fewer than 5 customers") {
				t.Errorf("%s: the %s does not suppress the group of 3", name, what)
			}
			if !strings.Contains(body, key.Pseudonym("cust-zeta-15")) {
				t.Errorf("%s: the %s has no pseudonym for the top customer", name, what)
			}
		}
		// Totals exact; the group of 12 shown as it is.
		team := int64(0)
		for _, c := range customers()[3:] {
			team += c.events
		}
		if !strings.Contains(json, `"rows":[[`+total+`]]`) {
			t.Errorf("%s: the fleet total %s is not in the JSON unchanged", name, total)
		}
		if !strings.Contains(json, fmt.Sprintf(`["team",12,%d]`, team)) {
			t.Errorf("%s: the group of 12 tenants is not shown unchanged (team, 12, %d)", name, team)
		}
		if !strings.Contains(json, `["enterprise","fewer than 5 customers",null]`) {
			t.Errorf("%s: the group of 3 is not suppressed in the JSON", name)
		}
		if !strings.Contains(json, `"withheld":"it shows individual customers`) {
			t.Errorf("%s: the customer list is not left out with a reason", name)
		}
		if !strings.Contains(json, `"withheld":"it shows tenant ids and its report declares no privacy rule`) {
			t.Errorf("%s: the panel with no rule that shows tenant ids is not left out", name)
		}
		if !strings.Contains(page, "Not shown here: it shows individual customers") {
			t.Errorf("%s: the page does not say why the list is left out", name)
		}
		if !strings.Contains(wb, "left out: it shows individual customers") {
			t.Errorf("%s: the workbook's About sheet does not say why the list is left out", name)
		}
		if csv != nil {
			for _, p := range []string{"top", "by_plan", "total"} {
				code, body := csv(p)
				if code != http.StatusOK || len(leaks(body)) > 0 {
					t.Errorf("%s: %s.csv: %d, leaks %v", name, p, code, leaks(body))
				}
			}
			if code, body := csv("list"); code != http.StatusForbidden || len(leaks(body)) > 0 {
				t.Errorf("%s: list.csv: %d %q, want 403 with no tenant", name, code, body)
			}
		}
	}

	t.Run("viewer", func(t *testing.T) {
		v := newClient(t, srv)
		v.signIn("ana", anaPW)
		if home := v.get("/").Body.String(); len(leaks(home)) > 0 {
			t.Errorf("the overview's tiles show a viewer %v", leaks(home))
		}
		if home := admin.get("/").Body.String(); !strings.Contains(home, "cust-zeta-15") {
			t.Error("the overview shows admins no busiest customer: the check above proves nothing")
		}
		page := v.get("/reports/customers")
		js := v.get("/api/reports/customers")
		wb := v.get("/reports/customers.xlsx")
		if page.Code != 200 || js.Code != 200 || wb.Code != 200 {
			t.Fatalf("viewer: page %d, JSON %d, xlsx %d", page.Code, js.Code, wb.Code)
		}
		if !strings.Contains(page.Body.String(), "Aggregate view") {
			t.Error("the viewer's page does not say it is an aggregate view")
		}
		aggregate(t, "viewer", page.Body.String(), js.Body.String(), wb.Body.Bytes(), func(p string) (int, string) {
			r := v.get("/reports/customers/" + p + ".csv")
			return r.Code, r.Body.String()
		})
		// Pseudonyms stay the same when new data lands.
		if _, err := fx.mdb.W.Exec("INSERT INTO runs (job, started_at, finished_at, status) VALUES ('test', '2026-03-02T00:00:00Z', '2026-03-02T00:00:01Z', 'ok')"); err != nil {
			t.Fatal(err)
		}
		again := v.get("/api/reports/customers").Body.String()
		pseud := regexp.MustCompile(`customer [0-9a-f]{8}`)
		if a, b := pseud.FindAllString(js.Body.String(), -1), pseud.FindAllString(again, -1); len(a) != 15 || strings.Join(a, ",") != strings.Join(b, ",") {
			t.Errorf("pseudonyms across runs: %d then %d, equal %v", len(a), len(b), strings.Join(a, ",") == strings.Join(b, ","))
		}
	})

	t.Run("admin", func(t *testing.T) {
		js := admin.get("/api/reports/customers").Body.String()
		wb := xlsxText(t, admin.get("/reports/customers.xlsx").Body.Bytes())
		csv := admin.get("/reports/customers/list.csv").Body.String()
		for what, body := range map[string]string{"JSON": js, "workbook": wb, "list CSV": csv} {
			if l := leaks(body); len(l) < 15 {
				t.Errorf("admin %s shows %d tenant ids and names, want them all", what, len(l))
			}
		}
		if strings.Contains(js, "fewer than") || strings.Contains(js, "withheld") {
			t.Error("admins get suppressed or withheld panels")
		}
	})

	t.Run("share link", func(t *testing.T) {
		link := createShare(t, admin, url.Values{"report": {"customers"}, "shared_with": {"Jane Investor"}, "expires": {time.Now().AddDate(0, 0, 10).Format(time.DateOnly)}, "audience": {"aggregate"}})
		guest := newClient(t, srv)
		page := guest.get(link)
		if page.Code != 200 {
			t.Fatalf("share page: %d %s", page.Code, page.Body.String())
		}
		body := page.Body.String()
		if !strings.Contains(body, "Shared with Jane Investor · expires "+time.Now().AddDate(0, 0, 10).Format("2 January 2006")) {
			t.Errorf("the share page does not say who it is shared with and until when")
		}
		wb := guest.get(link + ".xlsx")
		if wb.Code != 200 {
			t.Fatalf("share workbook: %d", wb.Code)
		}
		// JSON is not offered through a link; the page's own data is checked instead.
		aggregate(t, "share link", body, jsonOfPage(srv, "customers", srv.policy), wb.Body.Bytes(), nil)
		if strings.Contains(body, ".csv") || strings.Contains(body, "/api/") || strings.Contains(body, `href="/tenants`) {
			t.Error("the share page links to CSV, JSON or dashboard pages")
		}

		full := createShare(t, admin, url.Values{"report": {"customers"}, "shared_with": {"Board"}, "expires": {time.Now().AddDate(0, 0, 10).Format(time.DateOnly)}, "audience": {"full"}})
		fb := guest.get(full).Body.String()
		if len(leaks(fb)) < 15 || !strings.Contains(fb, "This link shows individual customers") {
			t.Errorf("a link made to show customers: %d tenants shown, says so: %v", len(leaks(fb)), strings.Contains(fb, "This link shows individual customers"))
		}
	})
}

// jsonOfPage is the report's data as audience a sees it (what the share
// page is drawn from), as JSON.
func jsonOfPage(s *Server, name string, a report.Audience) string {
	rep := report.Find(s.reports, name)
	v, _ := s.dataVersion(context.Background())
	fresh := &report.Freshness{}
	b := &bytes.Buffer{}
	enc := jsonEncoder(b)
	enc.Encode(s.reportData(rep, v, fresh, a))
	return b.String()
}

// createShare makes a link through the admin page and returns its path.
func createShare(t *testing.T, admin *client, form url.Values) string {
	t.Helper()
	rec := admin.post("/shares", form)
	if rec.Code != http.StatusOK {
		t.Fatalf("create share: %d %s", rec.Code, rec.Body.String())
	}
	m := regexp.MustCompile(`https://attache\.example\.com(/s/[A-Za-z0-9_-]+)`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no link on the page after creating one")
	}
	return m[1]
}

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "attache-privacy-test-") }

func jsonEncoder(b *bytes.Buffer) *json.Encoder {
	e := json.NewEncoder(b)
	e.SetEscapeHTML(false)
	return e
}

// TestShareLinks: a link opens its report and its workbook and nothing
// else, creates no session, is refused at once when revoked or expired, and
// guessing tokens or passwords is rate-limited; every use is audited.
func TestShareLinks(t *testing.T) {
	fx := privacyFixture(t)
	var mu sync.Mutex
	clock := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	srv := newServerDeps(t, fx, nil, func(_ *config.Config, d *Deps) { d.Now = now })
	admin := newClient(t, srv)
	admin.signIn("fay", fayPW)

	link := createShare(t, admin, url.Values{"report": {"customers"}, "shared_with": {"Jane"}, "expires": {"2026-03-12"}, "audience": {"aggregate"}})
	token := strings.TrimPrefix(link, "/s/")
	if n := len(token); n < 22 {
		t.Fatalf("token %q has %d characters: fewer than 128 bits", token, n)
	}
	var stored int
	if err := fx.mdb.R.QueryRow("SELECT count(*) FROM shares WHERE token_hash = ? OR token_hash = ?", token, hashToken(token)).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	var plain int
	fx.mdb.R.QueryRow("SELECT count(*) FROM shares WHERE token_hash = ? OR report = ? AND instr(token_hash, ?) > 0", token, "customers", token).Scan(&plain)
	if stored != 1 || plain != 0 {
		t.Errorf("stored tokens: %d rows by hash, %d in plain text; want only the hash", stored, plain)
	}

	guest := newClient(t, srv)
	guest.ip = "198.51.100.7"
	if r := guest.get(link); r.Code != 200 {
		t.Fatalf("share page: %d", r.Code)
	}
	if r := guest.get(link + ".xlsx"); r.Code != 200 || !strings.HasPrefix(r.Header().Get("Content-Type"), "application/vnd.openxmlformats") {
		t.Fatalf("share workbook: %d %s", r.Code, r.Header().Get("Content-Type"))
	}
	if _, ok := guest.cookies[sessionCookie]; ok {
		t.Error("opening a share link created a session")
	}
	if got := guest.get(link).Header().Get("Cache-Control"); !strings.Contains(got, "no-store") {
		t.Errorf("share page Cache-Control %q, want no-store", got)
	}
	// Nothing else: the dashboard stays closed to the link's visitor.
	for _, p := range []string{"/", "/reports/customers", "/reports/customers.xlsx", "/api/reports/customers", "/reports/customers/top.csv", "/tenants", "/runs", "/query", "/shares", link + "/top.csv", link + ".csv", "/s/" + token + "x"} {
		if r := guest.get(p); r.Code == http.StatusOK {
			t.Errorf("%s through a share link's visitor: 200, want refused", p)
		}
	}

	// Revoked: refused at once, on the page and the download.
	revokable := createShare(t, admin, url.Values{"report": {"customers"}, "shared_with": {"Bob"}, "expires": {"2026-04-01"}, "audience": {"aggregate"}})
	if r := guest.get(revokable); r.Code != 200 {
		t.Fatalf("before revoking: %d", r.Code)
	}
	var id int64
	fx.mdb.R.QueryRow("SELECT id FROM shares WHERE token_hash = ?", hashToken(strings.TrimPrefix(revokable, "/s/"))).Scan(&id)
	if r := admin.post(fmt.Sprintf("/shares/%d/revoke", id), nil); r.Code != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", r.Code, r.Body.String())
	}
	for _, p := range []string{revokable, revokable + ".xlsx"} {
		if r := guest.get(p); r.Code != http.StatusGone || !strings.Contains(r.Body.String(), "revoked") {
			t.Errorf("%s after revoking: %d, want 410 saying revoked", p, r.Code)
		}
	}
	viewer := newClient(t, srv)
	viewer.signIn("ana", anaPW)
	if r := viewer.get("/shares"); r.Code != http.StatusForbidden {
		t.Errorf("a viewer on /shares: %d, want 403", r.Code)
	}
	if r := viewer.post(fmt.Sprintf("/shares/%d/revoke", id), nil); r.Code != http.StatusForbidden {
		t.Errorf("a viewer revoking: %d, want 403", r.Code)
	}

	// Expired: the link works through its last day, and not a second longer.
	advance(36*time.Hour - time.Second) // 2026-03-11 23:59:59... the link lasts to the end of the 12th
	if r := guest.get(link); r.Code != 200 {
		t.Errorf("on its last day: %d", r.Code)
	}
	advance(24*time.Hour + time.Second) // 2026-03-13 00:00:00
	if r := guest.get(link); r.Code != http.StatusGone || !strings.Contains(r.Body.String(), "expired") {
		t.Errorf("after expiry: %d, want 410 saying expired", r.Code)
	}
	if r := guest.get(link + ".xlsx"); r.Code != http.StatusGone {
		t.Errorf("workbook after expiry: %d, want 410", r.Code)
	}

	// Password: the page and the workbook need it.
	admin.signIn("fay", fayPW) // the clock has moved past the first session
	locked := createShare(t, admin, url.Values{"report": {"customers"}, "shared_with": {"Carol"}, "expires": {"2026-04-01"}, "audience": {"aggregate"}, "password": {"open sesame"}})
	r := guest.get(locked)
	if r.Code != 200 || !strings.Contains(r.Body.String(), `type="password"`) || strings.Contains(r.Body.String(), "Events by plan") {
		t.Fatalf("protected link without its password: %d, shows the form only?", r.Code)
	}
	if r := guest.get(locked + ".xlsx"); r.Code != http.StatusUnauthorized {
		t.Errorf("protected workbook without the password: %d, want 401", r.Code)
	}
	if r := guest.post(locked, url.Values{"password": {"wrong password"}}); r.Code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", r.Code)
	}
	r = guest.post(locked, url.Values{"password": {"open sesame"}})
	if r.Code != 200 || !strings.Contains(r.Body.String(), "Events by plan") {
		t.Fatalf("right password: %d", r.Code)
	}
	m := regexp.MustCompile(`href="(/s/[^"]+\.xlsx\?grant=[^"]+)"`).FindStringSubmatch(r.Body.String())
	if m == nil {
		t.Fatal("no download link on the unlocked page")
	}
	dl := strings.ReplaceAll(m[1], "&amp;", "&")
	if r := guest.get(dl); r.Code != 200 {
		t.Errorf("download of an unlocked page: %d", r.Code)
	}
	if _, ok := guest.cookies[sessionCookie]; ok {
		t.Error("unlocking a link created a session")
	}
	advance(shareGrantTTL + time.Second)
	if r := guest.get(dl); r.Code != http.StatusUnauthorized {
		t.Errorf("an hour-old download link: %d, want 401", r.Code)
	}

	// Guessing: unknown tokens and wrong passwords spend the address's tries.
	guesser := newClient(t, srv)
	guesser.ip = "203.0.113.9"
	limited := false
	for i := 0; i < shareGuesses+2; i++ {
		tok, _ := newToken()
		if r := guesser.get("/s/" + tok); r.Code == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Errorf("%d wrong tokens from one address were all answered", shareGuesses+2)
	}
	if r := guesser.get(locked); r.Code != http.StatusTooManyRequests {
		t.Errorf("a real link from a guessing address: %d, want 429 until the minute passes", r.Code)
	}
	advance(time.Minute)
	if r := guesser.get(locked); r.Code != 200 {
		t.Errorf("after a minute: %d, want the link to work again", r.Code)
	}

	// The admin page lists the links with their views; the audit trail has them all.
	admin.signIn("fay", fayPW)
	list := admin.get("/shares").Body.String()
	for _, w := range []string{"Jane", "Bob", "Carol", "revoked", "expired", "active"} {
		if !strings.Contains(list, w) {
			t.Errorf("the share list does not show %q", w)
		}
	}
	counts := map[string]int{}
	rows, err := fx.mdb.R.Query("SELECT action, ok, count(*) FROM audit WHERE action LIKE 'share.%' GROUP BY 1, 2")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		var ok, n int
		rows.Scan(&a, &ok, &n)
		counts[fmt.Sprintf("%s/%d", a, ok)] = n
	}
	rows.Close()
	if counts["share.create/1"] < 3 || counts["share.revoke/1"] != 1 || counts["share.use/1"] < 5 || counts["share.use/0"] < 3 {
		t.Errorf("audit of share links: %v", counts)
	}
}

func TestShareCreateRefusesBadInput(t *testing.T) {
	fx := privacyFixture(t)
	srv := newServer(t, fx, nil)
	admin := newClient(t, srv)
	admin.signIn("fay", fayPW)
	future := time.Now().AddDate(0, 0, 5).Format(time.DateOnly)
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"report": {"nope"}, "shared_with": {"X"}, "expires": {future}, "audience": {"aggregate"}}, "no report called"},
		{url.Values{"report": {"customers"}, "shared_with": {""}, "expires": {future}, "audience": {"aggregate"}}, "Say who the link is for"},
		{url.Values{"report": {"customers"}, "shared_with": {"X"}, "expires": {"2020-01-01"}, "audience": {"aggregate"}}, "in the past"},
		{url.Values{"report": {"customers"}, "shared_with": {"X"}, "expires": {time.Now().AddDate(2, 0, 0).Format(time.DateOnly)}, "audience": {"aggregate"}}, "at most 366 days"},
		{url.Values{"report": {"customers"}, "shared_with": {"X"}, "expires": {future}, "audience": {"aggregate"}, "password": {"short"}}, "at least 8 characters"},
		{url.Values{"report": {"customers"}, "shared_with": {"X"}, "expires": {future}, "audience": {"everyone"}}, "Choose what the link shows"},
	} {
		r := admin.post("/shares", c.form)
		if r.Code != http.StatusBadRequest || !strings.Contains(r.Body.String(), c.want) {
			t.Errorf("%v: %d, want 400 saying %q", c.form, r.Code, c.want)
		}
	}
}

// TestShippedReportsAggregate: under privacy.viewers: aggregate, no shipped
// report shows a viewer a tenant id or name, in the page or the JSON.
func TestShippedReportsAggregate(t *testing.T) {
	fx := sharedFixture(t)
	srv := newServer(t, fx, func(c *config.Config) { c.Privacy.Viewers = config.AudienceAggregate })
	var ids []string
	rows, err := fx.mdb.R.Query("SELECT tenant_id, coalesce(name, '') FROM rollup_tenant_profile")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, name string
		rows.Scan(&id, &name)
		ids = append(ids, id)
		if len(name) > 6 {
			ids = append(ids, name)
		}
	}
	rows.Close()
	if len(ids) < 12 {
		t.Fatalf("only %d tenant ids and names in the fixture", len(ids))
	}
	v := newClient(t, srv)
	v.signIn("ana", anaPW)
	a := newClient(t, srv)
	a.signIn("fay", fayPW)
	adminSaw := 0
	for _, rep := range []string{"growth", "retention", "usage", "fleet"} {
		for _, p := range []string{"/reports/" + rep, "/api/reports/" + rep} {
			body := v.get(p).Body.String()
			for _, id := range ids {
				if strings.Contains(body, id) {
					t.Errorf("%s shows %q to a viewer under aggregate", p, id)
				}
			}
			ab := a.get(p).Body.String()
			for _, id := range ids {
				if strings.Contains(ab, id) {
					adminSaw++
				}
			}
		}
	}
	if adminSaw == 0 {
		t.Error("admins see no tenant in any shipped report: the check above proves nothing")
	}
}
