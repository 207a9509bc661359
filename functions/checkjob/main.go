// Command checkjob is the Lambda function behind the CheckJob state: it
// polls the export job once and sets the next wait.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/export"
	"github.com/insights-export/insights-export/internal/failure"
)

func main() {
	h, err := export.LoadChecker(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	lambda.Start(failure.Handler(h.Handle))
}
