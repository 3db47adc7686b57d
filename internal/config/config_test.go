package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseDefaultsAndPaths(t *testing.T) {
	cfg, err := Parse([]byte("metrics: m/metrics.db\ntenants: {dir: /abs/tenants}\n"), "/base")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics != filepath.Join("/base", "m/metrics.db") || cfg.Tenants.Dir != "/abs/tenants" || cfg.Queries != "/base/queries" {
		t.Fatalf("paths: %q %q %q", cfg.Metrics, cfg.Tenants.Dir, cfg.Queries)
	}
	if cfg.BatchSize != 10 || cfg.Workers != 2 || cfg.Listen != "127.0.0.1:8080" || cfg.Location != time.UTC {
		t.Fatalf("defaults: %+v", cfg)
	}
	if _, err := Parse(nil, "/base"); err != nil {
		t.Fatalf("an empty file is all defaults: %v", err)
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("ATTACHE_TEST_DIR", "/from/env")
	hash := "$2a$10$abcdefghijklmnopqrstuuMz2J9YQ4bXl6sVn1k7iQmJ0ZpVQfWkG"
	cfg, err := Parse([]byte("tenants: {dir: \"${ATTACHE_TEST_DIR}/t\"}\n# ${NOT_SET_IN_A_COMMENT}\nauth:\n  users:\n    - {name: ana, password_hash: \""+hash+"\", role: viewer}\n"), "/base")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tenants.Dir != "/from/env/t" || cfg.Auth.Users[0].PasswordHash != hash {
		t.Fatalf("got dir %q hash %q", cfg.Tenants.Dir, cfg.Auth.Users[0].PasswordHash)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"batch_size: 11", "batch_size: 11 is out of range"},
		{"batch_size: 0", "batch_size"},
		{"workers: 9", "workers"},
		{"bogus: 1", "bogus"},
		{"tenants: {dri: x}", "dri"},
		{"workers: many", "workers"},
		{"busy_timeout: soon", "busy_timeout"},
		{"listen: nowhere", "listen"},
		{"timezone: Mars/Base", "timezone"},
		{"metrics: ${ATTACHE_SURELY_UNSET}", "ATTACHE_SURELY_UNSET"},
		{"auth: {users: [{name: x, password_hash: plain, role: viewer}]}", "auth.users[0].password_hash"},
		{"auth: {users: [{name: x, password_hash: $2a$x, role: boss}]}", "auth.users[0].role"},
		{"jobs: [{name: nightly, schedule: 'CRON_TZ='}]", `jobs[0].schedule: job "nightly"`},
		{"jobs: [{name: nightly, schedule: 'CRON_TZ=Europe/Berlin'}]", "nightly"},
		{"jobs: [{name: fast, schedule: '@every 500ms'}]", "too short"},
		{"jobs: [{name: never, schedule: '0 0 30 2 *'}]", "never fires"},
		{"jobs: [{name: typo, schedule: '61 * * * *'}]", `job "typo"`},
		// A job or digest naming a query or report no file could have is
		// refused at load, by the same rules the loaders use.
		{"jobs: [{name: nightly, schedule: '@daily', queries: [my-query]}]", `jobs[0].queries: job "nightly": query name "my-query" may only hold letters, digits and _`},
		{"jobs: [{name: .hidden, schedule: '@daily'}]", `jobs[0].name: ".hidden" may only hold`},
		{"digests: [{name: d, schedule: '@daily', report: growth, to: [nobody]}]", "not an email address"},
		{"digests: [{name: d, schedule: '@daily', report: growth, to: [a@b.c], min_coverage: 2}]", "min_coverage"},
	} {
		_, err := Parse([]byte(c.yaml), "/base")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.yaml, err, c.want)
		}
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "localhost:80": true, "[::1]:8080": true, "0.0.0.0:8080": false, ":8080": false, "10.0.0.5:80": false} {
		if got := Loopback(addr); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
