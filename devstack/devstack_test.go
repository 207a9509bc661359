package devstack

import (
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	greetARN      = "arn:aws:lambda:us-east-1:000000000000:function:greet"
	greetAgainARN = "arn:aws:lambda:us-east-1:000000000000:function:greet-again"
	boomCause     = `{"errorType":"BoomError","errorMessage":"boom requested"}`
)

// artefacts holds the hello bootstrap shared by all tests; every RIE of
// this test binary runs a binary below it, which TestMain uses to prove no
// process outlives the tests.
var artefacts string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("devstack: skipped with -short (make unit): every test here builds bootstraps or runs the Lambda RIE, the ASL interpreter or moto_server; make test runs them")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "devstack-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack test: temp dir:", err)
		os.Exit(1)
	}
	artefacts = dir
	code := m.Run()
	// pgrep -f matches the command lines of aws-lambda-rie (its last
	// argument is the bootstrap path) and of the bootstrap itself.
	if out, err := exec.Command("pgrep", "-a", "-f", dir).Output(); err == nil {
		fmt.Fprintf(os.Stderr, "devstack test: processes left running:\n%s", out)
		code = 1
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var (
	helloOnce sync.Once
	helloPath string
	helloErr  error
)

func helloBootstrap(t *testing.T) string {
	t.Helper()
	helloOnce.Do(func() {
		helloPath, helloErr = BuildBootstrap(context.Background(), filepath.Join("testdata", "hello"), filepath.Join(artefacts, "hello"))
	})
	if helloErr != nil {
		t.Fatal(helloErr)
	}
	return helloPath
}

// startHello starts the hello function and registers a cleanup that closes
// it and proves its processes are gone.
func startHello(t *testing.T, name string, env map[string]string) *Function {
	t.Helper()
	f, err := StartFunction(t.Context(), FunctionSpec{Name: name, Bootstrap: helloBootstrap(t), Env: env, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndCheck(t, f) })
	return f
}

// closeAndCheck closes f and fails if any process of its session (the RIE
// or its runtime) is still running. A zombie is only logged: it no longer
// runs and is its parent's to reap.
func closeAndCheck(t *testing.T, f *Function) {
	t.Helper()
	if err := f.Close(); err != nil {
		t.Errorf("close %s: %v", f.Name(), err)
	}
	out, err := exec.Command("pgrep", "-s", strconv.Itoa(f.PID())).Output()
	if err != nil {
		return // exit 1: no process in the session
	}
	for _, p := range strings.Fields(string(out)) {
		stat, _ := os.ReadFile("/proc/" + p + "/stat")
		if s := string(stat); strings.Contains(s[strings.LastIndexByte(s, ')')+1:], " Z ") {
			t.Logf("zombie %s left in session of %s", p, f.Name())
			continue
		}
		t.Errorf("process %s of function %s still running after Close", p, f.Name())
	}
}

func TestLocateTools(t *testing.T) {
	tools, err := LocateTools(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !isExecutable(tools.RIE) || !isExecutable(tools.Node) {
		t.Fatalf("tools not executable: %+v", tools)
	}
	if _, err := os.Stat(filepath.Join(tools.InterpreterDir, "run.mjs")); err != nil {
		t.Fatalf("interpreter dir: %v", err)
	}
}

func TestCheckNodeModulesNamesInstallScript(t *testing.T) {
	writePkg := func(t *testing.T, dir, pkg, version string) {
		t.Helper()
		p := filepath.Join(dir, "node_modules", pkg)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "package.json"), []byte(`{"version":"`+version+`"}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		wantErr string
	}{
		{"missing", func(*testing.T, string) {}, "incomplete"},
		{"stale", func(t *testing.T, dir string) {
			writePkg(t, dir, stepFunctionsPkg, "2.0.0")
			writePkg(t, dir, aslValidatorPkg, aslValidatorVersion)
			writePkg(t, dir, duckDBPkg, duckDBVersion)
		}, "stale"},
		{"duckdb missing", func(t *testing.T, dir string) {
			writePkg(t, dir, stepFunctionsPkg, stepFunctionsVersion)
			writePkg(t, dir, aslValidatorPkg, aslValidatorVersion)
		}, "incomplete"},
		{"pinned", func(t *testing.T, dir string) {
			writePkg(t, dir, stepFunctionsPkg, stepFunctionsVersion)
			writePkg(t, dir, aslValidatorPkg, aslValidatorVersion)
			writePkg(t, dir, duckDBPkg, duckDBVersion)
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			err := checkNodeModules(dir)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), InstallScript) {
				t.Fatalf("error = %v, want it to contain %q and %q", err, tc.wantErr, InstallScript)
			}
		})
	}
}

func TestBuildBootstrapUsesDeploymentFlags(t *testing.T) {
	path := helloBootstrap(t)
	if filepath.Base(path) != "bootstrap" {
		t.Fatalf("output %s, want a file named bootstrap", path)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("binary has a dynamic loader: CGO_ENABLED=0 not applied")
		}
	}
	if f.Section(".symtab") != nil {
		t.Fatal("binary has a symbol table: -ldflags -s not applied")
	}
}

func TestClassifyResponse(t *testing.T) {
	withHeader := http.Header{}
	withHeader.Set("X-Amz-Function-Error", "Unhandled")
	tests := []struct {
		name    string
		status  int
		header  http.Header
		body    string
		want    string
		wantFn  *FunctionError
		wantErr bool
	}{
		{name: "result", status: 200, body: `{"greeting":"hi"}`, want: `{"greeting":"hi"}`},
		{name: "handler error", status: 200, body: `{"errorMessage":"m","errorType":"BoomError"}`, wantFn: &FunctionError{Type: "BoomError", Message: "m"}},
		{name: "panic", status: 502, body: `{"errorMessage":"kaboom","errorType":"string","stackTrace":[]}`, wantFn: &FunctionError{Type: "string", Message: "kaboom"}},
		{name: "exit", status: 502, body: `{"errorType":"Runtime.ExitError","errorMessage":"exit status 3"}`, wantFn: &FunctionError{Type: "Runtime.ExitError", Message: "exit status 3"}},
		{name: "timeout", status: 200, body: "Task timed out after 2.00 seconds", wantFn: &FunctionError{Type: "Sandbox.Timedout", Message: "Task timed out after 2.00 seconds"}},
		{name: "result with errorType field", status: 200, body: `{"errorType":"x","count":1}`, want: `{"errorType":"x","count":1}`},
		{name: "header", status: 200, header: withHeader, body: `"bad"`, wantFn: &FunctionError{Type: "Unhandled", Message: `"bad"`}},
		{name: "empty result", status: 200, body: ``, want: `null`},
		{name: "server error", status: 500, body: `{}`, wantErr: true},
		{name: "non-JSON", status: 200, body: `oops`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.header
			if h == nil {
				h = http.Header{}
			}
			out, fe, err := classifyResponse(tc.status, h, []byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantFn != nil {
				if fe == nil || fe.Type != tc.wantFn.Type || fe.Message != tc.wantFn.Message {
					t.Fatalf("function error = %+v, want %+v", fe, tc.wantFn)
				}
				return
			}
			if fe != nil {
				t.Fatalf("unexpected function error %+v", fe)
			}
			if string(out) != tc.want {
				t.Fatalf("out = %s, want %s", out, tc.want)
			}
		})
	}
}

func TestFunctionInvoke(t *testing.T) {
	// The RIE copies its environment into the function; only FunctionSpec.Env
	// (plus PATH and HOME) may get there.
	t.Setenv("HELLO_GREETING", "leaked")
	plain := startHello(t, "hello-fn", nil)
	custom := startHello(t, "hi-fn", map[string]string{"HELLO_GREETING": "hi"})

	tests := []struct {
		name    string
		fn      *Function
		payload any
		want    string
		wantErr *FunctionError
	}{
		{name: "result", fn: plain, payload: map[string]string{"name": "alice"}, want: `{"greeting":"hello alice"}`},
		{name: "env reaches function", fn: custom, payload: json.RawMessage(`{"name":"bob"}`), want: `{"greeting":"hi bob"}`},
		{name: "custom error type", fn: plain, payload: map[string]string{"name": "boom"}, wantErr: &FunctionError{Type: "BoomError", Message: "boom requested"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, fe, err := tc.fn.Invoke(t.Context(), tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != nil {
				if fe == nil || fe.Type != tc.wantErr.Type || fe.Message != tc.wantErr.Message {
					t.Fatalf("function error = %+v, want %+v", fe, tc.wantErr)
				}
				if fe.Cause() != boomCause {
					t.Fatalf("Cause() = %s, want %s", fe.Cause(), boomCause)
				}
				return
			}
			if fe != nil {
				t.Fatalf("unexpected function error %v", fe)
			}
			if string(out) != tc.want {
				t.Fatalf("result = %s, want %s", out, tc.want)
			}
		})
	}

	t.Run("concurrent invokes are serialized", func(t *testing.T) {
		// Unserialized, the second request makes this RIE panic.
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := "p" + strconv.Itoa(i)
				out, fe, err := plain.Invoke(t.Context(), map[string]string{"name": name})
				switch {
				case err != nil:
					errs <- err
				case fe != nil:
					errs <- fe
				case string(out) != `{"greeting":"hello `+name+`"}`:
					errs <- fmt.Errorf("result %s for %s", out, name)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("logs are captured", func(t *testing.T) {
		logs := plain.Logs()
		for _, want := range []string{`"msg":"hello invoked","name":"alice","function":"hello-fn"`, "START RequestId:", "REPORT RequestId:", `"errorType":"BoomError"`} {
			if !strings.Contains(logs, want) {
				t.Errorf("logs lack %q:\n%s", want, logs)
			}
		}
		if !strings.HasSuffix(logs, "\n") {
			t.Errorf("logs should hold whole lines only")
		}
	})

	t.Run("invoke after close fails", func(t *testing.T) {
		closeAndCheck(t, plain)
		if _, _, err := plain.Invoke(t.Context(), map[string]string{"name": "x"}); err == nil {
			t.Fatal("invoke after Close succeeded")
		}
	})
}

func TestColdStart(t *testing.T) {
	bootstrap := helloBootstrap(t)
	const runs = 3
	var samples []time.Duration
	for range runs {
		start := time.Now()
		f, err := StartFunction(t.Context(), FunctionSpec{Name: "cold", Bootstrap: bootstrap})
		if err != nil {
			t.Fatal(err)
		}
		out, fe, err := f.Invoke(t.Context(), map[string]string{"name": "cold"})
		elapsed := time.Since(start)
		closeAndCheck(t, f)
		if err != nil || fe != nil || string(out) != `{"greeting":"hello cold"}` {
			t.Fatalf("first invoke: out=%s fe=%v err=%v", out, fe, err)
		}
		samples = append(samples, elapsed)
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	t.Logf("hello-world cold start (RIE launch to first successful invoke): median %v, samples %v", sorted[runs/2], samples)
	if sorted[runs/2] > 10*time.Second {
		t.Fatalf("cold start median %v is implausibly slow", sorted[runs/2])
	}
}

func enteredStates(events []Event) []string {
	var names []string
	for _, e := range events {
		if e.Type == "StateEntered" {
			names = append(names, e.State)
		}
	}
	return names
}

func countEvents(events []Event, typ, state string) int {
	n := 0
	for _, e := range events {
		if e.Type == typ && (state == "" || e.State == state) {
			n++
		}
	}
	return n
}

func TestRunStateMachine(t *testing.T) {
	greet := startHello(t, "greet", nil)
	greetAgain := startHello(t, "greet-again", nil)
	base := RunSpec{
		DefinitionFile: filepath.Join("testdata", "hello.asl.json"),
		Substitutions:  map[string]string{"GreetFunctionArn": greetARN, "GreetAgainFunctionArn": greetAgainARN},
		Tasks:          map[string]string{greetARN: greet.InvokeURL(), greetAgainARN: greetAgain.InvokeURL()},
		// The definition waits an hour; only the override makes this fast.
		WaitOverride:  time.Millisecond,
		RetryOverride: time.Millisecond,
	}
	tests := []struct {
		name        string
		input       map[string]any
		wantStatus  string
		wantOutput  string
		wantError   string
		wantCause   string
		wantEntered []string
	}{
		{
			name:        "with pause",
			input:       map[string]any{"name": "bob", "pause": true},
			wantStatus:  StatusSucceeded,
			wantOutput:  `{"greeting":"hello hello bob","first":"bob"}`,
			wantEntered: []string{"Greet", "NeedsPause", "Pause", "GreetAgain"},
		},
		{
			name:        "without pause",
			input:       map[string]any{"name": "carol"},
			wantStatus:  StatusSucceeded,
			wantOutput:  `{"greeting":"hello hello carol","first":"carol"}`,
			wantEntered: []string{"Greet", "NeedsPause", "GreetAgain"},
		},
		{
			name:        "BoomError caught to Fail",
			input:       map[string]any{"name": "boom", "pause": true},
			wantStatus:  StatusFailed,
			wantError:   "BoomError",
			wantCause:   boomCause,
			wantEntered: []string{"Greet", "Boomed"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := base
			spec.Input = tc.input
			var live []Event
			spec.OnEvent = func(e Event) { live = append(live, e) }
			start := time.Now()
			exe, err := RunStateMachine(t.Context(), spec)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %v, %d events", tc.name, time.Since(start), len(exe.Events))
			if exe.Status != tc.wantStatus || exe.Error != tc.wantError || exe.Cause != tc.wantCause {
				t.Fatalf("status/error/cause = %s/%s/%s, want %s/%s/%s", exe.Status, exe.Error, exe.Cause, tc.wantStatus, tc.wantError, tc.wantCause)
			}
			if tc.wantOutput != "" && string(exe.Output) != tc.wantOutput {
				t.Fatalf("output = %s, want %s", exe.Output, tc.wantOutput)
			}
			if got := enteredStates(exe.Events); !slices.Equal(got, tc.wantEntered) {
				t.Fatalf("entered states = %v, want %v", got, tc.wantEntered)
			}
			if len(live) != len(exe.Events) || live[0].Type != "ExecutionStarted" {
				t.Fatalf("OnEvent saw %d events, Events has %d", len(live), len(exe.Events))
			}
			last := exe.Events[len(exe.Events)-1]
			wantLast := map[string]string{StatusSucceeded: "ExecutionSucceeded", StatusFailed: "ExecutionFailed"}[tc.wantStatus]
			if last.Type != wantLast || last.Time.IsZero() {
				t.Fatalf("last event = %+v, want %s with a time", last, wantLast)
			}
			if tc.wantStatus == StatusFailed && countEvents(exe.Events, "StateCaught", "Greet") != 1 {
				t.Fatalf("want one StateCaught on Greet, events: %+v", exe.Events)
			}
		})
	}
	if !strings.Contains(greet.Logs(), `"name":"bob"`) || !strings.Contains(greetAgain.Logs(), `"name":"hello bob"`) {
		t.Fatalf("Task states did not reach the functions:\n%s\n%s", greet.Logs(), greetAgain.Logs())
	}
}

func TestRunStateMachineRetryOverride(t *testing.T) {
	greet := startHello(t, "greet", nil)
	start := time.Now()
	exe, err := RunStateMachine(t.Context(), RunSpec{
		DefinitionFile: filepath.Join("testdata", "retry.asl.json"),
		Substitutions:  map[string]string{"GreetFunctionArn": greetARN},
		Tasks:          map[string]string{greetARN: greet.InvokeURL()},
		Input:          map[string]string{"name": "boom"},
		// Retry intervals in the file are an hour.
		RetryOverride: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > time.Minute {
		t.Fatalf("took %v: retry override not applied", elapsed)
	}
	if exe.Status != StatusFailed || exe.Error != "BoomError" || exe.Cause != boomCause {
		t.Fatalf("got %s %s %s", exe.Status, exe.Error, exe.Cause)
	}
	if n := countEvents(exe.Events, "StateRetried", "Explode"); n != 2 {
		t.Fatalf("StateRetried events = %d, want 2", n)
	}
	if n := strings.Count(greet.Logs(), `"name":"boom"`); n != 3 {
		t.Fatalf("function invoked %d times, want 3 (1 + 2 retries)", n)
	}
}

func TestRunStateMachineMapIsSerializedAndNested(t *testing.T) {
	greet := startHello(t, "greet", nil)
	names := []string{"a", "b", "c", "d", "e"}
	exe, err := RunStateMachine(t.Context(), RunSpec{
		DefinitionFile: filepath.Join("testdata", "map.asl.json"),
		Substitutions:  map[string]string{"GreetFunctionArn": greetARN},
		Tasks:          map[string]string{greetARN: greet.InvokeURL()},
		Input:          map[string]any{"names": names},
	})
	if err != nil {
		t.Fatal(err)
	}
	if exe.Status != StatusSucceeded || string(exe.Output) != `["hello a","hello b","hello c","hello d","hello e"]` {
		t.Fatalf("got %s %s (%s: %s)", exe.Status, exe.Output, exe.Error, exe.Cause)
	}
	var indices []int
	for _, e := range exe.Events {
		if e.Type == "MapIterationStarted" {
			if e.ParentState != "GreetAll" {
				t.Fatalf("iteration parent = %q", e.ParentState)
			}
			continue
		}
		if e.Type == "StateEntered" && e.State == "GreetOne" {
			if e.Index == nil {
				t.Fatal("nested StateEntered without index")
			}
			indices = append(indices, *e.Index)
		}
	}
	sort.Ints(indices)
	if !slices.Equal(indices, []int{0, 1, 2, 3, 4}) || countEvents(exe.Events, "MapIterationSucceeded", "") != len(names) {
		t.Fatalf("nested events: indices %v, events %+v", indices, exe.Events)
	}
}

func TestRunStateMachineHarnessErrors(t *testing.T) {
	def := filepath.Join("testdata", "hello.asl.json")
	subs := map[string]string{"GreetFunctionArn": greetARN, "GreetAgainFunctionArn": greetAgainARN}
	// A port that was free a moment ago: nothing listens there.
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://127.0.0.1:" + strconv.Itoa(ports[0]) + invokePath
	tests := []struct {
		name    string
		spec    RunSpec
		wantErr string
	}{
		{
			name:    "unmapped task",
			spec:    RunSpec{DefinitionFile: def, Substitutions: subs, Tasks: map[string]string{greetARN: deadURL}},
			wantErr: "GreetAgain (" + greetAgainARN + ")",
		},
		{
			name:    "missing substitution",
			spec:    RunSpec{DefinitionFile: def, Substitutions: map[string]string{"GreetFunctionArn": greetARN}},
			wantErr: "${GreetAgainFunctionArn}",
		},
		{
			name:    "unreachable function",
			spec:    RunSpec{DefinitionFile: def, Substitutions: subs, Tasks: map[string]string{greetARN: deadURL, greetAgainARN: deadURL}, Input: map[string]string{"name": "x"}},
			wantErr: "ECONNREFUSED",
		},
		{
			name:    "missing definition",
			spec:    RunSpec{DefinitionFile: filepath.Join("testdata", "nope.asl.json")},
			wantErr: "ENOENT",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exe, err := RunStateMachine(t.Context(), tc.spec)
			if err == nil {
				t.Fatalf("no error; execution %+v", exe)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "harness error") {
				t.Fatalf("error %q lacks %q", err, tc.wantErr)
			}
		})
	}
}

func TestRunStateMachineContextCancel(t *testing.T) {
	greet := startHello(t, "greet", nil)
	greetAgain := startHello(t, "greet-again", nil)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := RunStateMachine(ctx, RunSpec{
		DefinitionFile: filepath.Join("testdata", "hello.asl.json"),
		Substitutions:  map[string]string{"GreetFunctionArn": greetARN, "GreetAgainFunctionArn": greetAgainARN},
		Tasks:          map[string]string{greetARN: greet.InvokeURL(), greetAgainARN: greetAgain.InvokeURL()},
		Input:          map[string]any{"name": "slow", "pause": true}, // real one-hour Wait
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Fatalf("cancel took %v", elapsed)
	}
}

func TestValidateASL(t *testing.T) {
	invalid := filepath.Join(t.TempDir(), "invalid.asl.json")
	if err := os.WriteFile(invalid, []byte(`{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nowhere"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file    string
		invalid bool
	}{
		{filepath.Join("testdata", "hello.asl.json"), false},
		{filepath.Join("testdata", "retry.asl.json"), false},
		{filepath.Join("testdata", "map.asl.json"), false},
		{invalid, true},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			err := ValidateASL(t.Context(), tc.file)
			if !tc.invalid {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !strings.Contains(ve.Output, "Nowhere") {
				t.Fatalf("err = %v, want *ValidationError mentioning Nowhere", err)
			}
		})
	}
}
