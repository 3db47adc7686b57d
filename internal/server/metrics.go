package server

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/attache/attache/internal/metrics"
)

// promMetrics is what /metrics exposes, on a registry of the server's own;
// extra collectors (the scheduler's jobs) join it.
type promMetrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	handler  echo.HandlerFunc
}

func newPromMetrics(mdb *metrics.DB, log *slog.Logger, extra ...prometheus.Collector) *promMetrics {
	reg := prometheus.NewRegistry()
	pm := &promMetrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attache_http_requests_total", Help: "HTTP requests by method, route and status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "attache_http_request_duration_seconds", Help: "HTTP request latency by method and route.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route"}),
	}
	reg.MustRegister(pm.requests, pm.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&runCollector{mdb: mdb, log: log, d: newRunDescs()})
	reg.MustRegister(extra...)
	// echo's Gzip middleware compresses the response already; promhttp
	// compressing it too made every gzip scrape unreadable.
	pm.handler = echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, DisableCompression: true}))
	return pm
}

func (pm *promMetrics) observe(method, route string, code int, d time.Duration) {
	pm.requests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
	pm.latency.WithLabelValues(method, route).Observe(d.Seconds())
}

func (s *Server) metrics(c echo.Context) error { return s.prom.handler(c) }

// runCollector reads run metrics from the metrics DB at scrape time: runs
// are made by `attache run` and the scheduler as well as by this server, so
// the DB, not this process, knows them.
type runCollector struct {
	mdb *metrics.DB
	log *slog.Logger
	d   runDescs
}

// runDescs describes the run metrics.
type runDescs struct {
	duration, runs, running, lastID, lastEnd, lastDur, lastTenants, lastRows, tenants, failing *prometheus.Desc
}

func newRunDescs() runDescs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return runDescs{
		duration:    d("attache_run_duration_seconds", "Durations of finished ok runs."),
		runs:        d("attache_runs_total", "Finished runs by status.", "status"),
		running:     d("attache_run_in_progress", "1 while a run is in progress."),
		lastID:      d("attache_last_run_id", "Id of the last ok run."),
		lastEnd:     d("attache_last_run_timestamp_seconds", "When the last ok run finished (Unix time)."),
		lastDur:     d("attache_last_run_duration_seconds", "How long the last ok run took."),
		lastTenants: d("attache_last_run_tenants", "Tenants of the last ok run by outcome.", "state"),
		lastRows:    d("attache_last_run_rows_written", "Rows the last ok run wrote."),
		tenants:     d("attache_tenants", "Tenants known to the metrics DB."),
		failing:     d("attache_tenants_failing", "Tenants whose last read failed."),
	}
}

// durationBuckets are the run-duration histogram's upper bounds, seconds.
func durationBuckets() []float64 { return []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600} }

func (rc *runCollector) Describe(ch chan<- *prometheus.Desc) {
	d := rc.d
	for _, d := range []*prometheus.Desc{d.duration, d.runs, d.running, d.lastID, d.lastEnd, d.lastDur, d.lastTenants, d.lastRows, d.tenants, d.failing} {
		ch <- d
	}
}

func (rc *runCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rc.collect(ctx, ch); err != nil {
		rc.log.Warn("metrics: reading the metrics DB", "err", err)
	}
}

func (rc *runCollector) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	rows, err := rc.mdb.R.QueryContext(ctx, "SELECT status, count(*) FROM runs GROUP BY status")
	if err != nil {
		return err
	}
	running := 0.0
	for rows.Next() {
		var st string
		var n float64
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return err
		}
		if st == "running" {
			running = n
			continue
		}
		ch <- prometheus.MustNewConstMetric(rc.d.runs, prometheus.CounterValue, n, st)
	}
	rows.Close()
	gauge(rc.d.running, min(running, 1))

	// A histogram of every ok run's duration, bucketed in SQL.
	bounds := durationBuckets()
	q := "SELECT count(*), coalesce(sum(d), 0)"
	for _, b := range bounds {
		q += ", coalesce(sum(d <= " + strconv.FormatFloat(b, 'f', -1, 64) + "), 0)"
	}
	q += " FROM (SELECT (julianday(finished_at) - julianday(started_at)) * 86400.0 AS d FROM runs WHERE status = 'ok' AND finished_at IS NOT NULL)"
	vals := make([]float64, 2+len(bounds))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rc.mdb.R.QueryRowContext(ctx, q).Scan(ptrs...); err != nil {
		return err
	}
	buckets := map[float64]uint64{}
	for i, b := range bounds {
		buckets[b] = uint64(vals[2+i])
	}
	ch <- prometheus.MustNewConstHistogram(rc.d.duration, uint64(vals[0]), vals[1], buckets)

	last, err := rc.mdb.LastRun(ctx)
	if err != nil && !errors.Is(err, metrics.ErrNotFound) {
		return err
	}
	if last != nil {
		gauge(rc.d.lastID, float64(last.ID))
		gauge(rc.d.lastEnd, float64(last.FinishedAt.Unix()))
		gauge(rc.d.lastDur, last.Duration().Seconds())
		gauge(rc.d.lastTenants, float64(last.TenantsTotal), "total")
		gauge(rc.d.lastTenants, float64(last.TenantsOK), "ok")
		gauge(rc.d.lastTenants, float64(last.TenantsFailed), "failed")
		gauge(rc.d.lastTenants, float64(last.TenantsUnchanged), "unchanged")
		gauge(rc.d.lastTenants, float64(last.TenantsStale), "stale")
		gauge(rc.d.lastRows, float64(last.RowsWritten))
	}
	var tenants, failing float64
	if err := rc.mdb.R.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(last_error != ''), 0) FROM tenants").Scan(&tenants, &failing); err != nil {
		return err
	}
	gauge(rc.d.tenants, tenants)
	gauge(rc.d.failing, failing)
	return nil
}
