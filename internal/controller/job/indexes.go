package job

import (
	"sort"
	"strconv"
	"strings"
)

// indexSet is a set of completion indexes, kept as sorted disjoint
// intervals; it reads and writes status.completedIndexes ("1,3-5,7").
type indexSet []interval

type interval struct{ first, last int }

// parseIndexes reads a completedIndexes string; indexes outside
// [0, completions) and malformed parts are skipped (the string is ours).
func parseIndexes(s string, completions int) indexSet {
	var set indexSet
	if s == "" {
		return set
	}
	var ix []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := max(a, 0); i <= b && i < completions; i++ {
			ix = append(ix, i)
		}
	}
	return set.with(ix...)
}

// has reports whether i is in the set.
func (s indexSet) has(i int) bool {
	k := sort.Search(len(s), func(k int) bool { return s[k].last >= i })
	return k < len(s) && s[k].first <= i
}

// total is the number of indexes in the set.
func (s indexSet) total() int {
	n := 0
	for _, iv := range s {
		n += iv.last - iv.first + 1
	}
	return n
}

// with returns the set plus ix.
func (s indexSet) with(ix ...int) indexSet {
	all := make([]int, 0, s.total()+len(ix))
	for _, iv := range s {
		for i := iv.first; i <= iv.last; i++ {
			all = append(all, i)
		}
	}
	all = append(all, ix...)
	sort.Ints(all)
	var out indexSet
	for _, i := range all {
		if n := len(out); n > 0 && i <= out[n-1].last+1 {
			out[n-1].last = max(out[n-1].last, i)
			continue
		}
		out = append(out, interval{i, i})
	}
	return out
}

// String formats the set as completedIndexes does.
func (s indexSet) String() string {
	var b strings.Builder
	for k, iv := range s {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(iv.first))
		if iv.last > iv.first {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(iv.last))
		}
	}
	return b.String()
}
