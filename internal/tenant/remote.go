package tenant

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/replica"
	"github.com/attache/attache/internal/sqlite"
	"github.com/attache/attache/internal/turso"
)

// Remote is where a remote tenant lives and how attache reaches it.
type Remote struct {
	URL   string         // libsql://, https:// or http://; never holds a credential
	Token replica.Secret // "" for a server without auth
	// SyncErr is why the last sync failed ("" when it worked or has not run
	// in this process); with a replica left from an earlier sync the
	// tenant is Stale: read, but never counted as fresh.
	SyncErr  string
	Stale    bool
	SyncedAt time.Time
}

// Kind is "remote" for a tenant read through a replica, else "local".
func (t Tenant) Kind() string {
	if t.Remote != nil {
		return "remote"
	}
	return "local"
}

// Location is where the tenant's data lives: its file, or its URL.
func (t Tenant) Location() string {
	if t.Remote != nil {
		return t.Remote.URL
	}
	return t.Path
}

// MissingReason says why a Missing tenant cannot be read.
func (t Tenant) MissingReason() string {
	switch {
	case t.Remote == nil:
		return "database file not found at " + t.Path
	case t.Remote.SyncErr != "":
		return t.Remote.SyncErr + " (no replica from an earlier sync to read)"
	}
	return "not synced yet: `attache run` makes its replica"
}

// hostRe is a bare host name such as crm-acme.turso.io (the turso-crm
// example keeps db_url like this), optionally with a port.
var hostRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+(:[0-9]+)?$`)

// RemoteLocation reads a catalog location: a libsql://, https:// or
// http:// URL, or a bare host name (read as libsql://HOST), is remote;
// anything else is a file path. A name ending in .db, .sqlite, .sqlite3 or
// .db3 is a file even though it looks like a host.
func RemoteLocation(loc string) (string, bool) {
	loc = strings.TrimSpace(loc)
	if config.IsURL(loc) {
		return loc, true
	}
	lower := strings.ToLower(loc)
	for _, ext := range []string{".db", ".sqlite", ".sqlite3", ".db3"} {
		if strings.HasSuffix(lower, ext) {
			return "", false
		}
	}
	if hostRe.MatchString(loc) {
		return "libsql://" + loc, true
	}
	return "", false
}

// remoteTenant makes a remote tenant from a catalog row, when its location
// is remote. A third column named token overrides tenants.auth_token_env.
func remoteTenant(id, loc string, row []any, cols []string, remote config.Remote) (Tenant, bool, error) {
	u, ok := RemoteLocation(loc)
	if !ok {
		return Tenant{}, false, nil
	}
	var token string
	if len(cols) > 2 && strings.EqualFold(cols[2], "token") && row[2] != nil {
		token = fmt.Sprint(row[2])
	}
	u, inURL, err := cleanURL(u)
	if err != nil {
		return Tenant{}, true, fmt.Errorf("tenants.catalog.query: tenant %q: %v", id, err)
	}
	if token == "" {
		token = inURL
	}
	if token == "" && remote.AuthTokenEnv != "" {
		token = os.Getenv(remote.AuthTokenEnv)
	}
	return newRemote(id, u, token, remote), true, nil
}

// cleanURL takes a credential out of a URL (?authToken=…, user:password@),
// so the URL can be shown and stored, and returns it separately.
func cleanURL(raw string) (string, string, error) {
	pu, err := url.Parse(raw)
	if err != nil || pu.Host == "" {
		return "", "", fmt.Errorf("location is not a URL like libsql://NAME-ORG.turso.io")
	}
	token := pu.Query().Get("authToken")
	if pu.User != nil {
		if p, ok := pu.User.Password(); ok && token == "" {
			token = p
		}
		pu.User = nil
	}
	pu.RawQuery, pu.Fragment = "", ""
	return pu.String(), token, nil
}

func newRemote(id, u, token string, remote config.Remote) Tenant {
	return Tenant{ID: id, Path: replica.PathFor(remote.Replicas, id), Remote: &Remote{URL: u, Token: replica.Secret(token)}}
}

// queryOnly hides ExecContext, so reading a remote catalog never asks the
// server to create anything (sqlite.Query would make a temp view).
type queryOnly struct{ c *sql.Conn }

func (q queryOnly) QueryContext(ctx context.Context, s string, args ...any) (*sql.Rows, error) {
	return q.c.QueryContext(ctx, s, args...)
}

// fromRemoteCatalog runs the catalog query on a remote libSQL database (the
// SaaS app's control-plane database, itself on Turso).
func fromRemoteCatalog(ctx context.Context, c config.Catalog, remote config.Remote) ([]Tenant, error) {
	u, inURL, err := cleanURL(c.DB)
	if err != nil {
		return nil, fmt.Errorf("tenants.catalog.db: %v", err)
	}
	token := inURL
	if c.AuthTokenEnv != "" {
		token = os.Getenv(c.AuthTokenEnv)
	}
	dsn := u
	if token != "" {
		dsn += "?" + url.Values{"authToken": {token}}.Encode()
	}
	if err := sqlite.Setup(); err != nil {
		return nil, fmt.Errorf("tenants.catalog.db %s: %w", u, err)
	}
	db, err := sql.Open("libsql", dsn)
	if err != nil {
		return nil, fmt.Errorf("tenants.catalog.db %s: %s", u, scrub(err.Error(), token))
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("tenants.catalog.db %s: %s", u, scrub(err.Error(), token))
	}
	defer conn.Close()
	res, err := sqlite.Query(ctx, queryOnly{conn}, strings.TrimRight(strings.TrimSpace(c.Query), ";"), 0)
	if err != nil {
		msg := scrub(err.Error(), token)
		if strings.Contains(msg, "401") || strings.Contains(strings.ToLower(msg), "unauthorized") {
			msg += " (is the token in tenants.catalog.auth_token_env right?)"
		}
		return nil, fmt.Errorf("tenants.catalog.query on %s: %s (it must return id, location)", u, msg)
	}
	return catalogTenants(res, 0, "", remote)
}

func scrub(msg, secret string) string {
	if len(secret) >= 4 {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
		msg = strings.ReplaceAll(msg, url.QueryEscape(secret), "[redacted]")
	}
	return msg
}

// fromTurso lists the organization's databases through the Platform API:
// id = database name, location = libsql:// + its host name.
func fromTurso(ctx context.Context, tu config.Turso, remote config.Remote) ([]Tenant, error) {
	apiURL := tu.APIURL
	if apiURL == "" {
		apiURL = config.TursoAPIURL
	}
	dbs, err := turso.List(ctx, turso.Options{APIURL: apiURL, Organization: tu.Organization, Token: os.Getenv(tu.APITokenEnv), Group: tu.Group, Match: tu.Match})
	if err != nil {
		return nil, err
	}
	token := ""
	if remote.AuthTokenEnv != "" {
		token = os.Getenv(remote.AuthTokenEnv)
	}
	ts := make([]Tenant, 0, len(dbs))
	for _, d := range dbs {
		t := newRemote(d.Name, d.URL(), token, remote)
		if d.Archived {
			t.Remote.SyncErr = "the database is archived in Turso; unarchive it (`turso db unarchive " + d.Name + "`) to read new data"
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// statReplica fills a remote tenant from its replica: the replication
// position is its fingerprint (a sync that brought nothing new leaves it
// as it was), file times play no part.
func statReplica(t *Tenant) {
	if !replica.Exists(t.Path) {
		t.Missing = true
		t.Fingerprint = "missing"
		return
	}
	t.Size = replica.Size(t.Path)
	t.Remote.SyncedAt = replica.SyncedAt(t.Path)
	t.ModTime = t.Remote.SyncedAt
	t.Fingerprint = "replica:" + replica.Position(t.Path)
}

// Sync brings the replicas of the fleet's remote tenants up to date and
// re-reads their state: a failed sync leaves the tenant Stale when an older
// replica exists, Missing when none does. Local tenants are untouched.
func Sync(ctx context.Context, fleet []Tenant, opt replica.Options) error {
	var s *replica.Syncer
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	return SyncWith(ctx, fleet, func() (*replica.Syncer, error) {
		var err error
		s, err = replica.NewSyncer(opt)
		return s, err
	})
}

// SyncWith is Sync for a fleet listed a page at a time: every page shares
// the one Syncer that syncer makes on first need (no remote tenant, no
// sync processes and no replicas folder).
func SyncWith(ctx context.Context, fleet []Tenant, syncer func() (*replica.Syncer, error)) error {
	var targets []replica.Target
	var idx []int
	for i, t := range fleet {
		if t.Remote == nil || t.Remote.SyncErr != "" {
			continue // local, or known not to sync (archived)
		}
		targets = append(targets, replica.Target{ID: t.ID, URL: t.Remote.URL, Token: t.Remote.Token})
		idx = append(idx, i)
	}
	var st []replica.Status
	if len(targets) > 0 {
		s, err := syncer()
		if err != nil {
			return err
		}
		if st, err = s.Sync(ctx, targets); err != nil {
			return err
		}
	}
	for k, s := range st {
		t := &fleet[idx[k]]
		t.Remote.SyncErr = s.Err
		t.Missing = false
		stat(t, Headers{}) // a replica: its position, not its header
	}
	for i := range fleet {
		if t := &fleet[i]; t.Remote != nil && t.Remote.SyncErr != "" && !t.Missing {
			t.Remote.Stale = true
		}
	}
	return nil
}

// CleanReplicas deletes the replicas in dir of tenants the fleet no longer
// lists, at the first run that stops listing them (no grace period: a
// tenant listed again is synced afresh).
func CleanReplicas(fleet []Tenant, dir string) ([]string, error) {
	keep := map[string]bool{}
	for _, t := range fleet {
		if t.Remote != nil {
			keep[t.Path] = true
		}
	}
	return replica.Clean(dir, keep)
}
