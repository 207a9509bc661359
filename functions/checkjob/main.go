// Command checkjob is the Lambda function behind the CheckJob state: it
// polls the export job once and sets the next wait.
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
	h := &export.Checker{API: a.AvePoint, Policy: a.Config.Wait, Log: a.Log, Now: time.Now}
	lambda.Start(h.Handle)
}
