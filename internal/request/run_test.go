package request

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
)

func TestRunPrefixUsesTheExecutionsStartDay(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 5, 0, 0, time.UTC)
	for _, c := range []struct {
		e    Execution
		want string
	}{
		{Execution{Name: "nightly", StartTime: "2026-11-25T23:59:59+00:00"}, "reports/runs/2026-11-25/nightly"},
		{Execution{Name: "nightly", StartTime: "2026-11-26T00:30:00+02:00"}, "reports/runs/2026-11-25/nightly"},
		{Execution{Name: "nightly", StartTime: "not a time"}, "reports/runs/2026-11-26/nightly"},
	} {
		if got := RunPrefix("reports", c.e, now); got != c.want {
			t.Errorf("%+v: got %s, want %s", c.e, got, c.want)
		}
	}
}

func TestValidateExecutionNameRefusesNonFolders(t *testing.T) {
	for _, name := range []string{"", ".", "..", strings.Repeat("n", MaxExecutionName+1), "a/b", "tab\there", "bad\xffutf8"} {
		var ve *failure.ValidationError
		if err := ValidateExecutionName("DiscoverUsers", name); !errors.As(err, &ve) || ve.Field != "execution.name" {
			t.Errorf("%q: got %v", name, err)
		}
	}
	if err := ValidateExecutionName("DiscoverUsers", "nightly.2026-11-25_run-1"); err != nil {
		t.Fatal(err)
	}
}
