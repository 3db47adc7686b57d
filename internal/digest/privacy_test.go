package digest

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/attache/attache/internal/privacy"
)

// TestAggregateDigest: a digest to an aggregate audience (digests[].audience)
// quotes no tenant, in its HTML, text or workbook, and is not held for the
// panels it leaves out; the same digest to a full audience names tenants.
func TestAggregateDigest(t *testing.T) {
	f := newFixture(t)
	d := f.digest()
	d.Report = "usage"
	ctx := context.Background()
	ids, err := privacy.TenantIDs(ctx, f.mdb.R)
	if err != nil || len(ids) < 30 {
		t.Fatalf("tenant ids: %d, %v", len(ids), err)
	}
	shows := func(m *Message) []string {
		var found []string
		wb := ""
		if m.Workbook != nil {
			x, err := excelize.OpenReader(bytes.NewReader(m.Workbook))
			if err != nil {
				t.Fatal(err)
			}
			for _, sh := range x.GetSheetList() {
				rows, _ := x.GetRows(sh)
				for _, r := range rows {
					wb += strings.Join(r, "\t") + "\n"
				}
			}
			x.Close()
		}
		for id := range ids {
			if strings.HasPrefix(id, "/") || filepath.IsAbs(id) {
				continue // locations: the workbook names none either way
			}
			if strings.Contains(m.HTML, id) || strings.Contains(m.Text, id) || strings.Contains(wb, id) {
				found = append(found, id)
			}
		}
		return found
	}

	full, err := Build(ctx, f.cfg, d, f.deps)
	if err != nil {
		t.Fatal(err)
	}
	if len(shows(full)) == 0 {
		t.Fatal("the full digest names no tenant: the test below would prove nothing")
	}

	key, err := privacy.LoadKey(filepath.Join(t.TempDir(), "privacy.key"))
	if err != nil {
		t.Fatal(err)
	}
	d.Audience = "aggregate"
	if _, err := Build(ctx, f.cfg, d, f.deps); err == nil || !strings.Contains(err.Error(), "aggregate") {
		t.Fatalf("an aggregate digest without privacy rules to apply: %v, want refused", err)
	}
	deps := f.deps
	deps.Aggregate = privacy.New(key, 5, func() (map[string]bool, error) { return ids, nil })
	agg, err := Build(ctx, f.cfg, d, deps)
	if err != nil {
		t.Fatal(err)
	}
	if agg.Held != "" {
		t.Fatalf("the aggregate digest is held: %s", agg.Held)
	}
	if got := shows(agg); len(got) > 0 {
		t.Errorf("the aggregate digest names tenants: %v", got)
	}
	if !strings.Contains(agg.HTML, "customer ") || !strings.Contains(agg.Text, "customer ") {
		t.Error("the aggregate digest has no pseudonyms in the top tenants")
	}
}
