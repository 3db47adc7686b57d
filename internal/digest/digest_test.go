package digest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/report"
)

// The whole path: a digest of the demo's growth report arrives at a real
// SMTP server with a text part, an HTML part and the workbook, and the send
// is recorded.
func TestSendArrives(t *testing.T) {
	f := newFixture(t)
	ms := startMail(t, nil, false)
	f.point(ms)
	res, err := Send(context.Background(), f.cfg, f.digest(), f.deps)
	if err != nil {
		t.Fatal(err)
	}
	got := ms.messages()
	if len(got) != 1 {
		t.Fatalf("%d messages arrived, want 1", len(got))
	}
	if !slices.Equal(got[0].to, []string{"founders@example.com", "ana@example.com"}) || got[0].from != "reports@example.com" {
		t.Errorf("envelope from %q to %v", got[0].from, got[0].to)
	}
	p := parseMail(t, got[0].data)
	if p.subject != "Weekly growth — 23 Nov 2026" {
		t.Errorf("subject %q", p.subject)
	}
	if !slices.Equal(p.types[:4], []string{"multipart/mixed", "multipart/alternative", "text/plain", "text/html"}) {
		t.Errorf("structure %v, want mixed(alternative(text, html), attachment)", p.types)
	}
	rep := report.Find(f.reps, "growth")
	link := "https://attache.example.com/reports/growth"
	for part, body := range map[string]string{"text": p.text, "html": p.html} {
		for _, want := range []string{rep.Title, "as of run 1", "30 of 30 tenants", link, "growth-2026-11-23.xlsx", "n/a"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q", part, want)
			}
		}
		if !strings.ContainsAny(body, "▁▂▃▄▅▆▇█") {
			t.Errorf("%s part has no sparkline", part)
		}
	}
	if strings.Contains(p.html, "http://") || strings.Contains(p.html, "src=") || strings.Contains(p.html, "@import") {
		t.Error("the HTML refers to something to load")
	}
	xlsx, ok := p.attachments["growth-2026-11-23.xlsx"]
	if !ok {
		t.Fatalf("no workbook attached (attachments: %d)", len(p.attachments))
	}
	wb, err := excelize.OpenReader(bytes.NewReader(xlsx))
	if err != nil {
		t.Fatalf("the attachment is not a workbook: %v", err)
	}
	defer wb.Close()
	sheets := wb.GetSheetList()
	if len(sheets) != len(rep.Panels)+2 || sheets[0] != "Summary" || sheets[len(sheets)-1] != "About" {
		t.Errorf("sheets %v, want Summary, one per panel (%d) and About", sheets, len(rep.Panels))
	}
	a := f.attempts(t)
	if outcomes(a) != "sent" || a[0].RunID != 1 || a[0].Delivery != res.Delivery || len(a[0].Recipients) != 2 {
		t.Errorf("attempts %+v", a)
	}
	vals, _, err := f.mdb.DigestValues(context.Background(), "weekly-founders", f.now)
	if err != nil || vals["tenants"] != 30 {
		t.Errorf("kept values %v %v, want tenants=30", vals, err)
	}

	// A week later, the numbers are compared with this digest's.
	f.now = f.now.AddDate(0, 0, 7)
	m, err := Render(context.Background(), f.cfg, f.digest(), f.deps)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "no change, week over week") {
		t.Errorf("a week later the text should compare week over week:\n%s", m.Text)
	}
}

// The change against the previous digest: ▲ 20% week over week when the
// last digest said 25 and the report now says 30.
func TestChangeWeekOverWeek(t *testing.T) {
	f := newFixture(t)
	j, err := metrics.OpenJournal(f.cfg.Metrics, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	if err := j.SaveDigestValues(ctx, "weekly-founders", f.now.AddDate(0, 0, -7), map[string]float64{"tenants": 25}); err != nil {
		t.Fatal(err)
	}
	// A test send two days ago is too recent to be the base.
	if err := j.SaveDigestValues(ctx, "weekly-founders", f.now.AddDate(0, 0, -2), map[string]float64{"tenants": 29}); err != nil {
		t.Fatal(err)
	}
	m, err := Render(ctx, f.cfg, f.digest(), f.deps)
	if err != nil {
		t.Fatal(err)
	}
	if m.Held != "" {
		t.Fatalf("held: %s", m.Held)
	}
	for _, part := range []string{m.Text, m.HTML} {
		if !strings.Contains(part, "▲ 20%") || !strings.Contains(part, "week over week") {
			t.Errorf("want ▲ 20%% week over week in:\n%s", part)
		}
	}
}

func TestChangeOf(t *testing.T) {
	for _, c := range []struct {
		v, base    float64
		hasBase    bool
		share      bool
		text       string
		dir        int
		labelEmpty bool
	}{
		{112, 100, true, false, "▲ 12%", 1, true},
		{96.6, 100, true, false, "▼ 3.4%", -1, true},
		{100, 100, true, false, "no change", 0, true},
		{5, 0, true, false, "n/a", 0, false},
		{5, 0, false, false, "n/a", 0, false},
		{0.27, 0.25, true, true, "▲ 2.0 pts", 1, true},
		{100.01, 100, true, false, "▲ <0.1%", 1, true},
	} {
		ch := changeOf(c.v, true, c.base, c.hasBase, c.share)
		if ch.Text != c.text || ch.Dir != c.dir || (ch.Label == "") != c.labelEmpty {
			t.Errorf("changeOf(%v, %v) = %+v, want %q dir %d", c.v, c.base, ch, c.text, c.dir)
		}
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	week := 7 * 24 * time.Hour
	at := time.Date(2026, 11, 9, 7, 0, 0, 0, time.UTC)
	if got := comparison(week, week, at, berlin); got != "week over week" {
		t.Errorf("comparison = %q", got)
	}
	if got := comparison(week, 2*week, at, berlin); got != "since 9 Nov 08:00" {
		t.Errorf("two weeks: %q", got)
	}
	if got := comparison(24*time.Hour, 24*time.Hour, at, berlin); got != "day over day" {
		t.Errorf("daily: %q", got)
	}
}

func TestSparkline(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		in   []float64
		want string
	}{
		{[]float64{0, 1, 2, 3, 4, 5, 6, 7}, "▁▂▃▄▅▆▇█"},
		{[]float64{5, 5, 5}, "▄▄▄"},
		{[]float64{1, nan, 3}, "▁ █"},
		{[]float64{-10, 0, 10}, "▁▅█"},
		{nil, ""},
	} {
		if got := Sparkline(c.in); got != c.want {
			t.Errorf("Sparkline(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A server that defers the first two attempts gets the third; every
// attempt is recorded.
func TestRetriedAfterRefusals(t *testing.T) {
	f := newFixture(t)
	ms := startMail(t, nil, false)
	ms.refuse = 2
	f.point(ms)
	res, err := Send(context.Background(), f.cfg, f.digest(), f.deps)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 3 || len(ms.messages()) != 1 {
		t.Errorf("attempts %d, messages %d; want 3 and 1", res.Attempts, len(ms.messages()))
	}
	a := f.attempts(t)
	if outcomes(a) != "retry,retry,sent" {
		t.Fatalf("recorded %s, want retry,retry,sent", outcomes(a))
	}
	if !strings.Contains(a[0].Error, "451") || a[0].Attempt != 1 || a[2].Attempt != 3 || a[0].Delivery != a[2].Delivery {
		t.Errorf("attempts %+v", a)
	}
}

// A server that never accepts: every attempt recorded, the last as failed,
// and an error naming the server and what to check.
func TestNeverAccepted(t *testing.T) {
	f := newFixture(t)
	ms := startMail(t, nil, false)
	ms.always = 451
	f.point(ms)
	_, err := Send(context.Background(), f.cfg, f.digest(), f.deps)
	if err == nil {
		t.Fatal("no error")
	}
	addr := ms.host + ":" + itoa(ms.port)
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "3 attempts") || !strings.Contains(err.Error(), "deferring") {
		t.Errorf("error %q should name %s, the attempts and what to check", err, addr)
	}
	if got := outcomes(f.attempts(t)); got != "retry,retry,failed" {
		t.Errorf("recorded %s", got)
	}
	problems, err := f.mdb.DigestProblems(context.Background(), f.now.Add(-time.Hour), 10)
	if err != nil || len(problems) != 1 || problems[0].Outcome != metrics.OutcomeFailed {
		t.Errorf("DigestProblems %+v %v, want the one failure", problems, err)
	}
}

// Nothing listening: the error names host:port and says to check them.
func TestNoServer(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	f.cfg.SMTP.Port = port
	f.deps.Attempts = 2
	_, err = Send(context.Background(), f.cfg, f.digest(), f.deps)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:"+itoa(port)) || !strings.Contains(err.Error(), "check smtp.host and smtp.port") {
		t.Errorf("error %v", err)
	}
	if got := outcomes(f.attempts(t)); got != "retry,failed" {
		t.Errorf("recorded %s", got)
	}
}

// A final 5xx answer is not retried.
func TestPermanentRefusalNotRetried(t *testing.T) {
	f := newFixture(t)
	ms := startMail(t, nil, false)
	ms.always = 550
	f.point(ms)
	_, err := Send(context.Background(), f.cfg, f.digest(), f.deps)
	if err == nil || !strings.Contains(err.Error(), "no retry") || !strings.Contains(err.Error(), "smtp.from") {
		t.Errorf("error %v", err)
	}
	if got := outcomes(f.attempts(t)); got != "failed" {
		t.Errorf("recorded %s, want one failed attempt", got)
	}
}

// Fail closed: a run that read 72% of the fleet holds the digest; no mail
// is sent and the hold is recorded with its reason.
func TestHeldOnLowCoverage(t *testing.T) {
	f := newFixture(t)
	ms := startMail(t, nil, false)
	f.point(ms)
	res, err := f.mdb.W.Exec("INSERT INTO runs (job, started_at, finished_at, status, tenants_total, tenants_ok, tenants_failed, tenants_unchanged) VALUES ('hourly', ?, ?, 'ok', 100, 50, 28, 22)",
		metrics.Format(f.now.Add(-time.Hour)), metrics.Format(f.now.Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	// The 28 failed a query the growth report reads.
	runID, _ := res.LastInsertId()
	for i := 0; i < 28; i++ {
		if _, err := f.mdb.W.Exec("INSERT INTO tenant_errors (run_id, tenant_id, query, error) VALUES (?, ?, 'active', 'database is locked')", runID, fmt.Sprintf("t%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = Send(context.Background(), f.cfg, f.digest(), f.deps)
	var held *HeldError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "coverage 72% below 90%") {
		t.Fatalf("error %v, want a hold naming the coverage", err)
	}
	if n := len(ms.messages()); n != 0 || ms.tries != 0 {
		t.Errorf("%d messages, %d tries; a held digest sends nothing", n, ms.tries)
	}
	a := f.attempts(t)
	if len(a) != 1 || a[0].Outcome != metrics.OutcomeHeld || !strings.HasPrefix(a[0].Error, "held: coverage 72% below 90%") {
		t.Errorf("recorded %+v", a)
	}
	// min_coverage 0.7 lets it through.
	d := f.digest()
	low := 0.7
	d.MinCoverage = &low
	if _, err := Send(context.Background(), f.cfg, d, f.deps); err != nil {
		t.Errorf("with min_coverage 0.7: %v", err)
	}
}

// No run yet: held, nothing sent.
func TestHeldWithoutData(t *testing.T) {
	f := fixtureAt(t, filepath.Join(t.TempDir(), "metrics.db"))
	ms := startMail(t, nil, false)
	f.point(ms)
	_, err := Send(context.Background(), f.cfg, f.digest(), f.deps)
	var held *HeldError
	if !errors.As(err, &held) || !strings.Contains(held.Reason, "no finished run") {
		t.Fatalf("error %v", err)
	}
	if len(ms.messages()) != 0 {
		t.Error("a digest without data was sent")
	}
	// The preview still renders, says why, and shows the panels' errors.
	m, err := Render(context.Background(), f.cfg, f.digest(), f.deps)
	if err != nil || !strings.Contains(m.Held, "no finished run") || !strings.Contains(m.HTML, "no such table") {
		t.Errorf("preview: %v, held %q", err, m.Held)
	}
}

// Tenant data is text in the HTML, never markup.
func TestEscaping(t *testing.T) {
	f := newFixture(t)
	rep, err := report.Parse("evil.yaml", []byte(`
title: "Evil <b>report</b>"
panels:
  - id: n
    title: "<img src=x onerror=alert(1)>"
    chart: number
    sql: SELECT 7 AS n
  - id: t
    title: Tenants
    chart: table
    sql: SELECT '</td><script>alert(1)</script>' AS tenant_id, 3 AS events
`))
	if err != nil {
		t.Fatal(err)
	}
	f.deps.Reports = append(f.deps.Reports, rep)
	d := f.digest()
	d.Report, d.Subject = "evil", "{{.Report}}\r\nBcc: victim@example.com"
	m, err := Build(context.Background(), f.cfg, d, f.deps)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img", "<b>report"} {
		if strings.Contains(m.HTML, bad) {
			t.Errorf("HTML contains %q unescaped", bad)
		}
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Error("the tenant's text is missing from the HTML")
	}
	eml, err := m.EML()
	if err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, eml)
	if p.header.Get("Bcc") != "" || strings.ContainsAny(p.subject, "\r\n") {
		t.Errorf("the subject template injected a header: %q", p.subject)
	}
}

func TestSubjectAndFind(t *testing.T) {
	f := newFixture(t)
	d := f.digest()
	d.Subject = "{{.Nope}}"
	if _, err := Build(context.Background(), f.cfg, d, f.deps); err == nil || !strings.Contains(err.Error(), "{{.Date}}") {
		t.Errorf("bad subject: %v", err)
	}
	if err := Check(f.cfg, f.reps); err != nil {
		t.Errorf("Check: %v", err)
	}
	f.cfg.Digests[0].Report = "nope"
	if err := Check(f.cfg, f.reps); err == nil || !strings.Contains(err.Error(), "growth") {
		t.Errorf("Check with a missing report: %v", err)
	}
	if _, err := Find(f.cfg, "monthly"); err == nil || !strings.Contains(err.Error(), "weekly-founders") {
		t.Errorf("Find: %v", err)
	}
}

// STARTTLS with a certificate made here, and a PLAIN sign-in with the
// password from the environment; then implicit TLS.
func TestTLSAndAuth(t *testing.T) {
	serverConf, pool := selfSigned(t)
	for _, mode := range []string{"starttls", "tls"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			ms := startMail(t, serverConf, mode == "tls")
			ms.user, ms.password = "attache", "s3cret"
			f.point(ms)
			t.Setenv("ATTACHE_TEST_SMTP_PASSWORD", "s3cret")
			f.cfg.SMTP.TLS, f.cfg.SMTP.Username, f.cfg.SMTP.PasswordEnv = mode, "attache", "ATTACHE_TEST_SMTP_PASSWORD"
			f.deps.TLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
			if _, err := Send(context.Background(), f.cfg, f.digest(), f.deps); err != nil {
				t.Fatal(err)
			}
			if len(ms.messages()) != 1 {
				t.Fatal("no message")
			}
			// A wrong password is final and says where the password comes from.
			t.Setenv("ATTACHE_TEST_SMTP_PASSWORD", "wrong")
			_, err := Send(context.Background(), f.cfg, f.digest(), f.deps)
			if err == nil || !strings.Contains(err.Error(), "$ATTACHE_TEST_SMTP_PASSWORD") {
				t.Errorf("wrong password: %v", err)
			}
			// Without the private CA the certificate is refused, not ignored.
			f.deps.TLS = nil
			t.Setenv("ATTACHE_TEST_SMTP_PASSWORD", "s3cret")
			if _, err := Send(context.Background(), f.cfg, f.digest(), f.deps); err == nil || !strings.Contains(err.Error(), "smtp.tls") {
				t.Errorf("untrusted certificate: %v", err)
			}
		})
	}
}

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attache test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestSummary(t *testing.T) {
	long := "How many tenants use the product. " + strings.Repeat("More words follow here. ", 20)
	if got := summary(long); len([]rune(got)) > 200 || !strings.HasPrefix(got, "How many tenants use the product. More") || !strings.HasSuffix(got, "here.") {
		t.Errorf("summary = %q, want whole sentences up to 200 characters", got)
	}
	if got := summary("Short."); got != "Short." {
		t.Errorf("summary = %q", got)
	}
	if got := summary(strings.Repeat("x", 300)); len([]rune(got)) != 200 || !strings.HasSuffix(got, "…") {
		t.Errorf("one long sentence: %q", got)
	}
}
