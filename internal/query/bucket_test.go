package query

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		grain, at, want string
	}{
		{GrainHour, "2026-11-22T14:59:59Z", "2026-11-22T14"},
		{GrainDay, "2026-11-22T23:59:59Z", "2026-11-22"},
		{"", "2026-11-22T00:00:00Z", "2026-11-22"},
		{GrainWeek, "2026-11-22T10:00:00Z", "2026-11-16"}, // Sunday
		{GrainWeek, "2026-11-16T00:00:00Z", "2026-11-16"}, // Monday
		{GrainWeek, "2026-11-17T08:00:00Z", "2026-11-16"},
		{GrainWeek, "2027-01-01T12:00:00Z", "2026-12-28"}, // Friday, across the year
		{GrainWeek, "2024-03-01T12:00:00Z", "2024-02-26"}, // leap year
		{GrainMonth, "2026-11-30T23:00:00Z", "2026-11"},
		// Non-UTC input is converted first: 21:30 at -05:00 is 02:30 UTC the next day.
		{GrainDay, "2026-11-22T21:30:00-05:00", "2026-11-23"},
		{GrainHour, "2026-11-22T21:30:00-05:00", "2026-11-23T02"},
		{GrainMonth, "2026-12-31T20:00:00-05:00", "2027-01"},
		{GrainWeek, "2026-11-23T01:00:00+02:00", "2026-11-16"}, // Monday local, Sunday UTC
	}
	for _, tt := range tests {
		if got := Bucket(tt.grain, at(tt.at)); got != tt.want {
			t.Errorf("Bucket(%q, %s) = %s, want %s", tt.grain, tt.at, got, tt.want)
		}
	}
}

func TestBucketZone(t *testing.T) {
	ny := time.FixedZone("EST", -5*3600)
	if got := Bucket(GrainDay, time.Date(2026, 11, 22, 21, 30, 0, 0, ny)); got != "2026-11-23" {
		t.Errorf("Bucket = %s, want 2026-11-23", got)
	}
}
