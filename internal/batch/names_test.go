package batch

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/failure"
)

// Execution names become run folders (issue 9, item 12): "." and ".."
// would collapse into reports/runs/<date> and reports/runs, mixing runs.
func TestPrepareRefusesExecutionNamesThatAreNotFolders(t *testing.T) {
	st, client := newStore(t)
	p := &Preparer{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Prefix: "reports", MaxConcurrency: 5, Log: quiet, Now: fixed("2026-11-25T12:00:00Z")}
	for _, name := range []string{"", ".", "..", strings.Repeat("n", 81), "a/b", "tab\there", "bad\xffutf8"} {
		_, err := p.Handle(t.Context(), PrepareInput{
			Input:     json.RawMessage(`{"email":"a@x.io","finishTime":"2026-11-24T00:00:00"}`),
			Execution: Execution{ID: "arn:x", Name: name, StartTime: "2026-11-25T11:59:00Z"},
		})
		var ve *failure.ValidationError
		if !errors.As(err, &ve) || ve.Field != "execution.name" {
			t.Errorf("name %q: got %v, want a ValidationError for execution.name", name, err)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("name %q: message of %d bytes", name, len(err.Error()))
		}
	}
	list, _ := client.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(st.Bucket)})
	if len(list.Contents) != 0 {
		t.Fatalf("%d objects written for refused names", len(list.Contents))
	}
	// An ordinary console name still works.
	if _, err := p.Handle(t.Context(), PrepareInput{
		Input:     json.RawMessage(`{"email":"a@x.io","finishTime":"2026-11-24T00:00:00"}`),
		Execution: Execution{ID: "arn:x", Name: "nightly.2026-11-25_run-1", StartTime: "2026-11-25T11:59:00Z"},
	}); err != nil {
		t.Fatal(err)
	}
}
