package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/attache/attache/internal/config"
)

// starBit is robfig/cron's mark for a field written as "*" (it is not
// exported): a field so marked is a wildcard, not a fixed time.
const starBit = 1 << 63

// Parse turns a cron expression into the schedule the scheduler uses, in
// loc (the config's timezone) unless the spec names its own CRON_TZ. Parser
// panics become errors, and so do schedules that would misbehave quietly:
// an @every below one second (the library silently makes it one second, and
// a negative one too) and a spec that never fires (30 February).
// Fixed-time schedules are wrapped to run correctly across daylight-saving
// changes (see DST).
func Parse(spec string, loc *time.Location) (s cron.Schedule, err error) {
	if loc == nil {
		loc = time.UTC
	}
	if err := config.CheckSchedule(spec); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%q is not a valid schedule: %v", spec, r)
		}
	}()
	if f := strings.Fields(spec); len(f) == 2 && f[0] == "@every" {
		d, err := time.ParseDuration(f[1])
		if err == nil && d < time.Second {
			return nil, fmt.Errorf("%q is too short an interval; use at least @every 1s (a minute or more is kinder to the fleet)", spec)
		}
	}
	inner, err := config.ParseSchedule(spec)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid schedule: %v", spec, err)
	}
	out := inner
	if ss, ok := inner.(*cron.SpecSchedule); ok {
		l := loc
		if ss.Location != time.Local {
			l = ss.Location // CRON_TZ= in the spec wins, as in the library
		}
		out = DST{Spec: ss, Loc: l}
	}
	// A spec whose days never come (0 0 30 2 *) parses fine and then never
	// runs; say so now rather than leave a job that silently never fires.
	if out.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, loc)).IsZero() {
		return nil, fmt.Errorf("%q never fires (no such day in any year); check the day of month and month fields", spec)
	}
	return out, nil
}

// DST is a cron spec evaluated in Loc that behaves across daylight-saving
// changes the way Vixie cron does, where robfig/cron v3 does not:
//
//   - spring forward: a fixed-time job set inside the hour the clocks skip
//     (02:30 on the night Europe goes to summer time) runs at the first
//     instant after the gap that same day (03:00), instead of not at all;
//   - fall back: it runs once, in the first pass through the repeated hour,
//     instead of twice.
//
// A job with a wildcard hour or minute (@hourly, */15 * * * *) keeps
// following real time, as in Vixie cron.
type DST struct {
	Spec *cron.SpecSchedule
	Loc  *time.Location
}

// Next returns the next activation after t.
func (s DST) Next(t time.Time) time.Time {
	t = t.In(s.Loc)
	n := s.Spec.Next(t)
	if !s.fixedTime() {
		return n
	}
	// Fall back: skip the second pass through a repeated wall time. The
	// first pass, being earlier, was already returned (or was before t).
	for i := 0; i < 4 && !n.IsZero() && repeated(n); i++ {
		n = s.Spec.Next(n)
	}
	if g := s.gapActivation(t, n); !g.IsZero() {
		return g
	}
	return n
}

// fixedTime reports whether the spec names its hours and minutes rather
// than matching every one.
func (s DST) fixedTime() bool {
	return s.Spec.Hour&starBit == 0 && s.Spec.Minute&starBit == 0
}

// repeated reports whether t is the second occurrence of its wall-clock
// time: the clocks went back less than the jump ago.
func repeated(t time.Time) bool {
	_, off := t.Zone()
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return false
	}
	_, before := start.Add(-time.Second).Zone()
	jump := time.Duration(before-off) * time.Second
	return jump > 0 && t.Sub(start) < jump
}

// gapActivation finds a spring-forward transition after t (and not after n,
// when n is set) whose skipped wall-clock times include one the spec
// matches; it returns the transition instant (the first instant after the
// gap), or zero when there is none.
func (s DST) gapActivation(t, n time.Time) time.Time {
	limit := n
	if limit.IsZero() {
		limit = t.AddDate(1, 0, 0)
	}
	cur := t
	for range 32 { // at most a few transitions lie between two activations
		_, end := cur.ZoneBounds()
		if end.IsZero() || end.After(limit) {
			return time.Time{}
		}
		_, before := cur.Zone()
		_, after := end.Zone()
		if jump := after - before; jump > 0 {
			// Wall-clock times [wall(end) in the old offset, + jump) never
			// happened that day.
			wall := end.Add(time.Duration(before) * time.Second).UTC()
			for sec := 0; sec < jump; sec++ {
				if s.matches(wall.Add(time.Duration(sec) * time.Second)) {
					if end.After(t) {
						return end.In(s.Loc)
					}
					break
				}
			}
		}
		cur = end
	}
	return time.Time{}
}

// matches reports whether the wall-clock time w (its UTC fields read as
// local) is one the spec names, with the library's own field rules.
func (s DST) matches(w time.Time) bool {
	sp := s.Spec
	bit := func(set uint64, v int) bool { return set&(1<<uint(v)) != 0 }
	if !bit(sp.Month, int(w.Month())) || !bit(sp.Hour, w.Hour()) || !bit(sp.Minute, w.Minute()) || !bit(sp.Second, w.Second()) {
		return false
	}
	dom, dow := bit(sp.Dom, w.Day()), bit(sp.Dow, int(w.Weekday()))
	if sp.Dom&starBit != 0 || sp.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// Stale is the dead-man's switch: it reports whether three scheduled
// activations have come and gone since since (the last success, or when the
// scheduler first saw a job that never succeeded) without a success, plus a
// grace for the third run to finish. Counting activations rather than
// multiplying an interval keeps weekday-only schedules from raising the
// alarm every Monday.
func Stale(s cron.Schedule, since, now time.Time) bool {
	if s == nil || since.IsZero() {
		return false
	}
	t := since
	var prev time.Time
	for range 3 {
		prev = t
		t = s.Next(t)
		if t.IsZero() {
			return false
		}
	}
	grace := min(t.Sub(prev)/2, time.Hour)
	return now.After(t.Add(grace))
}

// Period is the schedule's usual gap between activations around t: the
// shortest of the next few, so a weekday schedule has a day, not three.
func Period(s cron.Schedule, t time.Time) time.Duration {
	if s == nil {
		return 0
	}
	var best time.Duration
	prev := s.Next(t)
	for range 6 {
		if prev.IsZero() {
			break
		}
		n := s.Next(prev)
		if n.IsZero() {
			break
		}
		if d := n.Sub(prev); best == 0 || d < best {
			best = d
		}
		prev = n
	}
	return best
}
