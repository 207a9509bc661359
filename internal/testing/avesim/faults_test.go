package avesim

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func statuses(s *Server, endpoint string) []int {
	var out []int
	for _, c := range s.Calls() {
		if c.Endpoint == endpoint {
			out = append(out, c.Status)
		}
	}
	return out
}

func TestErrorBurstCyclesStatusesOnChosenEndpoints(t *testing.T) {
	e := newEnv(t, Options{PollsToFinish: -1, Plans: map[string]JobPlan{guestEmail: {
		ErrorStatuses: []int{500, 502, 503}, FaultEndpoints: []string{EndpointStatus},
	}}})
	tok := e.token(t)
	id := e.startJob(t, tok, guestSegment, "") // export is not in FaultEndpoints
	for range 3 {
		e.get(t, "/insights/job/"+id+"/exportstatus", tok)
	}
	if code, _ := e.poll(t, tok, id); code != JobSucceeded {
		t.Fatalf("after the burst: jobStatus %d", code)
	}
	if got := statuses(e.srv, EndpointStatus); !slices.Equal(got, []int{500, 502, 503, 200}) {
		t.Fatalf("status answers %v", got)
	}
	calls := e.srv.Calls()
	if c := calls[len(calls)-2]; c.RetryAfter != "1" || c.Message != "injected error 3 of 3" {
		t.Fatalf("503 call %+v: want Retry-After 1", c)
	}
	if c := calls[len(calls)-3]; c.RetryAfter != "" {
		t.Fatalf("502 call carries Retry-After %q", c.RetryAfter)
	}
}

func TestRetryAfterAsSecondsOrHTTPDate(t *testing.T) {
	clock := newFakeClock()
	for _, tt := range []struct {
		name string
		plan JobPlan
		want string
	}{
		{"seconds rounded up", JobPlan{ErrorCalls: 1, RetryAfter: 1500 * time.Millisecond}, "2"},
		{"HTTP date", JobPlan{ErrorCalls: 1, RetryAfter: 3 * time.Second, RetryAfterDate: true}, clock.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)},
		{"omitted", JobPlan{ErrorCalls: 1, RetryAfter: -1}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{Now: clock.Now, Plans: map[string]JobPlan{guestEmail: tt.plan}})
			r := e.get(t, "/insights/users/"+guestSegment+"/activities/export", e.token(t))
			if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != tt.want {
				t.Fatalf("status %d, Retry-After %q; want 429 %q", r.status, r.header.Get("Retry-After"), tt.want)
			}
			if c := lastCall(t, e.srv); c.RetryAfter != tt.want {
				t.Fatalf("recorded Retry-After %q", c.RetryAfter)
			}
			if tt.plan.RetryAfterDate {
				if _, err := http.ParseTime(tt.want); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestRevokeCallsRefuseATokenThatWasValid(t *testing.T) {
	e := newEnv(t, Options{Plans: map[string]JobPlan{guestEmail: {RevokeCalls: 1}}})
	tok := e.token(t)
	p := "/insights/users/" + guestSegment + "/activities/export"
	if r := e.get(t, p, tok); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("first call: %d %s", r.status, r.body)
	}
	if c := lastCall(t, e.srv); c.Auth != AuthBearerOK || c.Status != http.StatusUnauthorized {
		t.Fatalf("the token was valid when the call arrived: %+v", c)
	}
	if r := e.get(t, p, tok); r.status != http.StatusUnauthorized || lastCall(t, e.srv).Auth != AuthBearerBad {
		t.Fatalf("the revoked token still works: %d", r.status)
	}
	fresh := e.token(t)
	if r := e.get(t, p, fresh); r.status != http.StatusOK {
		t.Fatalf("a new token is refused: %d %s", r.status, r.body)
	}
	if got := e.srv.IssuedTokens(); !slices.Equal(got, []string{tok, fresh}) {
		t.Fatalf("IssuedTokens %d, want both, revoked included", len(got))
	}
}

func TestDelayHoldsAnswersBack(t *testing.T) {
	const delay = 150 * time.Millisecond
	e := newEnv(t, Options{Plans: map[string]JobPlan{guestEmail: {Delay: delay, FaultEndpoints: []string{EndpointExport}}}})
	tok := e.token(t)
	start := time.Now()
	id := e.startJob(t, tok, guestSegment, "")
	if took := time.Since(start); took < delay {
		t.Fatalf("export answered after %s, want ≥ %s", took, delay)
	}
	start = time.Now()
	e.poll(t, tok, id)
	if took := time.Since(start); took >= delay {
		t.Fatalf("status (not in FaultEndpoints) took %s", took)
	}
}

func postToken(t *testing.T, tokenURL string) (*http.Response, error) {
	t.Helper()
	return http.PostForm(tokenURL, secretForm(testClientID, testSecret))
}

func TestTokenEndpointDown(t *testing.T) {
	e := newEnv(t, Options{TokenFault: TokenFault{Calls: 2, Status: http.StatusServiceUnavailable}})
	for i := range 2 {
		resp, err := postToken(t, e.tokenURL())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("token call %d: %d", i, resp.StatusCode)
		}
	}
	e.token(t) // works again
	if err := e.srv.SetTokenFault(TokenFault{Calls: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := postToken(t, e.tokenURL())
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatalf("dropped token call: %v, want a transport error", err)
	}
	if c := lastCall(t, e.srv); c.Endpoint != EndpointToken || c.Status != 0 {
		t.Fatalf("dropped call recorded as %+v", c)
	}
	e.token(t)
	if n := e.srv.TokensIssued(); n != 2 {
		t.Fatalf("tokens issued %d", n)
	}
	if err := e.srv.SetTokenFault(TokenFault{Calls: 1, Status: 200}); err == nil {
		t.Fatal("a 200 token fault was accepted")
	}
}

// download fetches a finished job's report, returning what arrived and
// how the body ended.
func download(t *testing.T, e *env, tok, id string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+"/insights/job/"+id+"/exportfile", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestReportFaults(t *testing.T) {
	for _, size := range []int64{0, 3 << 20} { // generated in memory, and streamed
		for _, tt := range []struct {
			fault ReportFault
			check func(t *testing.T, resp *http.Response, got, want []byte, err error)
		}{
			{ReportCutReset, func(t *testing.T, resp *http.Response, got, want []byte, err error) {
				if !errors.Is(err, syscall.ECONNRESET) || resp.ContentLength != int64(len(want)) || len(got) > len(want)/2 {
					t.Fatalf("err %v, %d of %d bytes (announced %d)", err, len(got), len(want), resp.ContentLength)
				}
			}},
			{ReportShort, func(t *testing.T, resp *http.Response, got, want []byte, err error) {
				if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(got, want[:len(want)/2]) || resp.ContentLength != int64(len(want)) {
					t.Fatalf("err %v, %d of %d bytes", err, len(got), len(want))
				}
			}},
			{ReportCorruptZIP, func(t *testing.T, resp *http.Response, got, want []byte, err error) {
				if err != nil || len(got) != len(want) || !bytes.HasPrefix(got, []byte("PK\x03\x04")) {
					t.Fatalf("err %v, %d bytes", err, len(got))
				}
				var diff []int
				for i := range got {
					if got[i] != want[i] {
						diff = append(diff, i)
					}
				}
				if !slices.Equal(diff, []int{len(want) / 2}) {
					t.Fatalf("bytes differ at %v, want only at %d", diff, len(want)/2)
				}
			}},
			{ReportNotZIP, func(t *testing.T, resp *http.Response, got, _ []byte, err error) {
				if err != nil || resp.StatusCode != 200 || string(got) != NotZIPPage || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
					t.Fatalf("err %v, %d %q", err, resp.StatusCode, got)
				}
			}},
		} {
			t.Run(tt.fault.String()+"/"+map[bool]string{true: "streamed", false: "small"}[size > 0], func(t *testing.T) {
				e := newEnv(t, Options{PollsToFinish: -1, ReportSize: size, Plans: map[string]JobPlan{guestEmail: {ReportFault: tt.fault, ReportFaultCalls: 1}}})
				tok := e.token(t)
				id := e.startJob(t, tok, guestSegment, "")
				e.poll(t, tok, id)
				want, err := e.srv.ReportZIP(id)
				if err != nil {
					t.Fatal(err)
				}
				resp, got, err := download(t, e, tok, id)
				tt.check(t, resp, got, want, err)
				if c := lastCall(t, e.srv); !strings.Contains(c.Message, tt.fault.String()) {
					t.Fatalf("call %+v does not name the fault", c)
				}
				// ReportFaultCalls 1: the second download is intact.
				if _, again, err := download(t, e, tok, id); err != nil || !bytes.Equal(again, want) {
					t.Fatalf("second download: %v, %d bytes", err, len(again))
				}
			})
		}
	}
}

func TestNewRefusesBadFaultPlans(t *testing.T) {
	for name, p := range map[string]JobPlan{
		"2xx error status":   {ErrorStatuses: []int{200}},
		"unknown endpoint":   {FaultEndpoints: []string{"token"}},
		"negative delay":     {Delay: -time.Second},
		"negative revokes":   {RevokeCalls: -1},
		"unknown report bug": {ReportFault: 99},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(Options{ClientID: "c", ClientSecret: "s", Plans: map[string]JobPlan{"a@b.co": p}}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := New(Options{ClientID: "c", ClientSecret: "s", TokenFault: TokenFault{Calls: -1}}); err == nil {
		t.Fatal("negative token fault accepted")
	}
}

// noFollow is a client that hands back redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestTokenEndpointRedirect(t *testing.T) {
	const target = "http://identity.example.com/connect/token"
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		e := newEnv(t, Options{TokenFault: TokenFault{Calls: 1, Status: status, Location: target}})
		resp, err := noFollow.PostForm(e.tokenURL(), secretForm(testClientID, testSecret))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status || resp.Header.Get("Location") != target {
			t.Fatalf("answer %d Location %q, want %d to %s", resp.StatusCode, resp.Header.Get("Location"), status, target)
		}
		if c := lastCall(t, e.srv); c.Endpoint != EndpointToken || c.Status != status || !strings.Contains(c.Message, target) {
			t.Fatalf("recorded %+v", c)
		}
		if e.srv.TokensIssued() != 0 {
			t.Fatal("a redirected token call issued a token")
		}
		e.token(t) // the fault is used up
	}
	for name, f := range map[string]TokenFault{
		"3xx without Location":    {Calls: 1, Status: 307},
		"Location without 3xx":    {Calls: 1, Status: 503, Location: target},
		"relative Location":       {Calls: 1, Status: 307, Location: "/elsewhere"},
		"status out of any range": {Calls: 1, Status: 200},
	} {
		if err := validateTokenFault(f); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestFileRedirectBaseSendsThisEmailsDownloadElsewhere(t *testing.T) {
	const base = "http://reports.example.com"
	e := newEnv(t, Options{PollsToFinish: -1, Plans: map[string]JobPlan{guestEmail: {FileRedirectBase: base + "/"}}})
	tok := e.token(t)
	id := e.startJob(t, tok, guestSegment, "")
	e.poll(t, tok, id)
	req, _ := http.NewRequest(http.MethodGet, e.base+"/insights/job/"+id+"/exportfile", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, base+"/blob/"+id+"?sig=") {
		t.Fatalf("answer %d Location %q", resp.StatusCode, loc)
	}
	// The signed path works on the simulator itself, so a test can route
	// the other host's name to it.
	u, _ := url.Parse(loc)
	if r := e.get(t, u.RequestURI(), ""); r.status != http.StatusOK || !bytes.HasPrefix(r.body, []byte("PK")) {
		t.Fatalf("blob: %d", r.status)
	}
	if _, err := New(Options{ClientID: "c", ClientSecret: "s", Plans: map[string]JobPlan{"a@b.co": {FileRedirectBase: "reports.example.com"}}}); err == nil {
		t.Fatal("a relative FileRedirectBase was accepted")
	}
}

func TestExportJobIDIsAnsweredVerbatim(t *testing.T) {
	for _, id := range []string{"..", ".", "a/b", strings.Repeat("7", 10<<10)} {
		e := newEnv(t, Options{Plans: map[string]JobPlan{guestEmail: {ExportJobID: id}}})
		r := e.get(t, "/insights/users/"+guestSegment+"/activities/export", e.token(t))
		if got, _ := r.json(t)["jobId"].(string); r.status != http.StatusOK || got != id {
			t.Fatalf("answer %d jobId %.20q, want %.20q", r.status, got, id)
		}
		if n := e.srv.PeakConcurrentJobs(); n != 0 {
			t.Fatalf("%d jobs started", n)
		}
	}
}
