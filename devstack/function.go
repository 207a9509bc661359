package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const (
	invokePath = "/2015-03-31/functions/function/invocations"
	// startAttempts bounds retries when a freshly picked free port is taken
	// by someone else before the RIE binds it.
	startAttempts = 3
	readyTimeout  = 10 * time.Second
	// stopGrace is how long Close lets the RIE shut its runtime down on
	// SIGTERM before killing everything.
	stopGrace = 3 * time.Second
)

// FunctionSpec describes one Lambda function to run under aws-lambda-rie.
type FunctionSpec struct {
	// Name becomes AWS_LAMBDA_FUNCTION_NAME (unless Env sets it).
	Name string
	// Bootstrap is the path of the built bootstrap binary (BuildBootstrap).
	Bootstrap string
	// Env is the function's environment. Nothing else from the parent
	// process leaks in except PATH and HOME: the RIE copies its own
	// environment into the function, so this is what the function sees.
	Env map[string]string
	// Timeout sets AWS_LAMBDA_FUNCTION_TIMEOUT, which this RIE enforces
	// (default 300 s). It is rounded up to whole seconds.
	Timeout time.Duration
	// MemoryMB sets AWS_LAMBDA_FUNCTION_MEMORY_SIZE. The RIE only reports it
	// (REPORT line, function env); it does not limit memory.
	MemoryMB int
	// Stdout and Stderr, when set, also receive the RIE's output. The
	// function's own stdout and stderr both arrive on the RIE's stdout.
	Stdout, Stderr io.Writer
}

// Function is one running aws-lambda-rie instance serving one bootstrap.
type Function struct {
	name      string
	invokeURL string
	cmd       *exec.Cmd
	done      chan struct{}
	logs      *logBuffer
	client    *http.Client
	// slot serializes invocations: an RIE instance handles exactly one
	// invocation at a time, and a concurrent request makes this RIE
	// version panic (leaving its runtime orphaned). Parallel work needs
	// several instances.
	slot     chan struct{}
	closed   chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// FunctionError is a function (user) error reported by the runtime: the
// handler returned an error, panicked, exited, or timed out.
type FunctionError struct {
	Type       string          `json:"errorType"`
	Message    string          `json:"errorMessage"`
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// Cause is the text real Step Functions puts in Cause when a direct Lambda
// ARN Task fails; run.mjs produces the same text.
func (e *FunctionError) Cause() string {
	b, _ := json.Marshal(struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}{e.Type, e.Message})
	return string(b)
}

// StartFunction launches aws-lambda-rie on two free 127.0.0.1 ports with
// spec.Bootstrap as its runtime and returns once the emulator accepts
// connections. The function itself initialises on the first invocation,
// as in Lambda. ctx bounds only the start-up; the process runs until Close.
func StartFunction(ctx context.Context, spec FunctionSpec) (*Function, error) {
	tools, err := LocateTools(ctx)
	if err != nil {
		return nil, err
	}
	if spec.Name == "" {
		return nil, errors.New("devstack: FunctionSpec.Name is required")
	}
	bootstrap, err := filepath.Abs(spec.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("devstack: function %s: %w", spec.Name, err)
	}
	if !isExecutable(bootstrap) {
		return nil, fmt.Errorf("devstack: function %s: bootstrap %s is not an executable file", spec.Name, bootstrap)
	}
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		f, err := startOnce(ctx, tools.RIE, bootstrap, spec)
		if err == nil {
			return f, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func startOnce(ctx context.Context, rie, bootstrap string, spec FunctionSpec) (*Function, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, fmt.Errorf("devstack: function %s: %w", spec.Name, err)
	}
	emulatorAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	runtimeAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))

	logs := newLogBuffer()
	cmd := exec.Command(rie,
		// Explicit so a LOG_LEVEL meant for the function does not switch
		// the emulator's own logging.
		"--log-level", "info",
		"--runtime-interface-emulator-address", emulatorAddr,
		"--runtime-api-address", runtimeAddr,
		bootstrap)
	// Like Lambda's /var/task: the function runs next to its bootstrap.
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = functionEnv(spec)
	cmd.Stdout = logs.stream(spec.Stdout)
	cmd.Stderr = logs.stream(spec.Stderr)
	// New session: the RIE starts its runtime in a process group of its
	// own, so the session (not the group) is what holds both processes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// An orphaned runtime can keep the output pipes open; do not let Wait
	// block on them forever.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("devstack: function %s: start %s: %w", spec.Name, rie, err)
	}
	f := &Function{
		name:      spec.Name,
		invokeURL: "http://" + emulatorAddr + invokePath,
		cmd:       cmd,
		done:      make(chan struct{}),
		logs:      logs,
		client:    &http.Client{},
		slot:      make(chan struct{}, 1),
		closed:    make(chan struct{}),
	}
	go func() {
		_ = cmd.Wait()
		logs.flush()
		close(f.done)
	}()

	if err := waitListening(ctx, emulatorAddr, f.done); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("devstack: function %s: aws-lambda-rie not ready: %w\n%s", spec.Name, err, tail(logs.String(), 2000))
	}
	slog.DebugContext(ctx, "devstack function started", "function", spec.Name, "url", f.invokeURL, "pid", cmd.Process.Pid)
	return f, nil
}

func functionEnv(spec FunctionSpec) []string {
	env := map[string]string{
		"PATH":                     os.Getenv("PATH"),
		"HOME":                     os.Getenv("HOME"),
		"AWS_LAMBDA_FUNCTION_NAME": spec.Name,
	}
	if spec.Timeout > 0 {
		secs := int64((spec.Timeout + time.Second - 1) / time.Second)
		env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = strconv.FormatInt(secs, 10)
	}
	if spec.MemoryMB > 0 {
		env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(spec.MemoryMB)
	}
	for k, v := range spec.Env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	// Hold all listeners until every port is chosen so the n ports differ.
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func waitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var d net.Dialer
	for {
		select {
		case <-exited:
			return errors.New("emulator exited during start-up")
		default:
		}
		dctx, dcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		conn, err := d.DialContext(dctx, "tcp", addr)
		dcancel()
		if err == nil {
			_ = conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("emulator exited during start-up")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Name is the function's name.
func (f *Function) Name() string { return f.name }

// InvokeURL is the RIE invocation endpoint
// (POST http://127.0.0.1:PORT/2015-03-31/functions/function/invocations).
func (f *Function) InvokeURL() string { return f.invokeURL }

// Logs returns everything the RIE and the function printed so far, whole
// lines only, stdout and stderr interleaved line by line.
func (f *Function) Logs() string { return f.logs.String() }

// Invoke sends payload (marshalled with encoding/json; pass a
// json.RawMessage to send bytes as they are) and returns the function's
// result, or its FunctionError. The error result is for harness failures
// only. Invocations on one Function are serialized.
func (f *Function) Invoke(ctx context.Context, payload any) (json.RawMessage, *FunctionError, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, nil, fmt.Errorf("devstack: invoke %s: marshal payload: %w", f.name, err)
	}
	return f.InvokeBytes(ctx, body)
}

// InvokeBytes is Invoke with the payload's bytes as they are, JSON or not
// (what a caller of the Lambda API may send).
func (f *Function) InvokeBytes(ctx context.Context, body []byte) (json.RawMessage, *FunctionError, error) {
	status, header, raw, err := f.forward(ctx, body)
	if err != nil {
		return nil, nil, err
	}
	out, fnErr, err := classifyResponse(status, header, raw)
	if err != nil {
		return nil, nil, fmt.Errorf("devstack: invoke %s: %w", f.name, err)
	}
	return out, fnErr, nil
}

// forward sends one invocation to the emulator, holding the function's
// invocation slot until the emulator has answered, and returns the answer
// as it is.
func (f *Function) forward(ctx context.Context, body []byte) (int, http.Header, []byte, error) {
	// Checked first because select picks randomly among ready cases.
	select {
	case <-f.closed:
		return 0, nil, nil, fmt.Errorf("devstack: invoke %s: function closed", f.name)
	default:
	}
	select {
	case f.slot <- struct{}{}:
	case <-ctx.Done():
		return 0, nil, nil, fmt.Errorf("devstack: invoke %s: %w", f.name, ctx.Err())
	case <-f.closed:
		return 0, nil, nil, fmt.Errorf("devstack: invoke %s: function closed", f.name)
	}
	defer func() { <-f.slot }()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.invokeURL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("devstack: invoke %s: %w", f.name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("devstack: invoke %s: %w", f.name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("devstack: invoke %s: read response: %w", f.name, err)
	}
	return resp.StatusCode, resp.Header, raw, nil
}

// ServeHTTP forwards an invocation (POST, the Lambda invoke path) to the
// emulator under the function's invocation slot, so that invocations from
// several interpreter processes — executions run at the same time against
// one stack — reach the emulator one at a time, as it requires. The
// invocation runs to its end even when the caller gives up (a stopped or
// timed-out execution): the emulator is busy until then either way.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an invocation", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	status, header, raw, err := f.forward(context.WithoutCancel(r.Context()), body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for _, k := range []string{"Content-Type", "X-Amz-Function-Error"} {
		if v := header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

// classifyResponse decodes an RIE answer. This RIE version signals a
// function error with HTTP 200 (handler returned an error) or 502 (panic,
// Runtime.ExitError) and an {"errorType","errorMessage"[,"stackTrace"]}
// body; it drops the X-Amz-Function-Error header (still honoured if
// present). A timeout is HTTP 200 with plain text "Task timed out after N.00
// seconds". interpreter/run.mjs applies the same rules.
func classifyResponse(status int, header http.Header, body []byte) (json.RawMessage, *FunctionError, error) {
	if status == http.StatusOK && bytes.HasPrefix(body, []byte("Task timed out after")) {
		return nil, &FunctionError{Type: "Sandbox.Timedout", Message: string(body)}, nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("null")
	}
	if !json.Valid(body) {
		return nil, nil, fmt.Errorf("HTTP %d with non-JSON body: %s", status, tail(string(body), 500))
	}
	headerErr := header.Get("X-Amz-Function-Error")
	if fe, ok := errorEnvelope(body); ok && (headerErr != "" || status == http.StatusOK || status == http.StatusBadGateway) {
		return nil, fe, nil
	}
	if headerErr != "" {
		return nil, &FunctionError{Type: headerErr, Message: string(body)}, nil
	}
	if status != http.StatusOK {
		return nil, nil, fmt.Errorf("HTTP %d: %s", status, tail(string(body), 500))
	}
	return json.RawMessage(body), nil, nil
}

// errorEnvelope recognises the runtime's error body. It requires errorType
// and no keys beyond the envelope's, so a result that merely contains an
// errorType field among others is not mistaken for an error.
func errorEnvelope(body []byte) (*FunctionError, bool) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, false
	}
	for k := range fields {
		if k != "errorType" && k != "errorMessage" && k != "stackTrace" {
			return nil, false
		}
	}
	var fe FunctionError
	if err := json.Unmarshal(body, &fe); err != nil || fe.Type == "" {
		return nil, false
	}
	return &fe, true
}

// PID is the aws-lambda-rie process id (for diagnostics and tests).
func (f *Function) PID() int { return f.cmd.Process.Pid }

// KillRuntime kills the function's runtime process (the bootstrap), not
// the emulator: a function that crashes mid-invocation, as a fatal error
// or the out-of-memory killer would end it. It returns how many processes
// it killed (0 on systems without /proc).
func (f *Function) KillRuntime() int {
	n := 0
	for _, pid := range sessionMembers(f.PID()) {
		if pid != f.PID() && syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

// Close stops the emulator and its runtime: SIGTERM first (the RIE then
// kills and reaps its runtime), SIGKILL to the RIE's process group after
// stopGrace, and finally SIGKILL to every process still in the RIE's
// session, which catches a runtime orphaned by an emulator crash. Safe to
// call more than once.
func (f *Function) Close() error {
	f.stopOnce.Do(func() { f.stopErr = f.terminate() })
	return f.stopErr
}

func (f *Function) terminate() error {
	close(f.closed)
	pid := f.cmd.Process.Pid
	// Snapshot before signalling: once the RIE is reaped its pid could in
	// principle be reused, the runtime's pid could not while it lives.
	members := sessionMembers(pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-f.done:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-f.done
	}
	for _, m := range append(members, sessionMembers(pid)...) {
		if m == pid {
			continue
		}
		_ = syscall.Kill(-m, syscall.SIGKILL)
		_ = syscall.Kill(m, syscall.SIGKILL)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
