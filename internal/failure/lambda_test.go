package failure_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/insights-export/insights-export/internal/failure"
)

// errorName is what Step Functions will see: the error's type name.
func errorName(err error) string {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

func TestLambdaErrorUnwrapsToTheVocabulary(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{errors.Join(errors.New("context"), &failure.AuthError{Reason: "x"}), "AuthError"},
		{&failure.JobDeadlineExceededError{JobID: "1"}, "JobDeadlineExceededError"},
		{errors.New("boom"), "InternalError"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := errorName(failure.ForLambda(tt.err)); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
