// Command preparebatch is the Lambda function behind the batch state
// machine's PrepareBatch state: it validates the batch input, resolves
// every user's window and writes the run's work list to S3.
package main

import (
	"os"
	"time"

	// Windows are computed in the schedule's time zone, and the
	// provided.al2023 runtime does not promise a zoneinfo database.
	_ "time/tzdata"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/app"
	"github.com/insights-export/insights-export/internal/batch"
)

func main() {
	cfg, err := batch.LoadConfig(os.Getenv)
	if err != nil {
		app.Exit(err)
	}
	awsCfg, err := app.AWSConfig()
	if err != nil {
		app.Exit(err)
	}
	store := batch.NewStore(awsCfg, cfg)
	h := &batch.Preparer{
		Store:          store,
		Marks:          &batch.Watermarks{Store: store, Prefix: cfg.StatePrefix},
		Prefix:         cfg.Prefix,
		MaxConcurrency: cfg.MaxConcurrency,
		Log:            app.NewLogger(cfg.LogLevel),
		Now:            time.Now,
	}
	lambda.Start(h.Handle)
}
