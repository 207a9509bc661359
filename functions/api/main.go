// Command api is the Lambda function behind the HTTP API (API Gateway,
// IAM authorization): POST /exports starts an export, GET /exports/{id}
// reports on it.
package main

import (
	"os"
	"time"

	// Requests may carry a window in any IANA time zone, and the
	// provided.al2023 runtime does not promise a zoneinfo database.
	_ "time/tzdata"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/insights-export/insights-export/internal/api"
	"github.com/insights-export/insights-export/internal/app"
)

func main() {
	cfg, err := api.LoadConfig(os.Getenv)
	if err != nil {
		app.Exit(err)
	}
	awsCfg, err := app.AWSConfig()
	if err != nil {
		app.Exit(err)
	}
	h, err := api.New(sfn.NewFromConfig(awsCfg), cfg, app.NewLogger(cfg.LogLevel), time.Now)
	if err != nil {
		app.Exit(err)
	}
	lambda.Start(api.LambdaHandler(h))
}
