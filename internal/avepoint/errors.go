package avepoint

import (
	"fmt"
	"time"
)

// The error vocabulary of insights-export.
//
// Each kind is its own Go type on purpose: aws-lambda-go reports the type
// name of the returned error as the Step Functions error name, so
// "ThrottledError" or "JobFailedError" is what the state machine's Retry and
// Catch clauses match. Return these values unwrapped at the Lambda boundary
// (see export.LambdaError); a wrapped error would surface as "wrapError".

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

// AuthError reports credentials AvePoint refused (token endpoint or API 401
// after one refresh, or 403), or credentials that cannot be used at all.
type AuthError struct {
	Status int    `json:"status,omitempty"`
	Reason string `json:"reason"`

	// atTokenEndpoint marks a refusal of the credentials themselves, which
	// a new token cannot cure (the API's 401 can).
	atTokenEndpoint bool
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
// network errors, a report stream cut short.
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

// NotFoundError reports a user or job AvePoint does not know (404).
type NotFoundError struct {
	Reason string `json:"reason"`
}

func (e *NotFoundError) Error() string { return "not found: " + e.Reason }

// ProtocolError reports an answer that does not follow the documented
// contract: an unknown jobStatus, a body that is not the documented JSON.
// It is not retried: retrying will not teach us the new protocol.
type ProtocolError struct {
	Reason string `json:"reason"`
}

func (e *ProtocolError) Error() string { return "unexpected avepoint response: " + e.Reason }

// Typed returns the first error of the vocabulary found in err's chain, or
// nil. The Lambda boundary returns it unwrapped so Step Functions sees its
// type name rather than "wrapError".
func Typed(err error) error {
	for err != nil {
		switch err.(type) {
		case *ValidationError, *AuthError, *ThrottledError, *TransientError, *JobFailedError, *NotFoundError, *ProtocolError:
			return err
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if t := Typed(e); t != nil {
					return t
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}
