package avepoint

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
)

// Config holds what a Client needs. Endpoints and Credentials are required.
type Config struct {
	Endpoints   Endpoints
	Credentials CredentialSource
	// HTTPClient defaults to NewHTTPClient(). Its transport is wrapped so the
	// bearer token only ever goes to the API host. The client never follows
	// a redirect of the token request, and follows API redirects only as
	// checkRedirect allows; a CheckRedirect of its own runs after that.
	HTTPClient *http.Client
	Logger     *slog.Logger
	Backoff    Backoff
	Now        func() time.Time
}

// Client calls the AvePoint Graph API. It is safe for concurrent use and
// meant to be built once per container: it caches the access token.
type Client struct {
	api     *url.URL
	http    *http.Client
	tokens  *tokenCache
	log     *slog.Logger
	backoff Backoff
	now     func() time.Time
}

// New builds a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Credentials == nil {
		return nil, errors.New("avepoint: no credential source")
	}
	api, err := checkURL("AVEPOINT_API_URL", cfg.Endpoints.APIURL)
	if err != nil {
		return nil, err
	}
	if _, err := checkURL("AVEPOINT_TOKEN_URL", cfg.Endpoints.TokenURL); err != nil {
		return nil, err
	}
	api.Path = strings.TrimRight(api.Path, "/")
	base := cfg.HTTPClient
	if base == nil {
		base = NewHTTPClient()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{api: api, log: cfg.Logger, backoff: cfg.Backoff.withDefaults(), now: cfg.Now}
	// The token request carries the client secret or the signed assertion:
	// a redirect would send them again to wherever Location points (Go
	// re-sends the body of a 307/308). The answer is handed back instead,
	// and classifyTokenError names it.
	tc := *base
	tc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.tokens = &tokenCache{creds: cfg.Credentials, tokenURL: cfg.Endpoints.TokenURL, httpClient: &tc, now: cfg.Now}
	hc := *base
	inner := hc.Transport
	if inner == nil {
		inner = http.DefaultTransport
	}
	hc.Transport = &bearerTransport{next: inner, api: api, tokens: c.tokens}
	hc.CheckRedirect = checkRedirect(api.Scheme == "http", base.CheckRedirect)
	c.http = &hc
	return c, nil
}

// maxRedirects bounds the redirects one API call follows. None is
// documented; a download may go through a storage front or two.
const maxRedirects = 5

// checkRedirect lets an API call follow at most maxRedirects redirects, each
// to https, or to loopback http when the API itself is loopback http (a
// local stack or a test: checkURL allows nothing else over plain http).
// An https API is never followed to loopback http: on Lambda that is the
// runtime API, and a report has no business there. Anything else is a
// failure.ProtocolError, so the call fails rather than fetch the report in
// the clear. next, the caller's own policy, runs after these checks.
func checkRedirect(apiLoopback bool, next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return &failure.ProtocolError{Reason: fmt.Sprintf("too many redirects (more than %d)", maxRedirects)}
		}
		u := req.URL
		// The host is named (bounded) to help whoever reads the error; the
		// path and query are not: a pre-signed URL's query is a credential.
		host := clip(u.Host, 100)
		switch {
		case u.User != nil:
			return &failure.ProtocolError{Reason: "redirect to a URL with credentials refused (host " + host + ")"}
		case u.Scheme == "https":
		case u.Scheme == "http" && apiLoopback && isLoopback(u.Hostname()):
		default:
			return &failure.ProtocolError{Reason: "redirect to a non-https URL refused (" + clip(u.Scheme, 20) + "://" + host + ")"}
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

// NewHTTPClient is the default HTTP client: TLS 1.2 or newer, bounded
// connect and header waits, no overall timeout (a report download may
// rightly take minutes; the invocation's context bounds it).
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: t}
}

// bearerTransport adds the access token to requests for the API host only.
// Doing it here rather than on the first request means a redirect to any
// other host, even a subdomain, is sent without the token.
type bearerTransport struct {
	next   http.RoundTripper
	api    *url.URL
	tokens *tokenCache
}

func (b *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Del("Authorization")
	if req.URL.Scheme == b.api.Scheme && req.URL.Host == b.api.Host {
		tok, err := b.tokens.token(req.Context())
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	}
	return b.next.RoundTrip(req)
}

// ExportRequest is one user's export. Zero times are left out of the query.
type ExportRequest struct {
	Email      string
	Start      time.Time
	Finish     time.Time
	EventTypes []string
}

// envelope is the status/message pair every AvePoint JSON answer carries.
type envelope struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func (e envelope) envelopeStatus() envelope { return e }

type enveloped interface{ envelopeStatus() envelope }

// opaqueID accepts a job id sent as a JSON string or number: the export
// call documents a string, the job endpoints an integer.
type opaqueID string

func (o *opaqueID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*o = opaqueID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("jobId is neither string nor number")
	}
	*o = opaqueID(n.String())
	return nil
}

// StartExport asks AvePoint to export one user's activities and returns the
// job id. An id that could not travel safely in the job endpoints' path is
// a failure.ProtocolError.
func (c *Client) StartExport(ctx context.Context, req ExportRequest) (string, error) {
	q := url.Values{}
	if !req.Start.IsZero() {
		q.Set("startTime", req.Start.UTC().Format(request.TimeLayout))
	}
	if !req.Finish.IsZero() {
		q.Set("finishTime", req.Finish.UTC().Format(request.TimeLayout))
	}
	for _, et := range req.EventTypes {
		q.Add("eventTypes", et)
	}
	u := c.endpoint("/insights/users/"+EncodeEmailPath(req.Email)+"/activities/export", q)
	var out struct {
		envelope
		JobID opaqueID `json:"jobId"`
	}
	if err := c.retry(ctx, "export", func(ctx context.Context) error { return c.getJSON(ctx, u, &out) }); err != nil {
		return "", err
	}
	if out.JobID == "" {
		return "", &failure.ProtocolError{Reason: "export answer has no jobId"}
	}
	if problem := jobIDProblem(string(out.JobID)); problem != "" {
		return "", &failure.ProtocolError{Reason: "export answer's jobId " + problem}
	}
	return string(out.JobID), nil
}

// maxJobIDLen bounds a job id. AvePoint documents jobId as a string on the
// export call and an integer on the job endpoints ("67890"; the simulator
// counts up from avesim.FirstJobID): 128 bytes leaves room for a GUID or
// any other opaque id a service may use, and no more.
const maxJobIDLen = 128

// jobIDProblem says what makes id unusable as the {jobId} path segment, or
// "" when it is usable: 1 to maxJobIDLen letters, digits, '-' and '_'.
// That is wider than the documented integer (ids stay opaque) and narrow
// enough that no id can be a dot segment ("." "..") or carry '/', '%', '?'
// into the path. The reason quotes at most a short prefix of the id.
func jobIDProblem(id string) string {
	switch {
	case id == "":
		return "is empty"
	case len(id) > maxJobIDLen:
		return fmt.Sprintf("is %d bytes long (at most %d)", len(id), maxJobIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			quoted := id
			if len(quoted) > 32 {
				quoted = quoted[:32] + "…"
			}
			return fmt.Sprintf("%q has byte %q at offset %d: only letters, digits, '-' and '_' are allowed", quoted, c, i)
		}
	}
	return ""
}

// checkJobID refuses an unusable job id handed in by a caller (the check
// and store steps pass the one in the execution state) before any
// request, token request included, is made.
func checkJobID(id string) error {
	if problem := jobIDProblem(id); problem != "" {
		return &failure.ValidationError{Field: "jobId", Reason: "job id " + problem}
	}
	return nil
}

// JobState is what a jobStatus code means for the exporter.
type JobState string

const (
	JobRunning  JobState = "running"
	JobFinished JobState = "finished"
	JobFailed   JobState = "failed"
)

// JobStatus is a job's reported status.
type JobStatus struct {
	Code    int      `json:"jobStatus"`
	State   JobState `json:"state"`
	Message string   `json:"message,omitempty"`
	// WithException is set for code 4, "success with exception": the report
	// exists but AvePoint hit problems building it.
	WithException bool `json:"withException,omitempty"`
}

// MapJobStatus maps a jobStatus code as the contract says: documented 1, 2,
// 3 and the older SDK's 0 to 6. Any other value is a failure.ProtocolError naming it.
func MapJobStatus(code int) (JobState, error) {
	switch code {
	case 0, 1: // none, in progress
		return JobRunning, nil
	case 2, 4: // successful, success with exception
		return JobFinished, nil
	case 3, 5, 6: // failed, stopping, stopped
		return JobFailed, nil
	}
	return "", &failure.ProtocolError{Reason: fmt.Sprintf("unknown jobStatus %d", code)}
}

// JobStatus reads an export job's status. An unusable jobID (see
// jobIDProblem) is a failure.ValidationError on jobId, and nothing is sent.
func (c *Client) JobStatus(ctx context.Context, jobID string) (JobStatus, error) {
	if err := checkJobID(jobID); err != nil {
		return JobStatus{}, err
	}
	u := c.endpoint("/insights/job/"+escapeSegment(jobID)+"/exportstatus", nil)
	var out struct {
		envelope
		JobStatus *int `json:"jobStatus"`
	}
	if err := c.retry(ctx, "status", func(ctx context.Context) error { return c.getJSON(ctx, u, &out) }); err != nil {
		return JobStatus{}, err
	}
	if out.JobStatus == nil {
		return JobStatus{}, &failure.ProtocolError{Reason: "status answer has no jobStatus"}
	}
	state, err := MapJobStatus(*out.JobStatus)
	if err != nil {
		return JobStatus{}, err
	}
	return JobStatus{Code: *out.JobStatus, State: state, Message: cleanMessage(out.Message), WithException: *out.JobStatus == 4}, nil
}

// Report is an export file being downloaded. Close Body when done.
type Report struct {
	Body          io.ReadCloser
	ContentLength int64 // -1 when unknown
	ContentType   string
}

// ExportFile opens a finished job's report (a ZIP) as a stream; nothing is
// buffered beyond the transport's own buffers. Read errors on Body come
// back as *failure.TransientError: a cut stream is worth another try. An
// unusable jobID is refused as JobStatus refuses it.
func (c *Client) ExportFile(ctx context.Context, jobID string) (*Report, error) {
	if err := checkJobID(jobID); err != nil {
		return nil, err
	}
	u := c.endpoint("/insights/job/"+escapeSegment(jobID)+"/exportfile", nil)
	var rep *Report
	err := c.retry(ctx, "file", func(ctx context.Context) error {
		resp, err := c.get(ctx, u)
		if err != nil {
			return err
		}
		ct := resp.Header.Get("Content-Type")
		if strings.HasPrefix(strings.ToLower(ct), "application/json") {
			// A JSON body where a ZIP belongs is an error envelope, even
			// under HTTP 200.
			defer resp.Body.Close()
			var env envelope
			if err := decodeJSON(resp.Body, &env); err != nil {
				return err
			}
			if env.Status == 0 || isSuccess(env.Status) {
				return &failure.ProtocolError{Reason: "export file answered with JSON instead of a report"}
			}
			return statusError(env.Status, env.Message, resp.Header, c.now())
		}
		rep = &Report{Body: &streamBody{rc: resp.Body}, ContentLength: resp.ContentLength, ContentType: ct}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// streamBody turns a broken download into a failure.TransientError so the state
// machine retries the store step instead of failing the export.
type streamBody struct{ rc io.ReadCloser }

func (s *streamBody) Read(p []byte) (int, error) {
	n, err := s.rc.Read(p)
	if err != nil && err != io.EOF {
		return n, &failure.TransientError{Reason: "report download interrupted: " + errorText(err)}
	}
	return n, err
}

func (s *streamBody) Close() error { return s.rc.Close() }

func (c *Client) endpoint(escapedPath string, q url.Values) string {
	u := c.api.String() + escapedPath
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// get sends one GET and returns the response when the HTTP status is 2xx;
// any other status becomes a typed error built from the error envelope.
func (c *Client) get(ctx context.Context, rawURL string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, &failure.ValidationError{Reason: "cannot build request URL"}
	}
	req.Header.Set("Accept", "application/json, application/zip, application/octet-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		// Token failures arrive here wrapped in *url.Error: keep their type.
		if typed := failure.Upstream(err); typed != nil {
			return nil, typed
		}
		return nil, &failure.TransientError{Reason: "network: " + errorText(err)}
	}
	if isSuccess(resp.StatusCode) {
		return resp, nil
	}
	defer resp.Body.Close()
	var env envelope
	_ = decodeJSON(resp.Body, &env) // the HTTP status decides; the body only explains
	return nil, statusError(resp.StatusCode, env.Message, resp.Header, c.now())
}

func (c *Client) getJSON(ctx context.Context, rawURL string, out enveloped) error {
	resp, err := c.get(ctx, rawURL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := decodeJSON(resp.Body, out); err != nil {
		return err
	}
	if env := out.envelopeStatus(); env.Status != 0 && !isSuccess(env.Status) {
		// AvePoint reports failures in the body, sometimes under HTTP 200.
		return statusError(env.Status, env.Message, resp.Header, c.now())
	}
	return nil
}

// maxJSONBody bounds what we read of a JSON answer: they are tiny, and a
// misbehaving server must not make us buffer without limit.
const maxJSONBody = 1 << 20

func decodeJSON(r io.Reader, out any) error {
	lr := &io.LimitedReader{R: r, N: maxJSONBody + 1}
	if err := json.NewDecoder(lr).Decode(out); err != nil {
		if lr.N <= 0 {
			return &failure.ProtocolError{Reason: "JSON answer larger than 1 MiB"}
		}
		var netErr net.Error
		if errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) {
			return &failure.TransientError{Reason: "answer cut short: " + errorText(err)}
		}
		return &failure.ProtocolError{Reason: "answer is not the documented JSON"}
	}
	return nil
}

func isSuccess(code int) bool { return code >= 200 && code < 300 }

// statusError maps an HTTP-style status code to the error vocabulary.
func statusError(code int, message string, h http.Header, now time.Time) error {
	msg := cleanMessage(message)
	if msg == "" {
		msg = http.StatusText(code)
	}
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return &failure.AuthError{Status: code, Reason: msg}
	case code == http.StatusNotFound:
		return &failure.NotFoundError{Reason: msg}
	case code == http.StatusTooManyRequests:
		return &failure.ThrottledError{RetryAfter: retryAfter(h.Get("Retry-After"), now), Reason: msg}
	case code == http.StatusRequestTimeout || code >= 500:
		return &failure.TransientError{Status: code, Reason: msg}
	case code >= 400:
		return &failure.ValidationError{Reason: fmt.Sprintf("AvePoint rejected the request (%d): %s", code, msg)}
	}
	return &failure.ProtocolError{Reason: fmt.Sprintf("unexpected status %d: %s", code, msg)}
}

// cleanMessage keeps AvePoint's message readable and bounded: no control
// characters (log injection), at most 300 runes.
func cleanMessage(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

// clip bounds text from elsewhere (an identity service's error code, a
// host name) for an error message: control characters removed, invalid
// UTF-8 replaced, at most limit bytes, cut on a rune boundary and marked
// with "…" when cut. It stops reading at the limit, so a 100 KB field costs
// no more than a short one.
func clip(s string, limit int) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s { // an invalid byte comes as utf8.RuneError, written as U+FFFD
		if unicode.IsControl(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > limit {
			return strings.TrimSpace(b.String()) + "…"
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String()) // spaces a removed control character had guarded
}

// errorText renders a transport error without the request URL, which
// carries the user's email.
func errorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return cleanMessage(err.Error())
}

// EncodeEmailPath encodes a user principal name for the export path the way
// AvePoint's own sample does: percent-encoded twice, so a guest UPN
// "x_y.com#EXT#@t.onmicrosoft.com" becomes
// "x_y.com%2523EXT%2523%2540t.onmicrosoft.com".
func EncodeEmailPath(email string) string { return escapeSegment(escapeSegment(email)) }

// escapeSegment percent-encodes every byte but RFC 3986's unreserved ones.
// url.PathEscape would leave '@' alone, which AvePoint's sample encodes.
func escapeSegment(s string) string { return request.PercentEncode(s, "-._~") }
