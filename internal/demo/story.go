package demo

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"
)

const daySec = 24 * 60 * 60

// Schema versions written into meta.schema_version.
const (
	schemaOld     = 1 // todos without priority and completed_at
	schemaCurrent = 3
)

// Activity kinds, as stored in activity.kind.
const (
	kindLogin         = "login"
	kindTodoCreated   = "todo_created"
	kindTodoCompleted = "todo_completed"
	kindListCreated   = "list_created"
	kindComment       = "comment"
)

// fleet holds what every tenant's story shares: the time window and the
// signup curve. Times are Unix seconds, UTC.
type fleet struct {
	seed  uint64
	start int64 // first second of history
	end   int64 // end of history (Options.Now), exclusive
	days  int
	// signups is the cumulative signup weight per day of history, so a
	// tenant's signup day is one binary search for a uniform draw.
	signups []float64
}

func newFleet(seed int64, now time.Time, days int) fleet {
	f := fleet{
		seed:  uint64(seed),
		end:   now.Unix(),
		days:  days,
		start: now.Unix() - int64(days)*daySec,
	}
	// A separate stream from every tenant's (those use even and odd
	// indexes from 0 up) so the curve's noise never shifts with Tenants.
	noise := rand.New(rand.NewPCG(f.seed, math.MaxUint64))
	// Signups per day grow sixfold over the history: a product finding
	// its market, with the usual weekly and seasonal wobble.
	growth := math.Log(6)
	f.signups = make([]float64, days)
	total := 0.0
	for d := range days {
		date := time.Unix(f.start+int64(d)*daySec, 0).UTC()
		w := math.Exp(growth * float64(d) / float64(days))
		if wd := date.Weekday(); wd == time.Saturday || wd == time.Sunday {
			w *= 0.45
		}
		w *= seasonal(date) * (0.8 + 0.4*noise.Float64())
		total += w
		f.signups[d] = total
	}
	return f
}

// drawDay picks a day of history, weighted by the signup curve.
func (f *fleet) drawDay(r *rand.Rand) int {
	u := r.Float64() * f.signups[len(f.signups)-1]
	return min(sort.SearchFloat64s(f.signups, u), f.days-1)
}

// seasonal is the summer dip and the Christmas lull shared by signups and
// activity.
func seasonal(date time.Time) float64 {
	yd := float64(date.YearDay())
	summer := 1 - 0.3*math.Exp(-sq((yd-215)/20))
	if yd < 15 {
		yd += 365
	}
	winter := 1 - 0.55*math.Exp(-sq((yd-361)/6))
	return summer * winter
}

func weekdayFactor(wd time.Weekday) float64 {
	switch wd {
	case time.Saturday:
		return 0.3
	case time.Sunday:
		return 0.22
	case time.Friday:
		return 0.85
	}
	return 1
}

func sq(x float64) float64 { return x * x }

// tenantPlan is the part of a tenant's story decided up front; the tests
// read it back to know which tenants churned.
type tenantPlan struct {
	index   int
	id      string
	name    string
	domain  string
	plan    string // free, team or business
	created int64  // signup
	stop    int64  // activity happens in [created, stop): churn or end of history
	churned bool
	large   bool
	schema  int
	wal     bool
	tz      int64   // the tenant's UTC offset in seconds, for its working hours
	members int     // members by the end of the story
	rate    float64 // events per member on an ordinary weekday
	trend   float64 // engagement drift per year, as an exponent
}

// planTenant decides tenant i's story. It has its own random stream (even
// numbers) so that it can be recomputed without simulating the tenant.
func planTenant(f *fleet, i int) tenantPlan {
	r := rand.New(rand.NewPCG(f.seed, uint64(2*i)))
	p := tenantPlan{index: i}

	first := companyWords[r.IntN(len(companyWords))]
	second := industryWords[r.IntN(len(industryWords))]
	// The index keeps ids unique however many tenants share a word pair.
	p.id = fmt.Sprintf("%s-%s-%04d", first, second, i+1)
	p.name = title(first) + " " + title(second)
	p.domain = first + second + ".example"

	p.large = r.Float64() < 0.02
	day := f.drawDay(r)
	if p.large {
		// Big accounts have had time to grow: they tend to be older.
		day = min(day, f.drawDay(r), f.drawDay(r))
	}
	// Every 33rd tenant (the first is the 33rd) belongs to the early cohort
	// that the migration skipped (below), so that even a fleet of 100 has a
	// few tenants on the old schema. Its signup moves into the first 30% of
	// the history; its random stream is used as for any other tenant.
	legacy := i%33 == 32
	if legacy {
		day = day * 3 / 10
	}
	// Customers sit mostly in the Americas and Europe, a few in Asia and
	// Australia; their working hours shape the hour of day of activity.
	tzs := [...]int64{-8, -7, -6, -5, -5, -4, -3, 0, 0, 1, 1, 1, 2, 3, 5, 8, 9, 10}
	p.tz = tzs[r.IntN(len(tzs))] * 3600
	p.created = f.start + int64(day)*daySec + workSecond(r, p.tz, 13, 3)

	switch x := r.Float64(); {
	case p.large, x < 0.09:
		p.plan = "business"
	case x < 0.42:
		p.plan = "team"
	default:
		p.plan = "free"
	}

	// The schema migration to version 3 ran for everyone who signed up in
	// the first 30% of the history, but a fifth of those tenants were
	// skipped (a failed batch nobody retried); a handful of later ones
	// were restored from old backups.
	p.schema = schemaCurrent
	early := day < f.days*3/10
	if x := r.Float64(); early && (x < 0.2 || legacy) || !early && x < 0.005 {
		p.schema = schemaOld
	}

	switch p.plan {
	case "free":
		p.members = 1
		if r.Float64() < 0.35 {
			p.members += 1 + r.IntN(2)
		}
	case "team":
		p.members = 2 + r.IntN(4) + r.IntN(4)
	default:
		p.members = 5 + r.IntN(8) + r.IntN(8)
	}
	p.rate = 0.34 * math.Exp(0.6*r.NormFloat64())
	if p.large {
		// 10-30x a typical account: several times the members, each a
		// bit busier since the product is their daily tool.
		p.members = 30 + r.IntN(70)
		p.rate = 0.5 * math.Exp(0.3*r.NormFloat64())
	}
	p.trend = 0.4 * r.NormFloat64()

	// About a quarter of the fleet churns, free accounts most. A churned
	// tenant stops at least 30 days before the end of history, so "no
	// activity in the last 30 days" is a fair test of churn; tenants too
	// young for that never churn.
	p.stop = f.end
	churnP := 0.1
	switch p.plan {
	case "free":
		churnP = 0.36
	case "team":
		churnP = 0.2
	}
	minAt, maxAt := p.created+7*daySec, f.end-30*daySec
	if x := r.Float64(); !p.large && minAt <= maxAt && x < churnP {
		p.churned = true
		// Most churn happens in the first months.
		at := minAt + int64(r.ExpFloat64()*75*daySec)
		if at > maxAt {
			at = minAt + r.Int64N(maxAt-minAt+1)
		}
		p.stop = at
	}
	p.wal = r.Float64() < 0.05
	return p
}

// workSecond draws a second of the UTC day around a local hour (mean, with
// spread sd hours) in a zone tz seconds east of UTC.
func workSecond(r *rand.Rand, tz int64, mean, sd float64) int64 {
	local := int64((mean + sd*r.NormFloat64()) * 3600)
	return ((local-tz)%daySec + daySec) % daySec
}

func title(s string) string {
	return strings.ToUpper(s[:1]) + s[1:]
}

type member struct {
	id     int
	email  string
	name   string
	role   string
	joined int64
	weight float64 // share of the tenant's activity
}

type list struct {
	id       int
	name     string
	created  int64
	archived bool
}

type todo struct {
	id        int
	list      int
	title     string
	createdBy int
	created   int64
	completed int64 // 0 while open
	priority  int
}

type event struct {
	at     int64
	member int
	kind   string
}

// story is everything in one tenant database.
type story struct {
	plan     tenantPlan
	members  []member
	lists    []list
	todos    []todo
	activity []event
	billing  []billingEvent
}

// simulate plays tenant p's history day by day. It has its own random
// stream (odd numbers), independent of how planTenant used its own.
func simulate(f *fleet, p tenantPlan) story {
	r := rand.New(rand.NewPCG(f.seed, uint64(2*p.index+1)))
	s := story{plan: p}
	s.members = makeMembers(r, p)

	open := []int{} // indexes into s.todos of open todos
	add := func(at int64, m int, kind string) {
		s.activity = append(s.activity, event{at: at, member: m, kind: kind})
	}
	newList := func(at int64, m int, name string) {
		s.lists = append(s.lists, list{id: len(s.lists) + 1, name: name, created: at})
		add(at, m, kindListCreated)
	}

	// Signing up: the owner logs in and gets an Inbox, within the first
	// minute (the day loop below starts after it).
	add(p.created, 1, kindLogin)
	newList(p.created+5+r.Int64N(50), 1, "Inbox")

	var today []event
	for day := (p.created - f.start) / daySec; ; day++ {
		dayStart := f.start + day*daySec
		if dayStart >= p.stop {
			break
		}
		date := time.Unix(dayStart, 0).UTC()
		age := float64(dayStart-p.created) / daySec
		factor := weekdayFactor(date.Weekday()) * seasonal(date) *
			(1 + 1.5*math.Exp(-age/5)) * // onboarding burst
			math.Exp(p.trend*age/365)
		if left := float64(p.stop-dayStart) / daySec; p.churned && left < 28 {
			// Interest fades before a tenant leaves.
			factor *= 0.25 + 0.75*left/28
		}

		today = today[:0]
		for _, m := range s.members {
			if m.joined >= dayStart+daySec {
				break // members are sorted by joined
			}
			for range poisson(r, p.rate*m.weight*factor) {
				at := dayStart + workSecond(r, p.tz, 13.5, 2.5)
				if at <= m.joined || at <= p.created+60 || at >= p.stop {
					continue
				}
				today = append(today, event{at: at, member: m.id})
			}
		}
		slices.SortFunc(today, func(a, b event) int {
			return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.member, b.member))
		})

		for _, e := range today {
			x := r.Float64()
			switch {
			case x < 0.28:
				add(e.at, e.member, kindLogin)
			case x < 0.80 && x >= 0.58 && len(open) > 0:
				// Half the time one of the latest todos, else any: most
				// work is done within days, some lingers for months.
				k := r.IntN(len(open))
				if r.Float64() < 0.5 {
					k = len(open) - 1 - r.IntN(min(len(open), 4))
				}
				t := &s.todos[open[k]]
				t.completed = e.at
				open[k] = open[len(open)-1]
				open = open[:len(open)-1]
				add(e.at, e.member, kindTodoCompleted)
			case x < 0.80:
				l := len(s.lists)
				if r.Float64() < 0.5 {
					l = 1 + r.IntN(len(s.lists))
				}
				s.todos = append(s.todos, todo{
					id:        len(s.todos) + 1,
					list:      l,
					title:     todoTitle(r),
					createdBy: e.member,
					created:   e.at,
					priority:  drawPriority(r),
				})
				open = append(open, len(s.todos)-1)
				add(e.at, e.member, kindTodoCreated)
			case x < 0.97 || len(s.lists) >= 3+2*len(s.members):
				add(e.at, e.member, kindComment)
			default:
				newList(e.at, e.member, listNames[r.IntN(len(listNames))])
			}
		}
	}

	// Old lists get archived; the Inbox never is.
	for i := 1; i < len(s.lists); i++ {
		if s.lists[i].created < p.stop-45*daySec && r.Float64() < 0.3 {
			s.lists[i].archived = true
		}
	}
	s.billing = bill(f, p, s.members)
	return s
}

func makeMembers(r *rand.Rand, p tenantPlan) []member {
	ms := make([]member, p.members)
	seen := map[string]bool{}
	for i := range ms {
		first := firstNames[r.IntN(len(firstNames))]
		last := lastNames[r.IntN(len(lastNames))]
		local := emailPart(first) + "." + emailPart(last)
		email := local + "@" + p.domain
		for n := 2; seen[email]; n++ {
			email = fmt.Sprintf("%s%d@%s", local, n, p.domain)
		}
		seen[email] = true
		m := member{email: email, name: first + " " + last, role: "member", joined: p.created}
		m.weight = math.Exp(0.7 * r.NormFloat64())
		if i == 0 {
			m.role, m.weight = "owner", 2
		} else {
			// Teams fill up early, then trickle.
			m.joined = p.created + 60 + int64(float64(p.stop-p.created)*math.Pow(r.Float64(), 1.7))
			if r.Float64() < 0.12 {
				m.role = "admin"
			}
		}
		ms[i] = m
	}
	slices.SortStableFunc(ms[1:], func(a, b member) int { return cmp.Compare(a.joined, b.joined) })
	for i := range ms {
		ms[i].id = i + 1
	}
	return ms
}

// emailPart lower-cases a name into the ASCII an email's local part wants.
func emailPart(name string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteRune(c)
		case c == 'ü':
			b.WriteByte('u')
		}
	}
	return b.String()
}

func todoTitle(r *rand.Rand) string {
	t := todoVerbs[r.IntN(len(todoVerbs))] + " " + todoObjects[r.IntN(len(todoObjects))]
	if r.Float64() < 0.3 {
		t += todoSuffixes[r.IntN(len(todoSuffixes))]
	}
	return t
}

// drawPriority: 0 none, 1 low, 2 medium, 3 high.
func drawPriority(r *rand.Rand) int {
	switch x := r.Float64(); {
	case x < 0.5:
		return 0
	case x < 0.72:
		return 1
	case x < 0.9:
		return 2
	}
	return 3
}

// poisson draws a Poisson count; the normal approximation takes over where
// Knuth's product method would loop too long.
func poisson(r *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
