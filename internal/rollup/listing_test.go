package rollup

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/tenant"
)

// Every id, path and message of a listing page lands in run_listing with
// the same bytes, whether the page goes as JSON strings or (when one of
// its texts cannot be a plain JSON string) as hex.
func TestListingPageKeepsEveryByte(t *testing.T) {
	ctx := context.Background()
	mdb, err := metrics.Open(ctx, filepath.Join(t.TempDir(), "metrics.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer mdb.Close()
	conn, err := mdb.W.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := makeTemp(ctx, conn); err != nil {
		t.Fatal(err)
	}
	mod := time.Date(2026, 6, 17, 1, 2, 3, 456789000, time.UTC)
	local := func(id string) tenant.Tenant {
		return tenant.Tenant{ID: id, Path: "/fleet/" + id + ".db", Size: 4096, ModTime: mod, Fingerprint: "q4096:1:2:3"}
	}
	remote := tenant.Tenant{ID: "acme", Path: "/replicas/acme.db", Size: 8192, Fingerprint: "replica:x",
		Remote: &tenant.Remote{URL: "libsql://acme.turso.io", SyncErr: "sync timed out", Stale: true, SyncedAt: mod}}
	gone := tenant.Tenant{ID: "gone", Path: "/fleet/gone.db", Fingerprint: "missing", Missing: true}
	pages := []struct {
		name  string
		page  []tenant.Tenant
		asHex bool
	}{
		{"plain", []tenant.Tenant{local("a"), local("café 🙂"), remote, gone}, false},
		{"quote", []tenant.Tenant{local("b"), local(`say "hi"`)}, true},
		{"backslash", []tenant.Tenant{local(`c\d`)}, true},
		{"control", []tenant.Tenant{local("tab\there")}, true},
		{"not UTF-8", []tenant.Tenant{local("bad\xff\xfe"), local("e")}, true},
		{"remote not UTF-8", []tenant.Tenant{local("f"), {ID: "r\xff", Path: "/replicas/r.db", Fingerprint: "replica:y", Remote: &tenant.Remote{URL: "libsql://r.turso.io"}}}, true},
	}
	var enc listingPage
	for _, p := range pages {
		if _, err := conn.ExecContext(ctx, "DELETE FROM temp.run_listing"); err != nil {
			t.Fatal(err)
		}
		hexed := false
		for _, remote := range []bool{false, true} {
			text, asHex := enc.encode(p.page, remote)
			hexed = hexed || asHex
			if text == "" {
				continue
			}
			if _, err := conn.ExecContext(ctx, listingInsert(remote, asHex), text); err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
		}
		if hexed != p.asHex {
			t.Errorf("%s: went as hex %v, want %v", p.name, hexed, p.asHex)
		}
		got := listingRows(t, conn)
		var want [][]any
		var ordered []tenant.Tenant // local tenants first, as inserted
		for _, remote := range []bool{false, true} {
			for _, tn := range p.page {
				if (tn.Remote != nil) == remote {
					ordered = append(ordered, tn)
				}
			}
		}
		for _, tn := range ordered {
			row := []any{tn.ID, tn.Path, tn.Location(), tn.Size, nil, tn.Fingerprint, nil, "local", nil, nil, "", int64(0)}
			if !tn.ModTime.IsZero() {
				row[4] = metrics.Format(tn.ModTime)
			}
			if tn.Missing {
				row[6] = tn.MissingReason()
			}
			if r := tn.Remote; r != nil {
				row[7], row[8], row[10] = "remote", tn.Size, r.SyncErr
				if !r.SyncedAt.IsZero() {
					row[9] = metrics.Format(r.SyncedAt)
				}
				if r.Stale {
					row[11] = int64(1)
				}
			}
			want = append(want, row)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", p.name, got, want)
		}
	}
}

// listingRows reads run_listing back, text as its bytes, as it moves
// into run_tenants (a local tenant's location is its path).
func listingRows(t *testing.T, conn *sql.Conn) [][]any {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), `SELECT CAST(id AS BLOB), CAST(path AS BLOB), CAST(coalesce(location, path) AS BLOB), size,
		CAST(modified_at AS BLOB), CAST(fingerprint AS BLOB), CAST(missing AS BLOB), CAST(kind AS BLOB), replica_bytes,
		CAST(last_sync_at AS BLOB), CAST(sync_error AS BLOB), stale, typeof(id) || typeof(sync_error) FROM temp.run_listing ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		var id, path, loc, mod, fp, missing, kind, synced, syncErr, types []byte
		var size, stale int64
		var replicaBytes sql.NullInt64
		if err := rows.Scan(&id, &path, &loc, &size, &mod, &fp, &missing, &kind, &replicaBytes, &synced, &syncErr, &stale, &types); err != nil {
			t.Fatal(err)
		}
		if string(types) != "texttext" {
			t.Errorf("id and sync_error stored as %s, want text", types)
		}
		str := func(b []byte) any {
			if b == nil {
				return nil
			}
			return string(b)
		}
		var rb any
		if replicaBytes.Valid {
			rb = replicaBytes.Int64
		}
		out = append(out, []any{string(id), string(path), string(loc), size, str(mod), string(fp), str(missing), string(kind), rb, str(synced), string(syncErr), stale})
	}
	return out
}

// A source that lists an id twice is refused, naming the id, on a first
// run and on a later one.
func TestTenantListedTwiceIsRefused(t *testing.T) {
	e := setup(t, map[string]string{"todo_counts": todoCounts})
	todoTenant(t, e.dir, "a", 2)
	todoTenant(t, e.dir, "b", 2)
	list := e.catalogOf(t)
	refused := func(when string) {
		t.Helper()
		_, err := Run(context.Background(), e.cfg, e.mdb, Options{})
		if err == nil || !strings.Contains(err.Error(), `tenant id "b" appears twice`) {
			t.Fatalf("%s: err = %v, want the id listed twice named", when, err)
		}
	}
	list("a", "b", "b")
	refused("first run")
	list("a", "b")
	if sum := e.run(t, Options{}); sum.OK != 2 {
		t.Fatalf("%+v, want both read", sum)
	}
	list("b", "a", "b")
	refused("after a run of 2 tenants")
}
