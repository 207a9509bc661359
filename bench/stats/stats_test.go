package stats

import "testing"

func TestMedianRange(t *testing.T) {
	for _, tt := range []struct {
		in          []float64
		med, lo, hi float64
		n           int
	}{
		{nil, 0, 0, 0, 0},
		{[]float64{3}, 3, 3, 3, 1},
		{[]float64{5, 1, 3}, 3, 1, 5, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4, 4},
	} {
		med, lo, hi, n := MedianRange(tt.in)
		if med != tt.med || lo != tt.lo || hi != tt.hi || n != tt.n {
			t.Errorf("MedianRange(%v) = %v %v %v %d, want %v %v %v %d", tt.in, med, lo, hi, n, tt.med, tt.lo, tt.hi, tt.n)
		}
	}
}
