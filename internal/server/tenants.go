package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/sqlite"
)

const (
	tenantsPerPage  = 200
	rollupRowsShown = 50
)

type tenantsView struct {
	Tenants   []metrics.TenantRow
	Sort      string
	Q         string
	Page      int
	Pages     int
	Total     int // after the filter
	Sorts     []sortLink
	PrevURL   string
	NextURL   string
	FirstShow int
}

type sortLink struct {
	Key, Label, URL string
	Active          bool
}

// tenantList is /tenants: the fleet, sortable and searchable, a page at a time.
func (s *Server) tenantList(c echo.Context) error {
	sort := c.QueryParam("sort")
	if _, ok := metrics.TenantOrder[sort]; !ok {
		sort = "id"
	}
	q := strings.TrimSpace(c.QueryParam("q"))
	page, _ := strconv.Atoi(c.QueryParam("page"))
	page = max(page, 1)
	// One page is read, never the fleet: OFFSET costs a walk past the
	// earlier rows, which at 200 a page is fine for the pages people open.
	from := (page - 1) * tenantsPerPage
	rows, total, err := s.mdb.TenantsPage(c.Request().Context(), sort, q, from, tenantsPerPage)
	if err != nil {
		return err
	}
	v := tenantsView{Sort: sort, Q: q, Total: total, Pages: max(1, (total+tenantsPerPage-1)/tenantsPerPage)}
	v.Page = min(page, v.Pages)
	if v.Page != page {
		// Past the last page: show the last one.
		from = (v.Page - 1) * tenantsPerPage
		if rows, _, err = s.mdb.TenantsPage(c.Request().Context(), sort, q, from, tenantsPerPage); err != nil {
			return err
		}
	}
	v.Tenants = rows
	v.FirstShow = from + 1
	link := func(sort string, page int) string {
		p := url.Values{}
		if sort != "id" {
			p.Set("sort", sort)
		}
		if q != "" {
			p.Set("q", q)
		}
		if page > 1 {
			p.Set("page", strconv.Itoa(page))
		}
		if len(p) == 0 {
			return "/tenants"
		}
		return "/tenants?" + p.Encode()
	}
	for _, k := range []struct{ key, label string }{{"id", "Tenant"}, {"size", "Size"}, {"modified", "Last modified"}, {"last_ok", "Last ok"}, {"error", "Last error"}} {
		v.Sorts = append(v.Sorts, sortLink{Key: k.key, Label: k.label, URL: link(k.key, 1), Active: k.key == sort})
	}
	if v.Page > 1 {
		v.PrevURL = link(sort, v.Page-1)
	}
	if v.Page < v.Pages {
		v.NextURL = link(sort, v.Page+1)
	}
	return s.render(c, http.StatusOK, "tenants", pageData{Title: "Tenants", Nav: "tenants", Body: v})
}

type tenantView struct {
	Tenant  *metrics.TenantRow
	Rollups []tenantRollup
	Errors  []metrics.TenantError
}

// tenantRollup is one rollup table's latest rows for a tenant.
type tenantRollup struct {
	Name    string
	Bucket  string // the latest bucket, for snapshot rollups
	Columns []string
	Numeric []bool
	Rows    [][]string
	Total   int
	Err     string
}

// tenantPage is /tenants/ID. The id comes from the escaped path, so ids
// holding '/', '%' or anything else round-trip, and it is only ever a bound
// parameter.
func (s *Server) tenantPage(c echo.Context) error {
	raw := strings.TrimPrefix(c.Request().URL.EscapedPath(), "/tenants/")
	id, err := url.PathUnescape(raw)
	if err != nil {
		return badRequest("That tenant id is not a valid URL path.")
	}
	ctx := c.Request().Context()
	t, err := s.mdb.Tenant(ctx, id)
	if errors.Is(err, metrics.ErrNotFound) {
		return notFound("There is no tenant %q in the metrics DB.", id)
	}
	if err != nil {
		return err
	}
	v := tenantView{Tenant: t}
	if v.Errors, err = s.mdb.TenantErrors(ctx, id, 50); err != nil {
		return err
	}
	if v.Rollups, err = s.tenantRollups(ctx, id); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "tenant", pageData{Title: "Tenant " + id, Nav: "tenants", Body: v})
}

// tenantRollups reads the tenant's latest rows from every rollup table the
// engine registered. Table names come from the metrics DB's own registry
// and are quoted; the tenant id is bound.
func (s *Server) tenantRollups(ctx context.Context, id string) ([]tenantRollup, error) {
	tables, err := sqlite.Query(ctx, s.mdb.R, "SELECT r.name, EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'bucket') FROM rollups r JOIN sqlite_master m ON m.type = 'table' AND m.name = 'rollup_' || r.name ORDER BY r.name", 0)
	if err != nil {
		return nil, fmt.Errorf("rollup tables: %w", err)
	}
	var out []tenantRollup
	for _, row := range tables.Rows {
		name, _ := row[0].(string)
		bucketed := row[1] == int64(1)
		out = append(out, s.tenantRollup(ctx, name, bucketed, id))
	}
	return out, nil
}

func (s *Server) tenantRollup(ctx context.Context, name string, bucketed bool, id string) tenantRollup {
	tr := tenantRollup{Name: name}
	table := quoteIdent("rollup_" + name)
	where, args := "tenant_id = ?", []any{id}
	if bucketed {
		where += " AND bucket = (SELECT max(bucket) FROM " + table + " WHERE tenant_id = ?)"
		args = append(args, id)
	}
	var n int
	if err := s.mdb.R.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE "+where, args...).Scan(&n); err != nil {
		tr.Err = sqlite.Message(err)
		return tr
	}
	tr.Total = n
	res, err := sqlite.Query(ctx, s.mdb.R, "SELECT * FROM "+table+" WHERE "+where, rollupRowsShown, args...)
	if err != nil {
		tr.Err = err.Error()
		return tr
	}
	keep := []int{}
	for i, col := range res.Columns {
		if col == "tenant_id" || (bucketed && col == "bucket") {
			continue
		}
		keep = append(keep, i)
		tr.Columns = append(tr.Columns, col)
	}
	tr.Numeric = make([]bool, len(keep))
	bi := -1
	for i, col := range res.Columns {
		if bucketed && col == "bucket" {
			bi = i
		}
	}
	for _, r := range res.Rows {
		if bi >= 0 && tr.Bucket == "" {
			tr.Bucket = formatCell(r[bi], "")
		}
		cells := make([]string, len(keep))
		for j, i := range keep {
			cells[j] = formatCell(r[i], "")
			if r[i] != nil {
				tr.Numeric[j] = isNumeric(r[i])
			}
		}
		tr.Rows = append(tr.Rows, cells)
	}
	return tr
}

// quoteIdent quotes a table name read from the metrics DB's registry.
func quoteIdent(s string) string { return sqlite.QuoteIdent(s) }
