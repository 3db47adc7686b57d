package human

import (
	"math"
	"testing"
	"time"
)

func TestFigures(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 15, 37, 17, 0, time.UTC)
	late := time.Date(2026, 12, 2, 23, 30, 0, 0, time.UTC)
	for _, c := range []struct{ got, want string }{
		{Count(0), "0"},
		{Count(999), "999"},
		{Count(1000), "1,000"},
		{Count(-1234567), "-1,234,567"},
		{Number(1234.567, 2), "1,234.57"},
		{Number(-0.001, 2), "0.00"},
		{Number(-1234.5, 1), "-1,234.5"},
		{Number(math.Inf(1), 2), "Infinity"},
		{Percent(0.066), "6.6%"},
		{Percent(1), "100.0%"},
		{Percent(12.5), "1,250.0%"},
		{Change(0.066), "▲ 6.6%"},
		{Change(-0.03), "▼ 3.0%"},
		{Change(0.0004), "no change"},
		{Plural(1, "job"), "1 job"},
		{Plural(0, "job"), "0 jobs"},
		{Plural(10000, "tenant"), "10,000 tenants"},
		{Plural(3, "query"), "3 queries"},
		{Plural(2, "day"), "2 days"},
		{Plural(2, "batch"), "2 batches"},
		{Bytes(0), "0 B"},
		{Bytes(999), "999 B"},
		{Bytes(1000), "1.0 kB"},
		{Bytes(679_900), "679.9 kB"},
		{Bytes(999_960), "1.0 MB"},
		{Bytes(17_500_000), "17.5 MB"},
		{Bytes(640e9), "640.0 GB"},
		{Duration(0), "—"},
		{Duration(850 * time.Millisecond), "850 ms"},
		{Duration(1500 * time.Millisecond), "1.5 s"},
		{Duration(59960 * time.Millisecond), "1m 00s"},
		{Duration(125 * time.Second), "2m 05s"},
		{Duration(62 * time.Minute), "1h 02m"},
		{Ago(30 * time.Second), "just now"},
		{Ago(time.Minute), "1 minute ago"},
		{Ago(14 * time.Minute), "14 minutes ago"},
		{Ago(72 * time.Hour), "3 days ago"},
		{When(time.Time{}, nil), "never"},
		{When(at, time.UTC), "2026-12-02 15:37 UTC"},
		{When(at, berlin), "2026-12-02 15:37 UTC (16:37 CET)"},
		{When(late, berlin), "2026-12-02 23:30 UTC (2026-12-03 00:30 CET)"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
