package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestPrivacyKeys(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Parse([]byte("metrics: data/m.db\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Privacy
	if p.Viewers != AudienceFull || p.Shared != AudienceAggregate || p.Digests != AudienceFull || p.MinGroup != 5 {
		t.Errorf("defaults: %+v", p)
	}
	if got, want := p.KeyPath(cfg.Metrics), filepath.Join(dir, "data", "privacy.key"); got != want {
		t.Errorf("key path %s, want %s: beside the metrics DB, never in it", got, want)
	}
	cfg, err = Parse([]byte("privacy: {viewers: aggregate, min_group: 10, key_file: secrets/k}\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Privacy.Viewers != AudienceAggregate || cfg.Privacy.MinGroup != 10 || cfg.Privacy.KeyPath(cfg.Metrics) != filepath.Join(dir, "secrets", "k") {
		t.Errorf("set: %+v", cfg.Privacy)
	}
	cfg, err = Parse([]byte("privacy: {digests: aggregate}\nsmtp: {host: h, from: a@b}\ndigests:\n  - {name: founders, schedule: '@daily', report: growth, to: [f@x.com], audience: full}\n  - {name: investors, schedule: '@daily', report: growth, to: [i@x.com]}\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DigestAudience(cfg.Digests[0]) != AudienceFull || cfg.DigestAudience(cfg.Digests[1]) != AudienceAggregate {
		t.Errorf("digest audiences: %s, %s; want full (its own) and aggregate (privacy.digests)", cfg.DigestAudience(cfg.Digests[0]), cfg.DigestAudience(cfg.Digests[1]))
	}
	for src, want := range map[string]string{
		"smtp: {host: h, from: a@b}\ndigests: [{name: d, schedule: '@daily', report: growth, to: [a@b.c], audience: some}]\n": "digests[0].audience",
		"privacy: {viewers: hidden}\n": "privacy.viewers",
		"privacy: {shared: nobody}\n":  "privacy.shared",
		"privacy: {digests: all}\n":    "privacy.digests",
		"privacy: {min_group: 0}\n":    "privacy.min_group",
	} {
		if _, err := Parse([]byte(src), dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %s", src, err, want)
		}
	}
}
