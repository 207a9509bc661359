// Command checkjobslots is the Lambda function behind the CheckJobSlots
// state: an export that found every AvePoint job slot taken learns how
// long to wait, and holders past their lease are evicted.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/slots"
)

func main() {
	h, err := slots.LoadWaiter(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	lambda.Start(failure.Handler(h.Handle))
}
