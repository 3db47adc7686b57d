// Package names holds the rules for the names people give things in
// attache: queries, reports and their panels, jobs and digests. Each rule
// is written here once, so the config, the query and report loaders and the
// dashboard agree on what a name may be, and a config that names a query or
// report no file could have is refused when it loads.
package names

import "fmt"

// Query checks a query's name (its file queries/NAME.sql). It becomes the
// table name rollup_NAME, so it holds only what needs no quoting.
func Query(s string) error {
	if !valid(s, "") {
		return fmt.Errorf("name %q may only hold letters, digits and _, since it becomes the table name rollup_%s", s, s)
	}
	return nil
}

// Report checks a report's name (its file reports/NAME.yaml) or a panel's
// id: both appear in URLs and download file names.
func Report(s string) error {
	if !valid(s, "-") {
		return fmt.Errorf("%q may only hold letters, digits, _ and - (it appears in URLs and file names)", s)
	}
	return nil
}

// Job checks a job's or a digest's name: it appears in URLs, logs and
// /metrics labels. Dots are allowed (weekly.founders), but not first.
func Job(s string) error {
	if !valid(s, ".-") || s[0] == '.' || s[0] == '-' {
		return fmt.Errorf("%q may only hold letters, digits, _, . and -, and must start with a letter, digit or _", s)
	}
	return nil
}

// valid reports whether s is non-empty and made of ASCII letters, digits,
// _ and the runes in extra.
func valid(s, extra string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
		for _, e := range extra {
			ok = ok || c == e
		}
		if !ok {
			return false
		}
	}
	return true
}
