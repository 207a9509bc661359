// Command startexport is the Lambda function behind the StartExport state:
// it validates the execution input and starts an AvePoint export job.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/export"
	"github.com/insights-export/insights-export/internal/failure"
)

func main() {
	h, err := export.LoadStarter(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	lambda.Start(failure.Handler(h.Handle))
}
