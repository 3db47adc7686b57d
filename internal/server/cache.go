package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html/template"
	"sync"
	"time"

	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/sqlite"
)

// errorTTL is how long a failed panel is remembered: long enough that a
// broken panel does not rerun on every view, short enough that a passing
// failure (a killed child) heals by itself.
const errorTTL = 30 * time.Second

// panelCache keeps each panel's last result until the metrics DB's data
// changes. Rollups only change when a run finishes, so the version is the
// newest run's id and state: between runs every view is served from memory,
// which is what keeps a report page fast over a year of rollups. Concurrent
// views of a panel being computed wait for the one computation.
type panelCache struct {
	runner *report.Runner

	mu      sync.Mutex
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	version string
	done    chan struct{}
	data    *report.Data
	at      time.Time

	// html is the panel rendered for the report page, made once.
	htmlOnce sync.Once
	html     template.HTML
	htmlErr  error
}

// fragment renders the entry's panel once and keeps it.
func (e *cacheEntry) fragment(render func(*report.Data) (template.HTML, error)) (template.HTML, error) {
	e.htmlOnce.Do(func() { e.html, e.htmlErr = render(e.data) })
	return e.html, e.htmlErr
}

func newPanelCache(r *report.Runner) *panelCache {
	return &panelCache{runner: r, entries: map[string]*cacheEntry{}}
}

// panel returns the panel's data for version, computing it when needed.
func (pc *panelCache) panel(rep *report.Report, p *report.Panel, version string) *report.Data {
	return pc.entry(rep, p, version).data
}

// entry returns the panel's finished cache entry for version.
func (pc *panelCache) entry(rep *report.Report, p *report.Panel, version string) *cacheEntry {
	key := rep.Name + "\x00" + p.ID
	pc.mu.Lock()
	e := pc.entries[key]
	if e != nil && e.version == version {
		select {
		case <-e.done:
			if e.data.Err == nil || time.Since(e.at) < errorTTL {
				pc.mu.Unlock()
				return e
			}
		default:
			pc.mu.Unlock()
			<-e.done
			return e
		}
	}
	e = &cacheEntry{version: version, done: make(chan struct{})}
	pc.entries[key] = e
	pc.mu.Unlock()

	e.data = pc.run(p)
	e.at = time.Now()
	close(e.done)
	return e
}

// run never lets a panic in a panel take the page down.
func (pc *panelCache) run(p *report.Panel) (d *report.Data) {
	defer func() {
		if r := recover(); r != nil {
			d = &report.Data{Panel: p, Err: fmt.Errorf("panel failed: %v", r)}
		}
	}()
	d = pc.runner.Run(p)
	if d == nil {
		d = &report.Data{Panel: p, Err: errors.New("panel returned nothing")}
	}
	return d
}

// report returns the entries of every panel of rep, computing the missing
// ones in parallel (the sandbox pool bounds how many run at once).
func (pc *panelCache) report(rep *report.Report, version string) []*cacheEntry {
	out := make([]*cacheEntry, len(rep.Panels))
	var wg sync.WaitGroup
	for i, p := range rep.Panels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = pc.entry(rep, p, version)
		}()
	}
	wg.Wait()
	return out
}

// dataVersion names the state of the metrics DB's rollups: the newest run
// and its status. It changes when a run starts and when it finishes.
func (s *Server) dataVersion(ctx context.Context) (string, error) {
	var id int64
	var st, fin string
	// A run in progress changes nothing readers see until it ends: counting
	// it would recompute every panel at the start of each run, when the
	// workers already take the CPU.
	err := s.mdb.R.QueryRowContext(ctx, "SELECT id, status, coalesce(finished_at, '') FROM runs WHERE status != 'running' ORDER BY id DESC LIMIT 1").Scan(&id, &st, &fin)
	if errors.Is(err, sql.ErrNoRows) {
		return "none", nil
	}
	if err != nil {
		return "", fmt.Errorf("data version: %w", sqlite.Wrap(err))
	}
	return fmt.Sprintf("%d/%s/%s", id, st, fin), nil
}
