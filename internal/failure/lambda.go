package failure

import (
	"context"
	"encoding/json"
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

// Handler wraps a Lambda handler once. It decodes the payload itself, so
// a payload that is not JSON, or not of the handler's input type, is a
// ValidationError naming what is wrong (aws-lambda-go would answer with
// its own Runtime.UnmarshalError); and every error the handler returns
// reaches the runtime as ForLambda makes it: the handlers return errors
// as they arise, wrapped or not.
//
// The result implements aws-lambda-go's lambda.Handler (Invoke), which
// lambda.Start uses as it is; this package need not import the runtime.
func Handler[In, Out any](h func(context.Context, In) (Out, error)) Invoker[In, Out] {
	return Invoker[In, Out]{h: h}
}

// Invoker is a handler wrapped by Handler.
type Invoker[In, Out any] struct {
	h func(context.Context, In) (Out, error)
}

// Invoke decodes payload, calls the handler and encodes its result.
func (v Invoker[In, Out]) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var in In
	if err := json.Unmarshal(payload, &in); err != nil {
		return nil, payloadError(err)
	}
	out, err := v.h(ctx, in)
	if err != nil {
		return nil, ForLambda(err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, &InternalError{Reason: "the result could not be encoded"}
	}
	return b, nil
}

// payloadError names what is wrong with a payload, without echoing it.
func payloadError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return &ValidationError{Field: typeErr.Field, Reason: "has the wrong JSON type (" + typeErr.Value + ")"}
	case errors.As(err, &typeErr):
		return &ValidationError{Reason: "the input is not the JSON this step takes (" + typeErr.Value + ")"}
	case errors.As(err, &syntaxErr):
		return &ValidationError{Reason: "the input is not valid JSON"}
	}
	return &ValidationError{Reason: "the input is not valid JSON"}
}
