package report

import (
	"errors"
	"fmt"
	"strings"
)

// What a panel's privacy declaration says it shows.
const (
	ShowsTenants = "tenants" // one row per tenant
	ShowsGroups  = "groups"  // each row stands for a number of tenants
	ShowsTotals  = "totals"  // fleet-wide figures only
)

// For a panel that shows tenants, what an aggregate audience gets.
const (
	AggregateOmit      = "omit"      // the panel is left out, with a line saying why
	AggregatePseudonym = "pseudonym" // tenants appear as stable pseudonyms
)

// Privacy is a panel's `privacy:` declaration: whether it shows individual
// tenants, and how an audience that may not see them gets it instead.
type Privacy struct {
	Shows string
	// Tenant is the column holding the tenant id (shows: tenants).
	Tenant string
	// Identifying are more columns that name a tenant (a name, a location):
	// left out for an aggregate audience.
	Identifying []string
	// Aggregate is omit or pseudonym (shows: tenants).
	Aggregate string
	// Count is the column counting the tenants behind each row (shows: groups).
	Count string
}

type filePrivacy struct {
	Shows       string     `yaml:"shows"`
	Tenant      string     `yaml:"tenant"`
	Identifying stringList `yaml:"identifying"`
	Aggregate   string     `yaml:"aggregate"`
	Count       string     `yaml:"count"`
}

func (fp *filePrivacy) privacy() *Privacy {
	if fp == nil {
		return nil
	}
	pv := &Privacy{Shows: strings.TrimSpace(fp.Shows), Tenant: strings.TrimSpace(fp.Tenant),
		Aggregate: strings.TrimSpace(fp.Aggregate), Count: strings.TrimSpace(fp.Count)}
	for _, c := range fp.Identifying {
		pv.Identifying = append(pv.Identifying, strings.TrimSpace(c))
	}
	if pv.Shows == ShowsTenants && pv.Aggregate == "" {
		pv.Aggregate = AggregateOmit
	}
	return pv
}

// check finds what is wrong with the declaration without running the SQL.
func (pv *Privacy) check(bad func(format string, a ...any)) {
	switch pv.Shows {
	case ShowsTenants:
		if pv.Tenant == "" {
			bad("privacy: shows: tenants needs tenant: the column holding the tenant id")
		}
		if pv.Aggregate != AggregateOmit && pv.Aggregate != AggregatePseudonym {
			bad("privacy.aggregate %q must be omit (leave the panel out) or pseudonym (\"customer 3f9a…\" in place of the id)", pv.Aggregate)
		}
		if pv.Count != "" {
			bad("privacy.count is for shows: groups; a panel of individual tenants has none")
		}
	case ShowsGroups:
		if pv.Count == "" {
			bad("privacy: shows: groups needs count: the column counting the tenants behind each row")
		}
		if pv.Tenant != "" || len(pv.Identifying) > 0 || pv.Aggregate != "" {
			bad("privacy: shows: groups takes only count; tenant, identifying and aggregate are for shows: tenants")
		}
	case ShowsTotals:
		if pv.Tenant != "" || pv.Count != "" || len(pv.Identifying) > 0 || pv.Aggregate != "" {
			bad("privacy: shows: totals takes no other keys")
		}
	default:
		bad("privacy.shows %q must be tenants (one row per tenant), groups (rows counting tenants, with count:) or totals (fleet-wide figures)", pv.Shows)
	}
}

// columns are the result columns the declaration names, for Validate.
func (pv *Privacy) columns() []string {
	var out []string
	for _, c := range append([]string{pv.Tenant, pv.Count}, pv.Identifying...) {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// Audience shapes a panel's result for who will see it (internal/privacy
// makes the aggregate one). A Runner made with For applies it to every
// panel it runs, so pages, exports and digests cannot forget it.
type Audience interface {
	// Shape says how the panel, whose result has cols, is shown, or returns
	// a *WithheldError when it is not shown at all.
	Shape(p *Panel, cols []string) (*Shape, error)
}

// Shape is a panel as an audience sees it.
type Shape struct {
	Columns []string
	// Rows rewrites a page of rows (never changing its argument); an error
	// (a *WithheldError) stops the panel.
	Rows func(rows [][]any) ([][]any, error)
	// Note says what was changed, for the page ("customers are shown as pseudonyms").
	Note string
}

// WithheldError is a panel an audience may not see, and why.
type WithheldError struct {
	Panel  string
	Reason string
}

func (e *WithheldError) Error() string {
	return fmt.Sprintf("panel %s is left out: %s", e.Panel, e.Reason)
}

// Withheld returns the reason when err says a panel is left out.
func Withheld(err error) (string, bool) {
	var w *WithheldError
	if errors.As(err, &w) {
		return w.Reason, true
	}
	return "", false
}

// For returns a runner that shapes every panel for a (nil: as it is).
func (r *Runner) For(a Audience) *Runner {
	c := *r
	c.audience = a
	return &c
}

// Apply returns d as a sees it; d itself is never changed (it may be
// cached and shown to others). nil a returns d.
func Apply(a Audience, d *Data) *Data {
	if a == nil || d == nil || d.Err != nil {
		return d
	}
	out := *d
	sh, err := a.Shape(d.Panel, d.Columns)
	if err == nil {
		out.Columns = sh.Columns
		out.Note = sh.Note
		out.Rows, err = sh.Rows(d.Rows)
	}
	if err != nil {
		out.Columns, out.Rows, out.Err = nil, nil, err
	}
	return &out
}
