package report

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Text renders a value exactly, for machines (CSV, JSON strings): nil is "",
// numbers keep every digit and never use an exponent, text is as stored,
// a blob that is not UTF-8 is SQLite's X'HEX' literal.
func Text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatFloat(x)
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return "X'" + strings.ToUpper(hex.EncodeToString(x)) + "'"
	}
	return fmt.Sprint(v)
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// NoValue is what a number panel shows when its SQL answers NULL, as a
// growth rate with no base does: "n/a", never zero or infinity.
const NoValue = "n/a"

// Display renders a value for people, following the panel's format for its
// column: percent "25.0%", integer "1,234", number "1,234.57", bytes
// "1.2 MB". Anything not a number shows as its text.
func Display(v any, format string) string {
	var f float64
	switch x := v.(type) {
	case int64:
		f = float64(x)
		if format == "" || format == FormatInteger {
			return Thousands(x)
		}
	case float64:
		f = x
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return formatFloat(f)
		}
	default:
		return Text(v)
	}
	switch format {
	case FormatPercent:
		return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
	case FormatInteger:
		return Thousands(int64(math.Round(f)))
	case FormatNumber:
		return thousandsFloat(f, 2)
	case FormatBytes:
		return Bytes(f)
	case FormatText, FormatDate:
		return Text(v)
	}
	// No format: whole numbers with separators, others as stored.
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return Thousands(int64(f))
	}
	return formatFloat(f)
}

// Thousands writes n with comma separators: 10,000.
func Thousands(n int64) string {
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

func thousandsFloat(f float64, decimals int) string {
	s := strconv.FormatFloat(math.Abs(f), 'f', decimals, 64)
	whole, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return strconv.FormatFloat(f, 'f', decimals, 64)
	}
	out := Thousands(n)
	if frac != "" {
		out += "." + frac
	}
	if f < 0 && strings.Trim(s, "0.") != "" {
		out = "-" + out
	}
	return out
}

// Bytes writes a size in bytes with a decimal unit: 1.2 MB.
func Bytes(f float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	i := 0
	for math.Abs(f) >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(f, 'f', -1, 64) + " B"
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + units[i]
}
