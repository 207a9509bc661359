// Command convertreport is the Lambda function behind the ConvertReport
// state: it turns the stored report's workbook into Parquet rows of the
// queryable dataset.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/convert"
	"github.com/insights-export/insights-export/internal/failure"
)

func main() {
	h, err := convert.LoadConverter(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	lambda.Start(failure.Handler(h.Handle))
}
