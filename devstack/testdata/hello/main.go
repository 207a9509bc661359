// Command hello is the devstack self-test Lambda: the smallest real Go
// function built and run exactly like the project's functions, so the
// harness can be proven without depending on them.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

type request struct {
	Name string `json:"name"`
}

type response struct {
	Greeting string `json:"greeting"`
}

// BoomError is returned for name "boom". aws-lambda-go reports the Go type
// name as errorType, which Step Functions uses as the error name, so the
// test state machine can Catch "BoomError" by name.
type BoomError struct{}

func (BoomError) Error() string { return "boom requested" }

func handle(ctx context.Context, req request) (response, error) {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	logger.InfoContext(ctx, "hello invoked", "name", req.Name, "function", os.Getenv("AWS_LAMBDA_FUNCTION_NAME"))
	if req.Name == "boom" {
		return response{}, BoomError{}
	}
	// HELLO_GREETING lets tests prove that FunctionSpec.Env reaches the
	// function and that the parent's environment does not.
	greeting := os.Getenv("HELLO_GREETING")
	if greeting == "" {
		greeting = "hello"
	}
	return response{Greeting: greeting + " " + req.Name}, nil
}

func main() {
	lambda.Start(handle)
}
