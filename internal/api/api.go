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

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 255

// validID reports whether id is an export id: "u-" or "b-" and 32
// lower-case hex digits. A loop rather than a package-level regexp, which
// every cold start would compile before the first request (BENCHMARKS.md
// §1b, package init).
func validID(id string) bool {
	if len(id) != 34 || (id[0] != 'u' && id[0] != 'b') || id[1] != '-' {
		return false
	}
	for i := 2; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validKey reports whether key is one or more printable ASCII characters
// without spaces (0x21 to 0x7e); a loop for the reason validID is.
func validKey(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

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
	// claims, when set, makes one Idempotency-Key belong to one kind of
	// request atomically (see keyClaims); nil: checked by reads only.
	claims keyClaims
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
	// pinned says the server filled in a value the request left open: an
	// open finishTime ("now"), or a window's reference time (at).
	pinned bool
	// asSent is the normalized request as the client sent it: input with
	// the pinned value left open again. Two requests of one kind ask for
	// the same export exactly when their asSent are equal.
	asSent []byte
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
	if _, present := r.Header["Idempotency-Key"]; present && (key == "" || len(key) > MaxIdempotencyKey || !validKey(key)) {
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

	if key != "" {
		h.startKeyed(ctx, w, r, req, key)
		return
	}
	h.startContent(ctx, w, r, req, now)
}

// started answers a request that started an execution.
func (h *Handler) started(ctx context.Context, w http.ResponseWriter, r *http.Request, req parsedRequest, name string, out *sfn.StartExecutionOutput) {
	h.log.InfoContext(ctx, "export started", "id", name, "kind", req.kind)
	resp := Started{ID: name, Kind: req.kind, Status: StatusRunning, StatusURL: statusURL(r, name),
		ExecutionArn: aws.ToString(out.ExecutionArn), Input: req.input}
	if out.StartDate != nil {
		resp.StartedAt = out.StartDate.UTC().Format(time.RFC3339)
	}
	w.Header().Set("Location", resp.StatusURL)
	writeJSON(w, http.StatusAccepted, resp)
}

// replay answers a request that maps onto an existing execution, showing
// the execution's input (with "pinnedNow" for a keyed request).
func (h *Handler) replay(ctx context.Context, w http.ResponseWriter, r *http.Request, req parsedRequest, name string, d *sfn.DescribeExecutionOutput) {
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
	// What the client left open, read from the body ParseBatch accepted.
	var raw struct {
		FinishTime string `json:"finishTime"`
		Window     struct {
			At string `json:"at"`
		} `json:"window"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return parsedRequest{}, err
	}
	req := parsedRequest{kind: KindBatch, pinned: raw.FinishTime == ""}
	if b.Window != nil {
		req.pinned = raw.Window.At == ""
	}
	if _, single := b.Single(); single {
		req.kind = KindUser
	}
	if req.input, err = marshalAs(req.kind, b); err != nil {
		return parsedRequest{}, err
	}
	if req.asSent, err = asSent(req.kind, req.input, req.pinned); err != nil {
		return parsedRequest{}, err
	}
	return req, nil
}

// marshalAs encodes a normalized input as the kind's state machine takes
// it: a request.Query for one user, the request.Batch otherwise.
func marshalAs(kind string, b request.Batch) ([]byte, error) {
	if kind == KindUser {
		return json.Marshal(request.Query{Email: b.Email, StartTime: b.StartTime, FinishTime: b.FinishTime, EventTypes: b.EventTypes})
	}
	return json.Marshal(b)
}

// asSent turns an execution input of the kind back into the request as
// sent: with pinned, the one value the server pins (a window's at, or
// else finishTime) is blanked again.
func asSent(kind string, input []byte, pinned bool) ([]byte, error) {
	var b request.Batch
	if err := json.Unmarshal(input, &b); err != nil {
		return nil, err
	}
	if pinned {
		if b.Window != nil {
			w := *b.Window
			w.At = ""
			b.Window = &w
		} else {
			b.FinishTime = ""
		}
	}
	return marshalAs(kind, b)
}

// executionName derives a deterministic execution name: the kind's prefix
// and 128 bits of a hash. Step Functions keeps names unique per state
// machine for 90 days, which is what makes a retried StartExecution find
// the first one (see idempotency.go).
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

// find describes an execution; found is false (and err nil) when it
// does not exist.
func (h *Handler) find(ctx context.Context, kind, name string) (d *sfn.DescribeExecutionOutput, found bool, err error) {
	d, err = h.describe(ctx, kind, name)
	if notFound(err) {
		return nil, false, nil
	}
	return d, err == nil, err
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
