// Command releasejobslot is the target of the EventBridge rule on the
// export state machine's executions that end stopped, timed out or
// failed: it gives back the AvePoint job slot such an execution held.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/slots"
)

func main() {
	h, err := slots.LoadReleaser(os.Getenv)
	if err != nil {
		config.Exit(err)
	}
	lambda.Start(failure.Handler(h.Handle))
}
