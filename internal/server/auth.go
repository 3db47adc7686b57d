package server

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/attache/attache/internal/config"
)

// user is who is asking. In open mode (no auth.users) everyone is a local admin.
type user struct {
	Name string
	Role string
	Open bool
}

func (u *user) Admin() bool { return u != nil && u.Role == config.RoleAdmin }

const userKey = "attache.user"

func currentUser(c echo.Context) *user {
	u, _ := c.Get(userKey).(*user)
	return u
}

// dummyHash is compared against when the name is unknown, so a wrong name
// takes as long as a wrong password and names cannot be probed by timing.
const dummyHash = "$2a$10$sNgJ7SHp6j/U8xQD./oGE.IBHbHo60L0q7QbdcrIeXuOH54hgl8Sm"

// require identifies the user and enforces the route's permission.
func (s *Server) require(p perm) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u, err := s.identify(c)
			if err != nil && p != public {
				return err
			}
			if u != nil {
				c.Set(userKey, u)
			}
			switch {
			case p == public:
			case u == nil:
				return errSignIn()
			case p == admin && !u.Admin():
				return echo.NewHTTPError(http.StatusForbidden, "This page is for admins. Ask an admin of this dashboard if you need it.")
			}
			if p != public {
				// Pages differ per user: no shared caches.
				c.Response().Header().Set("Cache-Control", "private, no-store")
			}
			return next(c)
		}
	}
}

// identify finds the user from the session cookie or HTTP Basic
// credentials; nil when there are neither.
func (s *Server) identify(c echo.Context) (*user, error) {
	if s.open {
		return &user{Name: "local", Role: config.RoleAdmin, Open: true}, nil
	}
	if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
		if cl, ok := s.sessions.decode(ck.Value); ok {
			if u, ok := s.users[cl.User]; ok && subtle.ConstantTimeCompare([]byte(passwordTag(u.PasswordHash)), []byte(cl.Tag)) == 1 {
				return &user{Name: u.Name, Role: u.Role}, nil
			}
		}
	}
	name, pw, ok := c.Request().BasicAuth()
	if !ok {
		return nil, nil
	}
	ip := c.RealIP()
	if !s.limiter.allow(ip) {
		return nil, echo.NewHTTPError(http.StatusTooManyRequests, "Too many sign-in attempts from your address; wait a minute and try again.")
	}
	u, ok := s.check(name, pw)
	if !ok {
		s.limiter.spend(ip)
		s.log.Warn("sign-in failed", "via", "basic", "user", name, "ip", ip)
		return nil, echo.NewHTTPError(http.StatusUnauthorized, "Wrong name or password.")
	}
	return &user{Name: u.Name, Role: u.Role}, nil
}

// check verifies a name and password against auth.users.
func (s *Server) check(name, pw string) (config.User, bool) {
	u, known := s.users[name]
	hash := dummyHash
	if known {
		hash = u.PasswordHash
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
	return u, known && err == nil
}

type loginForm struct {
	Name  string
	Next  string
	Error string
}

func (s *Server) loginPage(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if s.open || currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, next)
	}
	return s.render(c, http.StatusOK, "login", pageData{Title: "Sign in", Body: loginForm{Next: next}})
}

func (s *Server) login(c echo.Context) error {
	next := safeNext(c.FormValue("next"))
	if s.open {
		return c.Redirect(http.StatusSeeOther, next)
	}
	name := strings.TrimSpace(c.FormValue("name"))
	form := loginForm{Name: name, Next: next}
	ip := c.RealIP()
	if !s.limiter.allow(ip) {
		form.Error = "Too many sign-in attempts from your address; wait a minute and try again."
		c.Response().Header().Set("Retry-After", "60")
		return s.render(c, http.StatusTooManyRequests, "login", pageData{Title: "Sign in", Body: form})
	}
	s.limiter.spend(ip)
	u, ok := s.check(name, c.FormValue("password"))
	if !ok {
		s.log.Warn("sign-in failed", "via", "form", "user", name, "ip", ip)
		form.Error = "Wrong name or password."
		return s.render(c, http.StatusUnauthorized, "login", pageData{Title: "Sign in", Body: form})
	}
	s.log.Info("signed in", "user", u.Name, "ip", ip)
	s.sessions.set(c, s.sessions.encode(u.Name, u.PasswordHash))
	return c.Redirect(http.StatusSeeOther, next)
}

func (s *Server) logout(c echo.Context) error {
	s.sessions.set(c, "")
	return c.Redirect(http.StatusSeeOther, "/login")
}

// safeNext keeps a post-sign-in redirect on this site: a path, never
// "//host" or "/\host", which browsers treat as another host.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}
