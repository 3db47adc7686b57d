// Package human writes numbers, sizes, durations and times the way people
// read them, one way everywhere: the CLI, the pages, the workbooks and the
// email all call these, so a figure reads the same on every screen.
// Machines get exact values elsewhere (report.Text); nothing here is parsed
// back.
//
// One file per kind of figure: count.go (counts, decimals, shares, plurals,
// changes), bytes.go, duration.go, when.go. A new kind (money) gets a file of
// its own next to them.
package human
