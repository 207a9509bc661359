package avesim

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scope is the only scope the token endpoint grants.
const Scope = "insights.graph.readwrite.all"

// FirstJobID is the id of the first job a fresh Server creates; later jobs
// count up from it, so job ids are predictable in tests.
const FirstJobID = 67890

const (
	tokenPath          = "/connect/token"
	defaultTTL         = time.Hour
	defaultPolls       = 2
	defaultReportRows  = 50
	defaultRetryAfter  = time.Second
	defaultErrorStatus = http.StatusTooManyRequests
)

// DefaultMaxConcurrentJobs is the number of export jobs the simulator
// lets run at once (Options.MaxConcurrentJobs): AvePoint's older API page
// says 5 export jobs may run at the same time per tenant through the API.
const DefaultMaxConcurrentJobs = 5

// Call endpoint names.
const (
	EndpointToken   = "token"
	EndpointExport  = "export"
	EndpointStatus  = "status"
	EndpointFile    = "file"
	EndpointBlob    = "blob"  // redirected file download (Options.RedirectFiles)
	EndpointUsers   = "users" // GET /insights/users/summary
	EndpointUnknown = "unknown"
)

// Call.Auth values.
const (
	AuthNone      = "none"
	AuthBearerOK  = "bearer-ok"
	AuthBearerBad = "bearer-bad" // any Authorization header that is not a live bearer token
	AuthBasic     = "basic"      // HTTP Basic (client authentication at the token endpoint)
)

// Outcome is what a job does after it has been started.
type Outcome int

const (
	// Finish ends the job with jobStatus 2 (or JobPlan.FinalStatus).
	Finish Outcome = iota
	// Fail ends the job with jobStatus 3 (or JobPlan.FinalStatus) and a message.
	Fail
	// Never keeps the job at jobStatus 1 forever.
	Never
	// RejectExport answers the export call with HTTP 200 but a body whose
	// status is not 2xx (JobPlan.FinalStatus, default 500) and no job: the
	// documented "failure inside a 200" shape.
	RejectExport
)

func (o Outcome) String() string {
	switch o {
	case Finish:
		return "finish"
	case Fail:
		return "fail"
	case Never:
		return "never"
	case RejectExport:
		return "reject-export"
	default:
		return "outcome(" + strconv.Itoa(int(o)) + ")"
	}
}

// JobPlan overrides the behaviour of jobs for one email.
type JobPlan struct {
	Outcome Outcome
	// FinalStatus is the jobStatus reported when the job ends (0 = default:
	// 2 for Finish, 3 for Fail). E.g. 4 success with exception (file
	// available), 5/6 stopping/stopped, 99 an undocumented code. For
	// RejectExport it is the body status of the export answer (default 500).
	FinalStatus int
	// Message accompanies a non-2 final status (default "export job failed"
	// for Fail).
	Message string
	// PollsToFinish, when set, is the number of status polls answered 1
	// before the job ends (0 = ends at the first poll); it wins over
	// Options.JobDuration for this email.
	PollsToFinish *int
	// ErrorCalls makes the first ErrorCalls authorised API calls concerning
	// this email (export, status, file) answer HTTP ErrorStatus with an
	// error body instead of being served.
	ErrorCalls int
	// ErrorStatus is the HTTP status of injected errors (default 429).
	ErrorStatus int
	// RetryAfter is sent as Retry-After (whole seconds) with injected 429
	// and 503 answers; default 1s, negative omits the header.
	RetryAfter time.Duration
	// ErrorStatuses, when set, are the statuses of the injected errors in
	// turn, cycled (a burst of 500, 502, 503); ErrorCalls defaults to its
	// length.
	ErrorStatuses []int
	// RetryAfterDate sends Retry-After as an HTTP date (now + RetryAfter)
	// instead of whole seconds.
	RetryAfterDate bool
	// RevokeCalls makes the first RevokeCalls API calls concerning this
	// email revoke every token issued so far as they arrive, so they answer
	// 401 for a token that was valid a moment ago (expiry or a rotated
	// secret on AvePoint's side); the next token works again.
	RevokeCalls int
	// Delay holds every answer concerning this email back this long: a
	// slow API.
	Delay time.Duration
	// DelayCalls limits Delay to the first DelayCalls calls (0 = all): an
	// API that hangs once and then answers.
	DelayCalls int
	// FaultEndpoints limits ErrorCalls, RevokeCalls and Delay to these
	// endpoints (EndpointExport, EndpointStatus, EndpointFile); nil = all.
	FaultEndpoints []string
	// ReportFault damages the report downloads of this email: cut by a
	// connection reset, shorter than its Content-Length, a corrupt ZIP, or
	// not a ZIP at all (see ReportFault).
	ReportFault ReportFault
	// ReportFaultCalls limits ReportFault to the first downloads (0 = all).
	ReportFaultCalls int
	// ReportSize, when > 0, overrides Options.ReportSize for this email.
	ReportSize int64
	// ReportRate, when > 0, overrides Options.ReportRate for this email.
	ReportRate int64
	// ReportShape, when set, overrides Options.ReportShape for this email.
	ReportShape ReportShape
	// FileRedirectBase, when set, makes this email's exportfile answer 307
	// to FileRedirectBase + /blob/{jobId}?sig=… whatever
	// Options.RedirectFiles says: a download sent elsewhere, e.g. to plain
	// http off loopback ("http://reports.example.com"), which a client
	// must refuse to follow. The simulator serves /blob/ on its own
	// listeners only; a base pointing elsewhere is never reached.
	FileRedirectBase string
	// ExportJobID, when set, is the jobId the export call answers (HTTP
	// 200, body status 200), verbatim however unusable ("..", "a/b", 10 KB
	// of digits), and no job is started: for checking that clients
	// validate the id before putting it in a path.
	ExportJobID string
	// LoseExportAnswers makes the first LoseExportAnswers export calls of
	// this email start their job and then drop the connection without an
	// answer (a TCP reset): the job runs, but the client never learns its
	// id — a StartExport whose response was lost. The job ends as its plan
	// says (Outcome Never keeps it running), polled by nobody. The lost
	// answers come first, the plan's ErrorCalls after them: a gateway
	// that started the job, lost its answer, then failed outright.
	LoseExportAnswers int
	// OutcomeJobs, when set, limits Outcome, FinalStatus and Message to
	// the email's export jobs with these numbers: 1 is the first job the
	// simulator started for the email, counted across runs and stacks'
	// executions alike; the email's other jobs finish with jobStatus 2.
	// It fails one window of a user exported in several, whose jobs start
	// one after another, and lets the next run's jobs succeed. Not with
	// RejectExport or ExportJobID, which start no job.
	OutcomeJobs []int
}

// Options configure a Server.
type Options struct {
	ClientID     string            // accepted client id (required)
	ClientSecret string            // accepted secret ("" = secret auth disabled)
	Certificate  *x509.Certificate // accepted cert for JWT client assertions (nil = disabled)
	TokenTTL     time.Duration     // expires_in of issued tokens (default 1h)
	// PollsToFinish is the number of status polls answered "in progress"
	// (1) before a job ends (0 = default 2; negative = ends at first poll).
	PollsToFinish int
	// JobDuration, if > 0, is the wall-clock time until a job ends; it wins
	// over PollsToFinish (but not over JobPlan.PollsToFinish).
	JobDuration time.Duration
	// StreamInterval, when > 0, gives every user a fixed activity stream,
	// one activity per interval, and a report the activities of its window
	// (ReportRows is then ignored): overlapping windows share activities,
	// as a real tenant's reports do. 0 draws ReportRows rows per job.
	StreamInterval time.Duration
	// ReportRows is the number of activity rows in each generated workbook
	// (0 = default 50; negative = header only).
	ReportRows int
	// Plans overrides job behaviour per email (keys are matched lower-cased).
	Plans map[string]JobPlan
	// Logger receives one debug record per request (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now); tests may inject a fake one.
	Now func() time.Time
	// RedirectFiles makes exportfile answer 307 to a pre-signed URL under
	// BlobBaseURL (path /blob/{jobId}?sig=…) instead of serving the ZIP
	// inline, so clients can be checked for not leaking the bearer token to
	// another host. /blob/ needs no Authorization; its Call records whether
	// one arrived anyway.
	RedirectFiles bool
	// BlobBaseURL is the base of redirected downloads ("" = the API host
	// itself; Start serves it on a second listener named "localhost").
	BlobBaseURL string
	// TokenFault makes the first token requests fail (see TokenFault;
	// SetTokenFault changes it later).
	TokenFault TokenFault
	// ReportSize, when > 0, makes every report ZIP exactly this many bytes
	// (JobPlan.ReportSize wins per email): the usual workbook entry, then a
	// stored entry ReportPaddingName of pseudo-random filler, zip64 when
	// the size needs it. Such reports are generated while they are sent,
	// never held in memory, so multi-GiB downloads cost the simulator
	// little more than the write syscalls (for benchmarks). The size must
	// leave room for the workbook (a few KiB with the default ReportRows).
	ReportSize int64
	// ReportRate, when > 0, paces the download of such sized reports to
	// about this many bytes per second, as a WAN link to AvePoint would,
	// so benchmarks can tell a client that keeps up with its source from
	// one that is merely CPU-bound on a fast loopback (0 = unpaced).
	ReportRate int64
	// ReportShape is the layout of the report workbooks ("" = ShapePlain;
	// JobPlan.ReportShape wins per email). Every shape holds the same rows.
	ReportShape ReportShape
	// MaxConcurrentJobs is how many export jobs may run at once (0 =
	// DefaultMaxConcurrentJobs, negative = no limit). An export call that
	// would start one more is refused with HTTP 429 and an AvePoint-style
	// body, {"status":429,"message":"…"}, and starts no job. AvePoint does
	// not document what it answers to a sixth concurrent job; this is our
	// guess, chosen so that a client that retries throttling recovers.
	// Jobs ended by time (JobDuration) stop counting when their time is up,
	// polled or not; jobs ended by polls, when a poll reports the end.
	MaxConcurrentJobs int
	// ConcurrencyRetryAfter, when > 0, is sent as Retry-After (whole
	// seconds) with that refusal; 0 sends none.
	ConcurrencyRetryAfter time.Duration
	// Users is the tenant GET /insights/users/summary lists, how it pages
	// and how it fails (users.go; the zero value: DefaultTenantUsers
	// generated users, startPage from 0).
	Users UsersOptions
}

// Call is one request as the server saw it.
type Call struct {
	Method   string
	Path     string // as received, escaped (r.URL.EscapedPath())
	RawQuery string
	Query    url.Values
	Auth     string // AuthNone, AuthBearerOK, AuthBearerBad, AuthBasic
	Status   int    // HTTP status answered
	Endpoint string // EndpointToken, EndpointExport, EndpointStatus, EndpointFile, EndpointBlob, EndpointUsers, EndpointUnknown
	Email    string // decoded email (export: only when the segment was validly double-encoded; job endpoints: the job's email)
	JobID    string
	Message  string // error message answered, if any
	// RetryAfter is the Retry-After header answered, if any.
	RetryAfter string
	// At is when the request arrived, by the wall clock (not Options'
	// clock): tests measure the time between a client's calls with it.
	At time.Time
}

// Server is the fake API. It is safe for concurrent use.
type Server struct {
	opts       Options
	log        *slog.Logger
	now        func() time.Time
	polls      int
	ttl        time.Duration
	reportRows int
	plans      map[string]JobPlan

	mu           sync.Mutex
	tokens       map[string]time.Time // access token -> expiry
	tokensIssued int
	jtis         map[string]struct{} // client-assertion ids already used
	calls        []Call
	jobs         map[string]*job
	jobOrder     []string
	nextJob      int
	active       int
	peak         int
	maxJobs      int            // 0: no limit
	refused      int            // export calls refused for the concurrency limit
	errorsUsed   map[string]int // email -> injected errors already answered
	jobsOf       map[string]int // email -> jobs started (JobPlan.OutcomeJobs)
	blobBase     string
	faults       faultState
	users        usersState
}

// New validates opts and returns a Server.
func New(opts Options) (*Server, error) {
	if opts.ClientID == "" {
		return nil, errors.New("avesim: ClientID is required")
	}
	if opts.ClientSecret == "" && opts.Certificate == nil {
		return nil, errors.New("avesim: set ClientSecret, Certificate or both")
	}
	if c := opts.Certificate; c != nil {
		if err := checkCertificate(c); err != nil {
			return nil, err
		}
	}
	if opts.TokenTTL < 0 {
		return nil, errors.New("avesim: TokenTTL must not be negative")
	}
	if opts.JobDuration < 0 {
		return nil, errors.New("avesim: JobDuration must not be negative")
	}
	if opts.ReportSize < 0 || opts.ReportRate < 0 {
		return nil, errors.New("avesim: ReportSize and ReportRate must not be negative")
	}
	if opts.StreamInterval < 0 || (opts.StreamInterval > 0 && opts.StreamInterval < time.Second) {
		return nil, errors.New("avesim: StreamInterval must be 0 or at least a second")
	}
	if opts.ConcurrencyRetryAfter < 0 {
		return nil, errors.New("avesim: ConcurrencyRetryAfter must not be negative")
	}
	if err := validateTokenFault(opts.TokenFault); err != nil {
		return nil, err
	}
	if _, err := ParseReportShape(string(opts.ReportShape)); err != nil {
		return nil, fmt.Errorf("avesim: ReportShape: %w", err)
	}
	if err := validateUsersOptions(opts.Users); err != nil {
		return nil, err
	}
	s := &Server{
		opts:       opts,
		log:        opts.Logger,
		now:        opts.Now,
		polls:      opts.PollsToFinish,
		ttl:        opts.TokenTTL,
		reportRows: opts.ReportRows,
		plans:      make(map[string]JobPlan, len(opts.Plans)),
		tokens:     make(map[string]time.Time),
		jtis:       make(map[string]struct{}),
		jobs:       make(map[string]*job),
		nextJob:    FirstJobID,
		errorsUsed: make(map[string]int),
		jobsOf:     make(map[string]int),
		faults:     newFaultState(opts),
		users:      newUsersState(opts.Users),
		blobBase:   strings.TrimRight(opts.BlobBaseURL, "/"),
	}
	switch {
	case opts.MaxConcurrentJobs == 0:
		s.maxJobs = DefaultMaxConcurrentJobs
	case opts.MaxConcurrentJobs > 0:
		s.maxJobs = opts.MaxConcurrentJobs
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case s.polls == 0:
		s.polls = defaultPolls
	case s.polls < 0:
		s.polls = 0
	}
	if s.ttl == 0 {
		s.ttl = defaultTTL
	}
	switch {
	case s.reportRows == 0:
		s.reportRows = defaultReportRows
	case s.reportRows < 0:
		s.reportRows = 0
	}
	for email, p := range opts.Plans {
		if p.PollsToFinish != nil && *p.PollsToFinish < 0 {
			return nil, fmt.Errorf("avesim: plan %q: PollsToFinish must not be negative", email)
		}
		if p.ReportSize < 0 || p.ReportRate < 0 {
			return nil, fmt.Errorf("avesim: plan %q: ReportSize and ReportRate must not be negative", email)
		}
		if err := validatePlanFaults(email, p); err != nil {
			return nil, err
		}
		if err := validateOutcomeJobs(email, p); err != nil {
			return nil, err
		}
		if _, err := ParseReportShape(string(p.ReportShape)); err != nil {
			return nil, fmt.Errorf("avesim: plan %q: ReportShape: %w", email, err)
		}
		s.plans[strings.ToLower(email)] = p
	}
	return s, nil
}

// TokenPath is the path of the token endpoint.
func (s *Server) TokenPath() string { return tokenPath }

// SetBlobBaseURL sets where redirected downloads point (see
// Options.RedirectFiles); useful when the blob server is started after New.
func (s *Server) SetBlobBaseURL(base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blobBase = strings.TrimRight(base, "/")
}

// Calls returns the recorded requests in arrival order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		c.Query = cloneValues(c.Query)
		out[i] = c
	}
	return out
}

// TokensIssued counts access tokens issued so far.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensIssued
}

// RevokeTokens invalidates every token issued so far, as expiry or secret
// rotation would: API calls with them answer 401 until a new token is used.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// PeakConcurrentJobs is the largest number of jobs that were in progress at
// the same time. A job counts from its export call until the status poll
// that reports it ended (or until its file is fetched).
func (s *Server) PeakConcurrentJobs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// RunningJobs is the number of jobs in progress now (counted as for
// PeakConcurrentJobs, jobs whose time is up settled first).
func (s *Server) RunningJobs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleAllLocked()
	return s.active
}

// RefusedJobs counts the export calls refused because MaxConcurrentJobs
// jobs were running.
func (s *Server) RefusedJobs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// response is an answer decided by a handler; ServeHTTP records the call
// before writing it so that Calls() is complete as soon as a client has
// the response.
type response struct {
	status int
	header http.Header
	body   []byte
	// stream, when set, writes a body of exactly length bytes instead of
	// body (large reports, generated while sent).
	stream func(io.Writer) (int64, error)
	length int64
	// Injected faults (faults.go): cut the streamed body after cutAfter
	// bytes (with a TCP reset when reset), flip the byte at flipAt, or drop
	// the connection without answering.
	cutAfter, flipAt int64
	reset, drop      bool
}

func jsonResponse(status int, v any) response {
	b, err := json.Marshal(v)
	if err != nil {
		// Only fixed, marshalable types are passed in; keep the server up anyway.
		b = []byte(`{"status":500,"message":"internal error"}`)
		status = http.StatusInternalServerError
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	return response{status: status, header: h, body: b}
}

// apiBody is AvePoint's envelope for errors and plain answers.
type apiBody struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func apiError(rec *Call, status int, msg string) response {
	rec.Message = msg
	return jsonResponse(status, apiBody{Status: status, Message: msg})
}

// ServeHTTP serves the token endpoint, the three Insights job endpoints,
// the user list and (with RedirectFiles) the blob downloads.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := Call{
		At:       time.Now(),
		Method:   r.Method,
		Path:     r.URL.EscapedPath(),
		RawQuery: r.URL.RawQuery,
		Auth:     s.classifyAuth(r),
	}
	resp := s.route(r, &rec)
	rec.Status = resp.status

	s.mu.Lock()
	s.calls = append(s.calls, rec)
	s.mu.Unlock()
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "avesim request",
		slog.String("method", rec.Method), slog.String("path", rec.Path),
		slog.String("endpoint", rec.Endpoint), slog.String("auth", rec.Auth),
		slog.Int("status", rec.Status), slog.String("jobId", rec.JobID),
		slog.String("message", rec.Message))

	wait(r.Context(), s.delayFor(&rec))
	if resp.drop {
		resetConnection(w)
		return
	}
	for k, vs := range resp.header {
		w.Header()[k] = vs
	}
	if resp.stream != nil {
		w.Header().Set("Content-Length", strconv.FormatInt(resp.length, 10))
		w.WriteHeader(resp.status)
		if r.Method != http.MethodHead {
			// A write error means the client went away; net/http then
			// drops the connection, which the client sees as a cut body.
			writeStream(w, resp)
		}
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.body) // the client may have gone; nothing to do about it
	}
}

func (s *Server) route(r *http.Request, rec *Call) response {
	path := rec.Path
	q, qerr := url.ParseQuery(r.URL.RawQuery)
	rec.Query = q
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var (
		method  = http.MethodGet
		handler func(*http.Request, *Call) response
	)
	switch {
	case path == tokenPath:
		rec.Endpoint, method, handler = EndpointToken, http.MethodPost, s.handleToken
	case len(segs) == 5 && segs[0] == "insights" && segs[1] == "users" && segs[3] == "activities" && segs[4] == "export":
		rec.Endpoint, handler = EndpointExport, s.handleExport
	case len(segs) == 4 && segs[0] == "insights" && segs[1] == "job" && segs[3] == "exportstatus":
		rec.Endpoint, handler = EndpointStatus, s.handleStatus
	case len(segs) == 4 && segs[0] == "insights" && segs[1] == "job" && segs[3] == "exportfile":
		rec.Endpoint, handler = EndpointFile, s.handleFile
	case path == usersPath:
		rec.Endpoint, handler = EndpointUsers, s.handleUsers
	case len(segs) == 2 && segs[0] == "blob":
		rec.Endpoint, handler = EndpointBlob, s.handleBlob
	default:
		rec.Endpoint = EndpointUnknown
		return apiError(rec, http.StatusNotFound, "no such endpoint: "+path)
	}
	if r.Method != method {
		resp := apiError(rec, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		resp.header.Set("Allow", method)
		return resp
	}
	if rec.Endpoint == EndpointToken {
		if resp, ok := s.tokenFault(rec); ok {
			return resp
		}
	}
	if rec.Endpoint != EndpointToken && rec.Endpoint != EndpointBlob && rec.Auth != AuthBearerOK {
		resp := apiError(rec, http.StatusUnauthorized, "missing, invalid or expired bearer token")
		resp.header.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		return resp
	}
	if qerr != nil {
		return apiError(rec, http.StatusBadRequest, "malformed query string: "+qerr.Error())
	}
	return handler(r, rec)
}

// classifyAuth looks at the Authorization header without judging whether
// the endpoint needs it.
func (s *Server) classifyAuth(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return AuthNone
	}
	scheme, tok, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		return AuthBasic
	case strings.EqualFold(scheme, "Bearer") && s.tokenValid(strings.TrimSpace(tok)):
		return AuthBearerOK
	default:
		return AuthBearerBad
	}
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Running is a Server listening on 127.0.0.1.
type Running struct {
	URL      string // API base, e.g. http://127.0.0.1:41234
	TokenURL string // URL + /connect/token
	BlobURL  string // base of redirected downloads (only with Options.RedirectFiles)
	Server   *Server

	once  sync.Once
	https []*http.Server
}

// Start serves a new Server on a free 127.0.0.1 port until ctx ends or
// Close is called. With RedirectFiles and no BlobBaseURL it also serves the
// blob downloads on a second port, addressed as "localhost" so that HTTP
// clients see a different host than the API's 127.0.0.1.
func Start(ctx context.Context, opts Options) (*Running, error) {
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	rn := &Running{Server: s}
	apiAddr, err := rn.listen(ctx, s)
	if err != nil {
		return nil, err
	}
	rn.URL = "http://" + apiAddr
	rn.TokenURL = rn.URL + tokenPath
	if opts.RedirectFiles {
		if opts.BlobBaseURL == "" {
			blobAddr, err := rn.listen(ctx, s)
			if err != nil {
				rn.Close()
				return nil, err
			}
			_, port, _ := net.SplitHostPort(blobAddr)
			s.SetBlobBaseURL("http://localhost:" + port)
		}
		s.mu.Lock()
		rn.BlobURL = s.blobBase
		s.mu.Unlock()
	}
	// The registration is not undone by Close: a late second Close is a no-op.
	context.AfterFunc(ctx, rn.Close)
	return rn, nil
}

func (rn *Running) listen(ctx context.Context, h http.Handler) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("avesim: listen: %w", err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	rn.https = append(rn.https, hs)
	go func() {
		// Serve returns ErrServerClosed on Close; any other error means the
		// listener died, which callers notice as refused connections.
		_ = hs.Serve(ln)
	}()
	return ln.Addr().String(), nil
}

// Close stops the listeners; it is safe to call more than once.
func (rn *Running) Close() {
	rn.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, hs := range rn.https {
			if err := hs.Shutdown(ctx); err != nil {
				_ = hs.Close()
			}
		}
	})
}
