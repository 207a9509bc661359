// Command wakejobslotwaiter is the Lambda function behind the
// WakeJobSlotWaiter states: after an export gave its AvePoint job slot
// back, it wakes the oldest export parked in WaitForJobSlot
// (internal/slots/wake).
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/slots/wake"
)

func main() {
	w, err := wake.LoadWaker(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	lambda.Start(failure.Handler(w.Wake))
}
