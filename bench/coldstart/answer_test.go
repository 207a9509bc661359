package coldstart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/devstack"
)

func TestAnswers(t *testing.T) {
	validation := &devstack.FunctionError{Type: "ValidationError", Message: "invalid email: is not an address"}
	proxy := func(status int, body string) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"statusCode": status, "headers": map[string]string{}, "body": body})
		return b
	}
	tests := []struct {
		name   string
		answer Answer
		out    json.RawMessage
		fnErr  *devstack.FunctionError
		ok     bool
	}{
		{"the named error and field", FailsWith("ValidationError", "email"), nil, validation, true},
		{"any field", FailsWith("ValidationError", ""), nil, validation, true},
		{"another field", FailsWith("ValidationError", "key"), nil, validation, false},
		{"a field that only starts the same", FailsWith("ValidationError", "e"), nil, validation, false},
		{"another error type", FailsWith("ValidationError", ""), nil, &devstack.FunctionError{Type: "ConfigError", Message: "invalid email: x"}, false},
		// A bootstrap that crashed: the runtime's own error type.
		{"a crash", FailsWith("ValidationError", ""), nil, &devstack.FunctionError{Type: "Runtime.ExitError", Message: "exit status 2"}, false},
		{"a result instead of the refusal", FailsWith("ValidationError", ""), json.RawMessage(`{"jobId":"1"}`), nil, false},
		{"API refusal", APIRefuses(400, "ValidationError", "email"), proxy(400, `{"error":"ValidationError","message":"invalid email: …","field":"email"}`), nil, true},
		{"API refusal, other field", APIRefuses(400, "ValidationError", "email"), proxy(400, `{"error":"ValidationError","field":"Idempotency-Key"}`), nil, false},
		{"API 5xx", APIRefuses(400, "ValidationError", ""), proxy(502, `{"error":"TransientError"}`), nil, false},
		{"API accepted", APIRefuses(400, "ValidationError", ""), proxy(202, `{"id":"x"}`), nil, false},
		{"API body not JSON", APIRefuses(400, "ValidationError", ""), proxy(400, `bad request`), nil, false},
		{"API function error", APIRefuses(400, "ValidationError", ""), nil, validation, false},
		{"API not a proxy response", APIRefuses(400, "ValidationError", ""), json.RawMessage(`"text"`), nil, false},
		{"success", Succeeds(nil), json.RawMessage(`{}`), nil, true},
		{"success refused by its check", Succeeds(func(json.RawMessage) error { return os.ErrInvalid }), json.RawMessage(`{}`), nil, false},
		{"success wanted, error got", Succeeds(nil), nil, validation, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.answer(tt.out, tt.fnErr)
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestClipKeepsUTF8(t *testing.T) {
	s := strings.Repeat("é", 400)
	got := clip(s)
	if len(got) > 300+len("…") || !strings.HasSuffix(got, "…") || !utf8Valid(got) {
		t.Fatalf("clip gave %d bytes, valid %v", len(got), utf8Valid(got))
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// TestFunctionsAreTheMakefiles keeps the measured list the deployed one:
// a function added to the Makefile (and functions/) without a refused
// input here would go unmeasured.
func TestFunctionsAreTheMakefiles(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^FUNCTIONS\s*:=\s*((?:.*\\\n)*.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no FUNCTIONS in the Makefile")
	}
	want := strings.Fields(strings.ReplaceAll(string(m[1]), "\\", " "))
	if !slices.Equal(Functions, want) {
		t.Fatalf("Functions %v, Makefile FUNCTIONS %v", Functions, want)
	}
	dirs, err := filepath.Glob(filepath.Join("..", "..", "functions", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, d := range dirs {
		have = append(have, filepath.Base(filepath.Dir(d)))
	}
	slices.Sort(have)
	sorted := slices.Sorted(slices.Values(Functions))
	if !slices.Equal(have, sorted) {
		t.Fatalf("functions/*/main.go %v, Functions %v", have, sorted)
	}
}

// TestTargetsCoverEveryFunction: hello first, then every function with a
// refused input, its check and an input for the network check; the export
// steps with their successful request.
func TestTargetsCoverEveryFunction(t *testing.T) {
	bins := map[string]string{}
	for _, fn := range Functions {
		bins[fn] = "/bin/" + fn
	}
	e := &Env{FunctionEnv: map[string]string{"REPORT_BUCKET": "b", "REPORT_PREFIX": "reports"}}
	targets, err := e.Targets("/bin/hello", bins)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != len(Functions)+1 || targets[0].Name != "hello" || targets[0].Success == nil || targets[0].Refused != nil {
		t.Fatalf("targets %d, first %+v", len(targets), targets[0])
	}
	for i, tg := range targets[1:] {
		if tg.Name != Functions[i] || tg.Bootstrap != bins[tg.Name] {
			t.Fatalf("target %d is %s (%s)", i, tg.Name, tg.Bootstrap)
		}
		if tg.Refused == nil || tg.Refusal == nil || tg.Connects == nil {
			t.Errorf("%s: refused %v, refusal set %v, connects %v", tg.Name, tg.Refused != nil, tg.Refusal != nil, tg.Connects != nil)
		}
		if (tg.Success != nil) != slices.Contains([]string{"startexport", "checkjob", "storereport"}, tg.Name) || (tg.Success != nil) != (tg.Succeeded != nil) {
			t.Errorf("%s: success request %v", tg.Name, tg.Success != nil)
		}
		if tg.Env["REPORT_BUCKET"] != "b" {
			t.Errorf("%s: env %v", tg.Name, tg.Env)
		}
	}
	api := targets[1+slices.Index(Functions, "api")]
	if api.Env["EXPORT_STATE_MACHINE_ARN"] == "" || e.FunctionEnv["EXPORT_STATE_MACHINE_ARN"] != "" {
		t.Fatalf("the API's extra environment: %v (shared env %v)", api.Env, e.FunctionEnv)
	}
	if _, err := e.Targets("/bin/hello", map[string]string{"startexport": "x"}); err == nil {
		t.Fatal("targets without every bootstrap")
	}
}

func TestParseInitTrace(t *testing.T) {
	stderr := "init runtime @0.022 ms, 0.76 ms clock, 0 bytes, 0 allocs\n" +
		"init internal/godebug @1.5 ms, 0.058 ms clock, 312 bytes, 7 allocs\n" +
		"some log line\n" +
		"init github.com/x/y @4.4 ms, 0.11 ms clock, 93472 bytes, 721 allocs\n" +
		"init broken @1 ms, x ms clock, 1 bytes, 1 allocs\n"
	tr := ParseInitTrace(stderr)
	if tr.Packages != 3 || tr.Bytes != 93784 || tr.Clock != 928*time.Microsecond || tr.ByPackage["github.com/x/y"] != 110*time.Microsecond {
		t.Fatalf("got %+v", tr)
	}
	other := ParseInitTrace("init runtime @0.02 ms, 0.5 ms clock, 0 bytes, 0 allocs\ninit internal/godebug @1 ms, 0.2 ms clock, 312 bytes, 7 allocs\n")
	third := ParseInitTrace("init runtime @0.02 ms, 0.9 ms clock, 0 bytes, 0 allocs\ninit internal/godebug @1 ms, 0.3 ms clock, 312 bytes, 7 allocs\ninit github.com/x/y @2 ms, 0.01 ms clock, 93472 bytes, 1 allocs\n")
	c := SummariseInit([]InitTrace{tr, other, third}, func(pkg string) bool { return strings.HasPrefix(pkg, "github.com/") })
	// godebug's median 0.2 ms beats y's 0.01 (absent in one run counts 0);
	// the runtime's own init is never the dearest.
	if c.Runs != 3 || c.Packages != 3 || c.Dearest != "internal/godebug" || c.DearestClock != 200*time.Microsecond || c.Clock != 928*time.Microsecond || c.Bytes != 93784 {
		t.Fatalf("got %+v", c)
	}
	// The group's per-start sums: 0.11, 0, 0.01 ms → median 0.01 ms.
	if c.GroupClock != 10*time.Microsecond || c.GroupBytes != 93472 {
		t.Fatalf("group %s %d", c.GroupClock, c.GroupBytes)
	}
	if got := c.String(); got != "0.9 ms, 92 KiB (internal/godebug 0.20 ms, 0 KiB)" {
		t.Fatalf("String() = %q", got)
	}
	if s := SummariseInit(nil, nil); s.String() != "—" {
		t.Fatalf("empty: %q", s.String())
	}
}
