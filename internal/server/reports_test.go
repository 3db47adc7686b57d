package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/attache/attache/internal/report"
)

func TestNullNumberReadsNA(t *testing.T) {
	fx := sharedFixture(t)
	r, err := report.Parse("nulls.yaml", []byte(`title: Nulls
panels:
  - id: none
    title: Nothing yet
    chart: number
    sql: SELECT NULL AS n
`))
	if err != nil {
		t.Fatal(err)
	}
	copied := *fx
	copied.reports = append([]*report.Report{r}, fx.reports...)
	c := newClient(t, newServer(t, &copied, nil))
	c.signIn("ana", anaPW)
	body := c.get("/reports/nulls").Body.String()
	if want := `<p class="number" title="n/a">n/a</p>`; !strings.Contains(body, want) {
		t.Errorf("a NULL number panel does not read %s", report.NoValue)
	}
}

// TestCoverageScopedToTheReport: the hostile tenant failed the activity
// query only, so reports reading rollup_activity count it as missing and
// reports that do not read it are complete.
func TestCoverageScopedToTheReport(t *testing.T) {
	c := newClient(t, newServer(t, sharedFixture(t), nil))
	c.signIn("ana", anaPW)
	type api struct {
		Freshness string
		Coverage  float64
	}
	get := func(name string) api {
		var a api
		if err := json.Unmarshal(c.get("/api/reports/"+name).Body.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a := get("usage"); a.Coverage >= 1 || !strings.Contains(a.Freshness, "11 of 12 tenants · 1 failed") {
		t.Errorf("usage reads rollup_activity: %+v", a)
	}
	if a := get("growth"); a.Coverage != 1 || strings.Contains(a.Freshness, "failed") {
		t.Errorf("growth does not read rollup_activity: %+v", a)
	}
	if body := c.get("/reports/usage").Body.String(); !strings.Contains(body, "11 of 12 tenants · 1 failed") {
		t.Errorf("usage page's freshness is not scoped")
	}
	// The workbook's About sheet says the same.
	for name, want := range map[string]string{"usage": "11 of 12 tenants · 1 failed", "growth": "12 of 12 tenants"} {
		wb, err := excelize.OpenReader(c.get("/reports/" + name + ".xlsx").Body)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := wb.GetRows("About")
		wb.Close()
		if err != nil {
			t.Fatal(err)
		}
		data := ""
		for _, r := range rows {
			if len(r) > 1 && r[0] == "Data" {
				data = r[1]
			}
		}
		if !strings.Contains(data, want) || name == "growth" && strings.Contains(data, "failed") {
			t.Errorf("%s.xlsx About: Data %q, want %q", name, data, want)
		}
	}
}
