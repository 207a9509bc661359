package failure

import (
	"context"
	"errors"
)

// ForLambda returns the error to hand to the Lambda runtime: the error of
// the vocabulary that names err, unwrapped, because its Go type name
// becomes the Step Functions error name; an *InternalError for anything
// else.
//
// Upstream errors (AvePoint's, and bad input) win over local ones,
// wherever they sit in the chain: a download cut mid-upload is a
// TransientError even though the upload is what failed and the chain's
// outermost error is a StorageError.
func ForLambda(err error) error {
	if err == nil {
		return nil
	}
	if t := Upstream(err); t != nil {
		return t
	}
	var (
		deadline  *JobDeadlineExceededError
		corrupt   *CorruptReportError
		convert   *ConversionError
		config    *ConfigError
		mapResult *MapResultError
		stored    *StorageError
		internal  *InternalError
	)
	switch {
	case errors.As(err, &deadline):
		return deadline
	case errors.As(err, &corrupt):
		return corrupt
	case errors.As(err, &convert):
		return convert
	case errors.As(err, &config):
		return config
	case errors.As(err, &mapResult):
		return mapResult
	case errors.As(err, &stored):
		return stored
	case errors.As(err, &internal):
		return internal
	}
	return &InternalError{Reason: err.Error()}
}

// Upstream returns the first upstream error found in err's chain, or nil.
func Upstream(err error) error {
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
				if t := Upstream(e); t != nil {
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

// Handler wraps a Lambda handler once, so that every error it returns
// reaches the runtime as ForLambda makes it: the handlers return errors
// as they arise, wrapped or not.
func Handler[In, Out any](h func(context.Context, In) (Out, error)) func(context.Context, In) (Out, error) {
	return func(ctx context.Context, in In) (Out, error) {
		out, err := h(ctx, in)
		if err != nil {
			var zero Out
			return zero, ForLambda(err)
		}
		return out, nil
	}
}
