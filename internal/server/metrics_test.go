package server

import (
	"compress/gzip"
	"io"
	"strings"
	"testing"
)

// TestMetricsGzipOnce: a scraper asking for gzip gets the text compressed
// once, not twice (echo's Gzip and promhttp's own both used to apply).
func TestMetricsGzipOnce(t *testing.T) {
	c := newClient(t, newServer(t, sharedFixture(t), nil))
	c.basic = [2]string{"ana", anaPW}
	rec := c.get("/metrics", "Accept-Encoding", "gzip")
	body := rec.Body.String()
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	if !strings.Contains(body, "attache_tenants ") {
		t.Errorf("/metrics with gzip is not readable text after one gunzip: %.80q", body)
	}
}
