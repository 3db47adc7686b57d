package report

import (
	"strings"
	"time"

	"github.com/attache/attache/internal/human"
)

// Headline is what a number panel says, worded the same on its tile, in the
// workbook's Summary sheet and in the digest:
// "November 2026: 225 ▲ 6.6% vs October".
type Headline struct {
	Title  string
	Value  any    // the value as stored; nil when there is no row or it is NULL
	Text   string // the value for people, by its column's format ("225", "n/a")
	Period string // the period the value is for; "" when the panel names none
	// HasChange is set when the panel names a change column; Change is then
	// the ratio against Versus, or nil when there is no base (n/a).
	HasChange bool
	Change    *float64
	Versus    string
}

// Headline reads the panel's value, period, change and versus from the
// first row.
func (d *Data) Headline() Headline {
	h := Headline{Value: d.Value()}
	p := d.Panel
	if p == nil {
		p = &Panel{}
	}
	h.Title = p.Title
	h.Text = NoValue
	if h.Value != nil {
		h.Text = Display(h.Value, p.Format[d.valueColumn()])
	}
	cell := func(col string) any {
		if i := d.Column(col); col != "" && i >= 0 && len(d.Rows) > 0 {
			return d.Rows[0][i]
		}
		return nil
	}
	h.Period = PeriodLabel(cell(p.Period))
	h.Versus = PeriodLabel(cell(p.Versus))
	if y, m, ok := yearMonth(cell(p.Period)); ok {
		// "vs October", not "vs October 2026", when the year is the same.
		if vy, vm, ok := yearMonth(cell(p.Versus)); ok && vy == y && vm != m {
			h.Versus = vm.String()
		}
	}
	if p.Change != "" {
		h.HasChange = true
		switch x := cell(p.Change).(type) {
		case int64:
			f := float64(x)
			h.Change = &f
		case float64:
			h.Change = &x
		}
	}
	return h
}

// valueColumn is the column Value reads.
func (d *Data) valueColumn() string {
	if d.Panel != nil && len(d.Panel.Y) > 0 {
		return d.Panel.Y[0]
	}
	if len(d.Columns) > 0 {
		return d.Columns[0]
	}
	return ""
}

// ChangeText is the change against the previous period: "▲ 6.6% vs October",
// "n/a vs October" with no base; "" when the panel has no change.
func (h Headline) ChangeText() string {
	if !h.HasChange {
		return ""
	}
	s := NoValue
	if h.Change != nil {
		s = human.Change(*h.Change)
	}
	if h.Versus != "" {
		s += " vs " + h.Versus
	}
	return s
}

// String is the whole headline on one line: "November 2026: 225 ▲ 6.6% vs
// October"; parts the panel does not name are left out.
func (h Headline) String() string {
	s := h.Text
	if h.Period != "" {
		s = h.Period + ": " + s
	}
	if c := h.ChangeText(); c != "" {
		s += " " + c
	}
	return s
}

// PeriodLabel writes a period for people: a month 2026-11 becomes
// "November 2026"; anything else (a label, a day) is shown as it is.
func PeriodLabel(v any) string {
	if y, m, ok := yearMonth(v); ok {
		return m.String() + " " + itoa(y)
	}
	return strings.TrimSpace(Text(v))
}

// yearMonth reads a YYYY-MM month.
func yearMonth(v any) (int, time.Month, bool) {
	s, ok := v.(string)
	if !ok || len(s) != 7 {
		return 0, 0, false
	}
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return 0, 0, false
	}
	return t.Year(), t.Month(), true
}

func itoa(n int) string { return Text(int64(n)) }
