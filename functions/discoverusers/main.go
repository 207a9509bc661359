// Command discoverusers is the Lambda function behind the batch state
// machine's DiscoverUsers state: it lists the tenant's users from
// AvePoint, keeps those allUsers selects and writes them to S3.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/discover"
	"github.com/insights-export/insights-export/internal/failure"
)

func main() {
	h, err := discover.LoadDiscoverer(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	lambda.Start(failure.Handler(h.Handle))
}
