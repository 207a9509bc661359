// Command storereport is the Lambda function behind the StoreReport state:
// it streams the finished job's report into S3.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/report"
)

func main() {
	h, err := report.LoadStorer(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	lambda.Start(failure.Handler(h.Handle))
}
