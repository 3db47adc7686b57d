package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// unknownKeys walks the document beside the Config type and reports every
// key that is not one of its yaml fields, with the nearest known key:
// "batch_sise (line 2) is not a known key; did you mean batch_size?".
// Walking the types (not reading yaml.v3's messages) keeps this right as
// keys are added.
func unknownKeys(root *yaml.Node) []string {
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
					}
					out = append(out, msg)
					continue
				}
				walk(v, ft, key)
			}
		}
	}
	walk(root, reflect.TypeOf(Config{}), "")
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
		key = keyAtLine(root, n, "")
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
	case strings.HasPrefix(goType, "config."), strings.HasPrefix(goType, "*config."):
		return "a set of keys"
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

// editDistance is the Levenshtein distance, counting runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
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
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
