// Command startexport is the Lambda function behind the StartExport state:
// it validates the execution input and starts an AvePoint export job.
package main

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/app"
	"github.com/insights-export/insights-export/internal/export"
)

func main() {
	a, err := app.Load(context.Background(), os.Getenv)
	if err != nil {
		app.Exit(err)
	}
	h := &export.Starter{API: a.AvePoint, Policy: a.Config.Wait, Log: a.Log, Now: time.Now}
	lambda.Start(h.Handle)
}
