package avesim

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// TimeLayout is the only accepted format of startTime and finishTime
// (yyyy-MM-ddTHH:mm:ss, no zone, no fraction; read as UTC).
const TimeLayout = "2006-01-02T15:04:05"

// Job status codes (documented 1–3, older SDK 0–6).
const (
	JobNone               = 0
	JobInProgress         = 1
	JobSucceeded          = 2
	JobFailed             = 3
	JobSucceededException = 4
	JobStopping           = 5
	JobStopped            = 6
)

// JobInfo is a snapshot of one job.
type JobInfo struct {
	ID         string
	Email      string
	StartTime  string   // as received ("" when absent)
	FinishTime string   // as received ("" when absent)
	EventTypes []string // as received
	Created    time.Time
	Polls      int    // status polls answered
	Downloads  int    // report bodies served (inline or via blob)
	State      string // "running", "finished" (ended with 2 or 4) or "failed" (any other end)
	JobStatus  int    // last jobStatus answered (0 before the first poll)
	Active     bool   // counted as in progress for PeakConcurrentJobs
	// WindowStart and WindowFinish bound the generated activity times
	// (defaults fill absent bounds: finish = creation time, start = finish - 30 days).
	WindowStart, WindowFinish time.Time
	// ReportShape is the layout of the job's workbook (never "").
	ReportShape ReportShape
}

type job struct {
	id, email             string
	startRaw, finishRaw   string
	eventTypes            []string
	windowStart, windowTo time.Time
	created               time.Time
	plan                  JobPlan
	shape                 ReportShape
	sig                   string // blob download signature

	// guarded by Server.mu
	polls      int
	downloads  int
	ended      bool
	final      int
	message    string
	lastStatus int
	active     bool

	zipOnce sync.Once
	zip     []byte
	large   *largeReport // instead of zip when the job has a ReportSize
	zipErr  error
}

var (
	timeRE      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`)
	eventTypeRE = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	jobIDRE     = regexp.MustCompile(`^[0-9]+$`)
)

type exportBody struct {
	JobID   string `json:"jobId"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

type statusBody struct {
	JobStatus int    `json:"jobStatus"`
	Status    int    `json:"status"`
	Message   string `json:"message"`
}

type exportParams struct {
	startRaw, finishRaw string
	start, finish       time.Time
	eventTypes          []string
}

// decodeEmailSegment undoes AvePoint's double percent-encoding of the email
// path segment and refuses segments encoded once (or not at all): a client
// that encodes once works against lenient servers but not against AvePoint.
func decodeEmailSegment(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("email missing")
	}
	if strings.ContainsAny(raw, "@#") {
		return "", errors.New("email must be percent-encoded twice: the path segment contains a literal @ or #")
	}
	once, err := url.PathUnescape(raw)
	if err != nil {
		return "", errors.New("email path segment has malformed percent-encoding")
	}
	if strings.ContainsAny(once, "@#") {
		return "", errors.New("email must be percent-encoded twice: the path segment was encoded only once")
	}
	if !strings.Contains(once, "%40") {
		return "", errors.New("email path segment is not a double-encoded address (no %2540)")
	}
	email, err := url.PathUnescape(once)
	if err != nil {
		return "", errors.New("email path segment has malformed percent-encoding after the first decode")
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") ||
		strings.ContainsFunc(email, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '/' }) {
		return "", fmt.Errorf("%q is not an email address", email)
	}
	return email, nil
}

func parseExportQuery(q url.Values) (exportParams, error) {
	var p exportParams
	for k := range q {
		switch k {
		case "startTime", "finishTime", "eventTypes":
		default:
			// Strict on purpose: a misspelt filter would otherwise be ignored silently.
			return p, fmt.Errorf("unknown query parameter %q", k)
		}
	}
	parseTime := func(name string) (string, time.Time, error) {
		vs := q[name]
		switch {
		case len(vs) == 0:
			return "", time.Time{}, nil
		case len(vs) > 1:
			return "", time.Time{}, fmt.Errorf("%s given %d times", name, len(vs))
		}
		if !timeRE.MatchString(vs[0]) {
			return "", time.Time{}, fmt.Errorf("%s %q: want yyyy-MM-ddTHH:mm:ss", name, vs[0])
		}
		t, err := time.Parse(TimeLayout, vs[0])
		if err != nil {
			return "", time.Time{}, fmt.Errorf("%s %q: not a valid time", name, vs[0])
		}
		return vs[0], t, nil
	}
	var err error
	if p.startRaw, p.start, err = parseTime("startTime"); err != nil {
		return p, err
	}
	if p.finishRaw, p.finish, err = parseTime("finishTime"); err != nil {
		return p, err
	}
	if p.startRaw != "" && p.finishRaw != "" && !p.start.Before(p.finish) {
		return p, errors.New("startTime must be before finishTime")
	}
	for _, et := range q["eventTypes"] {
		if !eventTypeRE.MatchString(et) {
			return p, fmt.Errorf("eventTypes %q: want letters and digits only (repeat the parameter for several types)", et)
		}
	}
	p.eventTypes = append([]string(nil), q["eventTypes"]...)
	return p, nil
}

func (s *Server) handleExport(_ *http.Request, rec *Call) response {
	segs := strings.Split(strings.TrimPrefix(rec.Path, "/"), "/")
	email, err := decodeEmailSegment(segs[2])
	if err != nil {
		return apiError(rec, http.StatusBadRequest, err.Error())
	}
	rec.Email = email
	// A lost answer comes before the plan's injected errors: a gateway
	// that started the job, lost its answer, then failed outright.
	if !s.answerToLose(email) {
		if resp, ok := s.injectedError(rec, email); ok {
			return resp
		}
	}
	params, err := parseExportQuery(rec.Query)
	if err != nil {
		return apiError(rec, http.StatusBadRequest, err.Error())
	}
	local, _, _ := strings.Cut(email, "@")
	if strings.HasPrefix(strings.ToLower(local), "unknown") {
		return apiError(rec, http.StatusNotFound, "user not found")
	}
	plan := s.plans[strings.ToLower(email)]
	if plan.Outcome == RejectExport {
		status := plan.FinalStatus
		if status == 0 {
			status = http.StatusInternalServerError
		}
		msg := plan.Message
		if msg == "" {
			msg = "export could not be started"
		}
		rec.Message = msg
		return jsonResponse(http.StatusOK, exportBody{Status: status, Message: msg})
	}
	if plan.ExportJobID != "" {
		rec.JobID = plan.ExportJobID
		rec.Message = "jobId set by the plan (injected); no job started"
		return jsonResponse(http.StatusOK, exportBody{JobID: plan.ExportJobID, Status: http.StatusOK})
	}
	j, err := s.newJob(email, params, plan)
	if errors.Is(err, errTooManyJobs) {
		return s.tooManyJobs(rec)
	}
	if err != nil {
		return apiError(rec, http.StatusInternalServerError, err.Error())
	}
	rec.JobID = j.id
	if s.loseAnswer(email, plan) {
		rec.Message = "answer lost (injected): job " + j.id + " started, connection dropped"
		return response{status: 0, drop: true}
	}
	return jsonResponse(http.StatusOK, exportBody{JobID: j.id, Status: http.StatusOK})
}

// validateOutcomeJobs refuses job numbers that can never match: plans
// that start no job, and numbers below 1.
func validateOutcomeJobs(email string, p JobPlan) error {
	if len(p.OutcomeJobs) == 0 {
		return nil
	}
	if p.Outcome == RejectExport || p.ExportJobID != "" {
		return fmt.Errorf("avesim: plan %q: OutcomeJobs needs jobs, and RejectExport or ExportJobID starts none", email)
	}
	for _, n := range p.OutcomeJobs {
		if n < 1 {
			return fmt.Errorf("avesim: plan %q: OutcomeJobs numbers jobs from 1, not %d", email, n)
		}
	}
	return nil
}

// errTooManyJobs is newJob's refusal when MaxConcurrentJobs jobs run.
var errTooManyJobs = errors.New("avesim: too many concurrent export jobs")

// tooManyJobs is the answer to an export call past MaxConcurrentJobs.
// AvePoint does not document it: HTTP 429 with its usual error envelope is
// our guess (the status a gateway in front of a rate-limited API sends),
// Retry-After only when Options.ConcurrencyRetryAfter asks for it.
func (s *Server) tooManyJobs(rec *Call) response {
	resp := apiError(rec, http.StatusTooManyRequests, fmt.Sprintf("too many export jobs are running for this tenant (at most %d at a time); try again later", s.maxJobs))
	if ra := s.opts.ConcurrencyRetryAfter; ra > 0 {
		v := strconv.Itoa(int((ra + time.Second - 1) / time.Second))
		resp.header.Set("Retry-After", v)
		rec.RetryAfter = v
	}
	return resp
}

// answerToLose reports whether email's next export answer is one to drop.
func (s *Server) answerToLose(email string) bool {
	key := strings.ToLower(email)
	plan := s.plans[key]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.lostUsed[key] < plan.LoseExportAnswers
}

// loseAnswer reports whether this export call's answer is to be dropped
// (JobPlan.LoseExportAnswers), counting it.
func (s *Server) loseAnswer(email string, plan JobPlan) bool {
	if plan.LoseExportAnswers == 0 {
		return false
	}
	key := strings.ToLower(email)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.lostUsed[key] >= plan.LoseExportAnswers {
		return false
	}
	s.faults.lostUsed[key]++
	return true
}

func (s *Server) newJob(email string, p exportParams, plan JobPlan) (*job, error) {
	var sig [16]byte
	if _, err := rand.Read(sig[:]); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	to := now.Truncate(time.Second)
	if p.finishRaw != "" {
		to = p.finish
	}
	from := to.AddDate(0, 0, -30)
	if p.startRaw != "" {
		from = p.start
		if !from.Before(to) { // only startTime given, and it is not in the past
			to = from.Add(24 * time.Hour)
		}
	}
	j := &job{
		email:       email,
		startRaw:    p.startRaw,
		finishRaw:   p.finishRaw,
		eventTypes:  p.eventTypes,
		windowStart: from,
		windowTo:    to,
		created:     now,
		plan:        plan,
		shape:       s.shapeFor(plan),
		sig:         hex.EncodeToString(sig[:]),
		active:      true,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxJobs > 0 {
		s.settleAllLocked()
		if s.active >= s.maxJobs {
			s.refused++
			return nil, errTooManyJobs
		}
	}
	j.id = strconv.Itoa(s.nextJob)
	s.nextJob++
	key := strings.ToLower(email)
	s.jobsOf[key]++
	if len(plan.OutcomeJobs) > 0 && !slices.Contains(plan.OutcomeJobs, s.jobsOf[key]) {
		j.plan.Outcome, j.plan.FinalStatus, j.plan.Message = Finish, 0, ""
	}
	s.jobs[j.id] = j
	s.jobOrder = append(s.jobOrder, j.id)
	s.active++
	s.peak = max(s.peak, s.active)
	return j, nil
}

// lookupJob resolves the {jobId} segment. The job endpoints type jobId as an
// integer, so a non-numeric id is a bad request rather than a missing job.
func (s *Server) lookupJob(rec *Call) (*job, response, bool) {
	segs := strings.Split(strings.TrimPrefix(rec.Path, "/"), "/")
	id, err := url.PathUnescape(segs[len(segs)-2])
	if err != nil || !jobIDRE.MatchString(id) {
		return nil, apiError(rec, http.StatusBadRequest, "jobId must be an integer"), false
	}
	rec.JobID = id
	s.mu.Lock()
	j := s.jobs[id]
	s.mu.Unlock()
	if j == nil {
		return nil, apiError(rec, http.StatusNotFound, "job not found"), false
	}
	rec.Email = j.email
	return j, response{}, true
}

func (s *Server) handleStatus(_ *http.Request, rec *Call) response {
	j, resp, ok := s.lookupJob(rec)
	if !ok {
		return resp
	}
	if resp, ok := s.injectedError(rec, j.email); ok {
		return resp
	}
	s.mu.Lock()
	j.polls++
	s.settleLocked(j)
	code, msg := JobInProgress, ""
	if j.ended {
		code, msg = j.final, j.message
	}
	j.lastStatus = code
	s.mu.Unlock()
	rec.Message = msg
	return jsonResponse(http.StatusOK, statusBody{JobStatus: code, Status: http.StatusOK, Message: msg})
}

// settleAllLocked ends every running job whose time has come, so that
// jobs ended by time stop counting whether or not anyone polled them.
func (s *Server) settleAllLocked() {
	for _, j := range s.jobs {
		if j.active {
			s.settleLocked(j)
		}
	}
}

// settleLocked ends j if its time has come.
func (s *Server) settleLocked(j *job) {
	if j.ended || !s.dueLocked(j) {
		return
	}
	j.ended = true
	j.final, j.message = finalOf(j.plan)
	if j.active {
		j.active = false
		s.active--
	}
}

func (s *Server) dueLocked(j *job) bool {
	switch {
	case j.plan.Outcome == Never:
		return false
	case j.plan.PollsToFinish != nil:
		return j.polls > *j.plan.PollsToFinish
	case s.opts.JobDuration > 0:
		return s.now().Sub(j.created) >= s.opts.JobDuration
	default:
		return j.polls > s.polls
	}
}

func finalOf(p JobPlan) (int, string) {
	code, msg := p.FinalStatus, p.Message
	if p.Outcome == Fail {
		if code == 0 {
			code = JobFailed
		}
		if msg == "" {
			msg = "export job failed"
		}
		return code, msg
	}
	if code == 0 {
		code = JobSucceeded
	}
	if msg == "" && code != JobSucceeded {
		msg = "job ended with status " + strconv.Itoa(code)
	}
	return code, msg
}

func succeeded(code int) bool { return code == JobSucceeded || code == JobSucceededException }

func (s *Server) handleFile(r *http.Request, rec *Call) response {
	j, resp, ok := s.lookupJob(rec)
	if !ok {
		return resp
	}
	if resp, ok := s.injectedError(rec, j.email); ok {
		return resp
	}
	s.mu.Lock()
	s.settleLocked(j)
	ended, final := j.ended, j.final
	blobBase := s.blobBase
	s.mu.Unlock()
	if !ended {
		return apiError(rec, http.StatusBadRequest, "job not finished")
	}
	if !succeeded(final) {
		return apiError(rec, http.StatusBadRequest, fmt.Sprintf("job not finished successfully (jobStatus %d)", final))
	}
	if j.plan.FileRedirectBase != "" {
		blobBase = strings.TrimRight(j.plan.FileRedirectBase, "/")
	}
	if s.opts.RedirectFiles || j.plan.FileRedirectBase != "" {
		if blobBase == "" {
			blobBase = requestBase(r)
		}
		h := http.Header{}
		h.Set("Location", blobBase+"/blob/"+j.id+"?sig="+j.sig)
		return response{status: http.StatusTemporaryRedirect, header: h}
	}
	return s.serveZIP(rec, j)
}

// handleBlob serves a redirected download; the signature in the query, not
// a bearer token, authorises it, as with pre-signed storage URLs.
func (s *Server) handleBlob(_ *http.Request, rec *Call) response {
	segs := strings.Split(strings.TrimPrefix(rec.Path, "/"), "/")
	rec.JobID = segs[1]
	s.mu.Lock()
	j := s.jobs[segs[1]]
	s.mu.Unlock()
	if j == nil || subtle.ConstantTimeCompare([]byte(rec.Query.Get("sig")), []byte(j.sig)) != 1 {
		return apiError(rec, http.StatusForbidden, "signature mismatch")
	}
	rec.Email = j.email
	return s.serveZIP(rec, j)
}

func (s *Server) serveZIP(rec *Call, j *job) response {
	b, large, err := s.jobReport(j)
	if err != nil {
		return apiError(rec, http.StatusInternalServerError, "building report: "+err.Error())
	}
	s.mu.Lock()
	j.downloads++
	if j.active { // a fetched job no longer runs, whatever the polls said
		j.active = false
		s.active--
	}
	s.mu.Unlock()
	h := http.Header{}
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", `attachment; filename="`+ReportZIPName(j.id)+`"`)
	if large != nil {
		rate := s.opts.ReportRate
		if j.plan.ReportRate > 0 {
			rate = j.plan.ReportRate
		}
		stream := func(w io.Writer) (int64, error) { return large.writeTo(w, rate) }
		return s.damageReport(rec, j, response{status: http.StatusOK, header: h, stream: stream, length: large.size()})
	}
	return s.damageReport(rec, j, response{status: http.StatusOK, header: h, body: b})
}

// jobReport builds the job's report once; later downloads get identical
// bytes. A job with a report size gets a largeReport (nil bytes), any
// other its ZIP bytes.
func (s *Server) jobReport(j *job) ([]byte, *largeReport, error) {
	j.zipOnce.Do(func() {
		sp := s.specOf(j)
		size := s.opts.ReportSize
		if j.plan.ReportSize > 0 {
			size = j.plan.ReportSize
		}
		if size > 0 {
			j.large, j.zipErr = buildLargeReport(sp, size)
			return
		}
		j.zip, j.zipErr = buildReportZIP(sp)
	})
	return j.zip, j.large, j.zipErr
}

// specOf is what j's report is made of.
func (s *Server) specOf(j *job) reportSpec {
	return reportSpec{
		jobID:      j.id,
		email:      j.email,
		start:      j.windowStart,
		finish:     j.windowTo,
		eventTypes: j.eventTypes,
		rows:       s.reportRows,
		shape:      j.shape,
		stream:     s.opts.StreamInterval,
	}
}

// shapeFor resolves a job's shape: the plan's, else the server's, else plain.
func (s *Server) shapeFor(plan JobPlan) ReportShape {
	switch {
	case plan.ReportShape != "":
		return plan.ReportShape
	case s.opts.ReportShape != "":
		return s.opts.ReportShape
	}
	return ShapePlain
}

func (s *Server) lookupReport(jobID string) ([]byte, *largeReport, error) {
	s.mu.Lock()
	j := s.jobs[jobID]
	s.mu.Unlock()
	if j == nil {
		return nil, nil, fmt.Errorf("avesim: no job %q", jobID)
	}
	return s.jobReport(j)
}

// ReportZIP returns the bytes exportfile serves (or would serve) for jobID,
// so tests can compare what a client stored with what was sent. A report
// with a ReportSize is materialised in memory here; use WriteReport or
// ReportReaderAt for large ones.
func (s *Server) ReportZIP(jobID string) ([]byte, error) {
	b, large, err := s.lookupReport(jobID)
	if err != nil || large == nil {
		return b, err
	}
	var buf bytes.Buffer
	buf.Grow(int(large.size()))
	if _, err := large.writeTo(&buf, 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteReport streams the bytes exportfile serves for jobID to w, without
// holding a large report in memory, and returns how many were written.
func (s *Server) WriteReport(jobID string, w io.Writer) (int64, error) {
	b, large, err := s.lookupReport(jobID)
	if err != nil {
		return 0, err
	}
	if large != nil {
		return large.writeTo(w, 0)
	}
	n, err := w.Write(b)
	return int64(n), err
}

// ReportReaderAt gives random access to the report exportfile serves for
// jobID, and its size, without generating it (archive/zip.NewReader can
// open it directly).
func (s *Server) ReportReaderAt(jobID string) (io.ReaderAt, int64, error) {
	b, large, err := s.lookupReport(jobID)
	if err != nil {
		return nil, 0, err
	}
	if large != nil {
		return large, large.size(), nil
	}
	return bytes.NewReader(b), int64(len(b)), nil
}

// Jobs returns a snapshot of all jobs in creation order.
func (s *Server) Jobs() []JobInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobInfo, 0, len(s.jobOrder))
	for _, id := range s.jobOrder {
		j := s.jobs[id]
		state := "running"
		if j.ended {
			state = "failed"
			if succeeded(j.final) {
				state = "finished"
			}
		}
		out = append(out, JobInfo{
			ID:           j.id,
			Email:        j.email,
			StartTime:    j.startRaw,
			FinishTime:   j.finishRaw,
			EventTypes:   slices.Clone(j.eventTypes),
			Created:      j.created,
			Polls:        j.polls,
			Downloads:    j.downloads,
			State:        state,
			JobStatus:    j.lastStatus,
			Active:       j.active,
			WindowStart:  j.windowStart,
			WindowFinish: j.windowTo,
			ReportShape:  j.shape,
		})
	}
	return out
}

func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
