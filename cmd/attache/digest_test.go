package main

import (
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// inbox is an in-process SMTP server that keeps what it is sent.
type inbox struct {
	mu  sync.Mutex
	rcp [][]string
}

type inboxSession struct {
	in *inbox
	to []string
}

func (s *inboxSession) Reset()                               { s.to = nil }
func (s *inboxSession) Logout() error                        { return nil }
func (s *inboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *inboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *inboxSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	s.in.mu.Lock()
	s.in.rcp = append(s.in.rcp, s.to)
	s.in.mu.Unlock()
	return nil
}

func TestDigestCommand(t *testing.T) {
	in := &inbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &inboxSession{in: in}, nil }))
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	dir := t.TempDir()
	wd, _ := os.Getwd()
	root := filepath.Join(wd, "..", "..")
	cfg := "metrics: data/metrics.db\ntenants: {dir: data/tenants}\nqueries: " + filepath.Join(root, "queries") + "\nreports: " + filepath.Join(root, "reports") + `
timezone: Europe/Berlin
digests:
  - {name: weekly, schedule: "0 8 * * MON", report: growth, to: [founders@example.com], subject: "Weekly growth — {{.Date}}"}
smtp: {host: 127.0.0.1, port: ` + port + `, from: "attache <reports@example.com>", tls: none}
`
	writeConfig(t, dir, cfg)

	// Before any run there is nothing to send.
	if code, _, errOut := runCLI(t, dir, "digest", "weekly", "--dry-run"); code != 1 || !strings.Contains(errOut, "attache run") {
		t.Fatalf("digest before a run: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, dir, "demo", "--tenants", "20", "--days", "60"); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := runCLI(t, dir, "run"); code != 0 {
		t.Fatal(errOut)
	}

	code, out, errOut := runCLI(t, dir, "digest", "weekly", "--dry-run")
	if code != 0 || !strings.Contains(errOut, "dry run, nothing sent") {
		t.Fatalf("--dry-run: code %d\n%s", code, errOut)
	}
	msg, err := mail.ReadMessage(strings.NewReader(out))
	if err != nil {
		t.Fatalf("--dry-run did not print a parseable .eml: %v", err)
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if !strings.HasPrefix(subj, "Weekly growth — ") || msg.Header.Get("To") != "<founders@example.com>" {
		t.Errorf("headers: subject %q, to %q", subj, msg.Header.Get("To"))
	}
	media, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || media != "multipart/mixed" {
		t.Fatalf("content type %q %v", media, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts = append(parts, ct)
	}
	if len(parts) != 2 || parts[0] != "multipart/alternative" || !strings.Contains(parts[1], "spreadsheetml") {
		t.Errorf("parts %v, want the alternative and the workbook", parts)
	}
	if len(in.rcp) != 0 {
		t.Error("a dry run sent mail")
	}

	code, out, errOut = runCLI(t, dir, "digest", "weekly", "--to", "me@example.com")
	if code != 0 || !strings.Contains(out, "sent to me@example.com") {
		t.Fatalf("send --to: %d %s %s", code, out, errOut)
	}
	if len(in.rcp) != 1 || len(in.rcp[0]) != 1 || in.rcp[0][0] != "me@example.com" {
		t.Errorf("recipients %v, want only me@example.com", in.rcp)
	}

	if code, _, errOut := runCLI(t, dir, "digest", "monthly"); code != 1 || !strings.Contains(errOut, "weekly") {
		t.Errorf("unknown digest should list the configured ones: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, dir, "digest"); code != 2 || !strings.Contains(errOut, "weekly") {
		t.Errorf("no name: %d %s", code, errOut)
	}

	// A mail server that is not there: the error names it and says what to check.
	srv.Close()
	code, _, errOut = runCLI(t, dir, "digest", "weekly")
	if code != 1 || !strings.Contains(errOut, "127.0.0.1:"+port) || !strings.Contains(errOut, "check smtp.host and smtp.port") {
		t.Errorf("server down: %d %s", code, errOut)
	}

	// The workbook a digest attaches is a whole-table export: it runs under
	// export_timeout wherever the digest is built, never under the
	// query_timeout meant for one panel on a page (which cannot be met
	// here).
	writeConfig(t, dir, cfg+"query_timeout: 1ns\nexport_timeout: 5m\n")
	if code, _, errOut := runCLI(t, dir, "digest", "weekly", "--dry-run"); code != 0 {
		t.Errorf("digest under export_timeout: code %d\n%s", code, errOut)
	}
	// And a limit that stops an export names the key to raise.
	writeConfig(t, dir, cfg+"export_timeout: 1ns\n")
	if code, _, errOut := runCLI(t, dir, "digest", "weekly", "--dry-run"); code != 1 || !strings.Contains(errOut, "raise export_timeout") {
		t.Errorf("digest past export_timeout: code %d\n%s", code, errOut)
	}
}
