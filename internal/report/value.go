package report

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/attache/attache/internal/human"
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
// "1.2 MB", money (minor units) "$1,234.56". Anything not a number shows as its text.
func Display(v any, format string) string {
	var f float64
	switch x := v.(type) {
	case int64:
		f = float64(x)
		if format == "" || format == FormatInteger {
			return human.Count(x)
		}
	case float64:
		f = x
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return formatFloat(f)
		}
	default:
		return Text(v)
	}
	if cur, ok := MoneyCurrency(format); ok {
		return cur.Format(f)
	}
	switch format {
	case FormatPercent:
		return human.Percent(f)
	case FormatInteger:
		return human.Count(int64(math.Round(f)))
	case FormatNumber:
		return human.Number(f, 2)
	case FormatBytes:
		return human.Bytes(f)
	case FormatText, FormatDate:
		return Text(v)
	}
	// No format: whole numbers with separators, others as stored.
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return human.Count(int64(f))
	}
	return formatFloat(f)
}
