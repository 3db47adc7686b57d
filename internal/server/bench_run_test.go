package server

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/attache/attache/internal/rollup"
	"github.com/attache/attache/internal/worker"
)

// BenchmarkReportPageDuringRun is the growth report page, 8 viewers at once
// over loopback HTTP, while a full run reads the 10,000-tenant fleet into
// the same metrics DB. Only requests that finish before the run does count
// (after it, the first view recomputes the panels). nice=10 is how attache
// runs its workers; nice=0 is the comparison, workers at the server's
// priority.
//
//	go test -run '^$' -bench ReportPageDuringRun -benchtime 1x ./internal/server/
func BenchmarkReportPageDuringRun(b *testing.B) {
	fx := benchFixture(b)
	for _, nice := range []string{"10", "0"} {
		b.Run("nice="+nice, func(b *testing.B) {
			b.Setenv(worker.NiceEnv, nice)
			s := newServer(b, fx, nil)
			base := live(b, s)
			hc := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			c := newClient(b, s)
			c.signIn("ana", anaPW)
			session := c.cookies[sessionCookie].Value
			get := func() (time.Duration, error) {
				req, _ := http.NewRequest(http.MethodGet, base+"/reports/growth", nil)
				req.AddCookie(&http.Cookie{Name: sessionCookie, Value: session})
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					return 0, err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return 0, &url.Error{Op: "GET", URL: req.URL.String(), Err: http.ErrNotSupported}
				}
				return time.Since(t0), nil
			}
			if _, err := get(); err != nil { // panels computed before the run
				b.Fatal(err)
			}
			var lat []time.Duration
			var runTime time.Duration
			for i := 0; i < b.N; i++ {
				done := make(chan struct{})
				var runErr error
				start := time.Now()
				go func() {
					defer close(done)
					_, runErr = rollup.Run(context.Background(), fx.cfg, fx.mdb, rollup.Options{Full: true})
				}()
				var mu sync.Mutex
				var wg sync.WaitGroup
				for v := 0; v < 8; v++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							select {
							case <-done:
								return
							default:
							}
							d, err := get()
							if err != nil {
								select {
								case <-done: // cut off at the run's end
								default:
									b.Error(err)
								}
								return
							}
							select {
							case <-done: // finished after the run: not "during"
								return
							default:
							}
							mu.Lock()
							lat = append(lat, d)
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				runTime += time.Since(start)
				if runErr != nil {
					b.Fatal(runErr)
				}
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			reportPercentiles(b, lat)
			b.ReportMetric(float64(len(lat))/float64(b.N), "views/run")
			b.ReportMetric(runTime.Seconds()/float64(b.N), "run-s")
		})
	}
}
