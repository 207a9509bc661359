package devstack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Execution statuses, as Step Functions names them.
const (
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT" // RunSpec.Timeout ran out
	StatusAborted   = "ABORTED"   // RunSpec.Stop was closed
)

// RunSpec is one state machine execution.
type RunSpec struct {
	// DefinitionFile is the ASL JSON file, with ${Name} placeholders.
	DefinitionFile string
	// Substitutions fill the placeholders, like SAM DefinitionSubstitutions.
	// A placeholder without a value is a harness error.
	Substitutions map[string]string
	// Tasks maps each Task Resource (after substitution) to an RIE invoke
	// URL (Function.InvokeURL). Every Task state, nested ones included,
	// must be mapped. Invocations to one URL are serialized, except to the
	// URLs in ConcurrentTasks.
	Tasks map[string]string
	// ConcurrentTasks are Tasks URLs that take overlapping invocations
	// themselves (a Pool behind the stack's invoker).
	ConcurrentTasks []string
	// Input is the execution input (marshalled with encoding/json; nil
	// means {}).
	Input any
	// WaitOverride, when > 0, replaces the duration of every Wait state
	// (millisecond resolution; use time.Millisecond for "immediately").
	// Zero keeps the definition's real waits.
	WaitOverride time.Duration
	// RetryOverride, when > 0, replaces the interval before every retry of
	// every state. Zero keeps the definition's intervals.
	RetryOverride time.Duration
	// ExecutionName is $$.Execution.Name (default: devstack-<uuid>).
	ExecutionName string
	// StateMachines maps state machine ARNs to ASL files for Tasks that
	// start nested executions (arn:aws:states:::states:startExecution.sync
	// and .sync:2): each runs in-process with the same Substitutions and
	// Tasks, and its events come through with Event.Execution set.
	StateMachines map[string]string
	// S3Endpoint is the S3 (moto) base URL from which Distributed Map
	// ItemReaders (s3:getObject, JSON) read their items. A ResultWriter is
	// ignored: the Map's result is the inline array of item results.
	S3Endpoint string
	// DynamoDBEndpoint is the DynamoDB (moto) base URL the
	// arn:aws:states:::dynamodb:* Tasks call.
	DynamoDBEndpoint string
	// EventsEndpoint is the EventBridge (moto) base URL the
	// arn:aws:states:::events:putEvents Tasks call.
	EventsEndpoint string
	// SQSEndpoint is the SQS (moto) base URL the
	// arn:aws:states:::sqs:sendMessage.waitForTaskToken Tasks send to;
	// TokenBroker is the TokenBroker's URL, where those Tasks wait for
	// their token.
	SQSEndpoint string
	TokenBroker string
	// StateMachineArn is $$.StateMachine.Id; $$.Execution.Id is its
	// execution ARN with ExecutionName (default: a machine "devstack").
	StateMachineArn string
	// Timeout, when > 0, is the execution's TimeoutSeconds (whole seconds,
	// rounded up): the execution ends TIMED_OUT, as one whose caller or
	// definition limits it does.
	Timeout time.Duration
	// Stop, when closed, stops the execution as StopExecution does: it
	// ends ABORTED, Tasks in flight are not awaited.
	Stop <-chan struct{}
	// OnEvent, if set, is called for each event as it happens (from the
	// goroutine running RunStateMachine).
	OnEvent func(Event)
}

// Event is one execution event from aws-local-stepfunctions. Events of
// states inside Map iterations and Parallel branches come through too:
// those carry Index (Map iteration) and the Map/Parallel events carry
// ParentState.
type Event struct {
	// Type: ExecutionStarted, ExecutionSucceeded, ExecutionFailed,
	// ExecutionAborted, ExecutionTimeout, StateEntered, StateExited,
	// StateFailed, StateRetried, StateCaught, MapIterationStarted,
	// MapIterationSucceeded, MapIterationFailed, ParallelBranchStarted,
	// ParallelBranchSucceeded, ParallelBranchFailed.
	Type         string          `json:"type"`
	Time         time.Time       `json:"time"`
	State        string          `json:"state,omitempty"`
	StateType    string          `json:"stateType,omitempty"`
	Index        *int            `json:"index,omitempty"`
	ParentState  string          `json:"parentState,omitempty"`
	Error        string          `json:"error,omitempty"`
	Cause        string          `json:"cause,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	Output       json.RawMessage `json:"output,omitempty"`
	RetryAttempt int             `json:"retryAttempt,omitempty"`
	// Execution is the name of the nested execution (RunSpec.StateMachines)
	// the event belongs to; empty for the execution RunStateMachine started.
	Execution string `json:"execution,omitempty"`
}

// Execution is the outcome of RunStateMachine.
type Execution struct {
	Status string // StatusSucceeded, StatusFailed, StatusTimedOut or StatusAborted
	Output json.RawMessage
	Error  string
	Cause  string
	Events []Event
}

// nodeSpec is the job file format read by interpreter/run.mjs.
type nodeSpec struct {
	DefinitionFile  string            `json:"definitionFile"`
	Substitutions   map[string]string `json:"substitutions"`
	Tasks           map[string]string `json:"tasks"`
	ConcurrentTasks []string          `json:"concurrentTasks,omitempty"`
	WaitOverrideMs  *int64            `json:"waitOverrideMs,omitempty"`
	RetryOverrideMs *int64            `json:"retryOverrideMs,omitempty"`
	ExecutionName   string            `json:"executionName,omitempty"`
	StateMachines   map[string]string `json:"stateMachines,omitempty"`
	S3Endpoint      string            `json:"s3Endpoint,omitempty"`
	DynamoDB        string            `json:"dynamodbEndpoint,omitempty"`
	Events          string            `json:"eventsEndpoint,omitempty"`
	SQS             string            `json:"sqsEndpoint,omitempty"`
	TokenBroker     string            `json:"tokenBrokerEndpoint,omitempty"`
	StateMachineArn string            `json:"stateMachineArn,omitempty"`
	TimeoutSeconds  int64             `json:"timeoutSeconds,omitempty"`
	Input           json.RawMessage   `json:"input"`
}

// line is any line run.mjs prints: an Event, the Result or a HarnessError.
type line struct {
	Event
	Status  string `json:"status"`
	Message string `json:"message"`
}

// RunStateMachine runs spec.DefinitionFile under node interpreter/run.mjs.
// A harness failure (tools missing, unmapped Task, unreachable RIE, bad
// definition) is a Go error; an execution that fails is not: it returns
// Status == StatusFailed with Error and Cause.
func RunStateMachine(ctx context.Context, spec RunSpec) (*Execution, error) {
	tools, err := LocateTools(ctx)
	if err != nil {
		return nil, err
	}
	def, err := filepath.Abs(spec.DefinitionFile)
	if err != nil {
		return nil, fmt.Errorf("devstack: definition %s: %w", spec.DefinitionFile, err)
	}
	input := []byte("{}")
	if spec.Input != nil {
		if input, err = json.Marshal(spec.Input); err != nil {
			return nil, fmt.Errorf("devstack: marshal input: %w", err)
		}
	}
	ns := nodeSpec{
		DefinitionFile:  def,
		Substitutions:   orEmpty(spec.Substitutions),
		Tasks:           orEmpty(spec.Tasks),
		ConcurrentTasks: spec.ConcurrentTasks,
		WaitOverrideMs:  overrideMs(spec.WaitOverride),
		RetryOverrideMs: overrideMs(spec.RetryOverride),
		ExecutionName:   spec.ExecutionName,
		S3Endpoint:      spec.S3Endpoint,
		DynamoDB:        spec.DynamoDBEndpoint,
		Events:          spec.EventsEndpoint,
		SQS:             spec.SQSEndpoint,
		TokenBroker:     spec.TokenBroker,
		StateMachineArn: spec.StateMachineArn,
		Input:           input,
	}
	if spec.Timeout > 0 {
		ns.TimeoutSeconds = int64((spec.Timeout + time.Second - 1) / time.Second)
	}
	for arn, file := range spec.StateMachines {
		abs, err := filepath.Abs(file)
		if err != nil {
			return nil, fmt.Errorf("devstack: definition %s: %w", file, err)
		}
		if ns.StateMachines == nil {
			ns.StateMachines = map[string]string{}
		}
		ns.StateMachines[arn] = abs
	}
	specFile, err := writeTemp(ns)
	if err != nil {
		return nil, err
	}
	defer os.Remove(specFile)

	cmd := exec.CommandContext(ctx, tools.Node, "run.mjs", specFile)
	cmd.Dir = tools.InterpreterDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("devstack: node: %w", err)
	}
	var stdin io.WriteCloser
	if spec.Stop != nil {
		if stdin, err = cmd.StdinPipe(); err != nil {
			return nil, fmt.Errorf("devstack: node: %w", err)
		}
	}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("devstack: start node: %w", err)
	}
	if stdin != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			defer stdin.Close()
			select {
			case <-spec.Stop:
				_, _ = io.WriteString(stdin, "stop\n")
			case <-done:
			}
		}()
	}

	exe := &Execution{}
	var harnessMsg string
	var stray []string
	gotResult := false
	sc := bufio.NewScanner(stdout)
	// Events carry state input/output; allow large documents.
	sc.Buffer(make([]byte, 0, 64*1024), 64<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Type == "" {
			stray = append(stray, sc.Text())
			continue
		}
		switch l.Type {
		case "Result":
			gotResult = true
			exe.Status, exe.Output, exe.Error, exe.Cause = l.Status, l.Output, l.Error, l.Cause
		case "HarnessError":
			harnessMsg = l.Message
		default:
			exe.Events = append(exe.Events, l.Event)
			if spec.OnEvent != nil {
				spec.OnEvent(l.Event)
			}
		}
	}
	scanErr := sc.Err()
	if scanErr != nil {
		// Keep draining so node is not blocked writing to a full pipe.
		_, _ = io.Copy(io.Discard, stdout)
	}
	waitErr := cmd.Wait()

	if ctx.Err() != nil {
		return nil, fmt.Errorf("devstack: run %s: %w", filepath.Base(def), ctx.Err())
	}
	diag := diagnostics(stderr.String(), stray)
	if harnessMsg != "" {
		return nil, fmt.Errorf("devstack: run %s: harness error: %s%s", filepath.Base(def), harnessMsg, diag)
	}
	if scanErr != nil {
		return nil, fmt.Errorf("devstack: run %s: read events: %w%s", filepath.Base(def), scanErr, diag)
	}
	code := 0
	var exitErr *exec.ExitError
	if errors.As(waitErr, &exitErr) {
		code = exitErr.ExitCode()
	} else if waitErr != nil {
		return nil, fmt.Errorf("devstack: run %s: node: %w%s", filepath.Base(def), waitErr, diag)
	}
	want := map[int][]string{0: {StatusSucceeded}, 1: {StatusFailed, StatusTimedOut}, 3: {StatusAborted}}[code]
	if !gotResult || !slices.Contains(want, exe.Status) {
		return nil, fmt.Errorf("devstack: run %s: node exited %d with result status %q%s", filepath.Base(def), code, exe.Status, diag)
	}
	return exe, nil
}

func overrideMs(d time.Duration) *int64 {
	if d <= 0 {
		return nil
	}
	ms := d.Milliseconds()
	return &ms
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func writeTemp(v any) (string, error) {
	f, err := os.CreateTemp("", "devstack-run-*.json")
	if err != nil {
		return "", fmt.Errorf("devstack: spec file: %w", err)
	}
	if err := json.NewEncoder(f).Encode(v); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("devstack: spec file: %w", err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("devstack: spec file: %w", err)
	}
	return f.Name(), nil
}

func diagnostics(stderr string, stray []string) string {
	var b strings.Builder
	if s := strings.TrimSpace(stderr); s != "" {
		b.WriteString("\nnode stderr:\n" + tail(s, 4000))
	}
	if len(stray) > 0 {
		b.WriteString("\nunexpected stdout:\n" + tail(strings.Join(stray, "\n"), 2000))
	}
	return b.String()
}

// ValidationError is an ASL file rejected by asl-validator.
type ValidationError struct {
	File   string
	Output string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("devstack: %s is not valid ASL:\n%s", e.File, e.Output)
}

// ValidateASL checks an ASL file with the pinned asl-validator 4.0.0 in
// devstack/interpreter (its --json-path mode). ${Name} placeholders
// are accepted as they are. An invalid definition returns *ValidationError.
func ValidateASL(ctx context.Context, file string) error {
	tools, err := LocateTools(ctx)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return fmt.Errorf("devstack: validate %s: %w", file, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("devstack: validate: %w", err)
	}
	// Equivalent to `npx --no-install asl-validator --json-path FILE` run in
	// the interpreter folder, minus npx's start-up (seconds on a loaded
	// 2-core machine): the pinned package's own bin script under node.
	bin, err := aslValidatorBin(tools.InterpreterDir)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, tools.Node, bin, "--json-path", abs)
	cmd.Dir = tools.InterpreterDir
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() == 1:
		return &ValidationError{File: abs, Output: strings.TrimSpace(string(out))}
	default:
		return fmt.Errorf("devstack: asl-validator %s: %w\n%s", abs, err, tail(string(out), 2000))
	}
}

func aslValidatorBin(interp string) (string, error) {
	dir := filepath.Join(interp, "node_modules", aslValidatorPkg)
	raw, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return "", missing("asl-validator not installed", err)
	}
	var meta struct {
		Bin map[string]string `json:"bin"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return "", missing("asl-validator package.json broken", err)
	}
	if meta.Bin[aslValidatorPkg] == "" {
		return "", missing("asl-validator broken", errors.New("package.json has no bin entry"))
	}
	return filepath.Join(dir, meta.Bin[aslValidatorPkg]), nil
}
