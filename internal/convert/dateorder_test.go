package convert

import (
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/xlsx"
)

func TestDateOrderReadsDayFirstColumnsRight(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
		first  time.Time // how values[0] is read
	}{
		{"day-first", []string{"02/11/2026 08:00:00", "24/11/2026 13:05:00"}, "day-first (a first field above 12)", time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)},
		{"month-first", []string{"02/11/2026 08:00:00", "11/24/2026 01:05:00 PM"}, "month-first (a second field above 12)", time.Date(2026, 2, 11, 8, 0, 0, 0, time.UTC)},
		{"ambiguous", []string{"02/11/2026", "03/04/2026"}, "month-first (assumed: no field above 12 tells)", time.Date(2026, 2, 11, 0, 0, 0, 0, time.UTC)},
		{"mixed", []string{"02/11/2026", "24/11/2026", "11/24/2026"}, "mixed: n/n/yyyy dates that are day-first and month-first; read month-first, the day-first ones have no time", time.Date(2026, 2, 11, 0, 0, 0, 0, time.UTC)},
		{"ISO only", []string{"2026-11-02T08:00:00"}, "", time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDateOrder([]string{"user", "date_heure_utc"})
			for _, v := range tt.values {
				d.observe([]string{"Adele", v}, []bool{false, false})
			}
			if got := d.describe(); got != tt.want {
				t.Errorf("describe() = %q, want %q", got, tt.want)
			}
			at, ok := d.parser(xlsx.ParseTextTime)(tt.values[0])
			if !ok || !at.Equal(tt.first) {
				t.Errorf("%q read as %v (%v), want %v", tt.values[0], at, ok, tt.first)
			}
		})
	}
	// Date cells are not text: they never count.
	d := newDateOrder([]string{"time"})
	d.observe([]string{"24/11/2026"}, []bool{true})
	if d.seen {
		t.Error("a date cell was taken for a text date")
	}
}
