package devstack

import (
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/export"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// A hung AvePoint (issue 9, item 3): the status call of the first poll
// never answers within the function's timeout. The check function must
// give up CallMargin before its deadline with a TransientError, which the
// ASL retries; the next poll answers and the export succeeds. Before the
// margin, the RIE killed the function (Sandbox.Timedout), no Retry named
// that, and the execution failed at once.
func TestHungAvePointIsRetriedNotKilled(t *testing.T) {
	const email = "hung.status@contoso.com"
	checkTimeout := export.CallMargin + 3*time.Second
	st := startTestStack(t, avesim.Options{
		PollsToFinish: 1,
		Plans: map[string]avesim.JobPlan{email: {
			Delay: 3 * checkTimeout, DelayCalls: 1, FaultEndpoints: []string{avesim.EndpointStatus},
		}},
	}, StackOptions{Bootstraps: exportBootstraps(t), Timeouts: map[string]time.Duration{"checkjob": checkTimeout}})

	exec := run(t, st, map[string]any{"email": email, "finishTime": "2026-11-20T00:00:00"})
	if exec.Status != StatusSucceeded {
		t.Fatalf("execution %s (%s: %s), want SUCCEEDED after a retry", exec.Status, exec.Error, exec.Cause)
	}
	var retried, transient int
	for _, e := range exec.Events {
		if e.State != "CheckJob" {
			continue
		}
		if e.Type == "StateRetried" {
			retried++
		}
		if e.Error == "TransientError" {
			transient++
		}
		if e.Error == "Sandbox.Timedout" {
			t.Errorf("the runtime killed CheckJob (%s): the call outlived the function", e.Error)
		}
	}
	if retried == 0 || transient == 0 {
		t.Errorf("CheckJob retried %d times, %d TransientErrors seen; want the hung call retried as a TransientError", retried, transient)
	}
	if n := apiCalls(st, avesim.EndpointStatus); n < 2 {
		t.Errorf("%d status calls; want the hung one and at least one that answered", n)
	}
}

// A payload that is not JSON, sent straight to a function (the Lambda
// API, a misconfigured Task), is refused as ValidationError by every
// function — not by the runtime's own unmarshal error — and nothing is
// called.
func TestNonJSONPayloadIsAValidationError(t *testing.T) {
	st := startTestStack(t, avesim.Options{}, StackOptions{Bootstraps: exportBootstraps(t)})
	for _, fn := range Functions {
		t.Run(fn.Dir, func(t *testing.T) {
			_, fnErr, err := st.Functions[fn.Dir].InvokeBytes(t.Context(), []byte("this is not JSON"))
			if err != nil {
				t.Fatal(err)
			}
			if fnErr == nil || fnErr.Type != "ValidationError" {
				t.Fatalf("error %+v, want ValidationError", fnErr)
			}
		})
	}
	if calls := st.Sim.Server.Calls(); len(calls) != 0 {
		t.Errorf("AvePoint saw %d calls", len(calls))
	}
}
