package main

import (
	"slices"
	"testing"
)

func TestParseSizes(t *testing.T) {
	tests := []struct {
		in      string
		want    []int64
		wantErr bool
	}{
		{"100MiB,1GiB, 4GiB", []int64{100 << 20, 1 << 30, 4 << 30}, false},
		{"5242880,1.5MiB,64KiB", []int64{5 << 20, 3 << 19, 64 << 10}, false},
		{"", nil, false},
		{"10MB", nil, true},
		{"-1MiB", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSizes(tc.in)
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Fatalf("parseSizes(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestSpreadOf(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want spread
		str  string
	}{
		{"empty", nil, spread{}, "—"},
		{"one", []float64{7}, spread{7, 7, 7, 1}, "7"},
		{"odd", []float64{30, 10, 20}, spread{20, 10, 30, 3}, "20 [10–30]"},
		{"even", []float64{4, 1, 3, 2}, spread{2.5, 1, 4, 4}, "2 [1–4]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := spreadOf(tc.in)
			if got != tc.want || got.String() != tc.str {
				t.Fatalf("spreadOf(%v) = %+v %q, want %+v %q", tc.in, got, got.String(), tc.want, tc.str)
			}
		})
	}
}

func TestHuman(t *testing.T) {
	for n, want := range map[int64]string{4 << 30: "4 GiB", 100 << 20: "100 MiB", 3 << 19: "1.5 MiB", 512: "512 B"} {
		if got := human(n); got != want {
			t.Errorf("human(%d) = %q, want %q", n, got, want)
		}
	}
}
