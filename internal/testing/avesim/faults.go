package avesim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault injection: what a SaaS API really does to its clients. Per email
// through JobPlan (ErrorCalls/ErrorStatuses/RetryAfter[Date], RevokeCalls,
// Delay, ReportFault, FileRedirectBase, ExportJobID, plus the job
// outcomes), and for the token endpoint, which sees no email, through
// Options.TokenFault or SetTokenFault.

// ReportFault damages the report a download serves.
type ReportFault int

const (
	// ReportIntact serves the report as built.
	ReportIntact ReportFault = iota
	// ReportCutReset announces the full Content-Length, sends half of the
	// report, then resets the connection (TCP RST).
	ReportCutReset
	// ReportShort announces the full Content-Length, sends half of the
	// report and closes the connection normally: a body shorter than its
	// Content-Length.
	ReportShort
	// ReportCorruptZIP serves a complete body of the announced length that
	// starts like a ZIP but has one byte in the middle flipped: the
	// archive's CRC-32 (or its deflate stream) no longer checks out.
	ReportCorruptZIP
	// ReportNotZIP serves an HTML error page under HTTP 200 in place of
	// the report.
	ReportNotZIP
)

var reportFaultNames = []string{"intact", "cut-reset", "short", "corrupt-zip", "not-zip"}

func (f ReportFault) String() string {
	if int(f) >= 0 && int(f) < len(reportFaultNames) {
		return reportFaultNames[f]
	}
	return "report-fault(" + strconv.Itoa(int(f)) + ")"
}

// NotZIPPage is the body ReportNotZIP serves.
const NotZIPPage = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>\n"

// TokenFault makes the token endpoint fail: the next Calls token requests
// answer HTTP Status (a 5xx: the identity service is down), or, with
// Status 0, are cut off without an answer (the connection is reset), or,
// with a 3xx Status, are redirected to Location (a client that follows
// would send its credentials to whoever Location names).
type TokenFault struct {
	Calls    int
	Status   int
	Location string // the redirect target; only with a 3xx Status
}

// faultState is the Server's fault bookkeeping, guarded by Server.mu.
type faultState struct {
	revokesUsed map[string]int // email -> revocations done
	reportsUsed map[string]int // email -> damaged downloads served
	delaysUsed  map[string]int // email -> answers held back
	lostUsed    map[string]int // email -> export answers dropped
	token       TokenFault     // remaining token faults
	issued      []string       // every access token issued, revoked ones too
}

func newFaultState(opts Options) faultState {
	return faultState{revokesUsed: map[string]int{}, reportsUsed: map[string]int{}, delaysUsed: map[string]int{}, lostUsed: map[string]int{}, token: opts.TokenFault}
}

func validateTokenFault(f TokenFault) error {
	redirect := f.Status >= 300 && f.Status <= 399
	if f.Calls < 0 || f.Status != 0 && !redirect && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("avesim: TokenFault %+v: Calls must not be negative and Status must be 0, 3xx, 4xx or 5xx", f)
	}
	if redirect != (f.Location != "") {
		return fmt.Errorf("avesim: TokenFault %+v: a 3xx Status needs a Location, and only a 3xx Status takes one", f)
	}
	if redirect {
		if u, err := url.Parse(f.Location); err != nil || !u.IsAbs() || u.Host == "" {
			return fmt.Errorf("avesim: TokenFault Location %q is not an absolute URL", f.Location)
		}
	}
	return nil
}

func validatePlanFaults(email string, p JobPlan) error {
	for _, st := range p.ErrorStatuses {
		if st < 400 || st > 599 {
			return fmt.Errorf("avesim: plan %q: ErrorStatuses must be 4xx or 5xx, got %d", email, st)
		}
	}
	for _, ep := range p.FaultEndpoints {
		if ep != EndpointExport && ep != EndpointStatus && ep != EndpointFile {
			return fmt.Errorf("avesim: plan %q: FaultEndpoints: unknown endpoint %q", email, ep)
		}
	}
	switch {
	case p.ErrorCalls < 0 || p.RevokeCalls < 0 || p.ReportFaultCalls < 0 || p.DelayCalls < 0 || p.LoseExportAnswers < 0:
		return fmt.Errorf("avesim: plan %q: call counts must not be negative", email)
	case p.Delay < 0:
		return fmt.Errorf("avesim: plan %q: Delay must not be negative", email)
	case p.ReportFault < ReportIntact || p.ReportFault > ReportNotZIP:
		return fmt.Errorf("avesim: plan %q: unknown ReportFault %d", email, p.ReportFault)
	}
	if p.FileRedirectBase != "" {
		if u, err := url.Parse(p.FileRedirectBase); err != nil || !u.IsAbs() || u.Host == "" || u.RawQuery != "" {
			return fmt.Errorf("avesim: plan %q: FileRedirectBase %q is not an absolute URL without query", email, p.FileRedirectBase)
		}
	}
	return nil
}

// SetTokenFault replaces the token endpoint's remaining faults, for tests
// that share one Server across scenarios.
func (s *Server) SetTokenFault(f TokenFault) error {
	if err := validateTokenFault(f); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.token = f
	return nil
}

// IssuedTokens returns every access token issued so far, revoked and
// expired ones included, so tests can prove none of them was logged.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.faults.issued)
}

// tokenFault answers a planned token endpoint failure, if any are left.
func (s *Server) tokenFault(rec *Call) (response, bool) {
	s.mu.Lock()
	f := s.faults.token
	if f.Calls > 0 {
		s.faults.token.Calls--
	}
	s.mu.Unlock()
	if f.Calls <= 0 {
		return response{}, false
	}
	if f.Status == 0 {
		rec.Message = "connection dropped (injected)"
		return response{status: 0, drop: true}, true
	}
	if f.Status < 400 {
		rec.Message = "redirected to " + f.Location + " (injected)"
		h := http.Header{}
		h.Set("Location", f.Location)
		noStore(h)
		return response{status: f.Status, header: h}, true
	}
	resp := tokenErrorResponse(rec, &tokenErr{status: f.Status, code: "temporarily_unavailable", desc: "identity service unavailable (injected)"}, false)
	return resp, true
}

// planFor returns the plan of email and whether its faults apply to the
// call's endpoint.
func (s *Server) planFor(rec *Call, email string) (JobPlan, bool) {
	plan := s.plans[strings.ToLower(email)]
	return plan, len(plan.FaultEndpoints) == 0 || slices.Contains(plan.FaultEndpoints, rec.Endpoint)
}

// injectedError answers a planned failure of an API call concerning email,
// if any is left: first revocations (401 for a token that was valid when
// the call arrived), then error answers.
func (s *Server) injectedError(rec *Call, email string) (response, bool) {
	plan, applies := s.planFor(rec, email)
	if !applies {
		return response{}, false
	}
	key := strings.ToLower(email)
	s.mu.Lock()
	revoke := s.faults.revokesUsed[key] < plan.RevokeCalls
	if revoke {
		s.faults.revokesUsed[key]++
		clear(s.tokens)
	}
	s.mu.Unlock()
	if revoke {
		resp := apiError(rec, http.StatusUnauthorized, "access token revoked (injected)")
		resp.header.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		return resp, true
	}
	calls := plan.ErrorCalls
	if calls == 0 {
		calls = len(plan.ErrorStatuses)
	}
	s.mu.Lock()
	used := s.errorsUsed[key]
	fail := used < calls
	if fail {
		s.errorsUsed[key] = used + 1
	}
	s.mu.Unlock()
	if !fail {
		return response{}, false
	}
	status := plan.ErrorStatus
	if n := len(plan.ErrorStatuses); n > 0 {
		status = plan.ErrorStatuses[used%n]
	}
	if status == 0 {
		status = defaultErrorStatus
	}
	resp := apiError(rec, status, fmt.Sprintf("injected error %d of %d", used+1, calls))
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		ra := plan.RetryAfter
		if ra == 0 {
			ra = defaultRetryAfter
		}
		if ra > 0 {
			v := strconv.Itoa(int((ra + time.Second - 1) / time.Second))
			if plan.RetryAfterDate {
				v = s.now().Add(ra).UTC().Format(http.TimeFormat)
			}
			resp.header.Set("Retry-After", v)
			rec.RetryAfter = v
		}
	}
	return resp, true
}

// damageReport applies the plan's ReportFault to a report answer, for the
// first ReportFaultCalls downloads of the email (all when 0).
func (s *Server) damageReport(rec *Call, j *job, resp response) response {
	plan := j.plan
	if plan.ReportFault == ReportIntact {
		return resp
	}
	key := strings.ToLower(j.email)
	s.mu.Lock()
	used := s.faults.reportsUsed[key]
	apply := plan.ReportFaultCalls == 0 || used < plan.ReportFaultCalls
	if apply {
		s.faults.reportsUsed[key] = used + 1
	}
	s.mu.Unlock()
	if !apply {
		return resp
	}
	rec.Message = "report damaged (injected " + plan.ReportFault.String() + ")"
	if plan.ReportFault == ReportNotZIP {
		h := http.Header{}
		h.Set("Content-Type", "text/html; charset=utf-8")
		return response{status: http.StatusOK, header: h, body: []byte(NotZIPPage)}
	}
	if resp.stream == nil {
		body := resp.body
		resp.stream = func(w io.Writer) (int64, error) {
			n, err := w.Write(body)
			return int64(n), err
		}
		resp.length, resp.body = int64(len(body)), nil
	}
	switch plan.ReportFault {
	case ReportCutReset:
		resp.cutAfter, resp.reset = resp.length/2, true
	case ReportShort:
		resp.cutAfter = resp.length / 2
	case ReportCorruptZIP:
		resp.flipAt = resp.length / 2
	}
	return resp
}

// delayFor is how long the plan of the call's email holds its answers back.
func (s *Server) delayFor(rec *Call) time.Duration {
	if rec.Email == "" {
		return 0
	}
	plan, applies := s.planFor(rec, rec.Email)
	if !applies || plan.Delay == 0 {
		return 0
	}
	if plan.DelayCalls > 0 {
		key := strings.ToLower(rec.Email)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.faults.delaysUsed[key] >= plan.DelayCalls {
			return 0
		}
		s.faults.delaysUsed[key]++
	}
	return plan.Delay
}

// writeStream writes a streamed answer's body with its faults applied.
func writeStream(w http.ResponseWriter, resp response) {
	var dst io.Writer = w
	if resp.flipAt > 0 {
		dst = &flipWriter{w: dst, at: resp.flipAt}
	}
	if resp.cutAfter > 0 {
		dst = &cutWriter{w: dst, left: resp.cutAfter}
	}
	// A write error means the client went away (or the cut): net/http then
	// drops the connection, which the client sees as a short body.
	_, _ = resp.stream(dst)
	if resp.reset {
		resetConnection(w)
	}
}

var errCut = errors.New("avesim: body cut (injected)")

// cutWriter passes the first left bytes and fails after them.
type cutWriter struct {
	w    io.Writer
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errCut
	}
	q := p[:min(int64(len(p)), c.left)]
	n, err := c.w.Write(q)
	c.left -= int64(n)
	if err == nil && n < len(p) {
		err = errCut
	}
	return n, err
}

// flipWriter inverts the byte at offset at.
type flipWriter struct {
	w   io.Writer
	at  int64
	off int64
}

func (f *flipWriter) Write(p []byte) (int, error) {
	if i := f.at - f.off; i >= 0 && i < int64(len(p)) {
		p = bytes.Clone(p)
		p[i] ^= 0xff
	}
	n, err := f.w.Write(p)
	f.off += int64(n)
	return n, err
}

// resetConnection sends what was written, then closes the connection with
// a TCP RST (SO_LINGER 0) instead of a FIN: "connection reset by peer".
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, rw, err := hj.Hijack() // flushes the headers and the body written so far
	if err != nil {
		return
	}
	_ = rw.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// wait holds an answer back for d, or until the client gives up.
func wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
