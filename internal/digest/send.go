package digest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/metrics"
)

// Result is what a send did.
type Result struct {
	Delivery string // groups the attempts in digest_attempts
	Attempts int
	RunID    int64
	Message  *Message
}

// Send builds the digest and sends it to d.To through cfg.SMTP, retrying a
// failed attempt with exponential backoff. Every attempt, and a hold, is
// recorded in the metrics DB. A held digest returns a *HeldError and sends
// nothing; a digest that never got through returns an error that names the
// server and says what to check.
func Send(ctx context.Context, cfg *config.Config, d config.Digest, deps Deps) (*Result, error) {
	deps.defaults()
	if deps.Metrics == nil {
		return nil, fmt.Errorf("digest %s: Metrics is required", d.Name)
	}
	j := deps.Journal
	if j == nil {
		var err error
		if j, err = metrics.OpenJournal(deps.Metrics.Path, max(cfg.BusyTimeout.D(), 30*time.Second)); err != nil {
			return nil, fmt.Errorf("digest %s: %w", d.Name, err)
		}
		defer j.Close()
	}
	res := &Result{Delivery: deliveryID()}
	log := deps.Log.With("digest", d.Name, "delivery", res.Delivery)
	record := func(attempt int, outcome, msg string, runID int64) {
		// Recorded even when ctx has ended: the record is the point.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		err := j.AddDigestAttempt(rctx, metrics.DigestAttempt{
			Delivery: res.Delivery, Digest: d.Name, Recipients: d.To, At: deps.Now(),
			Attempt: attempt, Outcome: outcome, Error: msg, RunID: runID,
		})
		if err != nil {
			log.Error("could not record a digest attempt", "outcome", outcome, "err", err)
		}
	}

	m, err := Build(ctx, cfg, d, deps)
	var held *HeldError
	switch {
	case errors.As(err, &held):
		log.Warn("digest held", "reason", held.Reason)
		record(0, metrics.OutcomeHeld, "held: "+held.Reason, 0)
		return res, err
	case err != nil:
		log.Error("digest not built", "err", err)
		record(0, metrics.OutcomeFailed, err.Error(), 0)
		return res, err
	}
	res.Message, res.RunID = m, m.RunID
	msg, err := m.mail()
	if err != nil {
		record(0, metrics.OutcomeFailed, err.Error(), m.RunID)
		return res, err
	}
	server := fmt.Sprintf("%s:%d (tls: %s)", cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.TLS)
	wait := deps.Backoff
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		err = deliver(ctx, cfg.SMTP, deps, msg)
		if err == nil {
			record(attempt, metrics.OutcomeSent, "", m.RunID)
			log.Info("digest sent", "to", strings.Join(d.To, ","), "attempt", attempt, "run", m.RunID)
			if len(m.Values) > 0 {
				if err := j.SaveDigestValues(context.WithoutCancel(ctx), d.Name, m.Date, m.Values); err != nil {
					log.Error("could not keep the digest's numbers for the next one", "err", err)
				}
			}
			return res, nil
		}
		permanent := permanentErr(err)
		if attempt >= deps.Attempts || permanent || ctx.Err() != nil {
			record(attempt, metrics.OutcomeFailed, err.Error(), m.RunID)
			log.Error("digest not sent", "attempt", attempt, "err", err)
			tries := plural(attempt, "attempt")
			if permanent && attempt < deps.Attempts {
				tries += " (the server's answer was final, so no retry)"
			}
			return res, fmt.Errorf("digest %s: sending through %s failed after %s: %v; %s",
				d.Name, server, tries, err, hint(cfg.SMTP, err))
		}
		record(attempt, metrics.OutcomeRetry, err.Error(), m.RunID)
		log.Warn("digest attempt failed; retrying", "attempt", attempt, "in", wait, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// deliver has one conversation with the mail server.
func deliver(ctx context.Context, s config.SMTP, deps Deps, msg *mail.Msg) error {
	opts := []mail.Option{mail.WithPort(s.Port), mail.WithTimeout(deps.Timeout)}
	tlsConf := deps.TLS
	if tlsConf == nil {
		tlsConf = &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
	}
	switch s.TLS {
	case "tls":
		opts = append(opts, mail.WithSSL(), mail.WithTLSConfig(tlsConf))
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default: // starttls: never fall back to plain text
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory), mail.WithTLSConfig(tlsConf))
	}
	if s.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(s.Username), mail.WithPassword(s.Password()))
	}
	c, err := mail.NewClient(s.Host, opts...)
	if err != nil {
		return err
	}
	return c.DialAndSendWithContext(ctx, msg)
}

// smtpCode finds the server's reply code in err, or 0.
func smtpCode(err error) int {
	var se *mail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		return se.ErrorCode()
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	// Errors that lost their type still read "451 4.3.0 ...".
	codeRe := regexp.MustCompile(`(?:^|[^0-9])([45][0-9][0-9])[ -][0-9]`)
	if m := codeRe.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// permanentErr reports whether retrying cannot help: the server gave a 5xx
// answer (a rejected recipient, a failed sign-in), or the TLS certificate is
// not trusted.
func permanentErr(err error) bool {
	var cert x509.UnknownAuthorityError
	var host x509.HostnameError
	if errors.As(err, &cert) || errors.As(err, &host) {
		return true
	}
	return smtpCode(err) >= 500
}

// hint says what to check for the error at hand.
func hint(s config.SMTP, err error) string {
	msg := strings.ToLower(err.Error())
	var op *net.OpError
	var dns *net.DNSError
	code := smtpCode(err)
	switch {
	case errors.As(err, &dns):
		return fmt.Sprintf("check smtp.host: %q does not resolve from this machine", s.Host)
	case strings.Contains(msg, "x509") || strings.Contains(msg, "tls:") || strings.Contains(msg, "starttls") || strings.Contains(msg, "handshake"):
		return "check smtp.tls: starttls for port 587, tls for port 465, none only for a local relay; and that the server's certificate is valid for smtp.host"
	case errors.As(err, &op) || strings.Contains(msg, "connection refused") || strings.Contains(msg, "i/o timeout") || strings.Contains(msg, "deadline exceeded"):
		return "check smtp.host and smtp.port, and that the mail server is up and reachable from this machine (firewall, VPN)"
	case code == 530 || code == 535 || code == 534 || strings.Contains(msg, "auth"):
		env := s.PasswordEnv
		if env == "" {
			env = "the variable named by smtp.password_env (unset)"
		} else {
			env = "$" + env
		}
		return fmt.Sprintf("check smtp.username (%q) and the password in %s", s.Username, env)
	case code >= 400 && code < 500:
		return "the server kept deferring the message (a temporary refusal); check its logs, or send again later with `attache digest NAME`"
	case strings.Contains(msg, "rcpt"):
		return "the server refused a recipient; check the digest's to: addresses"
	case strings.Contains(msg, "mail from"):
		return "the server refused the sender; check smtp.from (many servers only accept their own domain)"
	}
	return "check the smtp: settings and the mail server's logs"
}

// deliveryID names one send, so its attempts can be read together.
func deliveryID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}
