package devstack

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/insights-export/insights-export/internal/testing/avesim"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

// TestBadInputEndToEnd runs the representative subset of the shared
// bad-input table (internal/testing/badinput, cases marked E2E) through the
// deployed shape: each execution fails with a ValidationError naming the
// field, in the state machine's ExportFailed state, and the simulator
// proves not one request reached AvePoint. The whole table runs through
// request.ParseRequest and the start step in internal/export.
func TestBadInputEndToEnd(t *testing.T) {
	st := startExportStack(t, avesim.Options{}, nil)
	var cases []badinput.Case
	for _, c := range badinput.Cases() {
		if c.E2E {
			cases = append(cases, c)
		}
	}
	if len(cases) < 8 {
		t.Fatalf("only %d end-to-end cases", len(cases))
	}
	t.Run("cases", func(t *testing.T) {
		for _, c := range cases {
			// Not parallel: the executions would only queue for the same
			// emulators (the stack serialises each function's invocations).
			t.Run(c.Name, func(t *testing.T) {
				exec := run(t, st, json.RawMessage(c.Body))
				field := c.Field
				if field == "" {
					field = "request"
				}
				if exec.Status != StatusFailed || exec.Error != "ValidationError" || !strings.Contains(exec.Cause, "invalid "+field+":") {
					t.Fatalf("got %s %s %s; want ValidationError naming %q", exec.Status, exec.Error, exec.Cause, field)
				}
				// The slot taken before the start goes straight back, and
				// wakes a waiting export (nobody here).
				want := []string{"AcquireJobSlot", "StartExport", "ReleaseJobSlotAfterFailure", "WakeJobSlotWaiterAfterFailure", "RouteFailure", "ExportFailed"}
				if states := enteredStates(exec.Events); !slices.Equal(states, want) {
					t.Fatalf("states %v, want %v", states, want)
				}
			})
		}
	})
	if calls := st.Sim.Server.Calls(); len(calls) != 0 {
		t.Fatalf("%d requests reached AvePoint (first %+v)", len(calls), calls[0])
	}
}
