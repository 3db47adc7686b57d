package human

import (
	"strconv"
	"strings"
	"unicode"
)

// Money writes an amount held in minor units (cents) exactly, with the
// currency's symbol and minor-unit digits: Money(123456, "$", 2) is
// "$1,234.56", Money(-500, "€", 2) "-€5.00", Money(1500, "¥", 0) "¥1,500",
// Money(1200, "CHF", 2) "CHF 12.00".
func Money(minor int64, symbol string, digits int) string {
	neg := minor < 0
	if neg {
		minor = -minor
	}
	scale := int64(1)
	for range digits {
		scale *= 10
	}
	s := Count(minor / scale)
	if digits > 0 {
		frac := strconv.FormatInt(minor%scale, 10)
		s += "." + strings.Repeat("0", digits-len(frac)) + frac
	}
	if r := []rune(symbol); len(r) > 0 && unicode.IsLetter(r[len(r)-1]) {
		symbol += " " // CHF 12.00, not CHF12.00
	}
	if neg {
		return "-" + symbol + s
	}
	return symbol + s
}
