package digest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/demo"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/roles"
	"github.com/attache/attache/internal/rollup"
	"github.com/attache/attache/internal/sandbox"
)

// base is the metrics DB every test starts from: a demo fleet of 30
// tenants and 90 days, run through the real engine once.
var base struct {
	dir     string
	metrics string
	queries string
	reports string
}

// TestMain serves the engine's and the sandbox's worker processes, and
// otherwise builds the shared fleet once before the tests.
func TestMain(m *testing.M) {
	if code, ok := roles.Serve(); ok {
		os.Exit(code)
	}
	dir, err := os.MkdirTemp("", "attache-digest-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := buildBase(dir); err != nil {
		fmt.Fprintln(os.Stderr, "digest tests: building the fleet:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildBase(dir string) error {
	ctx := context.Background()
	root, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	base.dir = dir
	base.metrics = filepath.Join(dir, "metrics.db")
	base.queries = filepath.Join(root, "queries")
	base.reports = filepath.Join(root, "reports")
	tenants := filepath.Join(dir, "tenants")
	if _, err := demo.Generate(ctx, demo.Options{Dir: tenants, Tenants: 30, Days: 90, Now: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)}, nil); err != nil {
		return err
	}
	cfg := config.Default()
	cfg.Metrics, cfg.Tenants.Dir = base.metrics, tenants
	cfg.Queries, cfg.QueriesFS = base.queries, os.DirFS(base.queries)
	mdb, err := metrics.Open(ctx, cfg.Metrics, time.Second)
	if err != nil {
		return err
	}
	defer mdb.Close()
	_, err = rollup.Run(ctx, &cfg, mdb, rollup.Options{Job: "hourly"})
	return err
}

// fixture is one test's own copy of the metrics DB, with what Build and
// Send need.
type fixture struct {
	cfg  *config.Config
	mdb  *metrics.DB
	deps Deps
	reps []*report.Report
	now  time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "metrics.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(base.metrics + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+suffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return fixtureAt(t, path)
}

func fixtureAt(t *testing.T, path string) *fixture {
	t.Helper()
	ctx := context.Background()
	cfg := config.Default()
	cfg.Metrics = path
	cfg.Queries, cfg.QueriesFS = base.queries, os.DirFS(base.queries)
	cfg.Reports, cfg.ReportsFS = base.reports, os.DirFS(base.reports)
	cfg.Location, _ = time.LoadLocation("Europe/Berlin")
	cfg.BaseURL = "https://attache.example.com"
	cfg.SMTP = config.SMTP{Host: "127.0.0.1", Port: 25, From: "attache <reports@example.com>", TLS: "none"}
	cfg.Digests = []config.Digest{{Name: "weekly-founders", Schedule: "0 8 * * MON", Report: "growth", To: []string{"founders@example.com", "ana@example.com"}, Subject: "Weekly growth — {{.Date}}"}}
	mdb, err := metrics.Open(ctx, path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mdb.Close() })
	sb := sandbox.NewRunner(2, 30*time.Second, time.Second)
	t.Cleanup(sb.Close)
	reps, err := report.LoadDir(cfg.ReportsFS)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, cfg.Location) // a Monday, 08:00 in Berlin
	f := &fixture{cfg: &cfg, mdb: mdb, reps: reps, now: now}
	f.deps = Deps{
		Metrics: mdb, Panels: report.NewRunner(sb, path, cfg.RowLimit), Reports: reps,
		Now: func() time.Time { return f.now }, Attempts: 3, Backoff: 5 * time.Millisecond, Timeout: 5 * time.Second,
	}
	return f
}

func (f *fixture) digest() config.Digest { return f.cfg.Digests[0] }

func (f *fixture) attempts(t *testing.T) []metrics.DigestAttempt {
	t.Helper()
	a, err := f.mdb.DigestAttempts(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	// Oldest first reads better in assertions.
	for i, j := 0, len(a)-1; i < j; i, j = i+1, j-1 {
		a[i], a[j] = a[j], a[i]
	}
	return a
}

func outcomes(a []metrics.DigestAttempt) string {
	var s []string
	for _, x := range a {
		s = append(s, x.Outcome)
	}
	return strings.Join(s, ",")
}

// mailServer is a real SMTP server (emersion/go-smtp) on a loopback port.
type mailServer struct {
	srv  *smtp.Server
	host string
	port int

	mu       sync.Mutex
	refuse   int // answer 451 to the first this many transactions
	always   int // answer this code to every transaction (451, 550), 0: accept
	tries    int // MAIL commands seen
	user     string
	password string
	got      []received
}

type received struct {
	from string
	to   []string
	data []byte
}

type session struct {
	s    *mailServer
	from string
	to   []string
	auth bool
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	if s.s.user != "" && !s.auth {
		return smtp.ErrAuthRequired
	}
	s.s.tries++
	switch {
	case s.s.always >= 500:
		return &smtp.SMTPError{Code: s.s.always, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "sender rejected"}
	case s.s.always >= 400 || s.s.tries <= s.s.refuse:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.s.mu.Lock()
	s.s.got = append(s.s.got, received{from: s.from, to: s.to, data: b})
	s.s.mu.Unlock()
	return nil
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != s.s.user || pass != s.s.password {
			return smtp.ErrAuthFailed
		}
		s.auth = true
		return nil
	}), nil
}

// startMail starts a server; tlsConf makes it offer STARTTLS (or, with
// implicit, speak TLS from the first byte).
func startMail(t *testing.T, tlsConf *tls.Config, implicit bool) *mailServer {
	t.Helper()
	ms := &mailServer{}
	ms.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: ms}, nil }))
	ms.srv.Domain = "localhost"
	ms.srv.ErrorLog = log.New(io.Discard, "", 0) // refused certificates are the point of some tests
	ms.srv.ReadTimeout, ms.srv.WriteTimeout = 10*time.Second, 10*time.Second
	ms.srv.MaxMessageBytes = 20 << 20
	ms.srv.AllowInsecureAuth = tlsConf == nil
	ms.srv.TLSConfig = tlsConf
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		ln = tls.NewListener(ln, tlsConf)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ms.host, ms.port = "127.0.0.1", addr.Port
	go ms.srv.Serve(ln)
	t.Cleanup(func() { ms.srv.Close() })
	return ms
}

func (ms *mailServer) messages() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]received(nil), ms.got...)
}

// point makes the fixture's config send through ms.
func (f *fixture) point(ms *mailServer) {
	f.cfg.SMTP.Host, f.cfg.SMTP.Port = ms.host, ms.port
}

// parsed is a received email taken apart with the standard library.
type parsed struct {
	header      mail.Header
	subject     string
	text        string
	html        string
	attachments map[string][]byte
	types       []string // every part's media type, in order
}

func parseMail(t *testing.T, raw []byte) *parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a parseable message: %v", err)
	}
	p := &parsed{header: msg.Header, attachments: map[string][]byte{}}
	dec := new(mime.WordDecoder)
	if p.subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	walkPart(t, p, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), "", msg.Body)
	return p
}

func walkPart(t *testing.T, p *parsed, ctype, cte, disposition string, body io.Reader) {
	t.Helper()
	media, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", ctype, err)
	}
	p.types = append(p.types, media)
	if strings.HasPrefix(media, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			walkPart(t, p, part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part.Header.Get("Content-Disposition"), part)
		}
	}
	if strings.EqualFold(cte, "base64") {
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if _, dp, err := mime.ParseMediaType(disposition); err == nil && dp["filename"] != "" {
		p.attachments[dp["filename"]] = b
		return
	}
	switch media {
	case "text/plain":
		p.text = string(b)
	case "text/html":
		p.html = string(b)
	}
}
