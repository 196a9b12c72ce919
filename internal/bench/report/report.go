// Package report formats benchmark results as the side-by-side tables that
// `make bench` prints. Benchmark suites (internal/bench/<topic>) return
// Tables; cmd/bench prints them. Only benchmark code imports it.
package report

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Table is one titled table of rows; every row has one cell per column.
type Table struct {
	Title   string
	Columns []string
	Rows    [][]string
	// Notes are printed under the table: what was measured and how.
	Notes []string
}

// AddRow appends a row; cells are formatted with fmt.Sprint.
func (t *Table) AddRow(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = fmt.Sprint(c)
	}
	t.Rows = append(t.Rows, row)
}

// Write prints t as a Markdown table, aligned for terminals too.
func (t *Table) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", t.Title)
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
	line := func(cells []string) { fmt.Fprintf(tw, "| %s |\n", strings.Join(cells, "\t| ")) }
	line(t.Columns)
	seps := make([]string, len(t.Columns))
	for i := range seps {
		seps[i] = "---"
	}
	line(seps)
	for _, r := range t.Rows {
		line(r)
	}
	tw.Flush()
	for _, n := range t.Notes {
		fmt.Fprintf(&b, "\n%s", n)
	}
	b.WriteString("\n\n")
	_, err := io.WriteString(w, strings.ReplaceAll(b.String(), "|\t", "| "))
	return err
}

// Durations summarises a sample of latencies.
type Durations []time.Duration

// Percentile returns the p-th percentile (0 < p <= 100) by nearest rank.
func (d Durations) Percentile(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append(Durations(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p/100*float64(len(s)))) - 1
	if rank < 0 {
		rank = 0
	}
	return s[rank]
}

// Ms formats d in milliseconds with two decimals.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// Ratio formats a/b as "N.NN×".
func Ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
