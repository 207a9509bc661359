package export_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/export"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/avesim"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

var badInputNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func wantValidationError(t *testing.T, err error, field string) {
	t.Helper()
	var ve *failure.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v (%T), want *failure.ValidationError", err, err)
	}
	if ve.Field != field {
		t.Fatalf("field %q, want %q (%v)", ve.Field, field, err)
	}
	if strings.ContainsFunc(err.Error(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		t.Fatalf("error echoes control characters: %q", err.Error())
	}
}

// TestBadExecutionInputsNeverReachAvePoint sends every execution-input case
// of the shared table through ParseRequest and through the start step
// wired to the real AvePoint client and the simulator: each is refused
// with a ValidationError naming the field, and the simulator proves that
// not one request (not even for a token) reached AvePoint.
func TestBadExecutionInputsNeverReachAvePoint(t *testing.T) {
	sim, err := avesim.Start(t.Context(), avesim.Options{ClientID: "bad-input", ClientSecret: "bad-input-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	client, err := avepoint.New(avepoint.Config{
		Endpoints:   avepoint.Endpoints{APIURL: sim.URL, TokenURL: sim.TokenURL},
		Credentials: avepoint.StaticCredentials{ClientID: "bad-input", ClientSecret: "bad-input-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	starter := &export.Starter{API: client, Policy: request.DefaultWaitPolicy, Now: func() time.Time { return badInputNow },
		Log: slog.New(slog.NewJSONHandler(&logs, nil))}

	n := 0
	for _, c := range badinput.Cases() {
		if !c.Execution {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			_, err := request.ParseRequest(c.Body, badInputNow)
			wantValidationError(t, err, c.Field)
			_, err = starter.Handle(t.Context(), json.RawMessage(c.Body))
			wantValidationError(t, err, c.Field)
		})
	}
	if n < 40 {
		t.Fatalf("only %d execution-input cases; the issue asks for at least 40", n)
	}
	if calls := sim.Server.Calls(); len(calls) != 0 {
		t.Fatalf("%d requests reached AvePoint, first %+v", len(calls), calls[0])
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("log line is not one JSON object (injection?): %q", line)
		}
	}
	// The harness can see calls: a good input does reach AvePoint.
	if _, err := starter.Handle(t.Context(), json.RawMessage(`{"email":"a@contoso.com"}`)); err != nil {
		t.Fatal(err)
	}
	if len(sim.Server.Calls()) == 0 {
		t.Fatal("a valid input made no call: the zero-calls check proves nothing")
	}
	t.Logf("%d execution-input cases refused with zero AvePoint calls", n)
}

// TestBadBatchInputsAreRefused checks the batch / HTTP API half of the
// shared table against the batch input parser.
func TestBadBatchInputsAreRefused(t *testing.T) {
	n := 0
	for _, c := range badinput.Cases() {
		if !c.Batch {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			_, err := request.ParseBatch(c.Body, badInputNow)
			wantValidationError(t, err, c.BatchField)
		})
	}
	t.Logf("%d batch/API body cases", n)
}

func TestBadInputE2ESubsetIsRepresentative(t *testing.T) {
	fields := map[string]bool{}
	for _, c := range badinput.Cases() {
		if !c.E2E {
			continue
		}
		if !c.Execution || !c.JSON() {
			t.Fatalf("%s: end-to-end cases must be JSON execution inputs", c.Name)
		}
		fields[c.Field] = true
	}
	for _, f := range []string{"email", "startTime", "eventTypes[0]", "bucket", ""} {
		if !fields[f] {
			t.Errorf("no end-to-end case for field %q", f)
		}
	}
}
