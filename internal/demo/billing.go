package demo

import (
	"math/rand/v2"
	"slices"
)

// Subscription statuses, as stored in subscription_events.status: each row
// is the tenant's subscription from its instant on.
const (
	statusTrialing = "trialing" // a free trial of a paid plan: pays nothing yet
	statusActive   = "active"   // paying amount_cents every billing_interval
	statusCanceled = "canceled" // stopped paying
	statusExpired  = "expired"  // a trial that ended without paying
)

// Prices in cents per seat: monthly, and per year when billed annually
// (two months free for business, a twelfth off for team). Yearly prices
// are multiples of 12 cents so their monthly share is exact.
var prices = map[string]struct{ month, year int64 }{
	"team":     {month: 800, year: 8400},
	"business": {month: 1500, year: 15000},
}

const trialDays = 14

// billingEvent is one row of subscription_events.
type billingEvent struct {
	at       int64
	status   string
	plan     string
	seats    int
	interval string // month or year
	amount   int64  // cents per interval, all seats
}

// bill writes tenant p's subscription history from its story: trials that
// convert or lapse, seats that follow the team's members, upgrades,
// downgrades, cancellations (every churned paying tenant cancels) and
// reactivations. It has its own random stream, so adding billing changed
// no other part of the demo.
func bill(f *fleet, p tenantPlan, members []member) []billingEvent {
	r := rand.New(rand.NewPCG(f.seed, uint64(p.index)|1<<40))
	var out []billingEvent
	end := min(p.stop, f.end)
	seatsAt := func(at int64) int {
		n := 0
		for _, m := range members {
			if m.joined <= at {
				n++
			}
		}
		return max(n, 1)
	}
	if p.plan == "free" {
		// Two in five free tenants tried a paid plan and let the trial lapse.
		if r.Float64() < 0.4 && p.created+trialDays*daySec < end {
			out = append(out,
				billingEvent{at: p.created, status: statusTrialing, plan: "team", seats: seatsAt(p.created), interval: "month"},
				billingEvent{at: p.created + trialDays*daySec, status: statusExpired, plan: "team"})
		}
		return out
	}

	plan, interval := p.plan, "month"
	if r.Float64() < 0.12 {
		interval = "year"
	}
	seats := 0
	pay := func(at int64, status string) {
		price := prices[plan].month
		if interval == "year" {
			price = prices[plan].year
		}
		out = append(out, billingEvent{at: at, status: status, plan: plan, seats: seats, interval: interval, amount: int64(seats) * price})
	}
	start := p.created
	if r.Float64() < 0.6 {
		seats = seatsAt(p.created)
		out = append(out, billingEvent{at: p.created, status: statusTrialing, plan: plan, seats: seats, interval: interval})
		start = p.created + trialDays*daySec
		if start >= f.end {
			return out // still in the trial
		}
		if p.churned && start >= end {
			out = append(out, billingEvent{at: start, status: statusExpired, plan: plan})
			return out
		}
	}
	seats = seatsAt(start)
	pay(start, statusActive)
	cancel := int64(0)
	if p.churned {
		// A churned tenant cancels in its last weeks of activity; nothing
		// changes after that.
		cancel = max(start+daySec, end-r.Int64N(20*daySec))
		end = min(end, cancel)
	}

	// What happens after the first payment, in time order: seats follow
	// members who join; one seat given up now and then; a plan change;
	// for a few, a cancellation and a return months later.
	type change struct {
		at   int64
		kind string
	}
	var changes []change
	for _, m := range members {
		// Most members who join later share a seat or are guests; about
		// one in eight adds a paid seat.
		if m.joined > start && m.joined < end && r.Float64() < 0.12 {
			changes = append(changes, change{m.joined, "seat+"})
		}
	}
	span := end - start
	if span > 60*daySec {
		if r.Float64() < 0.15 {
			changes = append(changes, change{start + 30*daySec + r.Int64N(span-30*daySec), "seat-"})
		}
		switch {
		case plan == "team" && r.Float64() < 0.12:
			changes = append(changes, change{start + 30*daySec + r.Int64N(span-30*daySec), "upgrade"})
		case plan == "business" && !p.large && r.Float64() < 0.1:
			changes = append(changes, change{start + 30*daySec + r.Int64N(span-30*daySec), "downgrade"})
		}
	}
	var pause, back int64
	if !p.churned && span > 150*daySec && r.Float64() < 0.08 {
		pause = start + 30*daySec + r.Int64N(span-150*daySec)
		back = pause + 30*daySec + r.Int64N(90*daySec)
	}
	slices.SortFunc(changes, func(a, b change) int { return int(a.at - b.at) })
	paying := true
	for _, c := range changes {
		if pause != 0 && paying && c.at >= pause {
			out = append(out, billingEvent{at: pause, status: statusCanceled, plan: plan})
			paying = false
		}
		if !paying && c.at >= back {
			pay(back, statusActive)
			paying = true
		}
		switch c.kind {
		case "seat+":
			seats++
		case "seat-":
			if seats <= 1 {
				continue
			}
			seats--
		case "upgrade":
			plan = "business"
		case "downgrade":
			plan = "team"
		}
		if paying {
			pay(c.at, statusActive)
		}
	}
	if pause != 0 && paying && pause < end {
		out = append(out, billingEvent{at: pause, status: statusCanceled, plan: plan})
		paying = false
	}
	if pause != 0 && !paying && back < end {
		pay(back, statusActive)
		paying = true
	}
	if cancel != 0 && cancel < f.end {
		out = append(out, billingEvent{at: cancel, status: statusCanceled, plan: plan})
	}
	return out
}
