package avesim

import (
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The simulator enforces AvePoint's documented limit of concurrent export
// jobs: a sixth is refused with 429 and starts nothing, a job that ends
// (by polls or by time) makes room, and the limit can be changed or lifted.
func TestConcurrentJobLimit(t *testing.T) {
	export := func(t *testing.T, e *env, tok string) result {
		t.Helper()
		return e.get(t, "/insights/users/"+guestSegment+"/activities/export", tok)
	}
	tests := []struct {
		name       string
		opts       Options
		limit      int // jobs that start before the refusal (0: none refused)
		retryAfter string
	}{
		{name: "default is 5", opts: Options{PollsToFinish: 1}, limit: DefaultMaxConcurrentJobs},
		{name: "configured 2 with Retry-After", opts: Options{PollsToFinish: 1, MaxConcurrentJobs: 2, ConcurrencyRetryAfter: 1500 * time.Millisecond}, limit: 2, retryAfter: "2"},
		{name: "negative lifts it", opts: Options{PollsToFinish: 1, MaxConcurrentJobs: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			tok := e.token(t)
			n := tc.limit
			if n == 0 {
				n = 12
			}
			var ids []string
			for range n {
				ids = append(ids, e.startJob(t, tok, guestSegment, ""))
			}
			if tc.limit == 0 {
				if e.srv.RefusedJobs() != 0 || e.srv.PeakConcurrentJobs() != n {
					t.Fatalf("refused %d, peak %d; want no limit", e.srv.RefusedJobs(), e.srv.PeakConcurrentJobs())
				}
				return
			}
			r := export(t, e, tok)
			m := r.json(t)
			msg, _ := m["message"].(string)
			if r.status != http.StatusTooManyRequests || m["status"] != float64(429) || !strings.Contains(msg, "too many export jobs") {
				t.Fatalf("job %d: %d %s, want 429 with an AvePoint-style body", n+1, r.status, r.body)
			}
			if got := r.header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if c := lastCall(t, e.srv); c.JobID != "" || c.Status != 429 || c.RetryAfter != tc.retryAfter {
				t.Errorf("refused call recorded as %+v", c)
			}
			if len(e.srv.Jobs()) != n || e.srv.RefusedJobs() != 1 || e.srv.RunningJobs() != n || e.srv.PeakConcurrentJobs() != n {
				t.Fatalf("%d jobs, %d refused, %d running, peak %d", len(e.srv.Jobs()), e.srv.RefusedJobs(), e.srv.RunningJobs(), e.srv.PeakConcurrentJobs())
			}
			// A job polled to its end makes room for exactly one more.
			e.poll(t, tok, ids[0])
			if code, _ := e.poll(t, tok, ids[0]); code != JobSucceeded {
				t.Fatalf("job did not end: %d", code)
			}
			e.startJob(t, tok, guestSegment, "")
			if r := export(t, e, tok); r.status != http.StatusTooManyRequests {
				t.Fatalf("past the limit again: %d", r.status)
			}
			if e.srv.RefusedJobs() != 2 || e.srv.PeakConcurrentJobs() != n {
				t.Fatalf("refused %d, peak %d", e.srv.RefusedJobs(), e.srv.PeakConcurrentJobs())
			}
		})
	}

	t.Run("jobs ended by time stop counting unpolled", func(t *testing.T) {
		clock := newFakeClock()
		e := newEnv(t, Options{Now: clock.Now, JobDuration: time.Minute, MaxConcurrentJobs: 1})
		tok := e.token(t)
		e.startJob(t, tok, guestSegment, "")
		if r := export(t, e, tok); r.status != http.StatusTooManyRequests {
			t.Fatalf("second job: %d", r.status)
		}
		clock.Advance(time.Minute)
		e.startJob(t, tok, guestSegment, "") // the first ended without a poll
		if j := e.srv.Jobs()[0]; j.Active || j.State != "finished" {
			t.Fatalf("first job %+v", j)
		}
	})

	t.Run("a refused call starts nothing even when invalid calls come first", func(t *testing.T) {
		e := newEnv(t, Options{PollsToFinish: 1, MaxConcurrentJobs: 1})
		tok := e.token(t)
		e.startJob(t, tok, guestSegment, "")
		// A bad request is a 400 whatever the limit says.
		if r := e.get(t, "/insights/users/"+guestSegment+"/activities/export?startTime=nope", tok); r.status != http.StatusBadRequest {
			t.Fatalf("bad request: %d", r.status)
		}
		if e.srv.RefusedJobs() != 0 || len(e.srv.Jobs()) != 1 {
			t.Fatalf("refused %d, jobs %d", e.srv.RefusedJobs(), len(e.srv.Jobs()))
		}
	})
}

// A lost answer: the job starts, the connection is reset before the
// client reads a byte, and the next call answers as usual.
func TestLoseExportAnswers(t *testing.T) {
	email := "lost.answer@contoso.com"
	e := newEnv(t, Options{PollsToFinish: 1, Plans: map[string]JobPlan{email: {Outcome: Never, LoseExportAnswers: 1, ErrorCalls: 1, ErrorStatus: 503}}})
	tok := e.token(t)
	req, err := http.NewRequest(http.MethodGet, e.base+"/insights/users/"+doubleEncode(email)+"/activities/export", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	// A fresh connection: net/http resends a GET whose reused connection
	// closed before any answer, which would hide the loss from the test.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := fresh.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got HTTP %d, want the connection dropped", resp.StatusCode)
	}
	if !errors.Is(err, syscall.ECONNRESET) && !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("lost answer surfaced as %v, want a reset or EOF", err)
	}
	jobs := e.srv.Jobs()
	if len(jobs) != 1 || !jobs[0].Active || jobs[0].Email != email {
		t.Fatalf("jobs %+v, want one running job nobody learnt of", jobs)
	}
	if c := lastCall(t, e.srv); c.JobID != jobs[0].ID || !strings.Contains(c.Message, "answer lost") {
		t.Errorf("call %+v", c)
	}
	// Then the plan's errors: a 503 that starts nothing.
	if r := e.get(t, "/insights/users/"+doubleEncode(email)+"/activities/export", tok); r.status != http.StatusServiceUnavailable || len(e.srv.Jobs()) != 1 {
		t.Fatalf("after the lost answer: %d, %d jobs; want the injected 503 and no new job", r.status, len(e.srv.Jobs()))
	}
	second := e.startJob(t, tok, doubleEncode(email), "")
	if second == jobs[0].ID || e.srv.RunningJobs() != 2 {
		t.Fatalf("second job %s, running %d", second, e.srv.RunningJobs())
	}
	if _, err := New(Options{ClientID: "c", ClientSecret: "s", Plans: map[string]JobPlan{email: {LoseExportAnswers: -1}}}); err == nil {
		t.Error("a negative LoseExportAnswers was accepted")
	}
	if _, err := New(Options{ClientID: "c", ClientSecret: "s", ConcurrencyRetryAfter: -time.Second}); err == nil {
		t.Error("a negative ConcurrencyRetryAfter was accepted")
	}
}
