package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/slots"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// The AvePoint job slots end to end (internal/slots, the slot states of
// statemachine/export.asl.json): the real ASL, the real bootstraps, the
// ledger on moto's DynamoDB, AvePoint simulated with its limit of 5
// concurrent jobs. The interpreter has no EventBridge: where the
// status-change rule would run the releaser, the tests invoke it with the
// event Step Functions sends (Stack.ReleaseEnded).

// slotStates are the states an export spends on its slot: the ones every
// export passes (taken, job recorded, given back) and the ones of a wait.
var (
	slotStates     = []string{"AcquireJobSlot", "RecordJobOnSlot", "ReleaseJobSlot", "ReleaseJobSlotAfterFailure", "HoldJobSlotForLostJob"}
	slotWaitStates = []string{"CheckJobSlots", "WaitForJobSlot", "AcquireJobSlotAfterWait"}
)

// slotCost counts an execution's transitions (states entered) spent on
// its slot and on waiting for one.
func slotCost(events []Event) (slot, wait, all int) {
	for _, e := range events {
		if e.Type != "StateEntered" {
			continue
		}
		all++
		switch {
		case slices.Contains(slotStates, e.State):
			slot++
		case slices.Contains(slotWaitStates, e.State):
			wait++
		}
	}
	return slot, wait, all
}

func assertLedgerEmpty(t *testing.T, st *Stack) {
	t.Helper()
	holders, err := st.SlotHolders(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(holders) != 0 {
		t.Errorf("the ledger still lists %d holders: %+v", len(holders), holders)
	}
}

func runNamed(t *testing.T, st *Stack, o RunOptions) *Execution {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if o.WaitOverride == 0 {
		o.WaitOverride = 50 * time.Millisecond
	}
	o.RetryOverride = 50 * time.Millisecond
	exec, err := st.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return exec
}

// Three batch runs started together, 18 users, one tenant: the slots,
// not the Maps' MaxConcurrency (5 each, 15 children at once), keep
// AvePoint at 5 running jobs; AvePoint never has to refuse one; every user
// is exported; the ledger ends empty.
func TestThreeBatchRunsShareTheJobSlots(t *testing.T) {
	const runs, perRun = 3, 6
	st := startBatchStack(t, avesim.Options{JobDuration: 1500 * time.Millisecond},
		map[string]string{"MAX_CONCURRENCY": "5", "POLL_MIN_SECONDS": "1"})
	var users [runs][]string
	for r := range runs {
		for u := range perRun {
			users[r] = append(users[r], fmt.Sprintf("run%d.user%d@contoso.com", r, u))
		}
	}
	began := time.Now()
	var wg sync.WaitGroup
	execs := make([]*Execution, runs)
	outs := make([]request.BatchOutput, runs)
	for r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			input := map[string]any{"emails": users[r], "startTime": "2026-10-01T00:00:00", "finishTime": "2026-11-01T00:00:00"}
			exec, err := st.RunBatch(ctx, RunOptions{Input: input, WaitOverride: 200 * time.Millisecond, RetryOverride: 50 * time.Millisecond})
			if err != nil {
				t.Error(err)
				return
			}
			execs[r] = exec
			if exec.Status == StatusSucceeded {
				if err := jsonUnmarshal(exec.Output, &outs[r]); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	took := time.Since(began)
	for r, exec := range execs {
		if exec.Status != StatusSucceeded || outs[r].Counts != (request.Counts{Users: perRun, Succeeded: perRun}) {
			t.Fatalf("run %d: %s %s %s, counts %+v\n%s", r, exec.Status, exec.Error, exec.Cause, outs[r].Counts, tail(st.Logs(), 3000))
		}
	}
	// AvePoint's own count: never more than 5 running, and never a
	// refusal, because no sixth job was ever asked for.
	peak, refused, jobs := st.Sim.Server.PeakConcurrentJobs(), st.Sim.Server.RefusedJobs(), len(st.Sim.Server.Jobs())
	if peak > avesim.DefaultMaxConcurrentJobs || refused != 0 || jobs != runs*perRun {
		t.Errorf("AvePoint saw a peak of %d running jobs, refused %d starts, %d jobs; want at most 5, none refused, %d jobs", peak, refused, jobs, runs*perRun)
	}
	if peak < avesim.DefaultMaxConcurrentJobs-1 {
		t.Errorf("peak %d: the runs did not contend for the slots, the test proves nothing", peak)
	}
	assertLedgerEmpty(t, st)

	// What the slots cost: transitions per user, fixed and waiting.
	var slot, wait, all, waited int
	for _, exec := range execs {
		for _, evs := range childExecutions(exec.Events) {
			s, w, a := slotCost(evs)
			slot, wait, all = slot+s, wait+w, all+a
			if w > 0 {
				waited++
			}
		}
	}
	users18 := runs * perRun
	if waited == 0 || slot != 3*users18 {
		t.Errorf("%d users waited for a slot, %d slot transitions; want some waits and 3 per user", waited, slot)
	}
	t.Logf("%d users in %s: AvePoint peak %d jobs, %d refused; slot transitions %d (%.1f per user: take, record, give back), slot-wait transitions %d (%.1f per user, %.1f per waiting user; %d of %d users waited), all transitions %d (%.1f per user)",
		users18, took.Round(time.Millisecond), peak, refused, slot, float64(slot)/float64(users18), wait, float64(wait)/float64(users18),
		float64(wait)/float64(max(waited, 1)), waited, users18, all, float64(all)/float64(users18))
}

// An export execution stopped mid-poll, one that times out, and one whose
// check function crashes each give their slot back: the first two through
// the status-change rule (their ASL never reaches a release state), the
// third through its own Catch. The ledger is empty after each.
func TestEndedExecutionsGiveTheirSlotBack(t *testing.T) {
	const (
		stopped = "stopped.mid.poll@contoso.com"
		timeout = "timed.out@contoso.com"
		crashed = "check.crashes@contoso.com"
		first   = "first.export@contoso.com"
	)
	st := startExportStack(t, avesim.Options{
		PollsToFinish: 1,
		Plans: map[string]avesim.JobPlan{
			stopped: {Outcome: avesim.Never},
			timeout: {Outcome: avesim.Never},
			// The status call is held back long enough to kill the check
			// function while it waits for it.
			crashed: {Outcome: avesim.Never, Delay: 3 * time.Second, DelayCalls: 1, FaultEndpoints: []string{avesim.EndpointStatus}},
		},
		// One read a check: the invocations the stopped and the timed-out
		// runs abandon would otherwise sleep on between reads for up to
		// 20 s on the first check instance, and the crash below must hit
		// the invocation of the run that crashes (the first instance's).
	}, map[string]string{"POLL_MIN_SECONDS": "1", "POLL_INPROCESS_SECONDS": "0"})
	ctx := t.Context()

	t.Run("the first export after a deployment creates the ledger", func(t *testing.T) {
		if _, err := st.Slots.DB.(*dynamodb.Client).DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String(st.Slots.Table), Key: map[string]types.AttributeValue{slots.KeyAttribute: &types.AttributeValueMemberS{Value: slots.LedgerKey}},
		}); err != nil {
			t.Fatal(err)
		}
		exec := runNamed(t, st, RunOptions{Input: map[string]any{"email": first}})
		states := enteredStates(exec.Events)
		if exec.Status != StatusSucceeded || len(states) < 4 || !slices.Equal(states[:4], []string{"AcquireJobSlot", "CheckJobSlots", "WaitForJobSlot", "AcquireJobSlotAfterWait"}) {
			t.Fatalf("%s %s: states %v", exec.Status, exec.Error, states)
		}
		assertLedgerEmpty(t, st)
	})

	t.Run("stopped mid-poll", func(t *testing.T) {
		stop := make(chan struct{})
		var once sync.Once
		exec := runNamed(t, st, RunOptions{
			Input: map[string]any{"email": stopped}, Name: "stopped-mid-poll", Stop: stop,
			// Long enough that the stop lands in the Wait, not in a Task.
			WaitOverride: time.Second,
			OnEvent: func(e Event) {
				if e.Type == "StateEntered" && e.State == "IsJobFinished" {
					once.Do(func() { close(stop) })
				}
			},
		})
		if exec.Status != StatusAborted {
			t.Fatalf("execution %s %s, want ABORTED", exec.Status, exec.Error)
		}
		arn := ExecutionArn("stopped-mid-poll")
		holders, err := st.SlotHolders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h, ok := slots.Find(holders, arn); !ok || h.JobID == "" || len(holders) != 1 {
			t.Fatalf("before the rule ran: holders %+v, want the stopped execution's, with its job id", holders)
		}
		out, err := st.ReleaseEnded(ctx, arn, StatusAborted, time.Now().Add(-time.Minute))
		if err != nil || !out.Released {
			t.Fatalf("release: %+v %v", out, err)
		}
		assertLedgerEmpty(t, st)
		// AvePoint has no stop call: the job itself runs on.
		if n := st.Sim.Server.RunningJobs(); n != 1 {
			t.Errorf("%d jobs running at AvePoint, want the stopped export's", n)
		}
	})

	t.Run("timed out", func(t *testing.T) {
		exec := runNamed(t, st, RunOptions{Input: map[string]any{"email": timeout}, Name: "timed-out", Timeout: 3 * time.Second, WaitOverride: 700 * time.Millisecond})
		if exec.Status != StatusTimedOut || exec.Error != "States.Timeout" {
			t.Fatalf("execution %s %s, want TIMED_OUT States.Timeout", exec.Status, exec.Error)
		}
		if holders, _ := st.SlotHolders(ctx); len(holders) != 1 {
			t.Fatalf("before the rule ran: holders %+v", holders)
		}
		out, err := st.ReleaseEnded(ctx, ExecutionArn("timed-out"), StatusTimedOut, time.Now().Add(-time.Minute))
		if err != nil || !out.Released {
			t.Fatalf("release: %+v %v", out, err)
		}
		assertLedgerEmpty(t, st)
		if n := st.Sim.Server.RunningJobs(); n != 2 {
			t.Errorf("%d jobs running at AvePoint, want the stopped and the timed-out exports'", n)
		}
		// Let the Task the timeout abandoned finish before the next run
		// uses the same functions (one invocation per emulator at a time).
		time.Sleep(time.Second)
	})

	t.Run("check function crashes", func(t *testing.T) {
		check := st.Functions["checkjob"]
		var once sync.Once
		killed := make(chan int, 1)
		exec := runNamed(t, st, RunOptions{
			Input: map[string]any{"email": crashed}, Name: "check-crashes",
			OnEvent: func(e Event) {
				if e.Type == "StateEntered" && e.State == "CheckJob" {
					once.Do(func() {
						go func() {
							time.Sleep(500 * time.Millisecond) // inside the held-back status call
							killed <- check.KillRuntime()
						}()
					})
				}
			},
		})
		if n := <-killed; n == 0 {
			t.Fatal("no check function runtime to kill")
		}
		states := enteredStates(exec.Events)
		if exec.Status != StatusFailed || exec.Error != "Runtime.ExitError" || states[len(states)-1] != "ExportFailed" || !slices.Contains(states, "ReleaseJobSlotAfterFailure") {
			t.Fatalf("execution %s %q %q, states %v; want FAILED Runtime.ExitError in ExportFailed", exec.Status, exec.Error, exec.Cause, states)
		}
		t.Logf("a crashed check function surfaces as %s: %s", exec.Error, exec.Cause)
		if n := st.Sim.Server.RunningJobs(); n != 3 || len(st.Sim.Server.Jobs()) != 4 {
			t.Errorf("%d jobs running at AvePoint of %d; want the three ended exports' jobs running, the first one's finished", n, len(st.Sim.Server.Jobs()))
		}
		// Given back by the execution's own Catch; the rule's event for
		// the failed execution finds nothing left to do.
		assertLedgerEmpty(t, st)
		out, err := st.ReleaseEnded(ctx, ExecutionArn("check-crashes"), StatusFailed, time.Now().Add(-time.Minute))
		if err != nil || out.Released || out.Kept != nil {
			t.Fatalf("release: %+v %v", out, err)
		}
	})
}

// A job started outside these executions (another application on the
// same tenant) fills AvePoint's fifth place while five exports hold the
// five slots: AvePoint refuses the sixth job with 429, and that start is
// retried until there is room, not failed.
func TestRefusedSixthJobIsRetried(t *testing.T) {
	const outsider = "another.app@contoso.com"
	zero := 0
	st := startExportStack(t, avesim.Options{
		JobDuration: 4 * time.Second, ConcurrencyRetryAfter: time.Second,
		// The outside job ends when the test polls it.
		Plans: map[string]avesim.JobPlan{outsider: {PollsToFinish: &zero}},
	}, map[string]string{"POLL_MIN_SECONDS": "1"})
	client, err := avepoint.New(avepoint.Config{
		Endpoints:   avepoint.Endpoints{APIURL: st.Sim.URL, TokenURL: st.Sim.TokenURL},
		Credentials: avepoint.StaticCredentials(avepoint.Credentials{ClientID: e2eClientID, ClientSecret: e2eSecret}),
	})
	if err != nil {
		t.Fatal(err)
	}
	outside, err := client.StartExport(t.Context(), avepoint.ExportRequest{Email: outsider})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	execs := make([]*Execution, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			exec, err := st.Run(ctx, RunOptions{Input: map[string]any{"email": fmt.Sprintf("refused%d@contoso.com", i)}, WaitOverride: 100 * time.Millisecond, RetryOverride: 50 * time.Millisecond})
			if err != nil {
				t.Error(err)
			}
			execs[i] = exec
		}()
	}
	// Once AvePoint has refused a start, the other application's job ends.
	deadline := time.Now().Add(time.Minute)
	for st.Sim.Server.RefusedJobs() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	refusedBefore := st.Sim.Server.RefusedJobs()
	if _, err := client.JobStatus(t.Context(), outside); err != nil {
		t.Error(err)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if refusedBefore == 0 {
		t.Fatal("AvePoint refused no start: the sixth job never came up")
	}
	for i, exec := range execs {
		if exec.Status != StatusSucceeded {
			t.Errorf("export %d: %s %s %s", i, exec.Status, exec.Error, exec.Cause)
		}
	}
	refused := map[string]int{}
	for _, c := range st.Sim.Server.Calls() {
		if c.Endpoint == avesim.EndpointExport && c.Status == 429 {
			refused[c.Email]++
		}
	}
	if peak := st.Sim.Server.PeakConcurrentJobs(); peak > avesim.DefaultMaxConcurrentJobs {
		t.Errorf("peak %d running jobs", peak)
	}
	assertLedgerEmpty(t, st)
	t.Logf("refused starts by user: %v; all %d exports succeeded", refused, n)
}

// A StartExport whose answer is lost: AvePoint started the job, the
// gateway then failed, and the start fails for good with TransientError.
// The job runs on, polled by nobody; its slot stays taken until its lease
// ends, so five more exports get four slots and AvePoint — here without a
// limit of its own — never runs a sixth job.
func TestLostStartExportAnswerKeepsItsSlot(t *testing.T) {
	const lost = "lost.answer@contoso.com"
	st := startExportStack(t, avesim.Options{
		PollsToFinish:     4,
		MaxConcurrentJobs: -1, // what runs is what the slots let run
		Plans: map[string]avesim.JobPlan{lost: {
			Outcome: avesim.Never, LoseExportAnswers: 1,
			ErrorCalls: 1000, ErrorStatus: 500, FaultEndpoints: []string{avesim.EndpointExport},
		}},
	}, map[string]string{"POLL_MIN_SECONDS": "1"})
	ctx := t.Context()

	exec := runNamed(t, st, RunOptions{Input: map[string]any{"email": lost}, Name: "lost-answer"})
	states := enteredStates(exec.Events)
	if exec.Status != StatusFailed || exec.Error != "TransientError" || states[len(states)-1] != "ExportFailed" || !slices.Contains(states, "HoldJobSlotForLostJob") {
		t.Fatalf("execution %s %s, states %v", exec.Status, exec.Error, states)
	}
	jobs := st.Sim.Server.Jobs()
	if len(jobs) != 1 || !jobs[0].Active || jobs[0].Polls != 0 {
		t.Fatalf("AvePoint's jobs %+v, want one running that nobody polls", jobs)
	}
	arn := ExecutionArn("lost-answer")
	holders, err := st.SlotHolders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := slots.Find(holders, arn); !ok || h.JobID != "" || h.StartFailed != "TransientError" {
		t.Fatalf("holders %+v, want the lost start's, without job id, marked TransientError", holders)
	}
	// The execution failed: the status-change rule runs, and keeps it.
	out, err := st.ReleaseEnded(ctx, arn, StatusFailed, time.Now().Add(-time.Minute))
	if err != nil || out.Released || out.Kept == nil {
		t.Fatalf("release: %+v %v, want the slot kept", out, err)
	}

	const n = 5
	execs := make([]*Execution, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			e, err := st.Run(ctx, RunOptions{Input: map[string]any{"email": fmt.Sprintf("after.lost%d@contoso.com", i)}, WaitOverride: 100 * time.Millisecond, RetryOverride: 50 * time.Millisecond})
			if err != nil {
				t.Error(err)
			}
			execs[i] = e
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	waited := 0
	for i, e := range execs {
		if e.Status != StatusSucceeded {
			t.Errorf("export %d: %s %s %s", i, e.Status, e.Error, e.Cause)
		}
		if slices.Contains(enteredStates(e.Events), "WaitForJobSlot") {
			waited++
		}
	}
	if peak := st.Sim.Server.PeakConcurrentJobs(); peak > avesim.DefaultMaxConcurrentJobs || waited == 0 {
		t.Errorf("AvePoint ran up to %d jobs at once (%d exports waited for a slot); want at most 5: the lost job's slot must stay taken", peak, waited)
	}
	if holders, _ := st.SlotHolders(ctx); len(holders) != 1 || holders[0].Execution != arn {
		t.Errorf("holders %+v, want only the lost start's", holders)
	}
	t.Logf("peak %d running jobs with the lost one; %d of %d exports waited for a slot", st.Sim.Server.PeakConcurrentJobs(), waited, n)
}

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("output %s: %w", strings.TrimSpace(string(b)), err)
	}
	return nil
}
