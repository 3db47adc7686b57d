package human

import (
	"math"
	"strconv"
	"strings"
)

// Count writes a whole number with comma thousands separators: 10,000.
func Count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Number writes f with thousands separators and the given decimals:
// 1,234.57. Infinity and NaN are written as words, never as a number.
func Number(f float64, decimals int) string {
	if s, ok := special(f); ok {
		return s
	}
	s := strconv.FormatFloat(math.Abs(f), 'f', decimals, 64)
	whole, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil { // beyond int64: no separators rather than a wrong figure
		return strconv.FormatFloat(f, 'f', decimals, 64)
	}
	out := Count(n)
	if frac != "" {
		out += "." + frac
	}
	if f < 0 && strings.Trim(s, "0.") != "" {
		out = "-" + out
	}
	return out
}

// Percent writes a fraction as a percentage with one decimal: 0.066 → 6.6%.
func Percent(f float64) string {
	if s, ok := special(f); ok {
		return s
	}
	return Number(f*100, 1) + "%"
}

// Change writes a ratio against a previous period with its direction:
// 0.066 → "▲ 6.6%", -0.03 → "▼ 3.0%", 0 → "no change". A change that rounds
// to 0.0% is no change: an arrow over "0.0%" would claim a direction the
// figure does not show.
func Change(ratio float64) string {
	if s, ok := special(ratio); ok {
		return s
	}
	p := Number(math.Abs(ratio)*100, 1)
	switch {
	case p == "0.0":
		return "no change"
	case ratio > 0:
		return "▲ " + p + "%"
	}
	return "▼ " + p + "%"
}

// Plural writes a count with its noun, singular for one: "1 job",
// "10,000 tenants", "3 queries".
func Plural(n int64, noun string) string {
	if n == 1 || n == -1 {
		return Count(n) + " " + noun
	}
	return Count(n) + " " + plural(noun)
}

func plural(noun string) string {
	switch {
	case noun == "":
		return noun
	case strings.HasSuffix(noun, "y") && len(noun) > 1 && !strings.ContainsRune("aeiou", rune(noun[len(noun)-2])):
		return noun[:len(noun)-1] + "ies"
	case strings.HasSuffix(noun, "s"), strings.HasSuffix(noun, "x"), strings.HasSuffix(noun, "ch"), strings.HasSuffix(noun, "sh"):
		return noun + "es"
	}
	return noun + "s"
}

func special(f float64) (string, bool) {
	switch {
	case math.IsInf(f, 1):
		return "Infinity", true
	case math.IsInf(f, -1):
		return "-Infinity", true
	case math.IsNaN(f):
		return "NaN", true
	}
	return "", false
}
