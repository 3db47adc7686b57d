package human

import (
	"math"
	"strconv"
)

// Bytes writes a size with a decimal (SI) unit, as disks and browsers
// count: 999 B, 1.0 kB, 17.5 MB. Decimal everywhere, so a database is the
// same size in the CLI, on the pages and in a workbook.
func Bytes(n float64) string {
	if s, ok := special(n); ok {
		return s
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	i := 0
	for math.Abs(n) >= 999.95 && i < len(units)-1 {
		n /= 1000
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(math.Round(n), 'f', -1, 64) + " B"
	}
	return strconv.FormatFloat(n, 'f', 1, 64) + " " + units[i]
}
