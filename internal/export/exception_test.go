package export

import (
	"context"
	"testing"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/request"
)

// jobStatus 4 travels with the job, so the store step and the manifest
// can record it (issue 9, item 10).
func TestCheckerCarriesSuccessWithException(t *testing.T) {
	api := &fakeAPI{Status: func(string) (avepoint.JobStatus, error) {
		return avepoint.JobStatus{Code: 4, State: avepoint.JobFinished, WithException: true, Message: "2 sites skipped"}, nil
	}}
	c := &Checker{API: api, Policy: request.DefaultWaitPolicy, Log: quiet, Now: fixedNow(testNow)}
	job, err := c.Handle(context.Background(), request.Job{JobID: "7", StartedAt: testNow, Status: "running"})
	if err != nil {
		t.Fatal(err)
	}
	if !job.WithException || job.Status != "finished" || job.JobStatus != 4 {
		t.Fatalf("job %+v, want finished with exception", job)
	}
}
