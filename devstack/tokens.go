package devstack

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// TokenBroker stands in for Step Functions' task tokens on the local
// stack. A .waitForTaskToken Task under the interpreter (run.mjs)
// registers its token here with its timeout, then long-polls for the
// token's end; a function answers the token with SendTaskSuccess through
// the AWS SDK pointed here (AWS_ENDPOINT_URL_SFN), in Step Functions' own
// JSON 1.0 protocol. Each interpreter is a process of its own, so the
// tokens cannot live in any one of them.
//
// As in Step Functions: a token nobody registered is TaskDoesNotExist; one
// that timed out or was answered already is TaskTimedOut; output that is
// not JSON is InvalidOutput. The broker's clock decides the timeout, so a
// token is never both answered and timed out.
type TokenBroker struct {
	URL string // http://127.0.0.1:PORT

	srv    *http.Server
	mu     sync.Mutex
	tokens map[string]*token
}

type token struct {
	status string // waiting, succeeded, timedout
	output json.RawMessage
	done   chan struct{}
	timer  *time.Timer
}

// StartTokenBroker listens on a free local port.
func StartTokenBroker() (*TokenBroker, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("devstack: token broker: %w", err)
	}
	b := &TokenBroker{URL: "http://" + ln.Addr().String(), tokens: map[string]*token{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /devstack/tokens", b.register)
	mux.HandleFunc("GET /devstack/tokens", b.wait)
	mux.HandleFunc("POST /", b.api)
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// Close stops the broker.
func (b *TokenBroker) Close() error {
	b.mu.Lock()
	for _, t := range b.tokens {
		t.timer.Stop()
	}
	b.mu.Unlock()
	return b.srv.Close()
}

func (b *TokenBroker) register(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token     string `json:"token"`
		TimeoutMs int64  `json:"timeoutMs"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil || in.Token == "" || in.TimeoutMs <= 0 {
		http.Error(w, "want {token, timeoutMs > 0}", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.tokens[in.Token]; ok {
		http.Error(w, "token registered twice", http.StatusConflict)
		return
	}
	t := &token{status: "waiting", done: make(chan struct{})}
	t.timer = time.AfterFunc(time.Duration(in.TimeoutMs)*time.Millisecond, func() { b.end(t, "timedout", nil) })
	b.tokens[in.Token] = t
	w.WriteHeader(http.StatusNoContent)
}

// end closes a waiting token; it reports whether it was still waiting.
func (b *TokenBroker) end(t *token, status string, output json.RawMessage) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.status != "waiting" {
		return false
	}
	t.status, t.output = status, output
	t.timer.Stop()
	close(t.done)
	return true
}

// wait answers when the token ends, or after 20 s with "waiting" (the
// caller asks again: no HTTP client needs a longer timeout).
func (b *TokenBroker) wait(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	t := b.tokens[r.URL.Query().Get("token")]
	b.mu.Unlock()
	if t == nil {
		http.Error(w, "unknown token", http.StatusNotFound)
		return
	}
	select {
	case <-t.done:
	case <-time.After(20 * time.Second):
	case <-r.Context().Done():
		return
	}
	b.mu.Lock()
	out := map[string]any{"status": t.status}
	if t.output != nil {
		out["output"] = t.output
	}
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// api speaks the part of the Step Functions API the functions call.
func (b *TokenBroker) api(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	var in struct {
		TaskToken string `json:"taskToken"`
		Output    string `json:"output"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		sfnError(w, "SerializationException", "the request is not JSON")
		return
	}
	if target != "AWSStepFunctions.SendTaskSuccess" {
		sfnError(w, "UnknownOperationException", "the local stack's token broker serves SendTaskSuccess only, not "+strings.TrimPrefix(target, "AWSStepFunctions."))
		return
	}
	if in.TaskToken == "" {
		sfnError(w, "InvalidToken", "Invalid Token: 'Task token is empty'")
		return
	}
	if !json.Valid([]byte(in.Output)) {
		sfnError(w, "InvalidOutput", "Invalid Output: 'the output is not JSON'")
		return
	}
	b.mu.Lock()
	t := b.tokens[in.TaskToken]
	b.mu.Unlock()
	switch {
	case t == nil:
		sfnError(w, "TaskDoesNotExist", "Task Does Not Exist")
	case !b.end(t, "succeeded", json.RawMessage(in.Output)):
		sfnError(w, "TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
	default:
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = io.WriteString(w, "{}")
	}
}

func sfnError(w http.ResponseWriter, code, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.swf.service.v2.model#" + code, "message": message})
}
