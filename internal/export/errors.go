package export

import (
	"errors"
	"fmt"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/storage"
)

// JobDeadlineExceededError ends a job that is still running past the
// configured deadline (JOB_DEADLINE_SECONDS).
type JobDeadlineExceededError struct {
	JobID    string `json:"jobId"`
	Age      string `json:"age"`
	Deadline string `json:"deadline"`
	Polls    int    `json:"polls"`
}

func (e *JobDeadlineExceededError) Error() string {
	return fmt.Sprintf("export job %s still running after %s (%d polls); deadline is %s", e.JobID, e.Age, e.Polls, e.Deadline)
}

// CorruptReportError reports a download that is not a ZIP archive.
type CorruptReportError struct {
	Reason string `json:"reason"`
}

func (e *CorruptReportError) Error() string { return "corrupt report: " + e.Reason }

// InternalError stands for any failure outside the vocabulary, so the
// state machine still sees a stable name.
type InternalError struct {
	Reason string `json:"reason"`
}

func (e *InternalError) Error() string { return "internal error: " + e.Reason }

// LambdaError returns the error to hand to the Lambda runtime: the first
// error of the vocabulary in err's chain, unwrapped, because its Go type
// name becomes the Step Functions error name. AvePoint's own errors win
// over storage ones: a download cut mid-upload is a TransientError even
// though the upload is what failed.
func LambdaError(err error) error {
	if err == nil {
		return nil
	}
	if t := avepoint.Typed(err); t != nil {
		return t
	}
	var (
		deadline *JobDeadlineExceededError
		corrupt  *CorruptReportError
		internal *InternalError
		stored   *storage.StorageError
	)
	switch {
	case errors.As(err, &deadline):
		return deadline
	case errors.As(err, &corrupt):
		return corrupt
	case errors.As(err, &stored):
		return stored
	case errors.As(err, &internal):
		return internal
	}
	return &InternalError{Reason: err.Error()}
}
