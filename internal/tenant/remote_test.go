package tenant

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/fleettest"
	"github.com/attache/attache/internal/replica"
	"github.com/attache/attache/internal/sqldtest"
	"github.com/attache/attache/internal/worker"
)

// TestMain lets the test binary serve as the replica sync processes.
func TestMain(m *testing.M) {
	if worker.Role() == replica.Role {
		if err := replica.Serve(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRemoteLocation(t *testing.T) {
	for in, want := range map[string]string{
		"crm-acme.turso.io":         "libsql://crm-acme.turso.io",
		"db-1.example.com:8080":     "libsql://db-1.example.com:8080",
		"libsql://a-b.turso.io":     "libsql://a-b.turso.io",
		"http://127.0.0.1:8080":     "http://127.0.0.1:8080",
		"HTTPS://x.turso.io":        "HTTPS://x.turso.io",
		"acme.db":                   "",
		"tenants/acme.db":           "",
		"/srv/tenants/acme.sqlite":  "",
		"acme":                      "",
		"file:/srv/tenants/acme.db": "",
		"backup.2026-11-01.sqlite3": "",
		"../crm.turso.io/x":         "",
	} {
		got, ok := RemoteLocation(in)
		if (want != "") != ok || got != want {
			t.Errorf("%q: got %q %v, want %q", in, got, ok, want)
		}
	}
	u, tok, err := cleanURL("libsql://a.turso.io?authToken=sekrit")
	if err != nil || u != "libsql://a.turso.io" || tok != "sekrit" {
		t.Fatalf("cleanURL: %q %q %v", u, tok, err)
	}
}

// TestRemoteCatalogMixedFleet: the catalog itself on sqld (as turso-crm
// keeps it), listing bare host names, URLs, a per-tenant token column and
// a local file in one fleet.
func TestRemoteCatalogMixedFleet(t *testing.T) {
	srv := sqldtest.Start(t)
	root := t.TempDir()
	local := filepath.Join(root, "local.db")
	fleettest.Write(t, local, "tenant", "CREATE TABLE tenant.todos (id INTEGER PRIMARY KEY)", "INSERT INTO tenant.todos DEFAULT VALUES")
	var rows []string
	for _, id := range []string{"acme", "globex"} {
		u := srv.CreateDB(t, id)
		srv.Exec(t, id, "CREATE TABLE todos (id INTEGER PRIMARY KEY)", "INSERT INTO todos DEFAULT VALUES")
		tok := "NULL"
		if id == "globex" {
			// Its own token: the group token in the environment is wrong.
			tok = "'" + srv.Token(true) + "'"
		}
		rows = append(rows, fmt.Sprintf("('%s', '%s', %s)", id, u, tok))
	}
	rows = append(rows, fmt.Sprintf("('local', '%s', NULL)", local))
	catURL := srv.CreateDB(t, "catalog")
	srv.Exec(t, "catalog", "CREATE TABLE organizations (id TEXT PRIMARY KEY, db_url TEXT, token TEXT)",
		"INSERT INTO organizations VALUES "+strings.Join(rows, ", "))

	t.Setenv("CATALOG_TOKEN", srv.Token(true))
	t.Setenv("TENANTS_TOKEN", srv.Token(true))
	src := config.Tenants{
		Catalog: &config.Catalog{DB: catURL, AuthTokenEnv: "CATALOG_TOKEN", Query: "SELECT id, db_url, token FROM organizations WHERE id != 'globex' OR true"},
		Remote:  config.Remote{AuthTokenEnv: "TENANTS_TOKEN", Replicas: filepath.Join(root, "replicas"), SyncWorkers: 2, SyncTimeout: config.Duration(time.Minute)},
	}
	ctx := context.Background()
	fleet, err := List(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, tn := range fleet {
		kinds = append(kinds, tn.ID+":"+tn.Kind()+":"+fmt.Sprint(tn.Missing))
	}
	if got := strings.Join(kinds, " "); got != "acme:remote:true globex:remote:true local:local:false" {
		t.Fatalf("before any sync: %s", got)
	}
	if r := fleet[0].MissingReason(); !strings.Contains(r, "attache run") {
		t.Fatalf("unsynced reason: %s", r)
	}
	// The per-tenant token wins over a wrong group token.
	t.Setenv("TENANTS_TOKEN", sqldtest.ForeignToken())
	fleet, err = List(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := Sync(ctx, fleet, replica.Options{Dir: src.Replicas, Workers: 2, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	acme, globex := fleet[0], fleet[1]
	if globex.Missing || globex.Remote.SyncErr != "" || !strings.HasPrefix(globex.Fingerprint, "replica:") {
		t.Fatalf("globex with its own token: %+v %+v", globex, globex.Remote)
	}
	if !acme.Missing || !strings.Contains(acme.MissingReason(), "token is wrong") {
		t.Fatalf("acme with a wrong token and no replica: %v %q", acme.Missing, acme.MissingReason())
	}
	if acme.Location() != srv.URL("acme") || strings.Contains(fmt.Sprintf("%+v %+v", acme, *acme.Remote), srv.Token(true)) {
		t.Fatalf("location %q, or the token shows in %+v", acme.Location(), *acme.Remote)
	}
}

func TestTursoPlatformSource(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer api-secret" || r.URL.Path != "/v1/organizations/acme/databases" {
			w.WriteHeader(401)
			return
		}
		fmt.Fprint(w, `{"databases":[
			{"Name":"cust-2","DbId":"b","Hostname":"cust-2-acme.turso.io","group":"default","is_schema":false,"archived":false},
			{"Name":"cust-1","DbId":"a","Hostname":"cust-1-acme.turso.io","group":"default","is_schema":false,"archived":true},
			{"Name":"crm","DbId":"c","Hostname":"crm-acme.turso.io","group":"default","is_schema":false,"archived":false}]}`)
	}))
	defer api.Close()
	t.Setenv("TURSO_API_TOKEN", "api-secret")
	t.Setenv("TURSO_DB_AUTH_TOKEN", "group-secret")
	dir := t.TempDir()
	fleet, err := List(context.Background(), config.Tenants{
		Turso:  &config.Turso{Organization: "acme", APITokenEnv: "TURSO_API_TOKEN", Match: "^cust-", APIURL: api.URL},
		Remote: config.Remote{AuthTokenEnv: "TURSO_DB_AUTH_TOKEN", Replicas: dir},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(fleet) != 2 || fleet[0].ID != "cust-1" || fleet[1].Location() != "libsql://cust-2-acme.turso.io" ||
		fleet[1].Path != filepath.Join(dir, "cust-2.db") || fleet[1].Remote.Token.Reveal() != "group-secret" {
		t.Fatalf("got %+v", fleet)
	}
	if !strings.Contains(fleet[0].Remote.SyncErr, "archived") {
		t.Fatalf("archived database: %+v", fleet[0].Remote)
	}
}
