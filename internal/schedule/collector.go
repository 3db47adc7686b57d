package schedule

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// descs are the collector's metric descriptions.
type descs struct {
	stale, lastSuccess, next, running, events, attempts *prometheus.Desc
}

func newDescs() descs {
	return descs{
		stale:       prometheus.NewDesc("attache_job_stale", "1 when a job or digest has missed three scheduled ticks without a success (the dead-man's switch).", []string{"kind", "name"}, nil),
		lastSuccess: prometheus.NewDesc("attache_job_last_success_timestamp_seconds", "When a job last finished an ok run, or a digest was last sent (Unix time; 0 never).", []string{"kind", "name"}, nil),
		next:        prometheus.NewDesc("attache_job_next_run_timestamp_seconds", "A job's or digest's next scheduled tick (Unix time; 0 when not scheduled).", []string{"kind", "name"}, nil),
		running:     prometheus.NewDesc("attache_job_running", "1 while a job or digest is running.", []string{"kind", "name"}, nil),
		events:      prometheus.NewDesc("attache_job_events_total", "Ticks of jobs and digests by what they came to (ok, failed, skipped, panic, held).", []string{"kind", "name", "event"}, nil),
		attempts:    prometheus.NewDesc("attache_digest_attempts_total", "Digest send attempts by outcome (sent, retry, failed, held).", []string{"digest", "outcome"}, nil),
	}
}

// Collector exposes the jobs' and digests' health to Prometheus: register it
// on the /metrics registry. It reads the metrics DB at scrape time.
func (s *Scheduler) Collector() prometheus.Collector { return collector{s: s, d: newDescs()} }

type collector struct {
	s *Scheduler
	d descs
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.d.stale, c.d.lastSuccess, c.d.next, c.d.running, c.d.events, c.d.attempts} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	unix := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return float64(t.Unix())
	}
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, st := range c.s.Jobs() {
		gauge(c.d.stale, flag(st.Stale), st.Kind, st.Name)
		gauge(c.d.lastSuccess, unix(st.LastSuccess), st.Kind, st.Name)
		gauge(c.d.next, unix(st.Next), st.Kind, st.Name)
		gauge(c.d.running, flag(st.Running), st.Kind, st.Name)
	}
	if c.s.deps.Metrics == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	events, attempts, err := c.s.deps.Metrics.ScheduleCounts(ctx)
	if err != nil {
		c.s.log.Warn("metrics: reading job events", "err", err)
		return
	}
	for k, n := range events {
		ch <- prometheus.MustNewConstMetric(c.d.events, prometheus.CounterValue, float64(n), k[0], k[1], k[2])
	}
	for k, n := range attempts {
		ch <- prometheus.MustNewConstMetric(c.d.attempts, prometheus.CounterValue, float64(n), k[0], k[1])
	}
}
