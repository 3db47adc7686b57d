package founder

import (
	"bytes"
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/digest"
	"github.com/attache/attache/internal/export"
	"github.com/attache/attache/internal/report"
)

// The engine runs on Thursday 2026-04-02; the newest activity is on 1 April,
// so the last complete month is March 2026.
var revenueRunAt = time.Date(2026, 4, 2, 9, 0, 0, 0, time.UTC)

// revenueFleet is a billing story whose every figure is worked out by hand
// below. MRR in cents per month:
//
//	tenant  Dec   Jan    Feb    Mar (end)  what happens in March
//	h       9000  9000   9000   0          cancels mid-month (Mar 15): churn
//	r       3000  0      0      4050       cancelled Jan 20, back Mar 10: reactivation
//	x       -     10000  10000  15000      upgrades at 00:00:00 UTC on Mar 1, stored at +01:00: expansion
//	c       -     20000  20000  12345      downgrades at 23:59:59 UTC on Mar 31, stored at +02:00: contraction
//	a       -     -      9999   9999       annual plan, 119,988 cents a year (Feb 10)
//	n       -     -      0      4999       trial from Feb 20 converts Mar 6: new
//	l       -     -      -      0          trial Mar 3 lapses Mar 17
//	p       -     -      -      0          trial Mar 28, still running
//	z       no billing rows at all: never a customer
//
// Start of March 48,999; end 46,393 = 48,999 + 4,999 new + 5,000 expansion
// + 4,050 reactivation - 7,655 contraction - 9,000 churned.
var revenueFleet = []spec{
	{id: "h", plan: "team", signup: "2025-12-15 09:00:00", schema: 3, subs: []sub{
		{"2025-12-15 09:00:00", "active", "month", 9000}, {"2026-03-15 12:00:00", "canceled", "", 0}}},
	{id: "r", plan: "team", signup: "2025-12-01 00:00:00", schema: 3, subs: []sub{
		{"2025-12-01 00:00:00", "active", "month", 3000}, {"2026-01-20 10:00:00", "canceled", "", 0},
		{"2026-03-10 10:00:00", "active", "month", 4050}}},
	{id: "x", plan: "team", signup: "2026-01-10 09:00:00", schema: 3, subs: []sub{
		{"2026-01-10 09:00:00", "active", "month", 10000}, {"2026-03-01T01:00:00+01:00", "active", "month", 15000}}},
	{id: "c", plan: "business", signup: "2026-01-05 09:00:00", schema: 3, subs: []sub{
		{"2026-01-05 09:00:00", "active", "month", 20000}, {"2026-04-01T01:59:59+02:00", "active", "month", 12345}}},
	{id: "a", plan: "business", signup: "2026-02-10 09:00:00", schema: 3, subs: []sub{
		{"2026-02-10 09:00:00", "active", "year", 119988}}},
	{id: "n", plan: "team", signup: "2026-02-20 09:00:00", schema: 3, subs: []sub{
		{"2026-02-20 09:00:00", "trialing", "month", 0}, {"2026-03-06 09:00:00", "active", "month", 4999}}},
	{id: "l", plan: "free", signup: "2026-03-03 09:00:00", schema: 3, subs: []sub{
		{"2026-03-03 09:00:00", "trialing", "month", 0}, {"2026-03-17 09:00:00", "expired", "", 0}}},
	{id: "p", plan: "team", signup: "2026-03-28 09:00:00", schema: 3, subs: []sub{
		{"2026-03-28 09:00:00", "trialing", "month", 0}}},
	{id: "z", plan: "free", signup: "2026-01-02 09:00:00", schema: 3, events: logins("2026-01-02 09:00:00", "2026-04-01 10:00:00")},
}

func buildRevenueFleet(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	for _, s := range revenueFleet {
		writeTenant(t, e.dir, s)
	}
	e.run(t, revenueRunAt)
	return e
}

// row is a panel's rows keyed by their first column.
func rowsBy(t *testing.T, d *report.Data, key string) map[string][]any {
	t.Helper()
	out := map[string][]any{}
	for _, r := range d.Rows {
		out[report.Text(get(t, d, r, key))] = r
	}
	return out
}

// checkRow compares named columns of a row with exact values: int64 cents
// must match to the cent, float64 rates within 1e-12, nil is NULL.
func checkRow(t *testing.T, d *report.Data, row []any, want map[string]any) {
	t.Helper()
	for col, w := range want {
		got := get(t, d, row, col)
		switch w := w.(type) {
		case float64:
			if f, ok := got.(float64); !ok || math.Abs(f-w) > 1e-12 {
				t.Errorf("%s %s = %#v, want %v", d.Panel.ID, col, got, w)
			}
		case int:
			if got != int64(w) {
				t.Errorf("%s %s = %#v, want %d", d.Panel.ID, col, got, w)
			}
		default:
			if got != w {
				t.Errorf("%s %s = %#v, want %#v", d.Panel.ID, col, got, w)
			}
		}
	}
}

func TestRevenue(t *testing.T) {
	e := buildRevenueFleet(t)

	t.Run("tiles", func(t *testing.T) {
		for id, want := range map[string]map[string]any{
			"mrr":         {"value": 46393, "change": 46393/48999.0 - 1},
			"arr":         {"value": 12 * 46393, "change": 46393/48999.0 - 1},
			"customers":   {"value": 5, "change": 0.25},
			"arpa":        {"value": 9279, "change": 9279/float64(12250) - 1}, // 46,393 / 5 = 9,278.6; Feb 48,999 / 4 = 12,249.75
			"logo_churn":  {"value": 0.25, "customers_lost": 1, "customers_start": 4},
			"quick_ratio": {"value": 9999 / 16655.0},
		} {
			d := e.panel(t, "revenue", id)
			if len(d.Rows) != 1 {
				t.Fatalf("%s: %v", id, d.Rows)
			}
			want["period"], want["versus"] = "2026-03", "2026-02"
			checkRow(t, d, d.Rows[0], want)
		}
		// Less than 13 months of billing: no trailing-twelve-month base.
		d := e.panel(t, "revenue", "nrr_ttm")
		checkRow(t, d, d.Rows[0], map[string]any{"nrr": nil, "grr": nil, "period": "2026-03"})
	})

	t.Run("bridge", func(t *testing.T) {
		d := e.panel(t, "revenue", "bridge")
		months := rowsBy(t, d, "month")
		if len(d.Rows) != 4 {
			t.Fatalf("bridge months %v, want 2025-12..2026-03", d.Rows)
		}
		for m, want := range map[string]map[string]any{
			"2025-12": {"new": 12000, "mrr_start": 0, "mrr": 12000},
			"2026-01": {"new": 30000, "churned": -3000, "mrr_start": 12000, "mrr": 39000},
			"2026-02": {"new": 9999, "churned": 0, "mrr_start": 39000, "mrr": 48999},
			"2026-03": {"new": 4999, "expansion": 5000, "reactivation": 4050, "contraction": -7655, "churned": -9000,
				"net_new": 46393 - 48999, "mrr_start": 48999, "mrr": 46393},
		} {
			checkRow(t, d, months[m], want)
		}
	})

	t.Run("rates", func(t *testing.T) {
		d := e.panel(t, "revenue", "churn_rates")
		checkRow(t, d, rowsBy(t, d, "month")["2026-03"], map[string]any{
			"logo_churn_rate": 0.25, "revenue_churn_rate": 16655 / 48999.0})
		// January: r (3,000 of 12,000) leaves, one of two customers.
		checkRow(t, d, rowsBy(t, d, "month")["2026-01"], map[string]any{
			"logo_churn_rate": 0.5, "revenue_churn_rate": 0.25})
		d = e.panel(t, "revenue", "retention_rates")
		checkRow(t, d, rowsBy(t, d, "month")["2026-03"], map[string]any{
			"nrr": 37344 / 48999.0, "grr": 32344 / 48999.0, "nrr_ttm": nil})
		d = e.panel(t, "revenue", "mrr_monthly")
		checkRow(t, d, rowsBy(t, d, "month")["2026-03"], map[string]any{"mrr": 46393, "arr": 556716, "customers": 5, "arpa": 9279})
	})

	t.Run("trials", func(t *testing.T) {
		d := e.panel(t, "revenue", "trials")
		m := rowsBy(t, d, "month")
		if len(d.Rows) != 2 {
			t.Fatalf("trials %v", d.Rows)
		}
		checkRow(t, d, m["2026-02"], map[string]any{"trials": 1, "converted": 1, "lapsed": 0, "pending": 0, "conversion": 1.0})
		checkRow(t, d, m["2026-03"], map[string]any{"trials": 2, "converted": 0, "lapsed": 1, "pending": 1, "conversion": 0.0})
	})

	t.Run("cohorts", func(t *testing.T) {
		d := e.panel(t, "revenue", "revenue_cohorts")
		want := map[string][]any{
			"2025-12": {2, 12000, 1.0, 0.75, 0.75, 4050 / 12000.0},
			"2026-01": {2, 30000, 1.0, 1.0, 27345 / 30000.0},
			"2026-02": {1, 9999, 1.0, 1.0},
			"2026-03": {1, 4999, 1.0},
		}
		checkCohorts(t, d, want, "first_mrr")
		d = e.panel(t, "revenue", "logo_cohorts")
		want = map[string][]any{
			"2025-12": {2, 1.0, 0.5, 0.5, 0.5},
			"2026-01": {2, 1.0, 1.0, 1.0},
			"2026-02": {1, 1.0, 1.0},
			"2026-03": {1, 1.0},
		}
		checkCohorts(t, d, want, "")
	})

	t.Run("money", func(t *testing.T) {
		d := e.panel(t, "revenue", "mrr")
		if h := d.Headline().String(); h != "March 2026: $463.93 ▼ 5.3% vs February" {
			t.Errorf("MRR tile reads %q", h)
		}
		f := d.Panel.Format["value"]
		if got := report.Display(d.Value(), f); got != "$463.93" {
			t.Errorf("MRR shows as %q, want $463.93", got)
		}
		eur, err := report.ParseCurrency("EUR")
		if err != nil {
			t.Fatal(err)
		}
		reps, err := report.Load(e.reportsFS(), "EUR")
		if err != nil {
			t.Fatal(err)
		}
		p := report.Find(reps, "revenue").Panel("mrr")
		if got := report.Display(int64(46393), p.Format["value"]); got != "€463.93" || eur.Format(-500) != "-€5.00" {
			t.Errorf("in EUR: %q, %q", got, eur.Format(-500))
		}
		// The workbook holds dollars as numbers with a currency format.
		var buf bytes.Buffer
		fresh, err := report.LoadFreshness(context.Background(), e.mdb, revenueRunAt)
		if err != nil {
			t.Fatal(err)
		}
		if err := export.XLSX(&buf, report.Find(e.reports, "revenue"), e.runner, fresh, revenueRunAt); err != nil {
			t.Fatal(err)
		}
		x, err := excelize.OpenReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		sheet := ""
		for _, s := range x.GetSheetList() {
			if strings.HasPrefix(s, "MRR at each month end") {
				sheet = s
			}
		}
		rows, err := x.GetRows(sheet, excelize.Options{RawCellValue: true})
		if err != nil || len(rows) != 5 {
			t.Fatalf("sheet %q: %v %v", sheet, rows, err)
		}
		if v, err := strconv.ParseFloat(rows[4][1], 64); err != nil || v != 463.93 {
			t.Errorf("B5 = %q, want 463.93", rows[4][1])
		}
		shown, _ := x.GetCellValue(sheet, "B5")
		if shown != "$463.93" {
			t.Errorf("B5 shows %q, want $463.93", shown)
		}
	})
}

// checkCohorts compares a cohort triangle: want[cohort] is the size, then
// (after skip, the base column) m0, m1, ...; later months must be blank.
func checkCohorts(t *testing.T, d *report.Data, want map[string][]any, base string) {
	t.Helper()
	if len(d.Rows) != len(want) {
		t.Fatalf("%s: %d cohorts: %v", d.Panel.ID, len(d.Rows), d.Rows)
	}
	for _, r := range d.Rows {
		cohort := get(t, d, r, "cohort").(string)
		w := want[cohort]
		exp := map[string]any{"customers": w[0]}
		cells := w[1:]
		if base != "" {
			exp[base] = w[1]
			cells = w[2:]
		}
		for k := 0; k < 18; k++ {
			if k < len(cells) {
				exp["m"+strconv.Itoa(k)] = cells[k]
			} else {
				exp["m"+strconv.Itoa(k)] = nil
			}
		}
		checkRow(t, d, r, exp)
	}
}

// The revenue report goes out as a digest: its tiles in the configured
// currency, each naming its month and change, and the workbook attached.
func TestRevenueDigest(t *testing.T) {
	e := buildRevenueFleet(t)
	cfg := *e.cfg
	cfg.ReportsFS = e.reportsFS()
	cfg.Currency = "EUR"
	cfg.SMTP.From = "attache <reports@example.com>"
	d := config.Digest{Name: "monthly-investors", Schedule: "0 8 1 * *", Report: "revenue", To: []string{"investors@example.com"}, Subject: "Revenue — {{.Date}}"}
	m, err := digest.Render(context.Background(), &cfg, d, digest.Deps{Metrics: e.mdb, Panels: e.runner,
		Now: func() time.Time { return revenueRunAt.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if m.Held != "" {
		t.Fatalf("held: %s", m.Held)
	}
	for _, want := range []string{"€463.93", "March 2026", "vs February", "€5,567.16"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("digest text lacks %q:\n%s", want, m.Text)
		}
	}
}
