package storage

import "fmt"

// Operations a StorageError can report.
const (
	// OpPut is a failure of the upload itself: S3 refused or failed a
	// request, or the caller's context ended.
	OpPut = "put"
	// OpRead is a failure to read the body being uploaded. Unwrap returns
	// the body's error, so an *avepoint.TransientError from a cut-short
	// report download stays visible to errors.As.
	OpRead = "read"
)

// StorageError reports a report that could not be stored. The Go type name
// is the Step Functions error name. Its fields never hold credentials: the
// SDK's error text names the operation, status and request id, not the
// signing keys.
type StorageError struct {
	Op     string `json:"op"`
	Bucket string `json:"bucket"`
	Key    string `json:"key,omitempty"`
	Reason string `json:"reason"`

	err error
}

func (e *StorageError) Error() string {
	return fmt.Sprintf("storing s3://%s/%s failed (%s): %s", e.Bucket, e.Key, e.Op, e.Reason)
}

// Unwrap returns the underlying cause: the body's error for OpRead, the
// context's or the SDK's error for OpPut.
func (e *StorageError) Unwrap() error { return e.err }
