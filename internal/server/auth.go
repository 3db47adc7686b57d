package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/attache/attache/internal/audit"
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
	ctx := c.Request().Context()
	if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
		// A session ends with its user (removed from the config) and with
		// the password it was made with.
		if ss, ok := s.sessions.lookup(ctx, ck.Value); ok {
			if u, ok := s.users[ss.User]; ok && subtle.ConstantTimeCompare([]byte(passwordTag(u.PasswordHash)), []byte(ss.Tag)) == 1 {
				return &user{Name: u.Name, Role: u.Role}, nil
			}
		}
	}
	name, pw, ok := c.Request().BasicAuth()
	if !ok {
		return nil, nil
	}
	if u, ok := s.basic.known(name, pw, s.users, s.now()); ok {
		return &user{Name: u.Name, Role: u.Role}, nil
	}
	ip := c.RealIP()
	if !s.limiter.take(ip) {
		return nil, echo.NewHTTPError(http.StatusTooManyRequests, "Too many sign-in attempts from your address; wait a minute and try again.")
	}
	u, ok := s.check(name, pw)
	if !ok {
		s.log.Warn("sign-in failed", "via", "basic", "user", name, "ip", ip)
		s.record(c, audit.Entry{Actor: name, Action: audit.SignInFailed, Detail: "HTTP Basic", Failed: true})
		return nil, echo.NewHTTPError(http.StatusUnauthorized, "Wrong name or password.")
	}
	// A script sending Basic credentials with every request is not
	// guessing: its right password gives the attempt back, and is
	// remembered for a while so bcrypt does not run on every request.
	s.limiter.refund(ip)
	s.basic.remember(name, pw, u.PasswordHash, s.now())
	s.record(c, audit.Entry{Actor: u.Name, Action: audit.SignIn, Detail: "HTTP Basic"})
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

// basicCache remembers HTTP Basic credentials that were right, as a salted
// SHA-256 in memory, for basicTTL. A changed password misses the cache.
type basicCache struct {
	salt [32]byte
	mu   sync.Mutex
	seen map[[32]byte]time.Time
}

const basicTTL = 5 * time.Minute

func (b *basicCache) key(name, pw, hash string) [32]byte {
	h := sha256.New()
	h.Write(b.salt[:])
	for _, s := range []string{name, pw, hash} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

func (b *basicCache) known(name, pw string, users map[string]config.User, now time.Time) (config.User, bool) {
	u, ok := users[name]
	if !ok {
		return u, false
	}
	k := b.key(name, pw, u.PasswordHash)
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.seen[k]
	return u, ok && now.Sub(at) < basicTTL
}

func (b *basicCache) remember(name, pw, hash string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) >= 1000 {
		clear(b.seen)
	}
	b.seen[b.key(name, pw, hash)] = now
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
	// The attempt is spent before bcrypt runs, in one step with the check:
	// parallel guesses cannot all slip through while the first is hashing.
	if !s.limiter.take(ip) {
		form.Error = "Too many sign-in attempts from your address; wait a minute and try again."
		c.Response().Header().Set("Retry-After", "60")
		return s.render(c, http.StatusTooManyRequests, "login", pageData{Title: "Sign in", Body: form})
	}
	u, ok := s.check(name, c.FormValue("password"))
	if !ok {
		s.log.Warn("sign-in failed", "via", "form", "user", name, "ip", ip)
		s.record(c, audit.Entry{Actor: name, Action: audit.SignInFailed, Detail: "form", Failed: true})
		form.Error = "Wrong name or password."
		return s.render(c, http.StatusUnauthorized, "login", pageData{Title: "Sign in", Body: form})
	}
	s.limiter.refund(ip) // a right password is not a guess
	token, err := s.sessions.create(c.Request().Context(), u.Name, u.PasswordHash, ip)
	if err != nil {
		return err
	}
	s.log.Info("signed in", "user", u.Name, "ip", ip)
	s.record(c, audit.Entry{Actor: u.Name, Action: audit.SignIn, Detail: "form"})
	s.sessions.set(c, token)
	return c.Redirect(http.StatusSeeOther, next)
}

// logout ends this session, or with everywhere=1 every session of the
// user (a lost laptop, a shared computer).
func (s *Server) logout(c echo.Context) error {
	ctx := c.Request().Context()
	ck, err := c.Cookie(sessionCookie)
	if err == nil && ck.Value != "" && !s.open {
		if u := currentUser(c); u != nil && c.FormValue("everywhere") != "" {
			n, err := s.sessions.revokeUser(ctx, u.Name)
			if err != nil {
				return err
			}
			s.record(c, audit.Entry{Actor: u.Name, Action: audit.SignOutAll, Rows: n})
		} else {
			if err := s.sessions.revoke(ctx, ck.Value); err != nil {
				return err
			}
			if u != nil {
				s.record(c, audit.Entry{Actor: u.Name, Action: audit.SignOut})
			}
		}
	}
	s.sessions.set(c, "")
	return c.Redirect(http.StatusSeeOther, "/login")
}

// safeNext keeps a post-sign-in redirect on this site. It reads next as a
// browser would (tab, CR and LF dropped, "\" taken for "/") and accepts only
// a path that stays on this origin: no scheme, no host, not "//host".
func safeNext(next string) string {
	n := strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\r', '\n':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, next)
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/"
	}
	u, err := url.Parse(n)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return n
}

// record appends an entry to the audit trail with who and from where; a
// failure to record is logged, never shown to the user.
func (s *Server) record(c echo.Context, e audit.Entry) {
	if e.Actor == "" {
		if u := currentUser(c); u != nil {
			e.Actor = u.Name
		}
	}
	if e.Remote == "" {
		e.Remote = c.RealIP()
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	// The request may be ending (a client gone); the entry is still owed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), 30*time.Second)
	defer cancel()
	if err := audit.Record(ctx, s.audit, e); err != nil {
		s.log.Error("audit entry not recorded", "action", e.Action, "actor", e.Actor, "err", err)
	}
}
