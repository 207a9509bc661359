package failure

import (
	"fmt"
	"time"
)

// ValidationError reports a request that can never succeed as given: bad
// execution input, or a request AvePoint rejected with 400. Field names the
// offending input field when one is known.
type ValidationError struct {
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return "invalid request: " + e.Reason
	}
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
}

// ConfigError reports a function environment that cannot work: a missing
// or malformed variable. It ends a cold start, never an execution.
type ConfigError struct {
	Variable string `json:"variable"`
	Reason   string `json:"reason"`
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("configuration %s %s", e.Variable, e.Reason)
}

// AuthError reports credentials AvePoint refused (token endpoint or API 401
// after one refresh, or 403), or credentials that cannot be used at all.
type AuthError struct {
	Status int    `json:"status,omitempty"`
	Reason string `json:"reason"`

	// AtTokenEndpoint marks a refusal of the credentials themselves, which
	// a new token cannot cure (the API's 401 can). Not part of the
	// Step Functions cause.
	AtTokenEndpoint bool `json:"-"`
}

func (e *AuthError) Error() string {
	if e.Status == 0 {
		return "avepoint authentication failed: " + e.Reason
	}
	return fmt.Sprintf("avepoint authentication failed (HTTP %d): %s", e.Status, e.Reason)
}

// ThrottledError reports 429 answers that outlasted the client's own retries
// within the invocation's deadline. RetryAfter is AvePoint's hint, if any.
type ThrottledError struct {
	RetryAfter time.Duration `json:"retryAfterSeconds,omitempty"`
	Reason     string        `json:"reason"`
}

func (e *ThrottledError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("avepoint throttled the request (retry after %s): %s", e.RetryAfter, e.Reason)
	}
	return "avepoint throttled the request: " + e.Reason
}

// TransientError reports a failure worth retrying later: 5xx answers,
// network errors, a report stream cut short, a call that would not answer
// before the invocation's deadline.
type TransientError struct {
	Status int    `json:"status,omitempty"`
	Reason string `json:"reason"`
}

func (e *TransientError) Error() string {
	if e.Status == 0 {
		return "avepoint temporarily unavailable: " + e.Reason
	}
	return fmt.Sprintf("avepoint temporarily unavailable (HTTP %d): %s", e.Status, e.Reason)
}

// JobFailedError reports an export job AvePoint ended without a report
// (jobStatus 3 failed, 5 stopping, 6 stopped).
type JobFailedError struct {
	JobID     string `json:"jobId"`
	JobStatus int    `json:"jobStatus"`
	Reason    string `json:"reason"`
}

func (e *JobFailedError) Error() string {
	return fmt.Sprintf("avepoint export job %s ended with jobStatus %d: %s", e.JobID, e.JobStatus, e.Reason)
}

// UsersFailedError ends a batch run in which users failed, after the
// manifest and the marks are written. No function returns it: WriteManifest
// puts it in its output (request.BatchOutput.Failure) and the batch state
// machine's UsersFailed state fails the run with this name, so the run's
// status and its alarm say what the users' results say.
type UsersFailedError struct {
	Failed   int    `json:"failed"`
	Users    int    `json:"users"`
	Manifest string `json:"manifest"` // its s3:// URI
}

func (e *UsersFailedError) Error() string {
	return fmt.Sprintf("%d of %d users failed; their errors are in the manifest %s", e.Failed, e.Users, e.Manifest)
}

// NotFoundError reports a user or job AvePoint does not know (404).
type NotFoundError struct {
	Reason string `json:"reason"`
}

func (e *NotFoundError) Error() string { return "not found: " + e.Reason }

// ProtocolError reports an AvePoint answer that does not follow the
// documented contract: an unknown jobStatus, a body that is not the
// documented JSON, an unusable job id. It is not retried: retrying will not
// teach us the new protocol.
type ProtocolError struct {
	Reason string `json:"reason"`
}

func (e *ProtocolError) Error() string { return "unexpected avepoint response: " + e.Reason }

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

// CorruptReportError reports a download that is not a valid ZIP archive.
type CorruptReportError struct {
	Reason string `json:"reason"`
}

func (e *CorruptReportError) Error() string { return "corrupt report: " + e.Reason }

// ConversionError reports a stored report whose workbook cannot become
// dataset rows: not an XLSX inside, an unreadable workbook, a row count
// that does not add up. The raw report stays stored; the conversion can be
// retried (backfill) without exporting again. Report names it by its
// dataset report id and its key with the address replaced.
type ConversionError struct {
	Report string `json:"report"`
	Reason string `json:"reason"`
}

func (e *ConversionError) Error() string {
	return fmt.Sprintf("report %s could not be converted: %s", e.Report, e.Reason)
}

// Operations a StorageError can report.
const (
	// OpPut is a failure of a write: S3 refused or failed a request, or the
	// caller's context ended.
	OpPut = "put"
	// OpGet is a failure of a read of a stored object.
	OpGet = "get"
	// OpRead is a failure to read the body being uploaded. Unwrap returns
	// the body's error, so a *TransientError from a cut-short report
	// download stays visible to errors.As.
	OpRead = "read"
)

// StorageError reports an S3 object that could not be written or read.
// Key names the object; Reason keeps the SDK's text (operation, status,
// request id; never credentials).
type StorageError struct {
	Op     string `json:"op"`
	Bucket string `json:"bucket"`
	Key    string `json:"key,omitempty"`
	Reason string `json:"reason"`

	Err error `json:"-"`
}

func (e *StorageError) Error() string {
	verb := "storing"
	if e.Op == OpGet {
		verb = "reading"
	}
	return fmt.Sprintf("%s s3://%s/%s failed (%s): %s", verb, e.Bucket, e.Key, e.Op, e.Reason)
}

// Unwrap returns the underlying cause: the body's error for OpRead, the
// context's or the SDK's error otherwise.
func (e *StorageError) Unwrap() error { return e.Err }

// MapResultError reports a batch Map result the manifest step cannot read:
// neither an inline list of the item processor's entries nor the
// ResultWriter's manifest and result files.
type MapResultError struct {
	Reason string `json:"reason"`
}

func (e *MapResultError) Error() string { return "unreadable map result: " + e.Reason }

// InternalError stands for any failure outside the vocabulary, so the
// state machine still sees a stable name.
type InternalError struct {
	Reason string `json:"reason"`
}

func (e *InternalError) Error() string { return "internal error: " + e.Reason }
