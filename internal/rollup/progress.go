package rollup

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/attache/attache/internal/metrics"
)

// progressEvery is how often a run writes its progress into its runs row.
const progressEvery = time.Second

// recorder writes a running run's progress (phase, tenants done of total,
// rate, time left) into its runs row, at most once per every and at each
// change of phase, so the dashboard can show how far a long run is and how
// fresh that figure is. A write that fails is logged and skipped: progress
// never fails a run.
type recorder struct {
	ctx   context.Context
	g     *guarded
	runID int64
	every time.Duration
	log   *slog.Logger

	mu     sync.Mutex
	phase  string
	start  time.Time // of the phase
	last   time.Time // last write
	warned bool
}

// Rate is the rate of a phase that did done of total in elapsed, per
// second, and the time left at that rate (0 when unknown).
func Rate(done, total int, elapsed time.Duration) (float64, time.Duration) {
	if done <= 0 || elapsed <= 0 {
		return 0, 0
	}
	rate := float64(done) / elapsed.Seconds()
	var left time.Duration
	if total > done {
		left = time.Duration(float64(total-done) / rate * float64(time.Second))
	}
	return rate, left
}

func (r *recorder) update(phase string, done, total int) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if phase != r.phase {
		r.phase, r.start = phase, now
	} else if now.Sub(r.last) < r.every && (total == 0 || done < total) {
		return
	}
	r.last = now
	rate, left := Rate(done, total, now.Sub(r.start))
	_, err := r.g.exec(r.ctx, `UPDATE runs SET progress_phase = ?, progress_done = ?, progress_total = ?, progress_rate = ?,
		progress_left_s = ?, progress_at = ? WHERE id = ?`,
		phase, done, total, rate, int64(left.Round(time.Second)/time.Second), metrics.Format(now), r.runID)
	if err != nil && !r.warned {
		r.warned = true
		r.log.Warn("could not record the run's progress; the run goes on", "err", err)
	}
}
