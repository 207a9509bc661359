package api

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/insights-export/insights-export/internal/request"
)

// These tests run on the moto_server without the interpreter (executions
// stay RUNNING), as TestIdempotency does.

// clockedSFN passes every call to moto but reports the start date of the
// executions it started as startedAt() at their start, so that the
// handler's injected clock and the start dates it reads agree (moto's are
// wall-clock). beforeStart, when set, runs before each StartExecution.
//
// StartExecution calls are made one at a time: moto checks a name and
// appends the execution in two steps that its server threads can
// interleave, where Step Functions' check is atomic. Only the calls are
// serialized, so races between one request's calls and another's remain.
type clockedSFN struct {
	sfnAPI
	startedAt   func() time.Time
	beforeStart func(ctx context.Context, in *sfn.StartExecutionInput)

	startMu sync.Mutex
	mu      sync.Mutex
	started map[string]time.Time // execution ARN -> its start date
}

func (c *clockedSFN) StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	if c.beforeStart != nil {
		c.beforeStart(ctx, in)
	}
	c.startMu.Lock()
	out, err := c.sfnAPI.StartExecution(ctx, in, opts...)
	c.startMu.Unlock()
	if err != nil || c.startedAt == nil {
		return out, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	arn := aws.ToString(out.ExecutionArn)
	at, ok := c.started[arn]
	if !ok {
		at = c.startedAt()
		c.started[arn] = at
	}
	out.StartDate = aws.Time(at)
	return out, nil
}

func (c *clockedSFN) DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, opts ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	out, err := c.sfnAPI.DescribeExecution(ctx, in, opts...)
	if err != nil {
		return out, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if at, ok := c.started[aws.ToString(out.ExecutionArn)]; ok {
		out.StartDate = aws.Time(at)
	}
	return out, nil
}

// syncBuffer collects log lines written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newClockedAPI is newAPI with the handler's Step Functions client wrapped
// (start dates from startedAt, when not nil) and its log kept in logs.
func newClockedAPI(t *testing.T, env *sfn.Client, now func() time.Time, startedAt func() time.Time) (*apiUnderTest, *clockedSFN, *syncBuffer) {
	t.Helper()
	user := machine(t, env, "StartExport", runningJob())
	batch := machine(t, env, "PrepareBatch", map[string]any{"PrepareBatch": waitForever})
	c := &clockedSFN{sfnAPI: env, startedAt: startedAt, started: map[string]time.Time{}}
	logs := &syncBuffer{}
	h, err := New(c, Config{ExportStateMachineARN: user, BatchStateMachineARN: batch}, slog.New(slog.NewTextHandler(logs, nil)), now)
	if err != nil {
		t.Fatal(err)
	}
	return &apiUnderTest{h: h, user: user, batch: batch, client: env}, c, logs
}

// allExecutions counts every execution of a state machine, page by page.
func allExecutions(t *testing.T, client *sfn.Client, machineArn string) int {
	t.Helper()
	n := 0
	p := sfn.NewListExecutionsPaginator(client, &sfn.ListExecutionsInput{StateMachineArn: aws.String(machineArn)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.Executions)
	}
	return n
}

// concurrently posts every body at once (released together) and returns
// the answers in the order of bodies.
func concurrently(t *testing.T, a *apiUnderTest, bodies []string, header map[string]string) []answer {
	t.Helper()
	answers := make([]answer, len(bodies))
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i, body := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			answers[i] = a.do(t, http.MethodPost, "/exports", body, header)
		}()
	}
	close(release)
	wg.Wait()
	return answers
}

// TestIdempotencyKeyComparesTheRequestAsSent: a key is replayed only for
// the request it was first used with as the client sent it. A value the
// client left open (finishTime: now; a window without at) is a different
// request from one that sets it, even when the set value equals what the
// server pinned; the same body with an open value is the same request
// whenever it is retried.
func TestIdempotencyKeyComparesTheRequestAsSent(t *testing.T) {
	env := plainStepFunctions(t)
	a := newAPI(t, env, machine(t, env, "StartExport", runningJob()), machine(t, env, "PrepareBatch", map[string]any{"PrepareBatch": waitForever}))
	at := a.clock.now().Add(-time.Hour).Format(time.RFC3339)
	const finish = "2026-11-01T00:00:00"
	cases := []struct {
		name, first, second string
		replay              bool
	}{
		{"finishTime set, then open", `{"email":"a@x.io","finishTime":"` + finish + `"}`, `{"email":"a@x.io"}`, false},
		{"finishTime open, then set", `{"email":"a@x.io"}`, `{"email":"a@x.io","finishTime":"` + finish + `"}`, false},
		{"window at set, then open", `{"email":"a@x.io","window":{"period":"day","at":"` + at + `"}}`, `{"email":"a@x.io","window":{"period":"day"}}`, false},
		{"window at open, then set", `{"email":"a@x.io","window":{"period":"day"}}`, `{"email":"a@x.io","window":{"period":"day","at":"` + at + `"}}`, false},
		{"batch finishTime set, then open", `{"emails":["a@x.io","b@x.io"],"finishTime":"` + finish + `"}`, `{"emails":["a@x.io","b@x.io"]}`, false},
		{"batch finishTime open, then set", `{"emails":["a@x.io","b@x.io"]}`, `{"emails":["a@x.io","b@x.io"],"finishTime":"` + finish + `"}`, false},
		{"other event types", `{"email":"a@x.io","eventTypes":["FileAccessed"]}`, `{"email":"a@x.io"}`, false},
		{"same open finishTime", `{"email":"a@x.io"}`, `{ "email": "A@X.io" }`, true},
		{"same open window", `{"emails":["a@x.io"],"window":{"period":"day"}}`, `{"window":{"period":"daily"},"emails":["A@x.io"]}`, true},
		{"same set finishTime", `{"email":"a@x.io","finishTime":"` + finish + `"}`, `{"finishTime":"` + finish + `","email":"a@x.io"}`, true},
		{"same set window", `{"email":"a@x.io","window":{"period":"day","at":"` + at + `"}}`, `{"email":"a@x.io","window":{"period":"day","at":"` + at + `"}}`, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := map[string]string{"Idempotency-Key": fmt.Sprintf("as-sent-%d", i)}
			before := allExecutions(t, env, a.user) + allExecutions(t, env, a.batch)
			ans, first := a.post(t, tc.first, key)
			if ans.code != http.StatusAccepted {
				t.Fatalf("first: HTTP %d %s", ans.code, ans.body)
			}
			a.clock.add(time.Minute) // an open value pins differently now
			ans, again := a.post(t, tc.second, key)
			if tc.replay {
				if ans.code != http.StatusAccepted || again.ID != first.ID || !again.Replayed || string(again.Input) != string(first.Input) {
					t.Fatalf("retry: HTTP %d %s (first %+v)", ans.code, ans.body, first)
				}
			} else {
				var e apiError
				ans.decode(t, &e)
				if ans.code != http.StatusConflict || e.Name != "IdempotencyConflict" || e.Field != "Idempotency-Key" || !strings.Contains(e.Message, "different request") {
					t.Fatalf("different request: HTTP %d %s", ans.code, ans.body)
				}
			}
			if n := allExecutions(t, env, a.user) + allExecutions(t, env, a.batch) - before; n != 1 {
				t.Fatalf("%d executions for one key", n)
			}
		})
	}
}

// TestIdempotencyKeyConcurrentBodies fires one key with two different
// single-user bodies (an open and a set finishTime) at once, many times:
// the name is the key's, so Step Functions lets one start, and every
// request for the other body is refused, whichever won.
func TestIdempotencyKeyConcurrentBodies(t *testing.T) {
	env := plainStepFunctions(t)
	now := time.Now().UTC().Truncate(time.Second)
	a, _, _ := newClockedAPI(t, env, func() time.Time { return now }, nil)
	open := `{"email":"a@x.io"}`
	set := `{"email":"a@x.io","finishTime":"` + request.FormatTime(now.Add(-time.Hour)) + `"}`
	const iterations = 12
	for i := range iterations {
		key := map[string]string{"Idempotency-Key": fmt.Sprintf("concurrent-%d", i)}
		bodies := []string{open, set, open, set, open, set}
		answers := concurrently(t, a, bodies, key)
		ids := map[string]bool{}
		winner := ""
		for j, ans := range answers {
			switch ans.code {
			case http.StatusAccepted:
				var s Started
				ans.decode(t, &s)
				ids[s.ID] = true
				if winner != "" && winner != bodies[j] {
					t.Fatalf("iteration %d: both bodies accepted for one key: %s and %s", i, winner, bodies[j])
				}
				winner = bodies[j]
			case http.StatusConflict:
			default:
				t.Fatalf("iteration %d: HTTP %d %s", i, ans.code, ans.body)
			}
		}
		if len(ids) != 1 {
			t.Fatalf("iteration %d: ids %v", i, ids)
		}
		for j, ans := range answers {
			if (bodies[j] == winner) != (ans.code == http.StatusAccepted) {
				t.Fatalf("iteration %d: %s answered HTTP %d %s (winner %s)", i, bodies[j], ans.code, ans.body, winner)
			}
		}
	}
	if n := allExecutions(t, env, a.user) + allExecutions(t, env, a.batch); n != iterations {
		t.Fatalf("%d executions for %d keys", n, iterations)
	}
}

// TestContentDedupAcrossSlotBoundaries fires the same body without a key
// at once, half of the requests a second before a 15-minute boundary and
// half a second after it (the clock alternates), many times: one
// execution per content, whatever the timing.
func TestContentDedupAcrossSlotBoundaries(t *testing.T) {
	env := plainStepFunctions(t)
	boundary := time.Now().UTC().Truncate(ContentWindow)
	if boundary.Equal(boundary.Truncate(contentEpoch)) {
		// Not the boundary of the content chains themselves (see startContent).
		boundary = boundary.Add(-ContentWindow)
	}
	var calls atomic.Int64
	now := func() time.Time {
		if calls.Add(1)%2 == 0 {
			return boundary.Add(-time.Second)
		}
		return boundary.Add(time.Second)
	}
	a, _, _ := newClockedAPI(t, env, now, func() time.Time { return boundary })
	const iterations = 12
	for i := range iterations {
		body := fmt.Sprintf(`{"emails":["u%d@x.io","v%d@x.io"],"finishTime":"2026-11-01T00:00:00"}`, i, i)
		answers := concurrently(t, a, []string{body, body, body, body, body, body}, nil)
		ids := map[string]bool{}
		for _, ans := range answers {
			var s Started
			if ans.code != http.StatusAccepted {
				t.Fatalf("iteration %d: HTTP %d %s", i, ans.code, ans.body)
			}
			ans.decode(t, &s)
			ids[s.ID] = true
		}
		if len(ids) != 1 {
			t.Fatalf("iteration %d: one content got %d ids %v", i, len(ids), ids)
		}
	}
	if n := allExecutions(t, env, a.batch); n != iterations {
		t.Fatalf("%d executions for %d contents", n, iterations)
	}
}

// TestContentDedupWindow steps the injected clock (start dates follow it):
// an identical request replays the latest export of its content while
// that is younger than 2×ContentWindow, across any boundary of the clock,
// and starts a new one after; the new one is then what is replayed.
func TestContentDedupWindow(t *testing.T) {
	env := plainStepFunctions(t)
	// A boundary of the content chains (see contentEpoch), in the past.
	epoch := time.Now().UTC().Truncate(contentEpoch)
	c := &clock{t: epoch.Add(-time.Second)}
	a, _, _ := newClockedAPI(t, env, c.now, c.now)
	body := `{"emails":["x@x.io","y@x.io"],"finishTime":"2026-11-01T00:00:00"}`
	steps := []struct {
		advance time.Duration // on the clock, after the step before
		export  int           // which export answers: the first or the second
		replay  bool
	}{
		{0, 1, false},
		{2 * time.Second, 1, true}, // across the chains' boundary
		{2*ContentWindow - 3*time.Second, 1, true},
		{2 * time.Second, 2, false}, // 2×ContentWindow after the first: a new export
		{ContentWindow, 2, true},    // which is what is replayed now
	}
	ids := map[int]string{}
	for i, s := range steps {
		c.add(s.advance)
		ans, st := a.post(t, body, nil)
		if ans.code != http.StatusAccepted {
			t.Fatalf("step %d: HTTP %d %s", i, ans.code, ans.body)
		}
		if ids[s.export] == "" && !s.replay {
			ids[s.export] = st.ID
		}
		if st.ID != ids[s.export] || st.Replayed != s.replay || ids[1] == ids[2] {
			t.Fatalf("step %d (%s after the first): %+v; want export %d (%v), replayed %v", i, c.now().Sub(epoch.Add(-time.Second)), st, s.export, ids, s.replay)
		}
	}
	if n := allExecutions(t, env, a.batch); n != 2 {
		t.Fatalf("%d executions, want 2", n)
	}
}

// TestIdempotencyKeyCrossKindRace: Step Functions keeps names unique per
// state machine, so a key sent as a single-user body and as a batch body at
// the same moment can start one execution in each (see startKeyed). This
// test makes that happen deterministically (the batch request lands
// between the single-user request's check and its start) and checks what
// the API does about it: both answers are true (202, each its own
// execution), the duplicate is logged as an error naming both ids, and
// every later request with the key answers consistently.
func TestIdempotencyKeyCrossKindRace(t *testing.T) {
	env := plainStepFunctions(t)
	a, c, logs := newClockedAPI(t, env, time.Now, nil)
	key := map[string]string{"Idempotency-Key": "raced"}
	single, batch := `{"email":"a@x.io","finishTime":"2026-11-01T00:00:00"}`, `{"emails":["a@x.io","b@x.io"],"finishTime":"2026-11-01T00:00:00"}`
	var once sync.Once
	var raced answer
	c.beforeStart = func(ctx context.Context, in *sfn.StartExecutionInput) {
		if aws.ToString(in.StateMachineArn) == a.user {
			once.Do(func() { raced = a.do(t, http.MethodPost, "/exports", batch, key) })
		}
	}
	ans, s := a.post(t, single, key)
	c.beforeStart = nil
	var b Started
	if raced.code == http.StatusAccepted {
		raced.decode(t, &b)
	}
	if ans.code != http.StatusAccepted || raced.code != http.StatusAccepted || s.Kind != KindUser || b.Kind != KindBatch {
		t.Fatalf("single HTTP %d %s; batch HTTP %d %s", ans.code, ans.body, raced.code, raced.body)
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, s.ID) || !strings.Contains(l, b.ID) || strings.Contains(l, "raced") {
		t.Fatalf("the duplicate is not logged with both ids (and without the key):\n%s", l)
	}
	// Each body's retry replays its own execution; any other body is a conflict.
	for _, tc := range []struct{ body, id string }{{single, s.ID}, {batch, b.ID}} {
		ans, again := a.post(t, tc.body, key)
		if ans.code != http.StatusAccepted || !again.Replayed || again.ID != tc.id {
			t.Fatalf("retry of %s: HTTP %d %s, want a replay of %s", tc.body, ans.code, ans.body, tc.id)
		}
	}
	for _, body := range []string{`{"email":"a@x.io"}`, `{"emails":["a@x.io"]}`} {
		if ans, _ := a.post(t, body, key); ans.code != http.StatusConflict {
			t.Fatalf("%s: HTTP %d %s", body, ans.code, ans.body)
		}
	}
	if n := allExecutions(t, env, a.user) + allExecutions(t, env, a.batch); n != 2 {
		t.Fatalf("%d executions", n)
	}
}

// TestIdempotencyKeyConcurrentKinds fires one key as single-user and as
// batch bodies at once, many times. Exactly one execution cannot be
// promised (see startKeyed); what is: at most one per state machine, an
// error log line for every key that got two, and answers that name only
// executions that exist.
func TestIdempotencyKeyConcurrentKinds(t *testing.T) {
	env := plainStepFunctions(t)
	a, _, logs := newClockedAPI(t, env, time.Now, nil)
	single, batch := `{"email":"a@x.io","finishTime":"2026-11-01T00:00:00"}`, `{"emails":["a@x.io","b@x.io"],"finishTime":"2026-11-01T00:00:00"}`
	const iterations = 12
	duplicates := 0
	for i := range iterations {
		key := map[string]string{"Idempotency-Key": fmt.Sprintf("kinds-%d", i)}
		users, batches := allExecutions(t, env, a.user), allExecutions(t, env, a.batch)
		answers := concurrently(t, a, []string{single, batch, single, batch}, key)
		users, batches = allExecutions(t, env, a.user)-users, allExecutions(t, env, a.batch)-batches
		if users > 1 || batches > 1 || users+batches == 0 {
			t.Fatalf("iteration %d: %d single-user and %d batch executions", i, users, batches)
		}
		ids := map[string]string{} // kind -> id
		for _, ans := range answers {
			var s Started
			switch ans.code {
			case http.StatusAccepted:
				ans.decode(t, &s)
				if s.Kind == KindUser && users == 0 || s.Kind == KindBatch && batches == 0 {
					t.Fatalf("iteration %d: answer names an execution that does not exist: %s", i, ans.body)
				}
				ids[s.Kind] = s.ID
			case http.StatusConflict:
			default:
				t.Fatalf("iteration %d: HTTP %d %s", i, ans.code, ans.body)
			}
		}
		logged := false
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "level=ERROR") && (mentions(line, ids[KindUser]) || mentions(line, ids[KindBatch])) {
				logged = true
			}
		}
		if users+batches == 2 {
			duplicates++
			if len(ids) != 2 || !logged {
				t.Fatalf("iteration %d: two executions, answers %v, logged %v:\n%s", i, ids, logged, logs.String())
			}
		} else if logged {
			t.Fatalf("iteration %d: one execution but an error logged:\n%s", i, logs.String())
		}
	}
	t.Logf("%d of %d concurrent single-user/batch pairs started both", duplicates, iterations)
}

func mentions(line, id string) bool { return id != "" && strings.Contains(line, id) }
