package privacy

import (
	"fmt"

	"github.com/attache/attache/internal/report"
)

// Finding is a panel that would show individual tenants to an aggregate
// audience and declares no privacy rule (today it is left out for them).
type Finding struct {
	Report, Panel string
	File          string
	Why           string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s, panel %s: %s; add privacy: (shows: tenants, groups or totals) to the panel", f.File, f.Panel, f.Why)
}

// Unruled runs every panel without a privacy declaration and lists those
// whose result holds a tenant_id column or a known tenant id or location.
func Unruled(runner *report.Runner, reps []*report.Report, ids map[string]bool) []Finding {
	var out []Finding
	for _, rep := range reps {
		for _, p := range rep.Panels {
			if p.Privacy != nil {
				continue
			}
			d := runner.Run(p)
			if d.Err != nil {
				continue // reported by the report check
			}
			why := ""
			if d.Column("tenant_id") >= 0 {
				why = "its result has a tenant_id column"
			} else if _, err := guard(p, ids, nil, "")(d.Rows); err != nil {
				why = "its result shows tenant ids or locations"
			}
			if why != "" {
				out = append(out, Finding{Report: rep.Name, Panel: p.ID, File: rep.File, Why: why})
			}
		}
	}
	return out
}
