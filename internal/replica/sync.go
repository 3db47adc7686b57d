package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	libsql "github.com/tursodatabase/go-libsql"
	"golang.org/x/sys/unix"

	"github.com/attache/attache/internal/sqlite"
	"github.com/attache/attache/internal/worker"
)

// Role is the worker role of sync processes.
const Role = "replica"

// Target is one remote tenant to sync.
type Target struct {
	ID    string
	URL   string // libsql://, https:// or http://
	Token Secret // "" for a server without auth
}

// Options say where replicas live and how syncs are bounded.
type Options struct {
	Dir     string
	Workers int           // sync processes at once
	Timeout time.Duration // one tenant's sync; its process is killed after
	Key     Secret        // replica encryption key; "" for none
	Log     *slog.Logger
}

// Status is a remote tenant after the sync phase.
type Status struct {
	ID       string
	Path     string // the replica file
	Position string // replication state after this sync ("" without a replica)
	Size     int64
	SyncedAt time.Time // last successful sync, this one or an earlier one
	// Err says why this sync failed, without any secret; "" when it worked.
	// With an older replica (Position != "") the tenant is stale.
	Err string
}

// Stale reports a failed sync that left an older replica to read.
func (s Status) Stale() bool { return s.Err != "" && s.Position != "" }

// request is what the coordinator sends a sync process for one tenant.
type request struct {
	Tenant string
	URL    string
	Token  string
	Key    string
	Path   string
}

type response struct {
	Position string
	Err      string
}

// SyncAll brings every target's replica up to date and reports each one;
// one tenant's failure never stops the others. A replica whose primary is
// proven unchanged by the replication handshake (see check.go) costs one
// request from this process; the others sync in worker processes, Workers
// at a time. Processes start only when some tenant needs a real sync.
func SyncAll(ctx context.Context, targets []Target, opt Options) ([]Status, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	opt.Workers = min(opt.Workers, len(targets))
	s, err := NewSyncer(opt)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Sync(ctx, targets)
}

// Syncer is SyncAll for a fleet taken a chunk at a time: the chunks share
// the sync processes, the HTTP client and the key check, and no call holds
// more statuses than its chunk.
type Syncer struct {
	opt       Options
	log       *slog.Logger
	workers   int
	pool      *worker.Pool
	transport *http.Transport
	c         *checker
}

// NewSyncer prepares the replicas folder; Close ends its sync processes.
func NewSyncer(opt Options) (*Syncer, error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("tenants.replicas %s: %w", opt.Dir, err)
	}
	keyID := ""
	if opt.Key != "" {
		var err error
		if keyID, err = keyFor(opt.Dir, opt.Key); err != nil {
			// Without a record of the key, every replica syncs for real,
			// which checks the key against it.
			log.Warn("replicas key record", "err", err)
		}
	}
	workers := max(1, opt.Workers)
	transport := &http.Transport{
		// One request per tenant per run: a kept connection would only idle.
		DisableKeepAlives:   true,
		TLSHandshakeTimeout: opt.Timeout,
	}
	return &Syncer{
		opt: opt, log: log, workers: workers,
		pool:      worker.NewPool(Role, workers),
		transport: transport,
		c:         &checker{client: &http.Client{Transport: transport}, keyID: keyID},
	}, nil
}

// Close ends the sync processes.
func (s *Syncer) Close() {
	s.pool.Close()
	s.transport.CloseIdleConnections()
}

// Sync is SyncAll for one chunk of the fleet.
func (s *Syncer) Sync(ctx context.Context, targets []Target) ([]Status, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	// Handshakes wait on the network, not on the CPU: several per sync
	// process's worth of concurrency.
	inFlight := min(len(targets), checksPerWorker*s.workers)
	provenBefore := s.c.proven.Load()
	out := make([]Status, len(targets))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < inFlight; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = syncOne(ctx, s.pool, s.c, targets[i], s.opt, s.log)
			}
		}()
	}
	start := time.Now()
feed:
	for i := range targets {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	failed := 0
	for _, st := range out {
		if st.Err != "" {
			failed++
		}
	}
	s.log.Info("replicas synced", "tenants", len(targets), "unchanged_by_handshake", s.c.proven.Load()-provenBefore, "failed", failed, "seconds", time.Since(start).Seconds())
	return out, nil
}

// checksPerWorker is how many tenants are in hand per sync process: their
// handshakes overlap, and a tenant that needs a real sync waits for a
// process.
const checksPerWorker = 8

// checker proves replicas current with the handshake.
type checker struct {
	client *http.Client
	keyID  string // the replicas key's record id; "" when there is no key
	proven atomic.Int64
}

func syncOne(ctx context.Context, pool *worker.Pool, c *checker, t Target, opt Options, log *slog.Logger) Status {
	path := PathFor(opt.Dir, t.ID)
	src, ok := readSource(path)
	if ok && (src.URL != t.URL || src.Encrypted != (opt.Key != "")) {
		// The tenant moved to another database, or encryption was switched:
		// this replica is of something else now.
		log.Info("replica replaced: its source changed", "tenant", t.ID)
		remove(path)
		ok = false
	}
	if !ok {
		// A replica without attache's marker is half made (or not ours to
		// trust): start from nothing.
		remove(path)
		if err := writeSource(path, source{URL: t.URL, Encrypted: opt.Key != ""}); err != nil {
			return Status{ID: t.ID, Path: path, Err: "replica: " + err.Error()}
		}
		src = source{URL: t.URL, Encrypted: opt.Key != ""}
	}
	st := Status{ID: t.ID, Path: path}
	start := time.Now()
	// An encrypted replica is only trusted without a real sync when it was
	// last synced with this very key (a real sync would refuse another).
	if ok && (opt.Key == "" || (c.keyID != "" && src.KeyID == c.keyID)) {
		cctx, cancel := context.WithTimeout(ctx, opt.Timeout)
		proven, err := current(cctx, c.client, t, path)
		cancel()
		switch {
		case proven:
			c.proven.Add(1)
			return finish(st, src, path, "", log, start, "handshake")
		case errors.Is(err, errNoAnswer) && ctx.Err() == nil:
			return finish(st, src, path, timeoutMsg(t, opt), log, start, "")
		}
		// Changed, or an answer that proves nothing (refused token, gone
		// database, ...): the real sync decides and words the error.
	}
	if ctx.Err() != nil {
		// The run is stopping: SyncAll reports that, not this tenant.
		return finish(st, src, path, "sync cancelled", log, start, "")
	}
	req := &request{Tenant: t.ID, URL: t.URL, Token: t.Token.Reveal(), Key: opt.Key.Reveal(), Path: path}
	var resp response
	err := pool.Call(req, &resp, opt.Timeout)
	msg := resp.Err
	switch {
	case errors.Is(err, worker.ErrTimeout):
		msg = timeoutMsg(t, opt)
	case err != nil:
		msg = fmt.Sprintf("sync from %s: the sync process died: %s", Host(t.URL), scrub(err.Error(), req))
	}
	if msg == "" {
		src.KeyID = c.keyID
	}
	return finish(st, src, path, msg, log, start, "sync")
}

func timeoutMsg(t Target, opt Options) string {
	return fmt.Sprintf("sync from %s took longer than tenants.sync_timeout (%s); the server is slow or unreachable", Host(t.URL), opt.Timeout)
}

// finish reads the replica's state after a sync (or a proof that none was
// needed) and records a success in its marker.
func finish(st Status, src source, path, msg string, log *slog.Logger, start time.Time, how string) Status {
	st.Err = msg
	st.Position = Position(path)
	st.Size = Size(path)
	switch {
	case st.Err == "" && how == "handshake" && !src.SyncedAt.IsZero():
		now := time.Now()
		if err := os.Chtimes(path+sourceSuffix, now, now); err != nil {
			st.Err = "replica: " + err.Error()
		}
		src.SyncedAt = now.UTC()
	case st.Err == "":
		src.SyncedAt = time.Now().UTC()
		if err := writeSource(path, src); err != nil {
			st.Err = "replica: " + err.Error()
		}
	default:
		src.SyncedAt = SyncedAt(path)
	}
	st.SyncedAt = src.SyncedAt
	if st.Err != "" {
		log.Warn("tenant sync failed", "tenant", st.ID, "err", st.Err, "stale", st.Position != "")
	} else {
		log.Debug("tenant synced", "tenant", st.ID, "by", how, "position", st.Position, "ms", time.Since(start).Milliseconds())
	}
	return st
}

// Serve is the sync process's main. go-libsql may print to stdout (its
// background sync does, with fmt.Println), so the protocol gets its own
// copy of stdout and fd 1 is pointed at stderr before any sync runs.
func Serve(in io.Reader, out *os.File) error {
	fd, err := unix.Dup(int(out.Fd()))
	if err != nil {
		return fmt.Errorf("replica worker: %w", err)
	}
	proto := os.NewFile(uintptr(fd), "protocol")
	defer proto.Close()
	if err := unix.Dup2(int(os.Stderr.Fd()), int(out.Fd())); err != nil {
		return fmt.Errorf("replica worker: %w", err)
	}
	return worker.Serve(in, proto, func(r *request) *response { return syncReplica(r) })
}

// syncReplica opens the replica (which syncs it) and closes it again, so
// the file is free for the read that follows in another process.
func syncReplica(r *request) *response {
	if err := os.MkdirAll(filepath.Dir(r.Path), 0o700); err != nil {
		return &response{Err: "replica: " + err.Error()}
	}
	var opts []libsql.Option
	if r.Token != "" {
		opts = append(opts, libsql.WithAuthToken(r.Token))
	}
	if r.Key != "" {
		opts = append(opts, libsql.WithEncryption(r.Key))
	}
	if err := sqlite.Setup(); err != nil {
		return &response{Err: "replica: " + err.Error()}
	}
	// NewEmbeddedReplicaConnector syncs once while opening.
	c, err := libsql.NewEmbeddedReplicaConnector(r.Path, primaryURL(r.URL), opts...)
	if err != nil {
		return &response{Err: Explain(r.URL, scrub(err.Error(), r))}
	}
	c.Close()
	return &response{Position: Position(r.Path)}
}

// primaryURL is the URL go-libsql syncs from: libsql:// means https.
func primaryURL(u string) string {
	if rest, ok := strings.CutPrefix(u, "libsql://"); ok {
		return "https://" + rest
	}
	return u
}

// Host is a URL's scheme and host, for messages.
func Host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the tenant's URL"
	}
	return u.Scheme + "://" + u.Host
}

// scrub removes any secret the request holds from a message.
func scrub(msg string, r *request) string {
	for _, s := range []string{r.Token, r.Key} {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return msg
}

// Explain turns go-libsql's sync error into what a user can act on,
// naming the server and the likely cause.
func Explain(rawURL, msg string) string {
	host := Host(rawURL)
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "handshake"):
		return fmt.Sprintf("sync from %s failed: the server did not complete the replication handshake: the token is wrong, expired or not for this database (check tenants.auth_token_env or the catalog's token column), or the URL is not a libSQL server", host)
	case strings.Contains(lower, "namespace") && (strings.Contains(lower, "doesn't exist") || strings.Contains(lower, "does not exist") || strings.Contains(lower, "not found")):
		return fmt.Sprintf("sync from %s failed: the database does not exist on the server (deleted or renamed?)", host)
	case strings.Contains(lower, "unauthorized") || httpRefused.MatchString(lower):
		return fmt.Sprintf("sync from %s failed: the token was refused (wrong or expired?); check tenants.auth_token_env or the catalog's token column", host)
	case strings.Contains(lower, "connection refused"):
		return fmt.Sprintf("sync from %s failed: the server is unreachable (connection refused)", host)
	case strings.Contains(lower, "dns error") || strings.Contains(lower, "failed to lookup") || strings.Contains(lower, "name or service not known"):
		return fmt.Sprintf("sync from %s failed: the host name does not resolve", host)
	case strings.Contains(lower, "not a database") || strings.Contains(lower, "encrypt"):
		return fmt.Sprintf("sync from %s failed: the replica cannot be opened with the replicas encryption key (was it made with another key?): %s", host, lastLine(msg))
	}
	return fmt.Sprintf("sync from %s failed: %s", host, lastLine(msg))
}

// httpRefused finds a 401 or 403 status as a number of its own, not inside
// a path or an id (a temp folder named ...4010560089 is not a refusal).
var httpRefused = regexp.MustCompile(`\b40[13]\b`)

// lastLine keeps go-libsql's innermost message ("error code = 1: ...").
func lastLine(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
