// Package yamlfile explains what is wrong in a YAML file people write
// (config.yaml, reports/*.yaml) in the file's own terms: the dotted key and
// line at fault, the kind of value it takes, and the nearest known key for a
// typo. config and report both use it, so their errors read alike.
package yamlfile

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// UnknownKeys walks the document beside the type t (a struct with yaml tags) and reports every
// key that is not one of its yaml fields, with the nearest known key:
// "batch_sise (line 2) is not a known key; did you mean batch_size?".
// Walking the types (not reading yaml.v3's messages) keeps this right as
// keys are added.
func UnknownKeys(root *yaml.Node, t reflect.Type) []string {
	var out []string
	var walk func(n *yaml.Node, t reflect.Type, prefix string)
	walk = func(n *yaml.Node, t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case n.Kind == yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, t, prefix)
			}
		case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
			for i, c := range n.Content {
				walk(c, t.Elem(), fmt.Sprintf("%s[%d]", prefix, i))
			}
		case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
			fields := yamlFields(t)
			names := make([]string, 0, len(fields))
			for name := range fields {
				names = append(names, name)
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				key := k.Value
				if prefix != "" {
					key = prefix + "." + k.Value
				}
				ft, ok := fields[k.Value]
				if !ok {
					msg := fmt.Sprintf("%s (line %d) is not a known key", key, k.Line)
					if near := Nearest(k.Value, names); near != "" {
						msg += "; did you mean " + near + "?"
					} else {
						sort.Strings(names)
						msg += "; the keys here are " + strings.Join(names, ", ")
					}
					out = append(out, msg)
					continue
				}
				walk(v, ft, key)
			}
		}
	}
	walk(root, t, "")
	return out
}

// yamlFields maps a struct's yaml keys to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// typeError reads one of yaml.v3's "cannot unmarshal" lines.
var typeError = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")

// plainTypeError says a yaml.v3 type error in the config's own terms, never
// with Go type names: "workers: must be a whole number (found `two`)".
func plainTypeError(line string, root *yaml.Node) string {
	m := typeError.FindStringSubmatch(line)
	if m == nil {
		return line
	}
	var n int
	fmt.Sscan(m[1], &n)
	key := ""
	if root != nil {
		key = keyAtLine(root, n, m[2])
	}
	if key == "" {
		key = "line " + m[1]
	} else {
		key += " (line " + m[1] + ")"
	}
	want := typeWords(m[4])
	if m[3] != "" {
		return fmt.Sprintf("%s: must be %s (found `%s`)", key, want, m[3])
	}
	return fmt.Sprintf("%s: must be %s, not %s", key, want, yamlKindWords(m[2]))
}

// typeWords names a Go type the way the README's configuration reference
// does.
func typeWords(goType string) string {
	goType = strings.TrimPrefix(goType, "*")
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"), strings.HasSuffix(goType, "*float64"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a single value (text)"
	case goType == "[]string":
		return "a list of values, e.g. [a, b]"
	case strings.HasPrefix(goType, "[]"):
		return "a list (each entry starting with -)"
	case strings.HasPrefix(goType, "map["):
		return "a set of keys"
	case strings.Contains(goType, "."):
		return "a set of keys" // a struct of the file's own
	}
	return "a different kind of value"
}

func yamlKindWords(tag string) string {
	switch tag {
	case "seq":
		return "a list"
	case "map":
		return "a set of keys"
	case "str":
		return "text"
	case "int", "float":
		return "a number"
	case "bool":
		return "true or false"
	}
	return "that"
}

// Nearest is the name among names closest to s, when it is close enough to
// be a typo (at most a third of its letters off, at least one); "" if none.
func Nearest(s string, names []string) string {
	best, bestD := "", -1
	for _, n := range names {
		d := editDistance(strings.ToLower(s), strings.ToLower(n))
		if bestD < 0 || d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" || bestD > max(1, len(s)/3) {
		return ""
	}
	return best
}

// editDistance is the edit distance counting runes, with a swap of two
// neighbours as one edit (optimal string alignment).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows: swapping two neighbouring letters ("titel") is one typo.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// Explain says one of yaml.v3's errors in the file's own terms, naming the
// key at fault and the kind of value it takes, never Go type names:
// "workers (line 3): must be a whole number (found `two`)". root is the
// parsed document, nil when the file did not parse.
func Explain(err error, root *yaml.Node) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	var parts []string
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if strings.Contains(line, "cannot unmarshal") {
			parts = append(parts, plainTypeError(line, root))
			continue
		}
		var n int
		if _, err := fmt.Sscanf(line, "line %d:", &n); err == nil && root != nil {
			if key := keyAtLine(root, n, ""); key != "" {
				line = key + ": " + line
			}
		}
		parts = append(parts, line)
	}
	return strings.Join(parts, "; ")
}

// keyAtLine finds the dotted key (or list entry) whose value sits on line
// and, when tag is given (yaml.v3's map, seq, str, int …), is of that kind:
// in `jobs: {name: x}` a map where a list belongs is jobs, not jobs.name.
func keyAtLine(n *yaml.Node, line int, tag string) string {
	kind := func(v *yaml.Node) bool {
		switch tag {
		case "":
			return true
		case "map":
			return v.Kind == yaml.MappingNode
		case "seq":
			return v.Kind == yaml.SequenceNode
		}
		return v.Kind == yaml.ScalarNode
	}
	var walk func(n *yaml.Node, prefix string) string
	walk = func(n *yaml.Node, prefix string) string {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if k := walk(c, prefix); k != "" {
					return k
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", prefix, i)
				if c.Line == line && kind(c) && c.Kind != yaml.MappingNode {
					return p
				}
				if k := walk(c, p); k != "" {
					return k
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				name := k.Value
				if prefix != "" {
					name = prefix + "." + k.Value
				}
				if tag != "" && v.Line == line && kind(v) {
					return name
				}
				if found := walk(v, name); found != "" {
					return found
				}
				if k.Line == line || (v.Kind == yaml.ScalarNode && v.Line == line) {
					return name
				}
			}
		}
		return ""
	}
	return walk(n, "")
}
