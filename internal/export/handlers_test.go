package export

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/fakes"
)

type fakeAPI = fakes.AvePoint

var quiet = slog.New(slog.DiscardHandler)

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

var errorName = fakes.ErrorName

func TestStarter(t *testing.T) {
	t.Run("starts the export with the normalized query", func(t *testing.T) {
		var got avepoint.ExportRequest
		api := &fakeAPI{Start: func(r avepoint.ExportRequest) (string, error) { got = r; return "67890", nil }}
		s := &Starter{API: api, Policy: request.DefaultWaitPolicy, Log: quiet, Now: fixedNow(testNow)}
		job, err := s.Handle(context.Background(), json.RawMessage(`{"email":"Bob@Contoso.com","startTime":"2026-11-01T00:00:00","eventTypes":["B","A"]}`))
		if err != nil {
			t.Fatal(err)
		}
		if got.Email != "bob@contoso.com" || got.Start != time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) || !got.Finish.Equal(testNow) || strings.Join(got.EventTypes, ",") != "A,B" {
			t.Fatalf("AvePoint got %+v", got)
		}
		if job.JobID != "67890" || job.Status != "running" || job.WaitSeconds != 5 || !job.StartedAt.Equal(testNow) || job.Request.FinishTime != "2026-11-25T12:00:00" {
			t.Fatalf("job = %+v", job)
		}
	})
	t.Run("bad input never reaches AvePoint", func(t *testing.T) {
		api := &fakeAPI{}
		s := &Starter{API: api, Policy: request.DefaultWaitPolicy, Log: quiet, Now: fixedNow(testNow)}
		_, err := s.Handle(context.Background(), json.RawMessage(`{"email":"nope"}`))
		if errorName(err) != "ValidationError" || api.Calls != 0 {
			t.Fatalf("err %v (%s), calls %d", err, errorName(err), api.Calls)
		}
	})
	t.Run("AvePoint errors come back unwrapped", func(t *testing.T) {
		api := &fakeAPI{Start: func(avepoint.ExportRequest) (string, error) {
			return "", &failure.NotFoundError{Reason: "user not found"}
		}}
		s := &Starter{API: api, Policy: request.DefaultWaitPolicy, Log: quiet, Now: fixedNow(testNow)}
		_, err := s.Handle(context.Background(), json.RawMessage(`{"email":"a@b.co"}`))
		if errorName(err) != "NotFoundError" {
			t.Fatalf("got %v (%s)", err, errorName(err))
		}
	})
}

func TestChecker(t *testing.T) {
	started := testNow.Add(-10 * time.Minute)
	base := request.Job{Request: request.Query{Email: "a@b.co", FinishTime: "2026-11-25T11:50:00"}, JobID: "7", StartedAt: started, Status: "running"}
	tests := []struct {
		name     string
		status   avepoint.JobStatus
		err      error
		deadline time.Duration
		wantErr  string
		want     request.Job
	}{
		{name: "running job waits 6% of its age", status: avepoint.JobStatus{Code: 1, State: avepoint.JobRunning},
			want: request.Job{Status: "running", JobStatus: 1, Polls: 1, WaitSeconds: 36}},
		{name: "finished", status: avepoint.JobStatus{Code: 2, State: avepoint.JobFinished},
			want: request.Job{Status: "finished", JobStatus: 2, Polls: 1}},
		{name: "success with exception is finished", status: avepoint.JobStatus{Code: 4, State: avepoint.JobFinished, WithException: true, Message: "partial"},
			want: request.Job{Status: "finished", JobStatus: 4, Polls: 1, Message: "partial"}},
		{name: "failed job", status: avepoint.JobStatus{Code: 3, State: avepoint.JobFailed, Message: "quota"}, wantErr: "JobFailedError"},
		{name: "stopped job", status: avepoint.JobStatus{Code: 6, State: avepoint.JobFailed}, wantErr: "JobFailedError"},
		{name: "past the deadline", status: avepoint.JobStatus{Code: 1, State: avepoint.JobRunning}, deadline: 5 * time.Minute, wantErr: "JobDeadlineExceededError"},
		{name: "transient error passes through", err: &failure.TransientError{Status: 503, Reason: "x"}, wantErr: "TransientError"},
		{name: "unknown status", err: &failure.ProtocolError{Reason: "unknown jobStatus 9"}, wantErr: "ProtocolError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{Status: func(id string) (avepoint.JobStatus, error) {
				if id != "7" {
					t.Errorf("polled job %q", id)
				}
				return tt.status, tt.err
			}}
			p := request.DefaultWaitPolicy
			if tt.deadline > 0 {
				p.Deadline = tt.deadline
			}
			c := &Checker{API: api, Policy: p, Log: quiet, Now: fixedNow(testNow)}
			got, err := c.Handle(context.Background(), base)
			if tt.wantErr != "" {
				if errorName(err) != tt.wantErr {
					t.Fatalf("err = %v (%s), want %s", err, errorName(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.want.Status || got.JobStatus != tt.want.JobStatus || got.Polls != tt.want.Polls || got.WaitSeconds != tt.want.WaitSeconds || got.Message != tt.want.Message {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("failed job's cause carries AvePoint's message", func(t *testing.T) {
		api := &fakeAPI{Status: func(string) (avepoint.JobStatus, error) {
			return avepoint.JobStatus{Code: 3, State: avepoint.JobFailed, Message: "export quota exceeded"}, nil
		}}
		c := &Checker{API: api, Policy: request.DefaultWaitPolicy, Log: quiet, Now: fixedNow(testNow)}
		_, err := c.Handle(context.Background(), base)
		if err == nil || !strings.Contains(err.Error(), "export quota exceeded") || !strings.Contains(err.Error(), "jobStatus 3") {
			t.Fatalf("err = %v", err)
		}
	})
}

// A hung AvePoint must not outlive the function: the call is cut
// CallMargin before the invocation's deadline and reported as a
// TransientError (which the state machine retries), not left to the
// runtime's kill (Sandbox.Timedout, which nothing retries).
func TestHungAvePointEndsInTimeAsTransient(t *testing.T) {
	hang := func(ctx context.Context) (time.Time, error) {
		d, _ := ctx.Deadline()
		<-ctx.Done()
		return d, ctx.Err()
	}
	tests := []struct {
		name string
		run  func(ctx context.Context, seen *time.Time) error
	}{
		{"start", func(ctx context.Context, seen *time.Time) error {
			s := &Starter{API: hangingStarter{hang: hang, seen: seen}, Policy: request.DefaultWaitPolicy, Log: quiet, Now: fixedNow(testNow)}
			_, err := s.Handle(ctx, json.RawMessage(`{"email":"a@b.co","finishTime":"2026-11-25T11:00:00"}`))
			return err
		}},
		{"check", func(ctx context.Context, seen *time.Time) error {
			c := &Checker{API: hangingStatus{hang: hang, seen: seen}, Policy: request.DefaultWaitPolicy, Log: quiet, Now: fixedNow(testNow)}
			_, err := c.Handle(ctx, request.Job{JobID: "7", StartedAt: testNow, Status: "running"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deadline := time.Now().Add(CallMargin + 300*time.Millisecond)
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			var seen time.Time
			err := tt.run(ctx, &seen)
			if got := errorName(err); got != "TransientError" {
				t.Fatalf("err = %v (%s), want TransientError", err, got)
			}
			if !strings.Contains(err.Error(), "before the function's deadline") {
				t.Errorf("message %q does not say why", err.Error())
			}
			if want := deadline.Add(-CallMargin); !seen.Equal(want) {
				t.Errorf("call deadline %v, want the invocation's less CallMargin (%v)", seen, want)
			}
			if ctx.Err() != nil {
				t.Errorf("the invocation's own deadline passed before the handler returned")
			}
		})
	}
}

type hangingStarter struct {
	hang func(context.Context) (time.Time, error)
	seen *time.Time
}

func (h hangingStarter) StartExport(ctx context.Context, _ avepoint.ExportRequest) (string, error) {
	d, err := h.hang(ctx)
	*h.seen = d
	return "", &failure.TransientError{Reason: "network: " + err.Error()}
}

type hangingStatus struct {
	hang func(context.Context) (time.Time, error)
	seen *time.Time
}

func (h hangingStatus) JobStatus(ctx context.Context, _ string) (avepoint.JobStatus, error) {
	d, err := h.hang(ctx)
	*h.seen = d
	return avepoint.JobStatus{}, &failure.TransientError{Reason: "network: " + err.Error()}
}
