package batch

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
)

// A run in which users failed carries the failure the batch state machine
// ends in, when the stack fails such runs; a clean run, or a stack that
// does not, carries none. The manifest is written either way.
func TestManifestFailsRunsWithFailedUsers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failOn   bool
		statuses []string
		want     bool
	}{
		{"failed users, failing on", true, []string{"succeeded", "failed", "failed"}, true},
		{"failed users, failing off", false, []string{"succeeded", "failed", "failed"}, false},
		{"nobody failed", true, []string{"succeeded", "succeeded", "succeeded"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := newStore(t)
			out, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"emails":["a@x.io","b@x.io","c@x.io"],"finishTime":"2026-11-24T00:00:00"}`)
			if err != nil {
				t.Fatal(err)
			}
			var entries []map[string]any
			for i, email := range []string{"a@x.io", "b@x.io", "c@x.io"} {
				e := map[string]any{"email": email, "status": tc.statuses[i]}
				if tc.statuses[i] == "succeeded" {
					e["report"] = report(email, "", "2026-11-24T00:00:00")
				} else {
					e["error"], e["cause"] = "States.TaskFailed", childCause(t, "FAILED", "AuthError", `{"errorType":"AuthError","errorMessage":"token refused"}`)
				}
				entries = append(entries, e)
			}
			raw, _ := json.Marshal(entries)
			w := &ManifestWriter{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, FailOnUserFailures: tc.failOn, Log: quiet, Now: fixed("2026-11-25T12:01:00Z")}
			got, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: raw})
			if err != nil {
				t.Fatal(err)
			}
			getJSON[Manifest](t, st, out.ManifestKey) // written either way
			if (got.Failure != nil) != tc.want {
				t.Fatalf("failure %+v, want one: %v", got.Failure, tc.want)
			}
			if !tc.want {
				return
			}
			if got.Failure.Error != "UsersFailedError" {
				t.Errorf("error %q", got.Failure.Error)
			}
			var cause struct {
				Type     string           `json:"errorType"`
				Message  string           `json:"errorMessage"`
				Counts   request.Counts   `json:"counts"`
				Manifest request.Location `json:"manifest"`
			}
			if err := json.Unmarshal([]byte(got.Failure.Cause), &cause); err != nil {
				t.Fatalf("cause is not JSON: %v: %s", err, got.Failure.Cause)
			}
			if cause.Type != "UsersFailedError" || cause.Counts != got.Counts || cause.Counts.Failed != 2 || cause.Manifest != got.Manifest ||
				!strings.HasPrefix(cause.Message, "2 of 3 users failed") {
				t.Errorf("cause %+v", cause)
			}
			// Names and addresses stay in the manifest, out of the cause.
			for _, email := range []string{"a@x.io", "b@x.io", "c@x.io"} {
				if strings.Contains(got.Failure.Cause, email) {
					t.Errorf("cause names %s: %s", email, got.Failure.Cause)
				}
			}
		})
	}
}

// The name the ASL fails with is the vocabulary's type.
func TestUsersFailedNameIsTheType(t *testing.T) {
	if n := reflect.TypeOf(failure.UsersFailedError{}).Name(); n != usersFailedName {
		t.Fatalf("usersFailedName %q, type %q", usersFailedName, n)
	}
}
