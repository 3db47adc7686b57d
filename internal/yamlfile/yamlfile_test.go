package yamlfile

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type doc struct {
	Workers int     `yaml:"workers"`
	Title   string  `yaml:"title"`
	Jobs    []job   `yaml:"jobs"`
	Limit   *int    `yaml:"limit"`
	Rate    float64 `yaml:"rate"`
}

type job struct {
	Name     string `yaml:"name"`
	Schedule string `yaml:"schedule"`
}

func TestUnknownKeysNameTheKeyLineAndNearest(t *testing.T) {
	src := "workers: 2\ntitel: x\njobs:\n  - name: a\n    schedul: '@daily'\n  - name: b\n    colour: red\n"
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(src), &root); err != nil {
		t.Fatal(err)
	}
	got := UnknownKeys(&root, reflect.TypeOf(doc{}))
	want := []string{
		"titel (line 2) is not a known key; did you mean title?",
		"jobs[0].schedul (line 5) is not a known key; did you mean schedule?",
		"jobs[1].colour (line 7) is not a known key; the keys here are name, schedule",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestExplainSaysTypesInPlainWords(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"workers: two\n", "workers (line 1): must be a whole number (found `two`)"},
		{"limit: lots\n", "limit (line 1): must be a whole number (found `lots`)"},
		{"rate: [1]\n", "rate (line 1): must be a number, not a list"},
		{"jobs: {name: x}\n", "jobs (line 1): must be a list (each entry starting with -), not a set of keys"},
		{"jobs:\n  - x\n", "jobs[0] (line 2): must be a set of keys (found `x`)"},
	} {
		var root yaml.Node
		if err := yaml.Unmarshal([]byte(c.src), &root); err != nil {
			t.Fatal(err)
		}
		var d doc
		err := root.Decode(&d)
		if err == nil {
			t.Fatalf("%q decoded", c.src)
		}
		if got := Explain(err, &root); got != c.want {
			t.Errorf("%q: got %q, want %q", c.src, got, c.want)
		}
		if strings.Contains(Explain(err, &root), "yamlfile.") {
			t.Errorf("%q: Go type names leak", c.src)
		}
	}
}

func TestNearest(t *testing.T) {
	for _, c := range []struct{ s, want string }{
		{"rn", "run"}, {"titel", "title"}, {"batch_sise", "batch_size"}, {"zzz", ""},
	} {
		if got := Nearest(c.s, []string{"run", "title", "batch_size", "serve"}); got != c.want {
			t.Errorf("Nearest(%q) = %q, want %q", c.s, got, c.want)
		}
	}
}
