package failure_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/insights-export/insights-export/internal/failure"
)

type input struct {
	JobID string `json:"jobId"`
	Polls int    `json:"polls"`
}

// A payload the handler cannot take is a ValidationError naming what is
// wrong, never the runtime's own unmarshal error; the handler's errors
// come back as ForLambda makes them.
func TestHandlerDecodesAndNamesErrors(t *testing.T) {
	h := failure.Handler(func(_ context.Context, in input) (input, error) {
		if in.JobID == "boom" {
			return input{}, errors.Join(errors.New("context"), &failure.TransientError{Reason: "x"})
		}
		in.Polls++
		return in, nil
	})
	out, err := h.Invoke(context.Background(), []byte(`{"jobId":"7","polls":1}`))
	if err != nil || string(out) != `{"jobId":"7","polls":2}` {
		t.Fatalf("Invoke = %s, %v", out, err)
	}
	for _, tt := range []struct{ payload, field string }{
		{`not json at all`, ""},
		{`{"jobId":`, ""},
		{`"a string"`, ""},
		{`{"polls":"three"}`, "polls"},
	} {
		_, err := h.Invoke(context.Background(), []byte(tt.payload))
		var ve *failure.ValidationError
		if !errors.As(err, &ve) || ve.Field != tt.field || errorName(err) != "ValidationError" {
			t.Errorf("payload %q: %v (%T), want a ValidationError on %q", tt.payload, err, err, tt.field)
		}
		if strings.Contains(err.Error(), "three") {
			t.Errorf("the error echoes the payload: %v", err)
		}
	}
	if _, err := h.Invoke(context.Background(), []byte(`{"jobId":"boom"}`)); errorName(err) != "TransientError" {
		t.Errorf("a wrapped handler error came back as %v (%s)", err, errorName(err))
	}
}
