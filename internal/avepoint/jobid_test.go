package avepoint_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

var unusableJobIDs = []struct{ name, id string }{
	{"dot dot", ".."},
	{"dot", "."},
	{"slash", "a/b"},
	{"10 KB of digits", strings.Repeat("7", 10<<10)},
	{"129 bytes", strings.Repeat("a", 129)},
	{"percent-encoded dots", "%2e%2e"},
	{"query", "1?x=y"},
	{"space", "1 2"},
	{"non-ASCII", "jöb"},
	{"control character", "1\n2"},
}

// A jobId AvePoint answers goes into the path of the next calls: one that
// is not letters, digits, '-' and '_' of at most 128 bytes is a
// ProtocolError (naming the problem, not echoing a huge id), and nothing
// more is asked.
func TestUnusableJobIDFromAvePointIsAProtocolError(t *testing.T) {
	for _, tt := range unusableJobIDs {
		t.Run(tt.name, func(t *testing.T) {
			email := "a@contoso.com"
			sim := startSim(t, avesim.Options{Plans: map[string]avesim.JobPlan{email: {ExportJobID: tt.id}}})
			c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, ClientSecret: secret})
			id, err := c.StartExport(t.Context(), avepoint.ExportRequest{Email: email})
			if errorName(err) != "ProtocolError" || !strings.Contains(err.Error(), "jobId") || id != "" {
				t.Fatalf("StartExport = %.40q, %v (%s); want a ProtocolError about the jobId", id, err, errorName(err))
			}
			checkBounded(t, err.Error(), 300)
			if n := len(callsTo(sim, avesim.EndpointExport)); n != 1 {
				t.Fatalf("%d export calls, want 1 (not retried)", n)
			}
			if n := len(sim.Server.Calls()); n != 2 { // token, export
				t.Fatalf("%d calls in all, want 2", n)
			}
		})
	}
}

// The check and store steps hand JobStatus and ExportFile the id from the
// execution state: an unusable one is a ValidationError on jobId before
// any request (not even for a token).
func TestJobCallsRefuseAnUnusableJobID(t *testing.T) {
	ids := append(unusableJobIDs, struct{ name, id string }{"empty", ""}, struct{ name, id string }{"path traversal", "1/../../users"})
	for _, tt := range ids {
		for _, call := range []string{"JobStatus", "ExportFile"} {
			t.Run(call+"/"+tt.name, func(t *testing.T) {
				sim := startSim(t, avesim.Options{})
				c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, ClientSecret: secret})
				var err error
				if call == "JobStatus" {
					_, err = c.JobStatus(t.Context(), tt.id)
				} else {
					var rep *avepoint.Report
					if rep, err = c.ExportFile(t.Context(), tt.id); err == nil {
						rep.Body.Close()
					}
				}
				var ve *failure.ValidationError
				if !errors.As(err, &ve) || ve.Field != "jobId" {
					t.Fatalf("err = %v (%s), want a ValidationError on jobId", err, errorName(err))
				}
				checkBounded(t, err.Error(), 300)
				if n := len(sim.Server.Calls()); n != 0 {
					t.Fatalf("%d requests sent for an unusable jobId", n)
				}
			})
		}
	}
}

// Ids of the documented shape, and the shapes another AvePoint service
// might use (GUIDs, 128 bytes), are used as they are.
func TestUsableJobIDs(t *testing.T) {
	for _, id := range []string{"67890", "0", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "job_A-1", strings.Repeat("9", 128)} {
		email := "a@contoso.com"
		sim := startSim(t, avesim.Options{Plans: map[string]avesim.JobPlan{email: {ExportJobID: id}}})
		c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, ClientSecret: secret})
		got, err := c.StartExport(t.Context(), avepoint.ExportRequest{Email: email})
		if err != nil || got != id {
			t.Fatalf("StartExport = %q, %v; want %q", got, err, id)
		}
		// The simulator knows no such job: the request went out, and the
		// answer is the simulator's own (it wants an integer, and has none).
		_, err = c.JobStatus(t.Context(), id)
		var ve *failure.ValidationError
		if errors.As(err, &ve) && ve.Field == "jobId" {
			t.Fatalf("JobStatus(%q) refused a usable id: %v", id, err)
		}
		if n := len(callsTo(sim, avesim.EndpointStatus)); n != 1 {
			t.Fatalf("JobStatus(%q): %d status calls, want 1", id, n)
		}
	}
}
