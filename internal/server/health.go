package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// healthz answers without sign-in whether the dashboard can read its
// metrics DB. It says nothing else: it is public.
func (s *Server) healthz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	var one int
	if err := s.mdb.R.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		s.log.Error("health check", "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "metrics DB unavailable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
