package avesim

import (
	"slices"
	"strings"
	"testing"
)

// OutcomeJobs fails only the email's jobs with those numbers, counted
// across everything the server saw for the email.
func TestOutcomeJobsFailsOnlyTheNumberedJobs(t *testing.T) {
	e := newEnv(t, Options{PollsToFinish: -1, Plans: map[string]JobPlan{
		strings.ToUpper(guestEmail): {Outcome: Fail, Message: "window 3 broke", OutcomeJobs: []int{3}},
	}})
	tok := e.token(t)
	other := "other%2540t.onmicrosoft.com"
	var got []int
	for i := range 5 {
		if i == 1 {
			// Another user's job does not count for the guest.
			e.startJob(t, tok, other, "")
		}
		id := e.startJob(t, tok, guestSegment, "")
		code, msg := e.poll(t, tok, id)
		if code == JobFailed && msg != "window 3 broke" {
			t.Errorf("job %d: message %q", i+1, msg)
		}
		got = append(got, code)
	}
	if want := []int{2, 2, 3, 2, 2}; !slices.Equal(got, want) {
		t.Fatalf("jobStatus of the guest's jobs %v, want %v", got, want)
	}
}

func TestOutcomeJobsRefusesPlansThatStartNoJob(t *testing.T) {
	for name, p := range map[string]JobPlan{
		"reject":   {Outcome: RejectExport, OutcomeJobs: []int{1}},
		"job id":   {ExportJobID: "7", OutcomeJobs: []int{1}},
		"zero":     {Outcome: Fail, OutcomeJobs: []int{0}},
		"negative": {Outcome: Fail, OutcomeJobs: []int{2, -1}},
	} {
		if _, err := New(Options{ClientID: "c", ClientSecret: "s", Plans: map[string]JobPlan{"a@b.io": p}}); err == nil || !strings.Contains(err.Error(), "OutcomeJobs") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
