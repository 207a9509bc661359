package request

import (
	"fmt"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/insights-export/insights-export/internal/failure"
)

// Execution identifies a batch execution, from the context object
// ($$.Execution). The steps that write a run's files (PrepareBatch, the
// user discovery) take it beside the execution input.
type Execution struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	StartTime string `json:"startTime"`
}

// MaxExecutionName is Step Functions' own limit on execution names.
const MaxExecutionName = 80

// ValidateExecutionName refuses a name that cannot be a run folder: "."
// and ".." would be cleaned out of the path (runs of every execution of
// the day, or of all days, would share a folder), and anything longer than
// Step Functions allows did not come from Step Functions. step names the
// function that needs it, for the message.
func ValidateExecutionName(step, name string) error {
	bad := func(reason string) error { return &failure.ValidationError{Field: "execution.name", Reason: reason} }
	switch {
	case name == "":
		return bad("is required: " + step + " needs the execution's name (the state's Parameters pass $$.Execution)")
	case name == "." || name == "..":
		return bad(`cannot be "." or ".." (it names the run's folder)`)
	case len(name) > MaxExecutionName:
		return bad(fmt.Sprintf("is %d bytes; Step Functions allows %d", len(name), MaxExecutionName))
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '/' }):
		return bad("has control characters, a slash or invalid UTF-8")
	}
	return nil
}

// RunPrefix is where a run's files go, beside the reports:
// <prefix>/runs/<UTC date the execution started>/<execution name>.
func RunPrefix(prefix string, e Execution, now time.Time) string {
	day := now
	if t, err := time.Parse(time.RFC3339Nano, e.StartTime); err == nil {
		day = t
	}
	return path.Join(prefix, "runs", day.UTC().Format("2006-01-02"), KeyEscape(e.Name))
}
