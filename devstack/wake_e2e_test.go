package devstack

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// A released slot wakes the export parked for it (internal/slots/wake):
// one slot, export A holds it for a 3-second job, export B is refused and
// parks in WaitForJobSlot with CheckJobSlots' fallback of 5 minutes. When
// A's job ends, ReleaseJobSlot gives the slot back and WakeJobSlotWaiter
// answers B's task token through the waiters' FIFO queue on moto and the
// local token broker: B takes the slot within seconds of the release, not
// at its fallback, having parked once. The real waits throughout (no
// override), so the fallback is the one production would sleep.
func TestReleasedSlotWakesTheOldestWaiter(t *testing.T) {
	st := startTestStack(t, avesim.Options{JobDuration: 3 * time.Second},
		StackOptions{Env: map[string]string{"POLL_MIN_SECONDS": "1", "POLL_MAX_SECONDS": "1"}, Bootstraps: exportBootstraps(t), JobSlots: 1})
	var (
		mu                      sync.Mutex
		released, acquiredAfter time.Time
		parks                   int
		fallbackSeconds         int
		execA, execB            *Execution
		errA, errB              error
	)
	recordEvent := func(holder bool, e Event) {
		switch {
		case holder && e.Type == "StateExited" && e.State == "ReleaseJobSlot":
			released = e.Time
		case !holder && e.Type == "StateEntered" && e.State == "WaitForJobSlot":
			parks++
			var in struct {
				SlotWait struct{ WaitSeconds int } `json:"slotWait"`
			}
			_ = json.Unmarshal(e.Input, &in)
			fallbackSeconds = in.SlotWait.WaitSeconds
		case !holder && e.Type == "StateEntered" && e.State == "AcquireJobSlotAfterWait":
			acquiredAfter = e.Time
		}
	}
	record := func(holder bool) func(Event) {
		return func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			recordEvent(holder, e)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		execA, errA = st.Run(ctx, RunOptions{Name: "holder", Input: map[string]any{"email": "holder@contoso.com"}, RetryOverride: 50 * time.Millisecond, OnEvent: record(true)})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		holders, err := st.SlotHolders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(holders) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("export A never took the slot")
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		execB, errB = st.Run(ctx, RunOptions{Name: "waiter", Input: map[string]any{"email": "waiter@contoso.com"}, RetryOverride: 50 * time.Millisecond, OnEvent: record(false)})
	}()
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	for name, e := range map[string]*Execution{"A": execA, "B": execB} {
		if e.Status != StatusSucceeded {
			t.Fatalf("export %s: %s %s %s", name, e.Status, e.Error, e.Cause)
		}
	}
	if fallbackSeconds < 60 {
		t.Fatalf("B parked with a fallback of %d s: too short to tell a wake from a timeout", fallbackSeconds)
	}
	if released.IsZero() || acquiredAfter.IsZero() {
		t.Fatalf("release at %v, B's acquisition after its wait at %v: B never waited", released, acquiredAfter)
	}
	if lag := acquiredAfter.Sub(released); lag < 0 || lag > 3*time.Second || parks != 1 {
		t.Fatalf("B tried the slot again %s after A released it (parked %d times, fallback %d s): not woken by the release", lag, parks, fallbackSeconds)
	}
	t.Logf("B woken %s after the release (fallback %d s)", acquiredAfter.Sub(released), fallbackSeconds)
	assertLedgerEmpty(t, st)
}
