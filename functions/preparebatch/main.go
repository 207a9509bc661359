// Command preparebatch is the Lambda function behind the batch state
// machine's PrepareBatch state: it validates the batch input, resolves
// every user's window and writes the run's work list to S3.
package main

import (
	"os"
	// Windows are computed in the schedule's time zone, and the
	// provided.al2023 runtime does not promise a zoneinfo database.
	_ "time/tzdata"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/batch"
	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/failure"
)

func main() {
	h, err := batch.LoadPreparer(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	lambda.Start(failure.Handler(h.Handle))
}
