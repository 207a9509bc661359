// Package wake wakes the oldest export waiting for an AvePoint job slot.
//
// An export that found every slot taken parks in WaitForJobSlot
// (statemachine/export.asl.json): an sqs:sendMessage.waitForTaskToken
// task that puts its task token on the FIFO queue JobSlotWaitersQueue
// (one message group, so the queue's order is the order of arrival) and
// sleeps until the token is answered or its timeout, the slot wait that
// CheckJobSlots decided, ends. Whoever gives a slot back — the export's
// ReleaseJobSlot states (then WakeJobSlotWaiter, functions/wakejobslotwaiter)
// and the releaser of executions that ended elsewhere
// (functions/releasejobslot) — calls Waker.Wake, which answers the oldest
// token still waiting with SendTaskSuccess: that export tries
// AcquireJobSlotAfterWait at once instead of sleeping on.
//
// The package is apart from internal/slots so that only the two functions
// that wake link the SQS and Step Functions clients
// (internal/testing/depcheck).
package wake

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/failure"
)

// Queue is the part of the SQS client the waker uses.
type Queue interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// States is the part of the Step Functions client the waker uses.
type States interface {
	SendTaskSuccess(context.Context, *sfn.SendTaskSuccessInput, ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
}

// Message is a parked waiter's message, as WaitForJobSlot's Parameters
// write it. The token is a credential for the waiting task: it is never
// logged nor returned.
type Message struct {
	TaskToken string `json:"taskToken"`
	Execution string `json:"execution"`
	ParkedAt  string `json:"parkedAt"`
}

// Input is what a waker is invoked with: who gave a slot back (for the
// logs; optional).
type Input struct {
	ReleasedBy string `json:"releasedBy,omitempty"`
}

// Output says what the waker did.
type Output struct {
	// Woken is the execution whose token was answered ("" when nobody was
	// waiting).
	Woken string `json:"woken,omitempty"`
	// Gone are parked executions whose token no longer waited (it timed
	// out and the export tried again, or the execution ended): their
	// messages were deleted.
	Gone []string `json:"gone,omitempty"`
}

// Defaults.
const (
	// DefaultPoll is how long a receive waits for a message (SQS long
	// polling). A second covers two races: an export refused just before
	// this release parks a few hundred milliseconds later, and a waker
	// running at the same time holds the group's messages in flight (a
	// FIFO group hands out nothing else meanwhile) and gives them back
	// within that time. An empty queue costs that second, after the slot
	// is back.
	DefaultPoll = time.Second
	// NoPoll as Waker.Poll: a receive answers at once.
	NoPoll = time.Duration(-1)
	// DefaultRounds bounds the receives of one wake (10 messages each):
	// gone tokens are deleted as they are met, so a queue full of them
	// empties over a few wakes.
	DefaultRounds = 5
	// visibility keeps received messages from other wakers while this one
	// tries them; the ones it does not need are given back at once.
	visibility = 30
)

// Waker answers the oldest waiting token.
type Waker struct {
	Queue    Queue
	States   States
	QueueURL string
	Log      *slog.Logger
	Poll     time.Duration // 0: DefaultPoll; NoPoll: none
	Rounds   int           // 0: DefaultRounds
}

// Wake answers the oldest parked token that still waits, deleting the
// messages of tokens that no longer do. Nobody waiting is no error.
func (w *Waker) Wake(ctx context.Context, in Input) (Output, error) {
	var out Output
	log := w.Log.With("releasedBy", in.ReleasedBy)
	rounds := w.Rounds
	if rounds <= 0 {
		rounds = DefaultRounds
	}
	poll := w.Poll
	switch {
	case poll == NoPoll:
		poll = 0
	case poll <= 0:
		poll = DefaultPoll
	}
	for range rounds {
		r, err := w.Queue.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(w.QueueURL),
			MaxNumberOfMessages: 10,
			WaitTimeSeconds:     int32(poll / time.Second),
			VisibilityTimeout:   visibility,
		})
		if err != nil {
			return out, awsError("receiving the waiters' queue", err)
		}
		if len(r.Messages) == 0 {
			log.InfoContext(ctx, "no export waits for a job slot", "gone", len(out.Gone))
			return out, nil
		}
		for i, m := range r.Messages {
			var msg Message
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &msg); err != nil || msg.TaskToken == "" {
				// Not a waiter's message: nothing can ever answer it.
				log.WarnContext(ctx, "unreadable message on the waiters' queue: deleted", "messageId", aws.ToString(m.MessageId))
				if err := w.delete(ctx, m); err != nil {
					return out, w.giveBack(ctx, r.Messages[i+1:], err)
				}
				continue
			}
			_, err := w.States.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{
				TaskToken: aws.String(msg.TaskToken),
				Output:    aws.String(wokenOutput(in.ReleasedBy)),
			})
			switch {
			case err == nil:
				out.Woken = msg.Execution
				log.InfoContext(ctx, "woke the oldest export waiting for a job slot", "woken", msg.Execution, "parkedAt", msg.ParkedAt, "gone", len(out.Gone))
				// A message left behind would only be tried again and
				// found gone; its delete failing is no reason to fail
				// the wake that happened.
				if err := w.delete(ctx, m); err != nil {
					log.WarnContext(ctx, "deleting the woken export's message failed", "error", err.Error())
				}
				return out, w.giveBack(ctx, r.Messages[i+1:], nil)
			case tokenGone(err):
				out.Gone = append(out.Gone, msg.Execution)
				log.InfoContext(ctx, "parked export no longer waits: message deleted", "execution", msg.Execution, "error", errorCode(err))
				if err := w.delete(ctx, m); err != nil {
					return out, w.giveBack(ctx, r.Messages[i+1:], err)
				}
			default:
				return out, w.giveBack(ctx, r.Messages[i:], awsError("SendTaskSuccess", err))
			}
		}
	}
	log.WarnContext(ctx, "no waiting export found within the rounds: the rest are tried at the next release", "gone", len(out.Gone))
	return out, nil
}

func wokenOutput(releasedBy string) string {
	b, _ := json.Marshal(map[string]string{"wokenBy": releasedBy}) // a string map: cannot fail
	return string(b)
}

func (w *Waker) delete(ctx context.Context, m sqstypes.Message) error {
	if _, err := w.Queue.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(w.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
		return awsError("deleting a waiter's message", err)
	}
	return nil
}

// giveBack makes messages received but not tried visible again at once,
// in their order: in a FIFO group nothing after a message in flight is
// handed out, so keeping them for the visibility timeout would hide every
// waiter from the next wake. It returns cause (its own failure is logged:
// the messages come back after the timeout anyway).
func (w *Waker) giveBack(ctx context.Context, ms []sqstypes.Message, cause error) error {
	if len(ms) == 0 {
		return cause
	}
	entries := make([]sqstypes.ChangeMessageVisibilityBatchRequestEntry, len(ms))
	for i, m := range ms {
		entries[i] = sqstypes.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(string(rune('a' + i))), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}
	}
	if _, err := w.Queue.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(w.QueueURL), Entries: entries}); err != nil {
		w.Log.WarnContext(ctx, "giving back the waiters' messages failed: they return after the visibility timeout", "error", failure.Clip(err.Error(), 300))
	}
	return cause
}

// tokenGone: the token will never be answered — it timed out (the export
// has moved on to AcquireJobSlotAfterWait), its task closed, its execution
// ended, or it is not a token at all.
func tokenGone(err error) bool {
	switch errorCode(err) {
	case "TaskTimedOut", "TaskDoesNotExist", "InvalidToken":
		return true
	}
	return false
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// awsError names a failed call: throttling as ThrottledError, anything
// else as TransientError (a wake that fails is retried by its caller or
// left to the waiters' fallback timeout). The message is the SDK's,
// bounded; it quotes neither tokens nor message bodies.
func awsError(what string, err error) error {
	code := errorCode(err)
	reason := what + ": " + failure.Clip(err.Error(), 300)
	switch code {
	case "ThrottlingException", "RequestThrottled", "ThrottledException", "RequestLimitExceeded":
		return &failure.ThrottledError{Reason: reason}
	}
	return &failure.TransientError{Reason: reason}
}

// LoadWaker builds a waker from getenv: JOB_SLOT_WAITERS_QUEUE_URL (the
// waiters' queue), JOB_SLOT_WAKE_POLL_SECONDS (the long poll of an empty
// queue, 0–20, default 1; the local stack sets 0, where every invocation
// of the waker queues behind the last at its one emulator), LOG_LEVEL,
// and the AWS environment Lambda sets
// (AWS_ENDPOINT_URL_SFN and AWS_ENDPOINT_URL_SQS are honoured: the local
// stack points Step Functions at its token broker).
func LoadWaker(getenv func(string) string) (*Waker, error) {
	env := config.NewEnv(getenv)
	queueURL := env.Required("JOB_SLOT_WAITERS_QUEUE_URL", "the job slot waiters' queue URL")
	poll := env.Int("JOB_SLOT_WAKE_POLL_SECONDS", int(DefaultPoll/time.Second), 0, 20)
	level := env.LogLevel()
	if err := env.Err(); err != nil {
		return nil, err
	}
	awsCfg, err := config.AWSConfig()
	if err != nil {
		return nil, err
	}
	w := &Waker{Queue: sqs.NewFromConfig(awsCfg), States: sfn.NewFromConfig(awsCfg), QueueURL: queueURL, Log: config.NewLogger(level), Poll: time.Duration(poll) * time.Second}
	if poll == 0 {
		w.Poll = NoPoll
	}
	return w, nil
}
