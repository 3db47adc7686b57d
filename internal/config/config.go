// Package config loads attache's config.yaml: defaults first, the file over
// them, ${ENV} expanded in values, then Validate names the key that is wrong.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/attache/attache/internal/yamlfile"

	"github.com/attache/attache/internal/names"

	"github.com/robfig/cron/v3"
	"golang.org/x/text/currency"
	"gopkg.in/yaml.v3"
)

// MaxBatch is SQLite's default limit of attached databases per connection.
const MaxBatch = 10

// Config is the whole of config.yaml. Paths are absolute after Load.
type Config struct {
	Metrics      string   `yaml:"metrics"`
	Tenants      Tenants  `yaml:"tenants"`
	Queries      string   `yaml:"queries"`
	Reports      string   `yaml:"reports"`
	BatchSize    int      `yaml:"batch_size"`
	Workers      int      `yaml:"workers"`
	BusyTimeout  Duration `yaml:"busy_timeout"`
	BatchTimeout Duration `yaml:"batch_timeout"`
	QueryTimeout Duration `yaml:"query_timeout"`
	// ExportTimeout bounds one whole export stream, which can be far longer
	// than a panel on screen.
	ExportTimeout Duration `yaml:"export_timeout"`
	RowLimit      int      `yaml:"row_limit"`

	Listen   string `yaml:"listen"`
	BaseURL  string `yaml:"base_url"`
	Auth     Auth   `yaml:"auth"`
	Timezone string `yaml:"timezone"`
	// Currency is the ISO 4217 code money columns show in; rollups hold
	// integer minor units (cents), whatever the currency.
	Currency string `yaml:"currency"`

	// Security: see the README's Security section.
	TrustedProxies []string `yaml:"trusted_proxies"` // CIDRs whose X-Forwarded-For is believed
	Audit          Audit    `yaml:"audit"`
	ResultMaxMB    int      `yaml:"result_max_mb"`     // an ad-hoc result is cut at this many MB
	SandboxMemMB   int      `yaml:"sandbox_memory_mb"` // memory limit of each query child

	Jobs    []Job    `yaml:"jobs"`
	Digests []Digest `yaml:"digests"`
	SMTP    SMTP     `yaml:"smtp"`

	// Privacy says which audiences see individual tenants (internal/privacy).
	Privacy Privacy `yaml:"privacy"`

	// File is the config file this was loaded from ("" for the embedded default).
	File string `yaml:"-"`
	// Location is Timezone, loaded.
	Location *time.Location `yaml:"-"`
	// QueriesFS and ReportsFS read the queries and reports folders; they fall
	// back to the embedded demo files when the folder does not exist on disk.
	QueriesFS fs.FS `yaml:"-"`
	ReportsFS fs.FS `yaml:"-"`
}

// Tenants says where the fleet comes from: a folder, a catalog query or the
// Turso Platform API; remote tenants are read through local replicas.
type Tenants struct {
	Dir     string   `yaml:"dir"`
	Catalog *Catalog `yaml:"catalog"`
	Turso   *Turso   `yaml:"turso"`
	Remote  `yaml:",inline"`
}

// Catalog lists tenants with a query returning (id, location[, token]) rows.
type Catalog struct {
	// DB is a file path or a libsql://, https:// or http:// URL.
	DB           string `yaml:"db"`
	AuthTokenEnv string `yaml:"auth_token_env"`
	Query        string `yaml:"query"`
}

// Turso lists every database of an organization through the Platform API.
type Turso struct {
	Organization string `yaml:"organization"`
	APITokenEnv  string `yaml:"api_token_env"`
	Group        string `yaml:"group"`
	// Match is a regexp a database name must match to be a tenant.
	Match  string `yaml:"match"`
	APIURL string `yaml:"api_url"`
}

// Remote says how remote tenants are reached and where their embedded
// replicas live. Tokens and keys are read from the environment only.
type Remote struct {
	AuthTokenEnv             string   `yaml:"auth_token_env"`
	Replicas                 string   `yaml:"replicas"`
	ReplicasEncryptionKeyEnv string   `yaml:"replicas_encryption_key_env"`
	SyncWorkers              int      `yaml:"sync_workers"`
	SyncTimeout              Duration `yaml:"sync_timeout"`
}

func defaultRemote() Remote {
	return Remote{Replicas: "data/replicas", SyncWorkers: 4, SyncTimeout: Duration(2 * time.Minute)}
}

// TursoAPIURL is the public Platform API.
const TursoAPIURL = "https://api.turso.tech"

// IsURL reports whether a database location is a remote URL rather than a
// file path.
func IsURL(loc string) bool {
	for _, p := range []string{"libsql://", "https://", "http://"} {
		if strings.HasPrefix(strings.ToLower(loc), p) {
			return true
		}
	}
	return false
}

// Auth lists the people who may sign in.
type Auth struct {
	Users []User `yaml:"users"`
}

// User is one sign-in; PasswordHash is bcrypt (see `attache passwd`).
type User struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"`
	Role         string `yaml:"role"`
}

// Roles a user can have.
const (
	RoleViewer = "viewer"
	RoleAdmin  = "admin"
)

// Audit configures the audit trail.
type Audit struct {
	// Retention is how long entries are kept ("400d", "720h"); 0 keeps them
	// forever.
	Retention Age `yaml:"retention"`
}

// Age is a duration that may also be written in days: "400d".
type Age time.Duration

// UnmarshalYAML parses "400d" or Go duration syntax ("720h"); "0" is zero.
func (a *Age) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	if d, ok := strings.CutSuffix(v, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(d, "%d", &days); err != nil || fmt.Sprint(days) != d || days < 0 {
			return fmt.Errorf("line %d: %q is not a number of days (use 400d)", n.Line, n.Value)
		}
		*a = Age(time.Duration(days) * 24 * time.Hour)
		return nil
	}
	if v == "0" {
		*a = 0
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("line %d: %q is not an age (use 400d or 720h)", n.Line, n.Value)
	}
	*a = Age(d)
	return nil
}

// D returns the value as a time.Duration.
func (a Age) D() time.Duration { return time.Duration(a) }

// TrustedNets parses trusted_proxies (Validate has checked them).
func (c *Config) TrustedNets() []*net.IPNet {
	var out []*net.IPNet
	for _, p := range c.TrustedProxies {
		if n, err := parseNet(p); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// parseNet reads a CIDR, or a single address as its own /32 or /128.
func parseNet(s string) (*net.IPNet, error) {
	if !strings.Contains(s, "/") {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("%q is not an address or CIDR", s)
		}
		if ip.To4() != nil {
			s += "/32"
		} else {
			s += "/128"
		}
	}
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not an address or CIDR (e.g. 10.0.0.0/8)", s)
	}
	return n, nil
}

// Job runs queries into rollups on a schedule.
type Job struct {
	Name     string   `yaml:"name"`
	Schedule string   `yaml:"schedule"`
	Queries  []string `yaml:"queries"`
}

// Digest emails a report on a schedule.
type Digest struct {
	Name        string   `yaml:"name"`
	Schedule    string   `yaml:"schedule"`
	Report      string   `yaml:"report"`
	To          []string `yaml:"to"`
	Subject     string   `yaml:"subject"`
	MinCoverage *float64 `yaml:"min_coverage"`
	// Audience is full or aggregate (see Privacy); "" follows privacy.digests.
	Audience string `yaml:"audience"`
}

// DigestAudience is who digest d goes to: its own audience, or privacy.digests.
func (c *Config) DigestAudience(d Digest) string {
	if d.Audience != "" {
		return d.Audience
	}
	return c.Privacy.Digests
}

// Coverage is the share of the fleet the last run must have read for the
// digest to send; 0.9 unless set.
func (d Digest) Coverage() float64 {
	if d.MinCoverage == nil {
		return 0.9
	}
	return *d.MinCoverage
}

// Audiences of Privacy: full sees individual tenants, aggregate sees none.
const (
	AudienceFull      = "full"
	AudienceAggregate = "aggregate"
)

// Privacy is who sees individual tenants: admins always do; viewers,
// share links and digests as set here.
type Privacy struct {
	Viewers  string `yaml:"viewers"`   // signed-in viewers: full (default) or aggregate
	Shared   string `yaml:"shared"`    // new share links: aggregate (default) or full
	Digests  string `yaml:"digests"`   // emailed digests: full (default) or aggregate
	MinGroup int    `yaml:"min_group"` // rows standing for fewer tenants are suppressed; default 5
	// KeyFile holds the secret that pseudonyms are an HMAC under; created
	// on first use. Default: privacy.key beside the metrics DB, never inside it.
	KeyFile string `yaml:"key_file"`
}

// KeyPath is where the pseudonym key lives for a metrics DB at metrics.
func (p Privacy) KeyPath(metrics string) string {
	if p.KeyFile != "" {
		return p.KeyFile
	}
	return filepath.Join(filepath.Dir(metrics), "privacy.key")
}

// SMTP is the mail server digests go through.
type SMTP struct {
	Host        string `yaml:"host"`
	Port        int    `yaml:"port"`
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`
	From        string `yaml:"from"`
	TLS         string `yaml:"tls"`
}

// Password reads the SMTP password from the environment variable named by
// password_env, so secrets never sit in the file.
func (s SMTP) Password() string {
	if s.PasswordEnv == "" {
		return ""
	}
	return os.Getenv(s.PasswordEnv)
}

// Duration is a time.Duration written as "5s", "2m" in YAML.
type Duration time.Duration

// UnmarshalYAML parses Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use 500ms, 5s, 2m)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Default is the configuration before any file is read: the demo fleet in
// data/, a local metrics DB, loopback only.
func Default() Config {
	return Config{
		Metrics:       "data/metrics.db",
		Tenants:       Tenants{Dir: "data/tenants", Remote: defaultRemote()},
		Queries:       "queries",
		Reports:       "reports",
		BatchSize:     MaxBatch,
		Workers:       2,
		BusyTimeout:   Duration(5 * time.Second),
		BatchTimeout:  Duration(10 * time.Minute),
		QueryTimeout:  Duration(30 * time.Second),
		ExportTimeout: Duration(10 * time.Minute),
		RowLimit:      10000,
		Listen:        "127.0.0.1:8080",
		BaseURL:       "http://localhost:8080",
		Timezone:      "UTC",
		Currency:      "USD",
		SMTP:          SMTP{Port: 587, TLS: "starttls"},
		Audit:         Audit{Retention: Age(400 * 24 * time.Hour)},
		ResultMaxMB:   10,
		SandboxMemMB:  512,
		Privacy:       Privacy{Viewers: AudienceFull, Shared: AudienceAggregate, Digests: AudienceFull, MinGroup: 5},
	}
}

// Load reads the config file at path over Default and validates it. When
// path is "" the embedded default (data) is used with dir as its folder.
// embedded holds the shipped queries/ and reports/ as a fallback.
func Load(path string, embeddedDefault []byte, embedded fs.FS) (*Config, error) {
	data, dir, name := embeddedDefault, "", "embedded config.yaml"
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		data, dir, name = b, filepath.Dir(abs), path
	} else {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		dir = wd
	}
	cfg, err := Parse(data, dir)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	cfg.File = path
	cfg.QueriesFS = dirOrEmbedded(cfg.Queries, embedded, "queries")
	cfg.ReportsFS = dirOrEmbedded(cfg.Reports, embedded, "reports")
	return cfg, nil
}

func dirOrEmbedded(dir string, embedded fs.FS, sub string) fs.FS {
	if st, err := os.Stat(dir); err == nil && st.IsDir() || embedded == nil {
		return os.DirFS(dir)
	}
	f, err := fs.Sub(embedded, sub)
	if err != nil {
		return os.DirFS(dir)
	}
	return f
}

// Parse decodes YAML over Default, expands ${ENV}, resolves relative paths
// against dir and validates.
func Parse(data []byte, dir string) (*Config, error) {
	cfg := Default()
	// Strict decode first, so an unknown key is reported at its own line.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, friendlyYAML(err, nil)
	}
	if bad := yamlfile.UnknownKeys(&root, reflect.TypeOf(Config{})); len(bad) > 0 {
		return nil, fmt.Errorf("%s (see the configuration reference in README.md)", strings.Join(bad, "; "))
	}
	probe := Default()
	if err := dec.Decode(&probe); err != nil && !errors.Is(err, io.EOF) {
		return nil, friendlyYAML(err, &root)
	}
	if err := expandEnv(&root, ""); err != nil {
		return nil, err
	}
	if len(root.Content) > 0 {
		if err := root.Decode(&cfg); err != nil {
			return nil, friendlyYAML(err, &root)
		}
	}
	cfg.resolve(dir)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// friendlyYAML is a YAML error of config.yaml for people.
func friendlyYAML(err error, root *yaml.Node) error {
	return fmt.Errorf("%s (see the configuration reference in README.md)", yamlfile.Explain(err, root))
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} in scalar values only (never in comments, and
// never a bare $ so bcrypt hashes like $2a$10$... are left alone).
func expandEnv(n *yaml.Node, key string) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var missing string
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
			name := envRef.FindStringSubmatch(m)[1]
			v, ok := os.LookupEnv(name)
			if !ok && missing == "" {
				missing = name
			}
			return v
		})
		if missing != "" {
			return fmt.Errorf("%s: line %d refers to ${%s}, which is not set in the environment; set it or remove the reference", key, n.Line, missing)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if key != "" {
				k = key + "." + k
			}
			if err := expandEnv(n.Content[i+1], k); err != nil {
				return err
			}
		}
	default:
		for _, c := range n.Content {
			if err := expandEnv(c, key); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Config) resolve(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.Metrics = abs(c.Metrics)
	c.Tenants.Dir = abs(c.Tenants.Dir)
	if c.Tenants.Catalog != nil && !IsURL(c.Tenants.Catalog.DB) {
		c.Tenants.Catalog.DB = abs(c.Tenants.Catalog.DB)
	}
	c.Tenants.Replicas = abs(c.Tenants.Replicas)
	c.Queries = abs(c.Queries)
	c.Reports = abs(c.Reports)
	c.Privacy.KeyFile = abs(c.Privacy.KeyFile)
}

// orgRe is what a Turso organization slug looks like; Turso's rule, not
// one of attache's names (see internal/names).
var orgRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// Validate checks every value and names the key that is wrong.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if c.Metrics == "" {
		bad("metrics", "is empty; give the path of the metrics database, e.g. data/metrics.db")
	}
	switch {
	case c.Tenants.Catalog != nil && c.Tenants.Turso != nil:
		bad("tenants", "has both catalog and turso; keep one tenant source")
	case c.Tenants.Catalog != nil:
		if c.Tenants.Catalog.DB == "" {
			bad("tenants.catalog.db", "is empty; give the catalog database path or URL")
		}
		if strings.TrimSpace(c.Tenants.Catalog.Query) == "" {
			bad("tenants.catalog.query", "is empty; give a query returning (id, location), e.g. SELECT id, db_url FROM organizations")
		}
		if IsURL(c.Tenants.Catalog.DB) {
			if err := checkURL(c.Tenants.Catalog.DB); err != nil {
				bad("tenants.catalog.db", "%v", err)
			}
			if c.Tenants.Catalog.AuthTokenEnv != "" {
				if _, ok := os.LookupEnv(c.Tenants.Catalog.AuthTokenEnv); !ok {
					bad("tenants.catalog.auth_token_env", "names %s, which is not set in the environment; export the catalog database's token there", c.Tenants.Catalog.AuthTokenEnv)
				}
			}
		}
	case c.Tenants.Turso != nil:
		tu := c.Tenants.Turso
		if !orgRe.MatchString(tu.Organization) {
			bad("tenants.turso.organization", "%q is not an organization slug (the name in `turso org list`)", tu.Organization)
		}
		if tu.APITokenEnv == "" {
			bad("tenants.turso.api_token_env", "is empty; name the environment variable holding a Platform API token (`turso auth api-tokens mint attache`)")
		} else if _, ok := os.LookupEnv(tu.APITokenEnv); !ok {
			bad("tenants.turso.api_token_env", "names %s, which is not set in the environment", tu.APITokenEnv)
		}
		if tu.Match != "" {
			if _, err := regexp.Compile(tu.Match); err != nil {
				bad("tenants.turso.match", "%q is not a regular expression: %v", tu.Match, err)
			}
		}
		if tu.APIURL == "" {
			tu.APIURL = TursoAPIURL
		} else if !strings.HasPrefix(tu.APIURL, "https://") && !strings.HasPrefix(tu.APIURL, "http://") {
			bad("tenants.turso.api_url", "%q must start with https:// (or http:// for a local server)", tu.APIURL)
		}
		if c.Tenants.AuthTokenEnv == "" {
			bad("tenants.auth_token_env", "is empty; the Turso databases need a token (a group token, read-only is enough)")
		}
	case c.Tenants.Dir == "":
		bad("tenants", "needs dir (a folder of *.db files), catalog {db, query} or turso {organization, api_token_env}")
	}
	if env := c.Tenants.AuthTokenEnv; env != "" {
		if _, ok := os.LookupEnv(env); !ok {
			bad("tenants.auth_token_env", "names %s, which is not set in the environment; export the tenants' token there (a read-only group token is enough)", env)
		}
	}
	if env := c.Tenants.ReplicasEncryptionKeyEnv; env != "" {
		if v, ok := os.LookupEnv(env); !ok || v == "" {
			bad("tenants.replicas_encryption_key_env", "names %s, which is not set (or empty) in the environment", env)
		}
	}
	if c.Tenants.Replicas == "" {
		bad("tenants.replicas", "is empty; give the folder for replicas of remote tenants, e.g. data/replicas")
	}
	if c.Tenants.SyncWorkers < 1 || c.Tenants.SyncWorkers > 32 {
		bad("tenants.sync_workers", "%d is out of range; use 1..32", c.Tenants.SyncWorkers)
	}
	if c.Tenants.SyncTimeout <= 0 {
		bad("tenants.sync_timeout", "must be positive, e.g. 2m")
	}
	if c.BatchSize < 1 || c.BatchSize > MaxBatch {
		bad("batch_size", "%d is out of range; use 1..%d (SQLite attaches at most %d databases per connection)", c.BatchSize, MaxBatch, MaxBatch)
	}
	if c.Workers < 1 || c.Workers > 8 {
		bad("workers", "%d is out of range; use 1..8 (one per core is best)", c.Workers)
	}
	if c.BatchTimeout <= 0 {
		bad("batch_timeout", "must be positive, e.g. 10m")
	}
	if c.BusyTimeout < 0 {
		bad("busy_timeout", "must not be negative")
	}
	if c.QueryTimeout <= 0 {
		bad("query_timeout", "must be positive, e.g. 30s")
	}
	if c.ExportTimeout <= 0 {
		bad("export_timeout", "must be positive, e.g. 10m")
	}
	if c.RowLimit < 1 {
		bad("row_limit", "%d must be at least 1", c.RowLimit)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not host:port, e.g. 127.0.0.1:8080", c.Listen)
	}
	if c.BaseURL != "" && !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		bad("base_url", "%q must start with http:// or https://", c.BaseURL)
	}
	for i, p := range c.TrustedProxies {
		if _, err := parseNet(p); err != nil {
			bad(fmt.Sprintf("trusted_proxies[%d]", i), "%v", err)
		}
	}
	if c.Audit.Retention != 0 && c.Audit.Retention.D() < 24*time.Hour {
		bad("audit.retention", "%s is under a day; keep entries at least 1d, or 0 to keep them forever", c.Audit.Retention.D())
	}
	if c.ResultMaxMB < 1 {
		bad("result_max_mb", "%d must be at least 1", c.ResultMaxMB)
	}
	if c.SandboxMemMB < 128 {
		bad("sandbox_memory_mb", "%d is too small for a query child; use 128 or more", c.SandboxMemMB)
	}
	seenUser := map[string]bool{}
	for i, u := range c.Auth.Users {
		key := fmt.Sprintf("auth.users[%d]", i)
		if u.Name == "" {
			bad(key+".name", "is empty")
		} else if seenUser[u.Name] {
			bad(key+".name", "%q appears twice", u.Name)
		}
		seenUser[u.Name] = true
		if !strings.HasPrefix(u.PasswordHash, "$2") {
			bad(key+".password_hash", "for %q is not a bcrypt hash; make one with `attache passwd`", u.Name)
		}
		if u.Role != RoleViewer && u.Role != RoleAdmin {
			bad(key+".role", "%q for %q must be viewer or admin", u.Role, u.Name)
		}
	}
	if c.Timezone == "" {
		c.Timezone = "UTC"
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		bad("timezone", "%q is not a known time zone (use an IANA name such as Europe/Berlin or UTC)", c.Timezone)
	}
	c.Location = loc
	if c.Currency == "" {
		c.Currency = "USD"
	}
	if u, err := currency.ParseISO(c.Currency); err != nil {
		bad("currency", "%q is not an ISO 4217 currency code (use one such as USD, EUR, GBP or JPY)", c.Currency)
	} else {
		c.Currency = u.String()
	}
	seenJob := map[string]bool{}
	for i, j := range c.Jobs {
		key := fmt.Sprintf("jobs[%d]", i)
		if err := names.Job(j.Name); err != nil {
			bad(key+".name", "%v", err)
		} else if seenJob[j.Name] {
			bad(key+".name", "%q appears twice", j.Name)
		}
		seenJob[j.Name] = true
		if err := CheckSchedule(j.Schedule); err != nil {
			bad(key+".schedule", "job %q: %v", j.Name, err)
		}
		for _, q := range j.Queries {
			if err := names.Query(q); err != nil {
				bad(key+".queries", "job %q: query %v (a file queries/NAME.sql)", j.Name, err)
			}
		}
	}
	seenDigest := map[string]bool{}
	for i, d := range c.Digests {
		key := fmt.Sprintf("digests[%d]", i)
		if err := names.Job(d.Name); err != nil {
			bad(key+".name", "%v", err)
		} else if seenDigest[d.Name] {
			bad(key+".name", "%q appears twice", d.Name)
		}
		seenDigest[d.Name] = true
		if err := CheckSchedule(d.Schedule); err != nil {
			bad(key+".schedule", "digest %q: %v", d.Name, err)
		}
		if err := names.Report(d.Report); err != nil {
			bad(key+".report", "digest %q: report name %v (a file reports/NAME.yaml)", d.Name, err)
		}
		if len(d.To) == 0 {
			bad(key+".to", "digest %q has no recipients", d.Name)
		}
		for _, a := range d.To {
			if !strings.Contains(a, "@") {
				bad(key+".to", "digest %q: %q is not an email address", d.Name, a)
			}
		}
		if d.Audience != "" && d.Audience != AudienceFull && d.Audience != AudienceAggregate {
			bad(key+".audience", "digest %q: %q must be full (individual tenants shown) or aggregate (none shown)", d.Name, d.Audience)
		}
		if d.MinCoverage != nil && (*d.MinCoverage < 0 || *d.MinCoverage > 1) {
			bad(key+".min_coverage", "digest %q: %v must be between 0 and 1", d.Name, *d.MinCoverage)
		}
	}
	if len(c.Digests) > 0 {
		if c.SMTP.Host == "" {
			bad("smtp.host", "is empty but digests are configured")
		}
		if c.SMTP.From == "" {
			bad("smtp.from", "is empty but digests are configured")
		}
	}
	if c.SMTP.Port < 0 || c.SMTP.Port > 65535 {
		bad("smtp.port", "%d is not a port", c.SMTP.Port)
	}
	switch c.SMTP.TLS {
	case "starttls", "tls", "none":
	default:
		bad("smtp.tls", "%q must be starttls, tls or none", c.SMTP.TLS)
	}
	for _, a := range [][2]string{{"privacy.viewers", c.Privacy.Viewers}, {"privacy.shared", c.Privacy.Shared}, {"privacy.digests", c.Privacy.Digests}} {
		if a[1] != AudienceFull && a[1] != AudienceAggregate {
			bad(a[0], "%q must be full (individual tenants shown) or aggregate (none shown)", a[1])
		}
	}
	if c.Privacy.MinGroup < 1 {
		bad("privacy.min_group", "%d must be at least 1 (5 is common)", c.Privacy.MinGroup)
	}
	if c.SMTP.PasswordEnv != "" {
		if _, ok := os.LookupEnv(c.SMTP.PasswordEnv); !ok && len(c.Digests) > 0 {
			bad("smtp.password_env", "names %s, which is not set in the environment", c.SMTP.PasswordEnv)
		}
	}
	return errors.Join(errs...)
}

// checkURL accepts a remote database URL without credentials in it: a
// token belongs in the environment, where it never reaches logs.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a URL like libsql://NAME-ORG.turso.io", redactURL(raw))
	}
	if u.User != nil || u.Query().Has("authToken") {
		return fmt.Errorf("%s carries a credential; put the token in the environment and name it with auth_token_env", redactURL(raw))
	}
	return nil
}

// redactURL drops anything after the host, where a credential could sit.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the value"
	}
	return u.Scheme + "://" + u.Hostname()
}

// CheckSchedule parses a cron expression the way the scheduler will,
// turning the parser's panics (a bare "CRON_TZ=") into errors.
func CheckSchedule(spec string) (err error) {
	if strings.TrimSpace(spec) == "" {
		return errors.New("schedule is empty; use 5-field cron (\"0 8 * * MON\") or @hourly, @daily, @every 15m")
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%q is not a valid schedule: %v", spec, r)
		}
	}()
	sched, err := ParseSchedule(spec)
	if err != nil {
		return fmt.Errorf("%q is not a valid schedule: %v", spec, err)
	}
	// The library quietly turns these into something else or into never.
	if f := strings.Fields(spec); len(f) == 2 && f[0] == "@every" {
		if d, err := time.ParseDuration(f[1]); err == nil && d < time.Second {
			return fmt.Errorf("%q is too short an interval; use at least @every 1s", spec)
		}
	}
	if sched.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return fmt.Errorf("%q never fires (no such day in any year); check the day of month and month fields", spec)
	}
	return nil
}

// ParseSchedule parses standard 5-field cron or @descriptors.
func ParseSchedule(spec string) (cron.Schedule, error) {
	if f := strings.Fields(spec); len(f) > 0 && (strings.HasPrefix(f[0], "CRON_TZ=") || strings.HasPrefix(f[0], "TZ=")) {
		if _, tz, _ := strings.Cut(f[0], "="); tz == "" || len(f) == 1 {
			return nil, errors.New("CRON_TZ= needs a time zone and a schedule after it; prefer the top-level timezone key")
		}
	}
	return cron.ParseStandard(spec)
}

// Loopback reports whether listen is on a loopback address only.
func Loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
