package slots

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/insights-export/insights-export/internal/failure"
)

func TestWaitPolicyNext(t *testing.T) {
	p := WaitPolicy{Min: 5 * time.Second, Max: 300 * time.Second, Factor: 0.2, Deadline: time.Hour}
	tests := []struct{ waited, want time.Duration }{
		{0, 5 * time.Second},
		{20 * time.Second, 5 * time.Second},
		{time.Minute, 12 * time.Second},
		{10 * time.Minute, 120 * time.Second},
		{30 * time.Minute, 300 * time.Second},
		{time.Hour - 100*time.Second, 100 * time.Second}, // never past the deadline
		{time.Hour - 300*time.Millisecond, time.Second},
	}
	for _, tc := range tests {
		if got := p.Next(tc.waited); got != tc.want {
			t.Errorf("Next(%s) = %s, want %s", tc.waited, got, tc.want)
		}
	}
	// From the first refusal to the deadline of 6 h the default policy
	// polls a bounded number of times: a busy loop would poll thousands.
	d := DefaultWaitPolicy
	polls, waited := 0, time.Duration(0)
	for waited < d.Deadline {
		waited += d.Next(waited)
		polls++
	}
	if polls > 100 {
		t.Errorf("%d polls over a 6 h wait", polls)
	}
	t.Logf("default policy: %d polls over a %s wait", polls, d.Deadline)
}

const busy = "DynamoDB.ConditionalCheckFailedException"

// waitEnv is a waiter on a ledger of its own, its clock at start.
type waitEnv struct {
	l     *Ledger
	w     *Waiter
	clock *clock
	start time.Time
}

func newWaitEnv(t *testing.T) *waitEnv {
	l := newLedger(t)
	l.Lease = 24 * time.Hour // longer than any wait here, unless a test says otherwise
	start := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	c := &clock{t: start}
	return &waitEnv{l: l, clock: c, start: start,
		w: &Waiter{Ledger: l, Policy: WaitPolicy{Min: 5 * time.Second, Max: 300 * time.Second, Factor: 0.2, Deadline: 6 * time.Hour}, Log: discard(), Now: c.Now}}
}

func (e *waitEnv) fill(t *testing.T, n int, at time.Time) []string {
	t.Helper()
	if err := e.l.Create(t.Context()); err != nil {
		t.Fatal(err)
	}
	var arns []string
	for i := range n {
		arn := executionARN(fmt.Sprintf("holder%d-%d", i, at.Unix()))
		if err := acquire(t.Context(), t, e.l, 5, arn, at); err != nil {
			t.Fatal(err)
		}
		arns = append(arns, arn)
	}
	return arns
}

func (e *waitEnv) input(errName string) WaitInput {
	return WaitInput{
		ExecutionID: executionARN("waiter"), ExecutionStartTime: e.start,
		Input: json.RawMessage(`{"email":"a@contoso.com","eventTypes":["FileAccessed"]}`), Slots: 5,
		AcquireError: StepError{Error: errName, Cause: "The conditional request failed"},
	}
}

func TestWaiter(t *testing.T) {
	t.Run("busy: waits, growing with the time waited", func(t *testing.T) {
		e := newWaitEnv(t)
		e.fill(t, 5, e.start)
		for _, tc := range []struct {
			after time.Duration
			want  int
		}{{time.Second, 5}, {10 * time.Minute, 120}, {2 * time.Hour, 300}} {
			e.clock.Set(e.start.Add(tc.after))
			out, err := e.w.Handle(t.Context(), e.input(busy))
			if err != nil {
				t.Fatal(err)
			}
			s := out.SlotWait
			if s.WaitSeconds != tc.want || s.WaitedSeconds != int(tc.after/time.Second) || s.Reason != ReasonBusy || len(s.Holders) != 5 || s.Slots != 5 {
				t.Fatalf("after %s: %+v, want a %d s wait", tc.after, s, tc.want)
			}
			if string(out.Input) != string(e.input(busy).Input) {
				t.Fatalf("input %s not handed back as it came", out.Input)
			}
		}
	})
	t.Run("the deadline ends the wait", func(t *testing.T) {
		e := newWaitEnv(t)
		e.fill(t, 5, e.start)
		e.clock.Set(e.start.Add(6 * time.Hour))
		_, err := e.w.Handle(t.Context(), e.input(busy))
		var dl *failure.JobDeadlineExceededError
		if !errors.As(err, &dl) || !strings.Contains(err.Error(), "no AvePoint job slot came free") || dl.Deadline != "6h0m0s" {
			t.Fatalf("err %v, want JobDeadlineExceededError", err)
		}
	})
	t.Run("holders past their lease are evicted and the wait is short", func(t *testing.T) {
		e := newWaitEnv(t)
		old := e.fill(t, 2, e.start.Add(-e.l.Lease-time.Minute))
		e.fill(t, 3, e.start)
		e.clock.Set(e.start.Add(time.Minute))
		out, err := e.w.Handle(t.Context(), e.input(busy))
		if err != nil {
			t.Fatal(err)
		}
		s := out.SlotWait
		if s.Reason != ReasonEvicted || s.WaitSeconds != 1 || len(s.Evicted) != 2 || len(s.Holders) != 3 {
			t.Fatalf("%+v", s)
		}
		holders, _, _ := e.l.Holders(t.Context())
		for _, arn := range old {
			if _, ok := Find(holders, arn); ok {
				t.Errorf("%s still holds a slot", arn)
			}
		}
		// And the freed slot can be taken.
		if err := acquire(t.Context(), t, e.l, 5, executionARN("waiter"), e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no ledger yet: it is created", func(t *testing.T) {
		e := newWaitEnv(t)
		out, err := e.w.Handle(t.Context(), e.input(busy))
		if err != nil || out.SlotWait.Reason != ReasonCreated || out.SlotWait.WaitSeconds != 1 {
			t.Fatalf("%+v %v", out.SlotWait, err)
		}
		if _, exists, err := e.l.Holders(t.Context()); !exists || err != nil {
			t.Fatalf("ledger exists %v, %v", exists, err)
		}
		if err := acquire(t.Context(), t, e.l, 5, executionARN("waiter"), e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a slot freed meanwhile: try again at once", func(t *testing.T) {
		e := newWaitEnv(t)
		e.fill(t, 4, e.start)
		out, err := e.w.Handle(t.Context(), e.input(busy))
		if err != nil || out.SlotWait.Reason != ReasonFree || out.SlotWait.WaitSeconds != 1 {
			t.Fatalf("%+v %v", out.SlotWait, err)
		}
	})
	t.Run("already holding (a lost answer): the shortest wait (1 s: a task timeout must be positive), deadline or not", func(t *testing.T) {
		e := newWaitEnv(t)
		e.fill(t, 4, e.start)
		if err := acquire(t.Context(), t, e.l, 5, executionARN("waiter"), e.start); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(e.start.Add(7 * time.Hour))
		out, err := e.w.Handle(t.Context(), e.input("States.Timeout"))
		if err != nil || out.SlotWait.Reason != ReasonHeld || out.SlotWait.WaitSeconds != 1 {
			t.Fatalf("%+v %v", out.SlotWait, err)
		}
	})
	t.Run("a throttled write is retried with the usual wait, slots free or not", func(t *testing.T) {
		for _, held := range []int{5, 2} {
			e := newWaitEnv(t)
			e.fill(t, held, e.start)
			out, err := e.w.Handle(t.Context(), e.input("DynamoDB.ProvisionedThroughputExceededException"))
			if err != nil || !strings.HasPrefix(out.SlotWait.Reason, ReasonRetrying) || out.SlotWait.WaitSeconds != 5 {
				t.Fatalf("%d held: %+v %v", held, out.SlotWait, err)
			}
		}
	})
	t.Run("with the deployed policies: a full ledger parks for the 5-minute fallback, a failed write retries in 5 s", func(t *testing.T) {
		for _, tc := range []struct {
			acquireError string
			want         int
		}{{busy, 300}, {"DynamoDB.ProvisionedThroughputExceededException", 5}} {
			e := newWaitEnv(t)
			e.w.Policy, e.w.Retry = DefaultWaitPolicy, DefaultRetryPolicy
			e.fill(t, 5, e.start)
			out, err := e.w.Handle(t.Context(), e.input(tc.acquireError))
			if err != nil || out.SlotWait.WaitSeconds != tc.want {
				t.Fatalf("%s: %+v %v, want a wait of %d s", tc.acquireError, out.SlotWait, err, tc.want)
			}
		}
	})
	t.Run("a write no retry mends fails the export", func(t *testing.T) {
		e := newWaitEnv(t)
		_, err := e.w.Handle(t.Context(), e.input("DynamoDB.AccessDeniedException"))
		var ce *failure.ConfigError
		if !errors.As(err, &ce) || ce.Variable != "JOB_SLOTS_TABLE" {
			t.Fatalf("err %v, want ConfigError", err)
		}
	})
	t.Run("a table that does not exist fails the export", func(t *testing.T) {
		e := newWaitEnv(t)
		e.l.Table = "no-such-table"
		_, err := e.w.Handle(t.Context(), e.input(busy))
		var ce *failure.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "ResourceNotFoundException") {
			t.Fatalf("err %v, want ConfigError naming ResourceNotFoundException", err)
		}
	})
	t.Run("a ledger edited into something else fails the export", func(t *testing.T) {
		e := newWaitEnv(t)
		_, err := e.l.DB.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(e.l.Table), Item: map[string]types.AttributeValue{
			KeyAttribute: &types.AttributeValueMemberS{Value: LedgerKey}, HoldersAttribute: &types.AttributeValueMemberS{Value: "oops"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.w.Handle(t.Context(), e.input(busy))
		var ce *failure.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "delete the item") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("input without the Parameters' fields is refused", func(t *testing.T) {
		e := newWaitEnv(t)
		in := e.input(busy)
		in.ExecutionID = ""
		_, err := e.w.Handle(t.Context(), in)
		var ve *failure.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("err %v", err)
		}
	})
}

// The state's Parameters deliver slots as a string (a substitution): the
// handler reads it through failure.Handler as the function does.
func TestWaitInputDecodesTheStatesParameters(t *testing.T) {
	e := newWaitEnv(t)
	e.fill(t, 5, e.start)
	payload := fmt.Sprintf(`{"executionId":%q,"executionStartTime":"2026-11-25T09:00:00.123Z","input":{"email":"a@contoso.com"},"slots":"5","acquireError":{"Error":%q,"Cause":"The conditional request failed"}}`, executionARN("waiter"), busy)
	out, err := failure.Handler(e.w.Handle).Invoke(t.Context(), []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	var got WaitOutput
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if string(got.Input) != `{"email":"a@contoso.com"}` || got.SlotWait.Slots != 5 || got.SlotWait.WaitSeconds != 5 {
		t.Fatalf("%s", out)
	}
}
