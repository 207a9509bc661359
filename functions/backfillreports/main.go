// Command backfillreports is the Lambda function behind the backfill
// state machine: it converts stored reports into the dataset, many per
// call, resuming where the previous call stopped.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/convert"
	"github.com/insights-export/insights-export/internal/failure"
)

func main() {
	h, err := convert.LoadBackfiller(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	lambda.Start(failure.Handler(h.Handle))
}
