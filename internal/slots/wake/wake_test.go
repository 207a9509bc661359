package wake

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/insights-export/insights-export/internal/failure"
)

// fakeQueue is an SQS queue of function fields.
type fakeQueue struct {
	receive    func(*sqs.ReceiveMessageInput) (*sqs.ReceiveMessageOutput, error)
	deleteMsg  func(*sqs.DeleteMessageInput) (*sqs.DeleteMessageOutput, error)
	visibility func(*sqs.ChangeMessageVisibilityBatchInput) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

func (q fakeQueue) ReceiveMessage(_ context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	return q.receive(in)
}
func (q fakeQueue) DeleteMessage(_ context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	return q.deleteMsg(in)
}
func (q fakeQueue) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	return q.visibility(in)
}

type fakeStates struct {
	success func(*sfn.SendTaskSuccessInput) (*sfn.SendTaskSuccessOutput, error)
}

func (s fakeStates) SendTaskSuccess(_ context.Context, in *sfn.SendTaskSuccessInput, _ ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error) {
	return s.success(in)
}

// queue is an in-memory FIFO queue: receive hands out what is visible, in
// order; deleted and given-back handles are recorded.
type queue struct {
	msgs     []sqstypes.Message
	deleted  []string
	givenBak []string
}

func (q *queue) fake() fakeQueue {
	return fakeQueue{
		receive: func(in *sqs.ReceiveMessageInput) (*sqs.ReceiveMessageOutput, error) {
			var out []sqstypes.Message
			for _, m := range q.msgs {
				if len(out) < int(in.MaxNumberOfMessages) && !slices.Contains(q.deleted, *m.ReceiptHandle) {
					out = append(out, m)
				}
			}
			return &sqs.ReceiveMessageOutput{Messages: out}, nil
		},
		deleteMsg: func(in *sqs.DeleteMessageInput) (*sqs.DeleteMessageOutput, error) {
			q.deleted = append(q.deleted, *in.ReceiptHandle)
			return &sqs.DeleteMessageOutput{}, nil
		},
		visibility: func(in *sqs.ChangeMessageVisibilityBatchInput) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
			for _, e := range in.Entries {
				q.givenBak = append(q.givenBak, *e.ReceiptHandle)
			}
			return &sqs.ChangeMessageVisibilityBatchOutput{}, nil
		},
	}
}

func parked(execs ...string) *queue {
	q := &queue{}
	for _, e := range execs {
		body, _ := json.Marshal(Message{TaskToken: "token-of-" + e, Execution: e, ParkedAt: "2026-12-01T20:00:00Z"})
		q.msgs = append(q.msgs, sqstypes.Message{Body: aws.String(string(body)), ReceiptHandle: aws.String("rh-" + e), MessageId: aws.String("id-" + e)})
	}
	return q
}

func apiError(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "the service says " + code}
}

// answers: per token, the SendTaskSuccess error (nil: the token waits).
func states(answers map[string]error, called *[]string) fakeStates {
	return fakeStates{success: func(in *sfn.SendTaskSuccessInput) (*sfn.SendTaskSuccessOutput, error) {
		*called = append(*called, *in.TaskToken)
		if !json.Valid([]byte(*in.Output)) {
			return nil, apiError("InvalidOutput")
		}
		return &sfn.SendTaskSuccessOutput{}, answers[*in.TaskToken]
	}}
}

func TestWakeAnswersTheOldestWaitingToken(t *testing.T) {
	tests := []struct {
		name        string
		queue       *queue
		answers     map[string]error
		wantWoken   string
		wantGone    []string
		wantCalled  []string
		wantDeleted []string
		wantBack    []string
		wantErr     string // the failure type's name
	}{
		{name: "oldest first", queue: parked("a", "b", "c"),
			wantWoken: "a", wantCalled: []string{"token-of-a"}, wantDeleted: []string{"rh-a"}, wantBack: []string{"rh-b", "rh-c"}},
		{name: "timed-out and ended tokens skipped and deleted", queue: parked("a", "b", "c", "d"),
			answers:   map[string]error{"token-of-a": apiError("TaskTimedOut"), "token-of-b": apiError("TaskDoesNotExist"), "token-of-c": apiError("InvalidToken")},
			wantWoken: "d", wantGone: []string{"a", "b", "c"}, wantCalled: []string{"token-of-a", "token-of-b", "token-of-c", "token-of-d"},
			wantDeleted: []string{"rh-a", "rh-b", "rh-c", "rh-d"}},
		{name: "empty queue", queue: parked()},
		{name: "every token gone", queue: parked("a"), answers: map[string]error{"token-of-a": apiError("TaskTimedOut")},
			wantGone: []string{"a"}, wantCalled: []string{"token-of-a"}, wantDeleted: []string{"rh-a"}},
		{name: "throttled: named error, the messages given back", queue: parked("a", "b"), answers: map[string]error{"token-of-a": apiError("ThrottlingException")},
			wantCalled: []string{"token-of-a"}, wantBack: []string{"rh-a", "rh-b"}, wantErr: "ThrottledError"},
		{name: "other failure: transient", queue: parked("a"), answers: map[string]error{"token-of-a": apiError("ServiceUnavailable")},
			wantCalled: []string{"token-of-a"}, wantBack: []string{"rh-a"}, wantErr: "TransientError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var called []string
			w := &Waker{Queue: tt.queue.fake(), States: states(tt.answers, &called), QueueURL: "https://sqs/q.fifo", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			out, err := w.Wake(t.Context(), Input{ReleasedBy: "arn:releaser"})
			if got := errName(err); got != tt.wantErr {
				t.Fatalf("error %v (%s), want %q", err, got, tt.wantErr)
			}
			if out.Woken != tt.wantWoken || !slices.Equal(out.Gone, tt.wantGone) {
				t.Errorf("woken %q gone %q, want %q %q", out.Woken, out.Gone, tt.wantWoken, tt.wantGone)
			}
			if !slices.Equal(called, tt.wantCalled) || !slices.Equal(tt.queue.deleted, tt.wantDeleted) || !slices.Equal(tt.queue.givenBak, tt.wantBack) {
				t.Errorf("called %q deleted %q given back %q, want %q %q %q", called, tt.queue.deleted, tt.queue.givenBak, tt.wantCalled, tt.wantDeleted, tt.wantBack)
			}
			if err != nil && strings.Contains(err.Error(), "token-of-") {
				t.Errorf("the error quotes a task token: %v", err)
			}
		})
	}
}

func TestWakeReceiveFailsNamed(t *testing.T) {
	q := fakeQueue{receive: func(*sqs.ReceiveMessageInput) (*sqs.ReceiveMessageOutput, error) {
		return nil, apiError("RequestThrottled")
	}}
	w := &Waker{Queue: q, QueueURL: "q", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := w.Wake(t.Context(), Input{}); errName(err) != "ThrottledError" {
		t.Fatalf("error %v, want ThrottledError", err)
	}
}

func TestWakeLongPollsAndBoundsRounds(t *testing.T) {
	// Eleven gone tokens take two receives; the poll is the default second.
	var execs []string
	for i := range 11 {
		execs = append(execs, string(rune('a'+i)))
	}
	q := parked(execs...)
	f := q.fake()
	var waits []int32
	receive := f.receive
	f.receive = func(in *sqs.ReceiveMessageInput) (*sqs.ReceiveMessageOutput, error) {
		waits = append(waits, in.WaitTimeSeconds)
		return receive(in)
	}
	var called []string
	answers := map[string]error{}
	for _, e := range execs {
		answers["token-of-"+e] = apiError("TaskTimedOut")
	}
	w := &Waker{Queue: f, States: states(answers, &called), QueueURL: "q", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	out, err := w.Wake(t.Context(), Input{})
	if err != nil || len(out.Gone) != 11 || out.Woken != "" {
		t.Fatalf("out %+v err %v, want 11 gone", out, err)
	}
	if !slices.Equal(waits, []int32{1, 1, 1}) {
		t.Errorf("receives waited %v, want three of 1 s (two with messages, one empty)", waits)
	}
}

func errName(err error) string {
	var th *failure.ThrottledError
	var tr *failure.TransientError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &th):
		return "ThrottledError"
	case errors.As(err, &tr):
		return "TransientError"
	}
	return "other"
}
