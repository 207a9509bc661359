// Command advancemark is the Lambda function behind the batch state
// machine's AdvanceMark state: after each stored window of a user
// exported in several, it moves the user's high-water mark to that
// window's end and hands the item processor the next window. S3 only.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/batch"
	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/failure"
)

func main() {
	h, err := batch.LoadMarkAdvancer(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	lambda.Start(failure.Handler(h.Handle))
}
