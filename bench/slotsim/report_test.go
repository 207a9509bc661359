package slotsim

import (
	"strings"
	"testing"
)

// The section as `make bench` writes it without the real runs: every
// figure formatted, every row judged by its own value.
func TestReport(t *testing.T) {
	r, err := Run(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	md := r.Markdown()
	for _, bad := range []string{"%!", "(MISSING)", "NaN", "+Inf"} {
		if strings.Contains(md, bad) {
			t.Errorf("the section contains %q", bad)
		}
	}
	if strings.Contains(md, "Model check against real batches") {
		t.Error("the real runs' table without real runs")
	}
	rows := r.Summary()
	if len(rows) != 6 {
		t.Fatalf("%d summary rows, want 6 (no real-run row)", len(rows))
	}
	def, rec := r.Default().Result.Util.BusyPct(), r.Recommended().Result.Util.BusyPct()
	if got, want := rows[0].Met, met(def >= TargetBusyPct); got != want {
		t.Errorf("defaults row met %q, want %q (busy %.1f %%)", got, want, def)
	}
	// The defaults without item 4 (d) are a diagnostic, and modelled
	// below the defaults: the faster poll is what they lack.
	if rows[5].Met != "—" || rec > def {
		t.Errorf("the row without (d): met %q, busy %.1f %% against the defaults' %.1f %%", rows[5].Met, rec, def)
	}
	// The span is the ideal over the busy share, so the two rows agree.
	if rows[0].Met != rows[1].Met {
		t.Errorf("busy row met %q, span row %q", rows[0].Met, rows[1].Met)
	}
	for _, row := range rows {
		if strings.Contains(row.Figure+row.Value+row.Baseline+row.Target, "|") {
			t.Errorf("row %q has a pipe, which splits the table", row.Figure)
		}
	}
}
