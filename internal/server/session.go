package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/sqlite"
)

const (
	sessionCookie = "attache_session"
	sessionTTL    = 12 * time.Hour
)

// sessions signs and checks session cookies. A cookie holds the user name,
// a tag of the user's password hash (changing the password signs the user
// out everywhere) and an expiry, MACed with a key kept in the metrics DB.
type sessions struct {
	key    []byte
	now    func() time.Time
	secure bool // base_url is https: cookies only over https
}

func newSessions(key []byte, now func() time.Time, secure bool) *sessions {
	return &sessions{key: key, now: now, secure: secure}
}

type sessionClaims struct {
	User string `json:"u"`
	Tag  string `json:"t"`
	Exp  int64  `json:"e"`
}

// passwordTag ties a session to the password hash it was made with.
func passwordTag(hash string) string {
	h := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(h[:8])
}

func (s *sessions) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("attache session v1\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func (s *sessions) encode(user, hash string) string {
	b, _ := json.Marshal(sessionClaims{User: user, Tag: passwordTag(hash), Exp: s.now().Add(sessionTTL).Unix()})
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload))
}

// decode returns the claims of a valid, unexpired cookie value.
func (s *sessions) decode(v string) (*sessionClaims, bool) {
	payload, sig, ok := strings.Cut(v, ".")
	if !ok {
		return nil, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, false
	}
	var cl sessionClaims
	if json.Unmarshal(b, &cl) != nil || s.now().Unix() >= cl.Exp {
		return nil, false
	}
	return &cl, true
}

// set writes the session cookie; an empty value signs out.
func (s *sessions) set(c echo.Context, value string) {
	ck := &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.secure || c.IsTLS(),
	}
	if value == "" {
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(sessionTTL / time.Second)
	}
	c.SetCookie(ck)
}

// sessionKey loads the signing key from the metrics DB, creating it on first
// start. INSERT OR IGNORE then read: two servers starting at once agree.
func sessionKey(ctx context.Context, mdb *metrics.DB) ([]byte, error) {
	read := func() ([]byte, error) {
		var v string
		err := mdb.W.QueryRowContext(ctx, "SELECT value FROM server_keys WHERE name = 'session'").Scan(&v)
		if err != nil {
			return nil, err
		}
		return hex.DecodeString(v)
	}
	if k, err := read(); err == nil && len(k) >= 32 {
		return k, nil
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	if _, err := mdb.W.ExecContext(ctx, "INSERT OR IGNORE INTO server_keys (name, value, created_at) VALUES ('session', ?, ?)",
		hex.EncodeToString(k), metrics.Format(time.Now())); err != nil {
		return nil, fmt.Errorf("session key: %s", sqlite.Message(err))
	}
	k, err := read()
	if err != nil {
		return nil, fmt.Errorf("session key: %s", sqlite.Message(err))
	}
	if len(k) < 32 {
		return nil, errors.New("session key: stored key is too short")
	}
	return k, nil
}
