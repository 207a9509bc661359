package avesim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDoubleEncodeHelperMatchesAvePointSample(t *testing.T) {
	if got := doubleEncode(guestEmail); got != guestSegment {
		t.Fatalf("doubleEncode(%q) = %q, want %q", guestEmail, got, guestSegment)
	}
}

func TestExportEmailEncoding(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(t)
	tests := []struct {
		name       string
		segment    string
		wantStatus int
		wantEmail  string
	}{
		{name: "guest double-encoded", segment: guestSegment, wantStatus: 200, wantEmail: guestEmail},
		{name: "plain double-encoded", segment: "alice%2540contoso.com", wantStatus: 200, wantEmail: "alice@contoso.com"},
		{name: "guest encoded once", segment: "a_b.com%23EXT%23%40t.onmicrosoft.com", wantStatus: 400},
		{name: "plain encoded once", segment: "alice%40contoso.com", wantStatus: 400},
		{name: "not encoded", segment: "alice@contoso.com", wantStatus: 400},
		// url.PathEscape leaves '@' alone, so PathEscape twice is a bug the server must catch.
		{name: "PathEscape twice keeps literal @", segment: "a_b.com%2523EXT%2523@t.onmicrosoft.com", wantStatus: 400},
		{name: "no at sign", segment: "alice", wantStatus: 400},
		{name: "triple encoded", segment: "alice%252540contoso.com", wantStatus: 400},
		{name: "empty local part", segment: "%2540contoso.com", wantStatus: 400},
		{name: "unknown user", segment: doubleEncode("unknown.person@contoso.com"), wantStatus: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.get(t, "/insights/users/"+tc.segment+"/activities/export", tok)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.wantStatus, r.body)
			}
			m := r.json(t)
			if m["status"] != float64(tc.wantStatus) {
				t.Errorf("body status %v, want %d", m["status"], tc.wantStatus)
			}
			c := lastCall(t, e.srv)
			if c.Endpoint != EndpointExport || c.Status != tc.wantStatus || c.Auth != AuthBearerOK {
				t.Errorf("call %+v", c)
			}
			if !strings.Contains(c.Path, tc.segment) {
				t.Errorf("recorded path %q lost the raw segment %q", c.Path, tc.segment)
			}
			switch tc.wantStatus {
			case 200:
				if m["jobId"] == "" || m["message"] != "" {
					t.Errorf("body %s", r.body)
				}
				if c.Email != tc.wantEmail || c.JobID != m["jobId"] {
					t.Errorf("call email %q job %q, want %q %v", c.Email, c.JobID, tc.wantEmail, m["jobId"])
				}
				jobs := e.srv.Jobs()
				if last := jobs[len(jobs)-1]; last.Email != tc.wantEmail || last.ID != m["jobId"] {
					t.Errorf("job %+v", last)
				}
			case 404:
				if m["message"] != "user not found" {
					t.Errorf("message %v", m["message"])
				}
			default:
				if msg, _ := m["message"].(string); msg == "" {
					t.Errorf("400 without message: %s", r.body)
				}
			}
		})
	}
}

func TestExportQueryValidation(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(t)
	tests := []struct {
		name       string
		query      string
		wantStatus int
		wantStart  string
		wantTypes  []string
	}{
		{name: "no filters", query: "", wantStatus: 200},
		{name: "sample query", query: "startTime=2023-01-01T01%3A37%3A57&finishTime=2023-04-01T01%3A37%3A57&eventTypes=ListViewed&eventTypes=ListItemViewed",
			wantStatus: 200, wantStart: "2023-01-01T01:37:57", wantTypes: []string{"ListViewed", "ListItemViewed"}},
		{name: "only start", query: "startTime=2023-01-01T00:00:00", wantStatus: 200, wantStart: "2023-01-01T00:00:00"},
		{name: "fraction", query: "startTime=2023-01-01T01:37:57.123", wantStatus: 400},
		{name: "zone Z", query: "startTime=2023-01-01T01:37:57Z", wantStatus: 400},
		{name: "offset", query: "finishTime=2023-01-01T01:37:57%2B02:00", wantStatus: 400},
		{name: "date only", query: "startTime=2023-01-01", wantStatus: 400},
		{name: "space separator", query: "startTime=2023-01-01+01:37:57", wantStatus: 400},
		{name: "impossible date", query: "startTime=2023-02-30T00:00:00", wantStatus: 400},
		{name: "empty value", query: "startTime=", wantStatus: 400},
		{name: "start equals finish", query: "startTime=2023-01-01T00:00:00&finishTime=2023-01-01T00:00:00", wantStatus: 400},
		{name: "start after finish", query: "startTime=2023-02-01T00:00:00&finishTime=2023-01-01T00:00:00", wantStatus: 400},
		{name: "repeated startTime", query: "startTime=2023-01-01T00:00:00&startTime=2023-01-02T00:00:00", wantStatus: 400},
		{name: "comma-joined event types", query: "eventTypes=FileAccessed,FileModified", wantStatus: 400},
		{name: "empty event type", query: "eventTypes=", wantStatus: 400},
		{name: "misspelt parameter", query: "eventType=FileAccessed", wantStatus: 400},
		{name: "bad escape", query: "startTime=%zz", wantStatus: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := "/insights/users/" + guestSegment + "/activities/export"
			if tc.query != "" {
				p += "?" + tc.query
			}
			r := e.get(t, p, tok)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.wantStatus, r.body)
			}
			if m := r.json(t); m["status"] != float64(tc.wantStatus) {
				t.Fatalf("body %s", r.body)
			}
			if tc.wantStatus != 200 {
				return
			}
			jobs := e.srv.Jobs()
			j := jobs[len(jobs)-1]
			if j.StartTime != tc.wantStart || !slices.Equal(j.EventTypes, tc.wantTypes) {
				t.Errorf("job recorded start %q types %v, want %q %v", j.StartTime, j.EventTypes, tc.wantStart, tc.wantTypes)
			}
			if !j.WindowStart.Before(j.WindowFinish) {
				t.Errorf("window %v..%v", j.WindowStart, j.WindowFinish)
			}
		})
	}
}

func TestJobIDsAreSequentialStrings(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(t)
	for i := range 3 {
		if id := e.startJob(t, tok, guestSegment, ""); id != strconv.Itoa(FirstJobID+i) {
			t.Fatalf("job %d id %q", i, id)
		}
	}
}

func intp(n int) *int { return &n }

func TestStatusProgression(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		plan    *JobPlan
		want    []int
		wantMsg string // message on the last poll
		state   string
	}{
		{name: "default two polls", opts: Options{PollsToFinish: 2}, want: []int{1, 1, 2, 2}, state: "finished"},
		{name: "negative means first poll", opts: Options{PollsToFinish: -1}, want: []int{2}, state: "finished"},
		{name: "fail plan", plan: &JobPlan{Outcome: Fail, Message: "quota exceeded"}, want: []int{1, 1, 3, 3}, wantMsg: "quota exceeded", state: "failed"},
		{name: "fail at first poll", plan: &JobPlan{Outcome: Fail, PollsToFinish: intp(0)}, want: []int{3}, wantMsg: "export job failed", state: "failed"},
		{name: "stopped", plan: &JobPlan{Outcome: Fail, FinalStatus: JobStopped, PollsToFinish: intp(1)}, want: []int{1, 6}, wantMsg: "export job failed", state: "failed"},
		{name: "success with exception", plan: &JobPlan{FinalStatus: JobSucceededException, Message: "2 sites skipped", PollsToFinish: intp(1)}, want: []int{1, 4}, wantMsg: "2 sites skipped", state: "finished"},
		{name: "unknown code", plan: &JobPlan{FinalStatus: 99, PollsToFinish: intp(0)}, want: []int{99}, wantMsg: "job ended with status 99", state: "failed"},
		{name: "never", plan: &JobPlan{Outcome: Never}, want: slices.Repeat([]int{1}, 8), state: "running"},
		{name: "plan polls beat JobDuration", opts: Options{JobDuration: time.Hour}, plan: &JobPlan{PollsToFinish: intp(1)}, want: []int{1, 2}, state: "finished"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			if tc.plan != nil {
				opts.Plans = map[string]JobPlan{strings.ToUpper(guestEmail): *tc.plan} // keys match case-insensitively
			}
			e := newEnv(t, opts)
			tok := e.token(t)
			id := e.startJob(t, tok, guestSegment, "")
			var got []int
			var msg string
			for range tc.want {
				var code int
				code, msg = e.poll(t, tok, id)
				got = append(got, code)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("jobStatus sequence %v, want %v", got, tc.want)
			}
			if msg != tc.wantMsg {
				t.Errorf("last message %q, want %q", msg, tc.wantMsg)
			}
			j := e.srv.Jobs()[0]
			if j.State != tc.state || j.Polls != len(tc.want) || j.JobStatus != tc.want[len(tc.want)-1] {
				t.Errorf("job info %+v", j)
			}
			if c := lastCall(t, e.srv); c.Endpoint != EndpointStatus || c.JobID != id || c.Email != guestEmail {
				t.Errorf("call %+v", c)
			}
		})
	}
}

func TestStatusJobDuration(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, Options{Now: clock.Now, JobDuration: 30 * time.Second, PollsToFinish: -1})
	tok := e.token(t)
	id := e.startJob(t, tok, guestSegment, "")
	for range 3 {
		if code, _ := e.poll(t, tok, id); code != 1 {
			t.Fatalf("before duration: jobStatus %d", code)
		}
	}
	if r := e.get(t, "/insights/job/"+id+"/exportfile", tok); r.status != 400 {
		t.Fatalf("file before duration: %d", r.status)
	}
	clock.Advance(30 * time.Second)
	if code, _ := e.poll(t, tok, id); code != 2 {
		t.Fatalf("after duration: jobStatus %d", code)
	}
}

func TestJobEndpointErrors(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(t)
	id := e.startJob(t, tok, guestSegment, "")
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantMsg    string
	}{
		{name: "unknown job status", path: "/insights/job/123/exportstatus", wantStatus: 404, wantMsg: "job not found"},
		{name: "unknown job file", path: "/insights/job/123/exportfile", wantStatus: 404, wantMsg: "job not found"},
		{name: "non-numeric job", path: "/insights/job/abc/exportstatus", wantStatus: 400},
		{name: "file before finish", path: "/insights/job/" + id + "/exportfile", wantStatus: 400, wantMsg: "job not finished"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.get(t, tc.path, tok)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.wantStatus, r.body)
			}
			m := r.json(t)
			if m["status"] != float64(tc.wantStatus) || (tc.wantMsg != "" && m["message"] != tc.wantMsg) {
				t.Fatalf("body %s", r.body)
			}
		})
	}
	t.Run("failed job has no file", func(t *testing.T) {
		e := newEnv(t, Options{Plans: map[string]JobPlan{guestEmail: {Outcome: Fail, PollsToFinish: intp(0)}}})
		tok := e.token(t)
		id := e.startJob(t, tok, guestSegment, "")
		if code, _ := e.poll(t, tok, id); code != 3 {
			t.Fatalf("jobStatus %d", code)
		}
		if r := e.get(t, "/insights/job/"+id+"/exportfile", tok); r.status != 400 || r.json(t)["status"] != float64(400) {
			t.Fatalf("file of failed job: %d %s", r.status, r.body)
		}
	})
}

func TestPeakConcurrentJobs(t *testing.T) {
	e := newEnv(t, Options{PollsToFinish: 1})
	tok := e.token(t)
	start := func() string { return e.startJob(t, tok, guestSegment, "") }
	active := func() int {
		n := 0
		for _, j := range e.srv.Jobs() {
			if j.Active {
				n++
			}
		}
		return n
	}
	a, b, c := start(), start(), start()
	if got := e.srv.PeakConcurrentJobs(); got != 3 {
		t.Fatalf("peak after 3 starts %d", got)
	}
	e.poll(t, tok, a) // answers 1: a is still running
	e.poll(t, tok, b)
	e.poll(t, tok, b) // answers 2: b ends here
	if got := active(); got != 2 {
		t.Fatalf("active %d, want 2", got)
	}
	start() // a, c and the new one run
	if got := e.srv.PeakConcurrentJobs(); got != 3 {
		t.Fatalf("peak %d, want 3 (b ended before the fourth started)", got)
	}
	start()
	if got := e.srv.PeakConcurrentJobs(); got != 4 {
		t.Fatalf("peak %d, want 4", got)
	}
	for _, id := range []string{a, c} {
		e.poll(t, tok, id)
		e.poll(t, tok, id)
	}
	if got := active(); got != 2 {
		t.Fatalf("active %d, want 2", got)
	}
	if got := e.srv.PeakConcurrentJobs(); got != 4 {
		t.Fatalf("peak must not decrease: %d", got)
	}
}

func TestFetchEndsJobFinishedByTime(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, Options{Now: clock.Now, JobDuration: time.Minute, ReportRows: 3})
	tok := e.token(t)
	id := e.startJob(t, tok, guestSegment, "")
	clock.Advance(time.Minute)
	// Never polled: the job ended by time, and fetching it stops it counting.
	if r := e.get(t, "/insights/job/"+id+"/exportfile", tok); r.status != http.StatusOK {
		t.Fatalf("file: %d %s", r.status, r.body)
	}
	j := e.srv.Jobs()[0]
	if j.Active || j.State != "finished" || j.Downloads != 1 || j.Polls != 0 {
		t.Fatalf("job %+v", j)
	}
	e.startJob(t, tok, guestSegment, "")
	if got := e.srv.PeakConcurrentJobs(); got != 1 {
		t.Fatalf("peak %d, want 1", got)
	}
}
