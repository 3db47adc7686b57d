package server

import (
	"testing"

	"github.com/attache/attache/internal/report"
)

func TestPanelCacheFollowsTheData(t *testing.T) {
	fx := sharedFixture(t)
	pc := newPanelCache(fx.panels)
	rep := report.Find(fx.reports, "broken")
	fine, broken := rep.Panel("fine"), rep.Panel("broken")
	a := pc.panel(rep, fine, "1/ok/x")
	if a.Err != nil || len(a.Rows) != 1 {
		t.Fatalf("first run: %+v", a)
	}
	if b := pc.panel(rep, fine, "1/ok/x"); b != a {
		t.Errorf("same data version: the panel ran again")
	}
	if c := pc.panel(rep, fine, "2/ok/y"); c == a {
		t.Errorf("new data version: the cached result was served")
	}
	// A failed panel is remembered briefly, not forever.
	e := pc.panel(rep, broken, "2/ok/y")
	if e.Err == nil {
		t.Fatal("broken panel did not fail")
	}
	if again := pc.panel(rep, broken, "2/ok/y"); again != e {
		t.Errorf("a failure was not remembered at all")
	}
	pc.mu.Lock()
	pc.entries[rep.Name+"\x00"+broken.ID].at = pc.entries[rep.Name+"\x00"+broken.ID].at.Add(-2 * errorTTL)
	pc.mu.Unlock()
	if again := pc.panel(rep, broken, "2/ok/y"); again == e {
		t.Errorf("an old failure was served instead of a retry")
	}
}

func TestLayoutFillsRows(t *testing.T) {
	kinds := []string{"number", "number", "number", "line", "bar", "area", "table", "pie", "number",
		"table", "number", "number", "number", "number", "number", "number", "number"}
	ps := make([]*report.Panel, len(kinds))
	for i, k := range kinds {
		ps[i] = &report.Panel{Chart: k}
	}
	spans := layout(ps)
	want := []int{4, 4, 4, 6, 6, 12, 12, 12, 12, 12, 3, 3, 3, 3, 4, 4, 4}
	for i := range ps {
		if spans[i] != want[i] {
			t.Errorf("panel %d (%s): span %d, want %d", i, kinds[i], spans[i], want[i])
		}
	}
}
