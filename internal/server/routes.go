package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// perm is who may use a route.
type perm int

const (
	public perm = iota // anyone, signed in or not
	viewer             // a signed-in viewer or admin
	admin              // a signed-in admin
)

func (p perm) String() string {
	return [...]string{"public", "viewer", "admin"}[p]
}

type route struct {
	method string
	path   string
	perm   perm
	handle echo.HandlerFunc
}

// routes is the whole dashboard, one line per route with who may use it.
func (s *Server) routes() []route {
	return []route{
		{http.MethodGet, "/healthz", public, s.healthz},
		{http.MethodHead, "/healthz", public, s.healthz},
		{http.MethodGet, "/static/*", public, s.static.serve},
		{http.MethodGet, "/login", public, s.loginPage},
		{http.MethodPost, "/login", public, s.login},
		{http.MethodPost, "/logout", public, s.logout},
		{http.MethodGet, "/s/:token", public, s.shareGet},     // a share link: TOKEN and TOKEN.xlsx, nothing else
		{http.MethodPost, "/s/:token", public, s.shareUnlock}, // its password

		{http.MethodGet, "/", viewer, s.overview},
		{http.MethodGet, "/reports/:name", viewer, s.reportOrWorkbook}, // NAME and NAME.xlsx
		{http.MethodGet, "/reports/:name/:panel", viewer, s.panelCSV},  // PANEL.csv
		{http.MethodGet, "/api/reports/:name", viewer, s.reportJSON},
		{http.MethodGet, "/metrics", viewer, s.metrics},

		{http.MethodGet, "/shares", admin, s.shareList},
		{http.MethodPost, "/shares", admin, s.shareCreate},
		{http.MethodPost, "/shares/:id/revoke", admin, s.shareRevoke},
		{http.MethodGet, "/tenants", admin, s.tenantList},
		{http.MethodGet, "/tenants/:id", admin, s.tenantPage},
		{http.MethodGet, "/runs", admin, s.runList},
		{http.MethodPost, "/runs", admin, s.runStart},
		{http.MethodGet, "/runs/:id", admin, s.runPage},
		{http.MethodPost, "/jobs/:name/run", admin, s.jobRun}, // a configured job or digest, now
		{http.MethodGet, "/digests/:name/preview", admin, s.digestPreview},
		{http.MethodGet, "/query", admin, s.queryPage},
		{http.MethodPost, "/query", admin, s.queryRun},
		{http.MethodPost, "/query.csv", admin, s.queryCSV},
		{http.MethodGet, "/audit", admin, s.auditList},
		{http.MethodGet, "/audit.csv", admin, s.auditCSV},
	}
}
