// Command writemanifest is the Lambda function behind the batch state
// machine's WriteManifest state: it collects every user's result, advances
// incremental high-water marks and writes the run manifest.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/batch"
	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/failure"
)

func main() {
	h, err := batch.LoadManifestWriter(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	lambda.Start(failure.Handler(h.Handle))
}
