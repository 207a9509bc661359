package devstack

import (
	"encoding/json"
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
			// Not parallel: each execution is its own interpreter process,
			// and concurrent invocations from separate processes reach the
			// RIE unqueued, which crashes it.
			t.Run(c.Name, func(t *testing.T) {
				exec := run(t, st, json.RawMessage(c.Body))
				field := c.Field
				if field == "" {
					field = "request"
				}
				if exec.Status != StatusFailed || exec.Error != "ValidationError" || !strings.Contains(exec.Cause, "invalid "+field+":") {
					t.Fatalf("got %s %s %s; want ValidationError naming %q", exec.Status, exec.Error, exec.Cause, field)
				}
				if states := enteredStates(exec.Events); len(states) != 2 || states[1] != "ExportFailed" {
					t.Fatalf("states %v", states)
				}
			})
		}
	})
	if calls := st.Sim.Server.Calls(); len(calls) != 0 {
		t.Fatalf("%d requests reached AvePoint (first %+v)", len(calls), calls[0])
	}
}
