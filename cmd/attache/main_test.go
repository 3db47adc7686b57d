package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/roles"
)

// TestMain lets the test binary serve as attache's own worker processes.
func TestMain(m *testing.M) {
	if code, ok := roles.Serve(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// runCLI runs the real program in dir with args and returns its output.
func runCLI(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDemoRunQueryTenantsCheck(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	root := filepath.Join(wd, "..", "..")
	writeConfig(t, dir, "metrics: data/metrics.db\ntenants: {dir: data/tenants}\nqueries: "+filepath.Join(root, "queries")+"\nreports: "+filepath.Join(root, "reports")+"\n")

	code, out, errOut := runCLI(t, dir, "demo", "--tenants", "100", "--days", "120")
	if code != 0 || !strings.Contains(out, "demo: 100 tenants") || strings.Contains(out, "(0 on the old schema") {
		t.Fatalf("demo: code %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, dir, "run")
	if code != 0 || !strings.Contains(out, "100 tenants: 100 read, 0 unchanged") {
		t.Fatalf("run: code %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, dir, "run")
	if code != 0 || !strings.Contains(out, "0 read") {
		t.Fatalf("second run should read nothing: %s", out)
	}
	code, out, errOut = runCLI(t, dir, "query", "--format", "json", "SELECT count(*) AS lists FROM tenant.lists")
	var rows []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 100 || rows[0]["tenant_id"] == nil {
		t.Fatalf("query: code %d, %d rows\n%s\n%s", code, len(rows), out, errOut)
	}
	code, out, _ = runCLI(t, dir, "query", "--limit", "3", "--format", "csv", "SELECT id FROM tenant.todos")
	if code != 0 || strings.Count(out, "\n") != 4 {
		t.Fatalf("query --limit 3 gave:\n%s", out)
	}
	code, _, errOut = runCLI(t, dir, "query", "DELETE FROM tenant.todos")
	if code != 1 || !strings.Contains(errOut, "SELECT") {
		t.Fatalf("a DELETE must be refused with a message saying what is allowed: code %d %s", code, errOut)
	}
	code, out, _ = runCLI(t, dir, "tenants", "--sort", "size")
	if code != 0 || strings.Count(out, "\n") != 101 || !strings.HasPrefix(out, "ID") {
		t.Fatalf("tenants:\n%s", out)
	}
	code, out, errOut = runCLI(t, dir, "check")
	if code != 0 || !strings.Contains(out, "priorities:") || !strings.Contains(out, "no such column: priority") {
		t.Fatalf("check should name the tenants on the old schema: code %d\n%s\n%s", code, out, errOut)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ body, want string }{
		{"batch_size: 11\n", "batch_size: 11 is out of range"},
		{"metrics: x.db\nbatch_sise: 3\n", "batch_sise (line 2) is not a known key; did you mean batch_size?"},
		{"workers: zero\n", "workers (line 1): must be a whole number (found `zero`)"},
		{"jobs:\n  - name: x\n    schedul: '@hourly'\n", "jobs[0].schedul (line 3) is not a known key; did you mean schedule?"},
		{"tenants:\n  dir: [a, b]\n", "tenants.dir (line 2): must be a single value (text), not a list"},
		{"busy_timeout: soon\n", "not a duration"},
		{"metrics: ${ATTACHE_TEST_UNSET_VAR}\n", "ATTACHE_TEST_UNSET_VAR"},
	} {
		cfg := writeConfig(t, dir, c.body)
		code, _, errOut := runCLI(t, dir, "run", "--config", cfg)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("config %q: code %d, stderr %q, want it to mention %q", c.body, code, errOut, c.want)
		}
		// Go's type names mean nothing to someone editing a YAML file.
		for _, goName := range []string{" int", "[]string", "config.Config", "config.Job", "!!", "unmarshal", "into "} {
			if strings.Contains(errOut, goName) {
				t.Errorf("config %q: the message shows %q: %s", c.body, goName, errOut)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCLI(t, dir, "nosuch"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown command: %d %s", code, errOut)
	}
	if code, _, _ := runCLI(t, dir, "run", "--bogus"); code != 2 {
		t.Fatalf("bad flag: exit %d, want 2", code)
	}
	writeConfig(t, dir, "tenants: {dir: nowhere}\n")
	if code, _, errOut := runCLI(t, dir, "run"); code != 1 || !strings.Contains(errOut, "attache demo") {
		t.Fatalf("missing tenant dir should say how to make one: %d %s", code, errOut)
	}
}

func TestExitCodesAndHelp(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args    []string
		code    int
		out     string // in stdout
		errText string // in stderr
	}{
		{nil, 2, "", "Usage: attache COMMAND"},
		{[]string{"--help"}, 0, "Usage: attache COMMAND", ""},
		{[]string{"help"}, 0, "Commands:", ""},
		{[]string{"--version"}, 0, "attache ", ""},
		{[]string{"help", "tenants"}, 0, "Usage: attache tenants", ""},
		{[]string{"run", "--help"}, 0, "-full", ""},
		{[]string{"help", "rn"}, 2, "", "did you mean run?"},
		{[]string{"rn"}, 2, "", "did you mean run?"},
		{[]string{"tenants", "--sort", "bogus"}, 2, "", `--sort "bogus": use id, size`},
		{[]string{"query", "--format", "xml", "SELECT 1"}, 2, "", `--format "xml"`},
		{[]string{"query"}, 2, "", "exactly one SQL statement"},
		{[]string{"run", "--bogus"}, 2, "", "flag provided but not defined"},
	} {
		code, out, errOut := runCLI(t, dir, c.args...)
		if code != c.code || !strings.Contains(out, c.out) || !strings.Contains(errOut, c.errText) {
			t.Errorf("attache %v: exit %d (want %d)\nstdout: %s\nstderr: %s", c.args, code, c.code, out, errOut)
		}
	}
}

func TestQueryJSONKeepsColumnOrder(t *testing.T) {
	var b bytes.Buffer
	cols := []string{"tenant_id", "zebra", "apple", "blob"}
	if err := writeJSON(&b, cols, [][]any{{"t1", int64(10000), 0.5, []byte("x")}, {"t\"2", nil, "text", nil}}); err != nil {
		t.Fatal(err)
	}
	want := "[\n  {\"tenant_id\": \"t1\", \"zebra\": 10000, \"apple\": 0.5, \"blob\": \"x\"},\n  {\"tenant_id\": \"t\\\"2\", \"zebra\": null, \"apple\": \"text\", \"blob\": null}\n]\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	var rows []map[string]any
	if err := json.Unmarshal(b.Bytes(), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("not JSON: %v", err)
	}
	b.Reset()
	if err := writeJSON(&b, cols, nil); err != nil || b.String() != "[]\n" {
		t.Errorf("no rows: %q %v", b.String(), err)
	}
}

func TestProgressLine(t *testing.T) {
	for _, c := range []struct {
		done, total int
		elapsed     time.Duration
		want        string
	}{
		{0, 10000, 0, "[........................] 0/10,000 tenants"},
		{2500, 10000, 5 * time.Second, "[######..................] 2,500/10,000 tenants · 500/s · 15.0 s left"},
		{10000, 10000, 20 * time.Second, "[########################] 10,000/10,000 tenants · 500/s"},
	} {
		if got := progressLine(c.done, c.total, "tenants", c.elapsed); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}
