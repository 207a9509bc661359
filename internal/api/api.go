package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
)

// Kinds of export, and the prefix of their ids (the execution name).
const (
	KindUser  = "user"
	KindBatch = "batch"
)

// ContentWindow is how long an identical request without an
// Idempotency-Key maps to the same execution: between one and two of these
// (the current and the previous slot are checked).
const ContentWindow = 15 * time.Minute

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 255

var (
	idPattern  = regexp.MustCompile(`^[ub]-[0-9a-f]{32}$`)
	keyPattern = regexp.MustCompile(`^[\x21-\x7e]+$`) // printable ASCII, no spaces
)

// sfnAPI is the part of the Step Functions client the API uses.
type sfnAPI interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, opts ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	GetExecutionHistory(ctx context.Context, in *sfn.GetExecutionHistoryInput, opts ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error)
	ListMapRuns(ctx context.Context, in *sfn.ListMapRunsInput, opts ...func(*sfn.Options)) (*sfn.ListMapRunsOutput, error)
	DescribeMapRun(ctx context.Context, in *sfn.DescribeMapRunInput, opts ...func(*sfn.Options)) (*sfn.DescribeMapRunOutput, error)
}

// Handler serves the API.
type Handler struct {
	sfn      sfnAPI
	machines map[string]string // kind -> state machine ARN
	log      *slog.Logger
	now      func() time.Time
	mux      *http.ServeMux
}

// New returns a Handler that starts executions of the two state machines.
func New(client sfnAPI, cfg Config, log *slog.Logger, now func() time.Time) (*Handler, error) {
	if client == nil || log == nil || now == nil {
		return nil, errors.New("api: client, logger and clock are required")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := &Handler{
		sfn:      client,
		machines: map[string]string{KindUser: cfg.ExportStateMachineARN, KindBatch: cfg.BatchStateMachineARN},
		log:      log,
		now:      now,
	}
	h.mux = h.routes()
	return h, nil
}

// ServeHTTP routes the two endpoints. A trailing slash is ignored, and
// every refusal (unknown path, wrong method) is a JSON error like the rest.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
		r2 := *r
		u := *r.URL
		u.Path = strings.TrimSuffix(p, "/")
		r2.URL = &u
		r = &r2
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /exports", h.start)
	mux.HandleFunc("GET /exports/{id}", func(w http.ResponseWriter, r *http.Request) { h.status(w, r, r.PathValue("id")) })
	// The method-less patterns are less specific, so they catch only the
	// methods not allowed on a path that exists.
	mux.HandleFunc("/exports", methodNotAllowed(http.MethodPost, "/exports"))
	mux.HandleFunc("/exports/{id}", methodNotAllowed(http.MethodGet, "/exports/{id}"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, &apiError{Name: "NotFoundError", Message: "no such resource; the API has POST /exports and GET /exports/{id}"})
	})
	return mux
}

func methodNotAllowed(allow, path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, &apiError{Name: "MethodNotAllowed", Message: r.Method + " is not allowed on " + path + "; use " + allow})
	}
}

// apiError is the error body.
type apiError struct {
	Name    string `json:"error"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Started is the answer to POST /exports.
type Started struct {
	ID           string          `json:"id"`
	Kind         string          `json:"kind"`
	Status       string          `json:"status"`
	StatusURL    string          `json:"statusUrl"`
	ExecutionArn string          `json:"executionArn"`
	StartedAt    string          `json:"startedAt,omitempty"`
	Input        json.RawMessage `json:"input"`
	// Replayed is true when the request matched an earlier one (same
	// Idempotency-Key, or same content recently) and started nothing.
	Replayed bool `json:"replayed,omitempty"`
}

// parsedRequest is a validated POST body.
type parsedRequest struct {
	kind  string
	input []byte // the normalized execution input sent to Step Functions
	// comparable is the normalized input with what the server pinned
	// (an open finishTime, the window's reference time) blanked: two
	// requests with equal comparables ask for the same thing.
	comparable []byte
}

func (h *Handler) start(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, err := io.ReadAll(io.LimitReader(r.Body, request.MaxBatchInputBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, &apiError{Name: "ValidationError", Message: "the request body could not be read"})
		return
	}
	if len(body) > request.MaxBatchInputBytes {
		writeError(w, http.StatusRequestEntityTooLarge, &apiError{Name: "PayloadTooLarge",
			Message: fmt.Sprintf("the request body is larger than %d bytes (Step Functions' input limit)", request.MaxBatchInputBytes)})
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, http.StatusBadRequest, &apiError{Name: "ValidationError", Message: "the request body is empty; send an execution input such as {\"email\":\"...\"}"})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if _, present := r.Header["Idempotency-Key"]; present && (key == "" || len(key) > MaxIdempotencyKey || !keyPattern.MatchString(key)) {
		writeError(w, http.StatusBadRequest, &apiError{Name: "ValidationError", Field: "Idempotency-Key",
			Message: fmt.Sprintf("invalid Idempotency-Key: must be 1 to %d printable ASCII characters without spaces", MaxIdempotencyKey)})
		return
	}
	now := h.now().UTC()
	req, err := parse(body, now)
	if err != nil {
		var ve *failure.ValidationError
		if errors.As(err, &ve) {
			writeError(w, http.StatusBadRequest, &apiError{Name: "ValidationError", Message: ve.Error(), Field: ve.Field})
			return
		}
		h.internal(ctx, w, "parse request", err)
		return
	}

	var names []string
	if key != "" {
		names = []string{executionName(req.kind, "key\x00"+key)}
		// The same key used earlier for the other kind of request is a
		// conflict too.
		other := map[string]string{KindUser: KindBatch, KindBatch: KindUser}[req.kind]
		if _, err := h.describe(ctx, other, executionName(other, "key\x00"+key)); err == nil {
			writeError(w, http.StatusConflict, idempotencyConflict())
			return
		} else if !notFound(err) {
			h.sfnFailure(ctx, w, "describe", err)
			return
		}
	} else {
		// Identical content within the same or the previous slot.
		slot := now.Truncate(ContentWindow)
		names = []string{
			executionName(req.kind, fmt.Sprintf("content\x00%s\x00%d", req.comparable, slot.Unix())),
			executionName(req.kind, fmt.Sprintf("content\x00%s\x00%d", req.comparable, slot.Add(-ContentWindow).Unix())),
		}
		if d, err := h.describe(ctx, req.kind, names[1]); err == nil {
			h.replay(ctx, w, r, req, names[1], d, false)
			return
		} else if !notFound(err) {
			h.sfnFailure(ctx, w, "describe", err)
			return
		}
	}
	name := names[0]
	out, err := h.sfn.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(h.machines[req.kind]),
		Name:            aws.String(name),
		Input:           aws.String(string(req.input)),
	})
	var exists *types.ExecutionAlreadyExists
	switch {
	case errors.As(err, &exists):
		d, derr := h.describe(ctx, req.kind, name)
		if derr != nil {
			h.sfnFailure(ctx, w, "describe", derr)
			return
		}
		h.replay(ctx, w, r, req, name, d, key != "")
		return
	case err != nil:
		h.sfnFailure(ctx, w, "start", err)
		return
	}
	h.log.InfoContext(ctx, "export started", "id", name, "kind", req.kind)
	resp := Started{ID: name, Kind: req.kind, Status: StatusRunning, StatusURL: statusURL(r, name),
		ExecutionArn: aws.ToString(out.ExecutionArn), Input: req.input}
	if out.StartDate != nil {
		resp.StartedAt = out.StartDate.UTC().Format(time.RFC3339)
	}
	w.Header().Set("Location", resp.StatusURL)
	writeJSON(w, http.StatusAccepted, resp)
}

// replay answers a request that maps onto an existing execution. With an
// explicit key, that execution must have been started for the same
// request; content-derived names match by construction.
func (h *Handler) replay(ctx context.Context, w http.ResponseWriter, r *http.Request, req parsedRequest, name string, d *sfn.DescribeExecutionOutput, checkInput bool) {
	if checkInput {
		prev, err := parse([]byte(aws.ToString(d.Input)), h.now())
		if err != nil || prev.kind != req.kind || !bytes.Equal(blankLike(prev, req), req.comparable) {
			writeError(w, http.StatusConflict, idempotencyConflict())
			return
		}
	}
	h.log.InfoContext(ctx, "export request replayed", "id", name, "kind", req.kind)
	resp := Started{ID: name, Kind: req.kind, Status: statusName(d.Status), StatusURL: statusURL(r, name),
		ExecutionArn: aws.ToString(d.ExecutionArn), Input: json.RawMessage(aws.ToString(d.Input)), Replayed: true}
	if d.StartDate != nil {
		resp.StartedAt = d.StartDate.UTC().Format(time.RFC3339)
	}
	w.Header().Set("Location", resp.StatusURL)
	writeJSON(w, http.StatusAccepted, resp)
}

func idempotencyConflict() *apiError {
	return &apiError{Name: "IdempotencyConflict", Field: "Idempotency-Key",
		Message: "this Idempotency-Key was already used for a different request; use a new key for a new export"}
}

// parse validates a body and decides which state machine runs it: one
// user with fixed times is a plain export; anything else (emails, a
// window) runs the batch state machine.
func parse(body []byte, now time.Time) (parsedRequest, error) {
	b, err := request.ParseBatch(body, now)
	if err != nil {
		return parsedRequest{}, err
	}
	var raw request.BatchRequest
	if err := json.Unmarshal(body, &raw); err != nil {
		return parsedRequest{}, err
	}
	var rawWindow request.WindowRequest
	if len(raw.Window) > 0 {
		_ = json.Unmarshal(raw.Window, &rawWindow)
	}
	blank := b
	if raw.FinishTime == "" {
		blank.FinishTime = ""
	}
	if blank.Window != nil && rawWindow.At == "" {
		w := *blank.Window
		w.At = ""
		blank.Window = &w
	}
	req := parsedRequest{kind: KindBatch}
	var input, comparable any = b, blank
	if q, single := b.Single(); single {
		req.kind = KindUser
		input = q
		cq, _ := blank.Single()
		comparable = cq
	}
	if req.input, err = json.Marshal(input); err != nil {
		return parsedRequest{}, err
	}
	if req.comparable, err = json.Marshal(comparable); err != nil {
		return parsedRequest{}, err
	}
	return req, nil
}

// blankLike blanks in prev what the new request left to the server, so
// that an earlier execution of the same request compares equal.
func blankLike(prev, req parsedRequest) []byte {
	var p, n request.Batch
	if json.Unmarshal(prev.input, &p) != nil || json.Unmarshal(req.comparable, &n) != nil {
		return prev.input
	}
	if n.FinishTime == "" {
		p.FinishTime = ""
	}
	if p.Window != nil && n.Window != nil && n.Window.At == "" {
		w := *p.Window
		w.At = ""
		p.Window = &w
	}
	var v any = p
	if prev.kind == KindUser {
		v = request.Query{Email: p.Email, StartTime: p.StartTime, FinishTime: p.FinishTime, EventTypes: p.EventTypes}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return prev.input
	}
	return b
}

// executionName derives a deterministic execution name: the kind's prefix
// and 128 bits of a hash. Step Functions keeps names unique per state
// machine for 90 days, which is what makes a retried StartExecution find
// the first one.
func executionName(kind, seed string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + seed))
	return kind[:1] + "-" + hex.EncodeToString(sum[:16])
}

func (h *Handler) executionArn(kind, name string) string {
	return strings.Replace(h.machines[kind], ":stateMachine:", ":execution:", 1) + ":" + name
}

func (h *Handler) describe(ctx context.Context, kind, name string) (*sfn.DescribeExecutionOutput, error) {
	return h.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(h.executionArn(kind, name))})
}

func notFound(err error) bool {
	var dne *types.ExecutionDoesNotExist
	return errors.As(err, &dne)
}

// sfnFailure maps a Step Functions failure to an answer: throttling is
// the client's to retry, the rest is ours, logged and not shown.
func (h *Handler) sfnFailure(ctx context.Context, w http.ResponseWriter, op string, err error) {
	var limit *types.ExecutionLimitExceeded
	var api smithy.APIError
	switch {
	case errors.As(err, &limit):
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusServiceUnavailable, &apiError{Name: "ServiceUnavailable", Message: "too many exports are running; retry later"})
	case errors.As(err, &api) && (api.ErrorCode() == "ThrottlingException" || api.ErrorCode() == "TooManyRequestsException"):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, &apiError{Name: "ThrottledError", Message: "too many requests; retry shortly"})
	default:
		h.internal(ctx, w, op, err)
	}
}

func (h *Handler) internal(ctx context.Context, w http.ResponseWriter, op string, err error) {
	h.log.ErrorContext(ctx, "request failed", "op", op, "error", err.Error())
	writeError(w, http.StatusInternalServerError, &apiError{Name: "InternalError", Message: "the request could not be completed; it has been logged"})
}

// statusURL is the absolute URL of GET /exports/{id}, from the request's
// host, scheme and the path prefix API Gateway strips (its stage).
func statusURL(r *http.Request, id string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	prefix := strings.TrimSuffix(r.Header.Get(prefixHeader), "/")
	return scheme + "://" + r.Host + prefix + "/exports/" + id
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"InternalError","message":"the response could not be encoded"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, e *apiError) {
	writeJSON(w, status, e)
}
