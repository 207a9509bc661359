// Package stats is the arithmetic the benchmarks share: medians and
// ranges of repeated runs.
package stats

import "slices"

// MedianRange returns the median of vs (the mean of the middle two for an
// even count), its smallest and largest value and their count; all zero
// for none.
func MedianRange(vs []float64) (med, lo, hi float64, n int) {
	if len(vs) == 0 {
		return 0, 0, 0, 0
	}
	s := slices.Sorted(slices.Values(vs))
	med = s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return med, s[0], s[len(s)-1], len(s)
}
