// Command writemanifest is the Lambda function behind the batch state
// machine's WriteManifest state: it collects every user's result, advances
// incremental high-water marks and writes the run manifest.
package main

import (
	"os"
	"time"

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
	h := &batch.ManifestWriter{
		Store: store,
		Marks: &batch.Watermarks{Store: store, Prefix: cfg.StatePrefix},
		Log:   app.NewLogger(cfg.LogLevel),
		Now:   time.Now,
	}
	lambda.Start(h.Handle)
}
