package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/attache/attache/internal/human"
	"github.com/attache/attache/internal/metrics"
)

// progress draws a bar on a terminal (unless -v asked for logs) and stays
// silent elsewhere (a pipe, cron, CI), where the logs say the same.
type progress struct {
	w     io.Writer
	unit  string
	tty   bool
	start time.Time
	last  time.Time
	drawn bool
}

func newProgress(env *Env, unit string) *progress {
	return &progress{w: env.Stderr, unit: unit, tty: env.Terminal() && !env.Verbose, start: time.Now()}
}

// update draws "[#####.....] 1,200/10,000 tenants · 850/s · 10s left".
func (p *progress) update(done, total int) {
	if !p.tty || total == 0 || (time.Since(p.last) < 100*time.Millisecond && done < total) {
		return
	}
	p.last = time.Now()
	fmt.Fprint(p.w, "\r"+progressLine(done, total, p.unit, time.Since(p.start))+"\033[K")
	p.drawn = true
}

// progressLine is one state of the bar; rate and time left appear once
// there is a rate to speak of.
func progressLine(done, total int, unit string, elapsed time.Duration) string {
	const width = 24
	done = min(max(done, 0), total)
	n := width * done / total
	s := fmt.Sprintf("[%s%s] %s/%s %s", strings.Repeat("#", n), strings.Repeat(".", width-n), human.Count(int64(done)), human.Count(int64(total)), unit)
	if done > 0 && elapsed >= 200*time.Millisecond {
		rate := float64(done) / elapsed.Seconds()
		s += fmt.Sprintf(" · %s/s", human.Count(int64(rate+0.5)))
		if done < total {
			left := time.Duration(float64(total-done) / rate * float64(time.Second))
			s += " · " + human.Duration(max(left, time.Second).Round(time.Second)) + " left"
		}
	}
	return s
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// failureGroups says which tenants failed, grouped by query and error, at
// most n groups: "priorities: no such column: priority: 19 tenants (a, b,
// c and 16 more)", then "… and 3 more errors (12 tenants)".
func failureGroups(fs []metrics.TenantError, n int) []string {
	type group struct {
		key     string
		tenants []string
	}
	byKey := map[string]*group{}
	var groups []*group
	for _, f := range fs {
		key := f.Query + ": " + oneLine(f.Error, 160)
		g := byKey[key]
		if g == nil {
			g = &group{key: key}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.tenants = append(g.tenants, printable(f.TenantID))
	}
	sort.SliceStable(groups, func(i, j int) bool { return len(groups[i].tenants) > len(groups[j].tenants) })
	var out []string
	for i, g := range groups {
		if i == n {
			rest := map[string]bool{}
			for _, g := range groups[n:] {
				for _, t := range g.tenants {
					rest[t] = true
				}
			}
			out = append(out, fmt.Sprintf("… and %s more, of %s", human.Plural(int64(len(groups)-n), "other error"), human.Plural(int64(len(rest)), "tenant")))
			break
		}
		out = append(out, fmt.Sprintf("%s: %s (%s)", g.key, human.Plural(int64(len(g.tenants)), "tenant"), listSome(g.tenants, 3)))
	}
	return out
}

// listSome lists the first n names and counts the rest: "a, b, c and 16 more".
func listSome(names []string, n int) string {
	if len(names) <= n+1 {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + " and " + human.Count(int64(len(names)-n)) + " more"
}
