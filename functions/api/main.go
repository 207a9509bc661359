// Command api is the Lambda function behind the HTTP API (API Gateway,
// IAM authorization): POST /exports starts an export, GET /exports/{id}
// reports on it.
package main

import (
	"os"
	// Requests may carry a window in any IANA time zone, and the
	// provided.al2023 runtime does not promise a zoneinfo database.
	_ "time/tzdata"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/api"
	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/failure"
)

func main() {
	h, err := api.Load(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	lambda.Start(failure.Handler(h.Handle))
}
