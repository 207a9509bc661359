package devstack

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// An incremental run that starts while another still runs over the same
// marks is skipped: it exports nobody (the simulator sees no job of it)
// and ends SUCCEEDED saying why; once the first has given the lock back,
// the next run exports as usual. Non-incremental runs never take it.
func TestIncrementalRunWhileOneRunsIsSkipped(t *testing.T) {
	st := startBatchStack(t, avesim.Options{JobDuration: 2 * time.Second}, map[string]string{"POLL_MIN_SECONDS": "1"})
	users := []string{"slow.a@contoso.com", "slow.b@contoso.com"}
	incremental := map[string]any{"emails": users, "window": map[string]any{"period": "day", "incremental": true}}

	first := make(chan *Execution, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		exec, err := st.RunBatch(ctx, RunOptions{Input: incremental, WaitOverride: 200 * time.Millisecond, RetryOverride: 50 * time.Millisecond})
		if err != nil {
			t.Error(err)
		}
		first <- exec
	}()
	// Wait until the first run holds the lock.
	deadline := time.Now().Add(time.Minute)
	for {
		holder, _, found, err := st.Slots.RunLock(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if found && holder != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first run never took the run lock")
		}
		time.Sleep(50 * time.Millisecond)
	}
	jobs := len(st.Sim.Server.Jobs())
	second, _ := runBatch(t, st, incremental)
	var skipped struct {
		Skipped bool
		Reason  string
	}
	if second.Status != StatusSucceeded || json.Unmarshal(second.Output, &skipped) != nil || !skipped.Skipped || skipped.Reason == "" {
		t.Fatalf("second run: %s %s %s %s", second.Status, second.Error, second.Cause, second.Output)
	}
	if states := enteredStates(second.Events); states[len(states)-1] != "RunSkipped" {
		t.Errorf("second run's states %v", states)
	}
	// A fixed window takes no lock: it runs beside the incremental one.
	fixed, out := runBatch(t, st, map[string]any{"emails": []string{"fixed.c@contoso.com"}, "finishTime": "2026-11-01T00:00:00"})
	if fixed.Status != StatusSucceeded || out.Counts.Succeeded != 1 {
		t.Fatalf("fixed run: %s %s %+v", fixed.Status, fixed.Error, out.Counts)
	}
	exec := <-first
	if exec == nil || exec.Status != StatusSucceeded {
		t.Fatalf("first run: %+v", exec)
	}
	for _, j := range st.Sim.Server.Jobs()[jobs:] {
		if j.Email != "fixed.c@contoso.com" && j.Email != "slow.a@contoso.com" && j.Email != "slow.b@contoso.com" {
			t.Errorf("unexpected job for %s", j.Email)
		}
	}
	if n := len(st.Sim.Server.Jobs()); n != 3 {
		t.Errorf("%d jobs, want 3: the first run's two and the fixed run's one (the skipped run started none)", n)
	}
	if _, _, found, err := st.Slots.RunLock(t.Context()); err != nil || found {
		t.Fatalf("run lock still held after the first run (%v)", err)
	}
	// The next run takes the lock and finds everyone up to date.
	third, out := runBatch(t, st, incremental)
	if third.Status != StatusSucceeded || out.Counts != (request.Counts{Users: 2, UpToDate: 2}) {
		t.Fatalf("third run: %s %s %s %+v", third.Status, third.Error, third.Output, out.Counts)
	}
}
