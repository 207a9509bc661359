// Package failure is the error vocabulary of insights-export: every error
// whose name a state machine, the HTTP API or an operator matches on.
//
// Each kind is its own Go type on purpose: aws-lambda-go reports the type
// name of the returned error as the Step Functions error name, so
// "ThrottledError" or "JobFailedError" is what the state machines' Retry and
// Catch clauses match. Code anywhere may wrap these errors with context;
// the Lambda boundary (Handler, ForLambda) returns the one that names the
// failure, unwrapped, because a wrapped error would surface as "wrapError".
//
// Adding a kind: define the type here, add it to the tiers in ForLambda,
// and, if a state machine should react to it, name it in the ASL.
package failure
