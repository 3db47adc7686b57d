package names

import "testing"

func TestRules(t *testing.T) {
	for _, c := range []struct {
		name               string
		query, report, job bool
	}{
		{"signups", true, true, true},
		{"mrr_2026", true, true, true},
		{"weekly-founders", false, true, true},
		{"weekly.founders", false, false, true},
		{".hidden", false, false, false},
		{"-x", false, true, false},
		{"", false, false, false},
		{"a b", false, false, false},
		{"../etc", false, false, false},
		{"naïve", false, false, false},
		{"x/y", false, false, false},
	} {
		if got := Query(c.name) == nil; got != c.query {
			t.Errorf("Query(%q) ok = %v, want %v", c.name, got, c.query)
		}
		if got := Report(c.name) == nil; got != c.report {
			t.Errorf("Report(%q) ok = %v, want %v", c.name, got, c.report)
		}
		if got := Job(c.name) == nil; got != c.job {
			t.Errorf("Job(%q) ok = %v, want %v", c.name, got, c.job)
		}
	}
}
