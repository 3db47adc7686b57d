package turso

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const apiToken = "platform-secret-token"

// platform serves the documented list-databases JSON for organization
// "acme": the one part of a Turso fleet that cannot run for real here.
func platform(t *testing.T, pages int) *httptest.Server {
	t.Helper()
	dbs := []string{
		`{"Name":"tenant-b","DbId":"2","Hostname":"tenant-b-acme.turso.io","group":"default","regions":["lhr"],"primaryRegion":"lhr","type":"logical","version":"0.24.1","is_schema":false,"schema":"","archived":false,"block_reads":false,"block_writes":false,"allow_attach":false}`,
		`{"Name":"tenant-a","DbId":"1","Hostname":"tenant-a-acme.turso.io","group":"default","is_schema":false,"archived":false}`,
		`{"Name":"schema-parent","DbId":"3","Hostname":"schema-parent-acme.turso.io","group":"default","is_schema":true}`,
		`{"Name":"crm-catalog","DbId":"4","Hostname":"crm-catalog-acme.turso.io","group":"control","is_schema":false}`,
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+apiToken {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"invalid token"}`)
			return
		}
		if r.URL.Path != "/v1/organizations/acme/databases" {
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":"organization not found"}`)
			return
		}
		var list []string
		for _, d := range dbs {
			if g := r.URL.Query().Get("group"); g == "" || strings.Contains(d, `"group":"`+g+`"`) {
				list = append(list, d)
			}
		}
		if pages <= 1 {
			fmt.Fprintf(w, `{"databases":[%s]}`, strings.Join(list, ","))
			return
		}
		n := 1
		fmt.Sscan(r.URL.Query().Get("page"), &n)
		per := (len(list) + pages - 1) / pages
		lo, hi := min((n-1)*per, len(list)), min(n*per, len(list))
		fmt.Fprintf(w, `{"databases":[%s],"pagination":{"page":%d,"page_size":%d,"total_pages":%d,"total_rows":%d}}`,
			strings.Join(list[lo:hi], ","), n, per, pages, len(list))
	}))
}

func names(dbs []Database) string {
	var s []string
	for _, d := range dbs {
		s = append(s, d.Name+"="+d.URL())
	}
	return strings.Join(s, " ")
}

func TestListDocumentedResponse(t *testing.T) {
	srv := platform(t, 1)
	defer srv.Close()
	ctx := context.Background()
	dbs, err := List(ctx, Options{APIURL: srv.URL, Organization: "acme", Token: apiToken})
	if err != nil {
		t.Fatal(err)
	}
	want := "crm-catalog=libsql://crm-catalog-acme.turso.io tenant-a=libsql://tenant-a-acme.turso.io tenant-b=libsql://tenant-b-acme.turso.io"
	if got := names(dbs); got != want {
		t.Fatalf("got  %s\nwant %s (sorted, schema parent left out)", got, want)
	}
	dbs, err = List(ctx, Options{APIURL: srv.URL, Organization: "acme", Token: apiToken, Group: "default", Match: `^tenant-`})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(dbs); got != "tenant-a=libsql://tenant-a-acme.turso.io tenant-b=libsql://tenant-b-acme.turso.io" {
		t.Fatalf("group+match: %s", got)
	}
}

func TestListFollowsPagination(t *testing.T) {
	srv := platform(t, 3)
	defer srv.Close()
	dbs, err := List(context.Background(), Options{APIURL: srv.URL, Organization: "acme", Token: apiToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(dbs) != 3 {
		t.Fatalf("got %d databases over 3 pages, want 3: %s", len(dbs), names(dbs))
	}
}

func TestListErrorsNameTheCauseNotTheToken(t *testing.T) {
	srv := platform(t, 1)
	defer srv.Close()
	ctx := context.Background()
	_, err := List(ctx, Options{APIURL: srv.URL, Organization: "acme", Token: "wrong-" + apiToken})
	if err == nil || !strings.Contains(err.Error(), "api_token_env was refused") || strings.Contains(err.Error(), apiToken) {
		t.Fatalf("bad token: %v", err)
	}
	_, err = List(ctx, Options{APIURL: srv.URL, Organization: "nobody", Token: apiToken})
	if err == nil || !strings.Contains(err.Error(), "tenants.turso.organization") {
		t.Fatalf("unknown organization: %v", err)
	}
	srv.Close()
	_, err = List(ctx, Options{APIURL: srv.URL, Organization: "acme", Token: apiToken})
	if err == nil || strings.Contains(err.Error(), apiToken) {
		t.Fatalf("server down: %v", err)
	}
}
